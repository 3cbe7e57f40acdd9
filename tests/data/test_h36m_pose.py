"""H36MPoseDataModule: the VideoPose3D files in, pose-lifting batches out."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.data.synthetic.h36m import write_h36m_pose_files
from motionzoo.geometry.camera import h36m_cameras
from motionzoo.skeleton import H36M_16, H36M_17, H36M_ACTIONS

FRAMES = 30


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("vp3d")
    write_h36m_pose_files(out, seed=0, subjects=("S1", "S5", "S9"), frames=FRAMES)
    return out


def make(root, cache, **kwargs) -> H36MPoseDataModule:
    kwargs = {"train_subjects": ("S1", "S5"), "test_subjects": ("S9",), **kwargs}
    dm = H36MPoseDataModule(root=str(root), cache_dir=str(cache), **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def cache_files(cache):
    folder = cache / "h36m_pose" / "processed"
    return sorted(folder.iterdir()) if folder.exists() else []


def sequence_lengths(root, subjects):
    with np.load(root / "data_3d_h36m.npz", allow_pickle=True) as f:
        poses = f["positions_3d"].item()
    return [len(v) for s in subjects for v in poses[s].values()]


def test_batch_contract(root, tmp_path):
    dm = make(root, tmp_path, batch_size=64)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"pose2d", "pose3d", "action", "subject", "camera"}
    assert batch["pose2d"].shape == (64, 17, 2) and batch["pose2d"].dtype == torch.float32
    assert batch["pose3d"].shape == (64, 17, 3) and batch["pose3d"].dtype == torch.float32
    for key in ("action", "subject", "camera"):
        assert batch[key].shape == (64,) and batch[key].dtype == torch.long

    train = dm.datasets["train"].arrays
    assert len(dm.datasets["train"]) == 4 * sum(sequence_lengths(root, ("S1", "S5")))
    assert torch.equal(train["pose3d"][:, 0], torch.zeros_like(train["pose3d"][:, 0]))
    extent = train["pose3d"].abs().amax(dim=(0, 1))
    assert (extent > 300).all() and (extent < 2000).all()  # mm, root-relative
    assert train["pose2d"].abs().max() < 1.0  # screen-normalised, inside the image
    assert set(train["subject"].tolist()) == {1, 5}
    assert set(train["camera"].tolist()) == {0, 1, 2, 3}
    assert set(train["action"].tolist()) == set(range(15))
    assert set(dm.datasets["test"].arrays["subject"].tolist()) == {9}
    assert dm.datasets["val"] is not dm.datasets["train"]
    assert torch.equal(dm.datasets["val"].arrays["pose3d"], dm.datasets["test"].arrays["pose3d"])
    assert dm.skeleton is H36M_17 and dm.num_joints == 17 and dm.action_names == H36M_ACTIONS
    assert dm.camera_for("S9", 2) == h36m_cameras("S9")[2]
    assert dm.hparams.batch_size == 64 and dm.hparams.train_subjects == ("S1", "S5")


def test_sixteen_joints_drop_neck_nose(root, tmp_path):
    dm17 = make(root, tmp_path)
    dm16 = make(root, tmp_path, num_joints=16)
    assert dm16.skeleton is H36M_16 and cache_files(tmp_path)[0] != cache_files(tmp_path)[1]
    a17, a16 = dm17.datasets["test"].arrays, dm16.datasets["test"].arrays
    keep = [H36M_17.from_32.index(j) for j in H36M_16.from_32]
    assert keep == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16]
    assert torch.equal(a16["pose2d"], a17["pose2d"][:, keep])
    assert torch.equal(a16["pose3d"], a17["pose3d"][:, keep])
    assert next(iter(dm16.val_dataloader()))["pose2d"].shape[1:] == (16, 2)


def test_strides_subsample_frames(root, tmp_path):
    dm = make(root, tmp_path, stride=4, eval_stride=3)
    full = make(root, tmp_path)
    expected = 4 * sum(-(-n // 4) for n in sequence_lengths(root, ("S1", "S5")))
    assert len(dm.datasets["train"]) == expected
    assert len(dm.datasets["test"]) == 4 * sum(-(-n // 3) for n in sequence_lengths(root, ("S9",)))
    same = make(root, tmp_path, stride=4)  # eval_stride None: the training stride
    assert len(same.datasets["test"]) == 4 * sum(
        -(-n // 4) for n in sequence_lengths(root, ("S9",))
    )
    first = full.datasets["train"].arrays["pose3d"][:FRAMES:4]
    assert torch.equal(dm.datasets["train"].arrays["pose3d"][: len(first)], first)


def test_splits_and_action_filter(root, tmp_path):
    dm = make(
        root, tmp_path, val_subjects=("S5",), train_subjects=("S1",), actions=("Walking", "Eating")
    )
    assert set(dm.datasets["val"].arrays["subject"].tolist()) == {5}
    assert set(dm.datasets["train"].arrays["subject"].tolist()) == {1}
    labels = {H36M_ACTIONS.index("Walking"), H36M_ACTIONS.index("Eating")}
    for split in ("train", "val", "test"):
        assert set(dm.datasets[split].arrays["action"].tolist()) == labels


def test_cache_is_built_once_reused_and_rebuilt_on_change(root, tmp_path):
    dm = make(root, tmp_path)
    (cache,) = cache_files(tmp_path)
    assert cache == dm.cache_file() and cache.stat().st_size > 0
    mtime = cache.stat().st_mtime_ns
    again = make(root, tmp_path)
    assert cache_files(tmp_path) == [cache] and cache.stat().st_mtime_ns == mtime
    assert torch.equal(
        again.datasets["train"].arrays["pose2d"], dm.datasets["train"].arrays["pose2d"]
    )
    make(root, tmp_path, stride=2)
    assert len(cache_files(tmp_path)) == 2 and cache.stat().st_mtime_ns == mtime


def test_detection_keypoints_are_trimmed_to_the_mocap(root, tmp_path):
    gt = make(root, tmp_path)
    det = make(root, tmp_path, keypoints="synthetic_det")
    a, b = gt.datasets["train"].arrays, det.datasets["train"].arrays
    assert len(a["pose2d"]) == len(b["pose2d"])
    assert torch.equal(a["pose3d"], b["pose3d"])
    noise_px = (b["pose2d"] - a["pose2d"]).std().item() * 1000 / 2  # normalised -> pixels
    assert noise_px == pytest.approx(5.0, rel=0.1)


# --- a hand-made pair of files in the published layout ------------------------------------


def save(path, **objects):
    with open(path, "wb") as f:
        np.savez_compressed(f, **objects)


def hand_made(folder, frames=3, poses_2d=None, poses_3d=None):
    """Two subjects, two actions, a few frames; 3D near the origin, 2D arbitrary pixels."""
    rng = np.random.default_rng(0)
    if poses_3d is None:
        poses_3d = {
            s: {a: rng.normal(0, 0.4, (frames, 32, 3)).astype(np.float32) + [0, 0, 1] for a in keys}
            for s, keys in (("S1", ("Walking", "Eating 2")), ("S9", ("Walking 1",)))
        }
    if poses_2d is None:
        poses_2d = {
            s: {a: [rng.uniform(0, 1000, (len(v), 17, 2)).astype(np.float32) for _ in range(4)]
                for a, v in actions.items()}
            for s, actions in poses_3d.items()
        }  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    save(folder / "data_3d_h36m.npz", positions_3d=poses_3d)
    save(folder / "data_2d_h36m_gt.npz", positions_2d=poses_2d, metadata={"num_joints": 17})
    return poses_3d, poses_2d


def test_hand_made_files_load_as_videopose3d_would(tmp_path):
    poses_3d, poses_2d = hand_made(tmp_path / "data")
    dm = make(tmp_path / "data", tmp_path / "cache", train_subjects=("S1",), test_subjects=("S9",))
    arrays = {**dm.datasets["train"].arrays}
    test = dm.datasets["test"].arrays
    arrays = {k: torch.cat([v, test[k]]) for k, v in arrays.items()}
    assert len(arrays["pose3d"]) == 4 * 3 * 3
    for subject, actions in poses_3d.items():
        cameras = h36m_cameras(subject)
        for action, world in actions.items():
            for index, camera in enumerate(cameras):
                rows = (
                    (arrays["subject"] == int(subject[1:]))
                    & (arrays["action"] == H36M_ACTIONS.index(action.split(" ")[0]))
                    & (arrays["camera"] == index)
                )
                assert rows.sum() == 3
                # world_to_camera = R^T (X - t) with R the camera-to-world rotation (wxyz)
                rotation = Rotation.from_quat(np.roll(camera.orientation, -1))
                mm = world.astype(np.float64).reshape(-1, 3) * 1000 - camera.translation
                cam = rotation.inv().apply(mm).reshape(3, 32, 3)[:, list(H36M_17.from_32)]
                expected_3d = cam - cam[:, :1]
                np.testing.assert_allclose(arrays["pose3d"][rows].numpy(), expected_3d, atol=1e-2)
                kps = poses_2d[subject][action][index].astype(np.float64)
                expected_2d = kps / camera.res_w * 2 - [1, camera.res_h / camera.res_w]
                np.testing.assert_allclose(arrays["pose2d"][rows].numpy(), expected_2d, atol=1e-6)


# --- errors name the file, the key and the shape ------------------------------------------


def assert_fails(folder, cache, error, match, **kwargs):
    with pytest.raises(error, match=match):
        make(folder, cache, **{"train_subjects": ("S1",), "test_subjects": ("S9",), **kwargs})
    assert cache_files(cache) == [], "a failed build left a cache file behind"


def test_missing_files(tmp_path):
    hand_made(tmp_path / "data")
    assert_fails(
        tmp_path / "data",
        tmp_path,
        FileNotFoundError,
        r"data_2d_h36m_cpn_ft_h36m_dbb\.npz",
        keypoints="cpn_ft_h36m_dbb",
    )
    (tmp_path / "data" / "data_3d_h36m.npz").unlink()
    assert_fails(tmp_path / "data", tmp_path, FileNotFoundError, r"data_3d_h36m\.npz.*README#data")


def test_missing_keys(tmp_path):
    hand_made(tmp_path / "data")
    save(tmp_path / "data" / "data_3d_h36m.npz", poses=np.zeros(3))
    assert_fails(tmp_path / "data", tmp_path, ValueError, r"data_3d_h36m\.npz.*'positions_3d'")
    hand_made(tmp_path / "data")
    save(tmp_path / "data" / "data_2d_h36m_gt.npz", keypoints=np.zeros(3))
    assert_fails(tmp_path / "data", tmp_path, ValueError, r"data_2d_h36m_gt\.npz.*'positions_2d'")


def test_wrong_shapes(tmp_path):
    bad_3d = {"S1": {"Walking": np.zeros((3, 17, 3), np.float32)}, "S9": {}}
    hand_made(tmp_path / "a", poses_3d=bad_3d)
    assert_fails(
        tmp_path / "a",
        tmp_path,
        ValueError,
        r"data_3d_h36m\.npz.*'S1'.*'Walking'.*\(3, 17, 3\).*\(T, 32, 3\)",
    )
    poses_3d, _ = hand_made(tmp_path / "b")
    bad_2d = {
        s: {a: [np.zeros((len(v), 17, 3), np.float32)] * 4 for a, v in actions.items()}
        for s, actions in poses_3d.items()
    }
    hand_made(tmp_path / "b", poses_2d=bad_2d)
    assert_fails(
        tmp_path / "b",
        tmp_path,
        ValueError,
        r"data_2d_h36m_gt\.npz.*'S1'.*'Eating 2'.*\(3, 17, 3\).*\(T, 17, 2\)",
    )


def test_absent_subject_and_short_detections(tmp_path):
    hand_made(tmp_path / "data")
    assert_fails(tmp_path / "data", tmp_path, ValueError, r"'S7'.*train", train_subjects=("S7",))
    poses_3d, poses_2d = hand_made(tmp_path / "short", frames=5)
    poses_2d["S9"]["Walking 1"][2] = poses_2d["S9"]["Walking 1"][2][:4]
    hand_made(tmp_path / "short", poses_3d=poses_3d, poses_2d=poses_2d)
    assert_fails(tmp_path / "short", tmp_path, ValueError, r"'S9'.*'Walking 1'.*\[2\].*4 frames.*5")


def test_bad_options():
    with pytest.raises(ValueError, match="num_joints"):
        H36MPoseDataModule(num_joints=15)
    with pytest.raises(ValueError, match="Jogging"):
        H36MPoseDataModule(actions=("Jogging",))
    with pytest.raises(ValueError, match="root="):
        H36MPoseDataModule(keypoints="cpn_ft_h36m_dbb")
    with pytest.raises(ValueError, match="needs the real files"):
        H36MPoseDataModule(root="x", synthetic_into_root=True, keypoints="cpn_ft_h36m_dbb")


def test_embedded_synthetic_set_has_both_keypoint_files():
    """root=None: one synthetic folder with GT and detected keypoints (writing once into the
    cache: tests/data/test_base.py); the test split is S9 and S11."""
    dm = H36MPoseDataModule(synthetic_frames=12, batch_size=16)
    dm.setup("test")
    det = H36MPoseDataModule(synthetic_frames=12, keypoints="synthetic_det")
    assert det.data_dir == dm.data_dir and det.path_2d.exists() and dm.path_2d.exists()
    batch = next(iter(dm.test_dataloader()))
    assert batch["pose3d"].shape == (16, 17, 3)
    assert set(dm.datasets["test"].arrays["subject"].tolist()) == {9, 11}
