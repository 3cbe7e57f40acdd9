"""H36MImageDataModule: H36M-Toolbox frames and annotations in, person crops with the
pose-lifting batch out; the synthetic frames read back as the actors that drew them."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from motionzoo.data.frames import FramesDataModule
from motionzoo.data.h36m_images import H36MImageDataModule, read_crop
from motionzoo.data.h36m_toolbox import load_annotations, save_annotations
from motionzoo.data.synthetic.h36m import write_h36m_pose_files
from motionzoo.data.synthetic.h36m_images import background, write_h36m_image_files
from motionzoo.geometry.camera import h36m_cameras, normalize_screen_coordinates, world_to_camera
from motionzoo.skeleton import H36M_17, H36M_ACTIONS

SYNTHETIC = dict(seed=1, subjects=("S1", "S5", "S9"), actions=("Walking", "Eating"), frames=20,
                 takes=1, frame_step=5)  # fmt: skip
SPLITS = dict(train_subjects=("S1", "S5"), test_subjects=("S9",), stride=5, eval_stride=5)
KEYS = {"image", "pose2d", "pose3d", "action", "subject", "camera"}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("toolbox")
    write_h36m_image_files(out, size=160, **SYNTHETIC)
    return out


def make(root, cache, **kwargs) -> H36MImageDataModule:
    dm = H36MImageDataModule(root=str(root), cache_dir=str(cache), image_size=32, batch_size=8,
                             **{**SPLITS, **kwargs})  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    return dm


def cached(dm, split):
    with np.load(dm.cache_files(split)[0]) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def dm(root, tmp_path_factory):
    return make(root, tmp_path_factory.mktemp("cache"))


def test_batch_contract(dm):
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == KEYS
    assert batch["image"].shape == (8, 3, 32, 32) and batch["image"].dtype == torch.float32
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert batch["pose2d"].shape == (8, 17, 2) and batch["pose3d"].shape == (8, 17, 3)
    for key in ("action", "subject", "camera"):
        assert batch[key].shape == (8,) and batch[key].dtype == torch.long
    assert dm.action_names == list(H36M_ACTIONS) and len(dm.action_names) == 15
    train = dm.datasets["train"].arrays
    assert set(train["subject"].tolist()) == {1, 5} and set(train["camera"].tolist()) == {
        0,
        1,
        2,
        3,
    }
    assert {dm.action_names[a] for a in train["action"].tolist()} == {"Walking", "Eating"}
    assert set(dm.datasets["test"].arrays["subject"].tolist()) == {9}
    assert dm.datasets["val"] is dm.datasets["test"]


def test_poses_read_back_are_the_actors(dm, root, tmp_path):
    """pose3d = the VideoPose3D file's joints in camera mm, root-relative (independent path);
    pose2d = the annotation's pixels normalised by the written frame's size."""
    actors = {k: v for k, v in SYNTHETIC.items() if k != "frame_step"}
    write_h36m_pose_files(tmp_path, noisy_detections=False, **actors)
    with np.load(tmp_path / "data_3d_h36m.npz", allow_pickle=True) as f:
        world = f["positions_3d"].item()
    records = {(r["subject"], r["camera_id"], r["action"], r["image_id"]): r
               for r in load_annotations(root / "annot" / "h36m_train.pkl")}  # fmt: skip
    arrays, data = cached(dm, "train"), dm.datasets["train"].arrays
    assert len(data["action"]) == len(records)
    for i in range(0, len(records), 7):
        subject, camera = int(data["subject"][i]), int(data["camera"][i])
        action, frame = H36M_ACTIONS[int(data["action"][i])], int(arrays["image_id"][i])
        cam = h36m_cameras(f"S{subject}")[camera]
        joints = world_to_camera(world[f"S{subject}"][action][frame - 1] * 1000.0, cam)
        joints = joints[list(H36M_17.from_32)]
        np.testing.assert_allclose(data["pose3d"][i], joints - joints[:1], atol=0.02)
        record = records[(subject, camera, {"Walking": 14, "Eating": 4}[action], frame)]
        width, height = Image.open(root / "images" / record["image"]).size
        expected = normalize_screen_coordinates(record["joints_2d"], width, height)
        np.testing.assert_allclose(data["pose2d"][i], expected, atol=1e-5)
        # the full-frame normalisation of VideoPose3D, up to the written frame's rounded height
        vp3d = normalize_screen_coordinates(record["joints_2d"] * 1000 / width, 1000, cam.res_h)
        np.testing.assert_allclose(data["pose2d"][i], vp3d, atol=0.004)


def test_crops_hold_the_whole_drawn_person(dm, root, tmp_path):
    arrays = cached(dm, "test")
    records = {(r["camera_id"], r["image_id"], r["action"]): r
               for r in load_annotations(root / "annot" / "h36m_validation.pkl")}  # fmt: skip
    crops = dm.datasets["test"].images
    for i in range(0, len(crops), 5):
        camera = int(arrays["camera"][i])
        action = {"Walking": 14, "Eating": 4}[H36M_ACTIONS[int(arrays["action"][i])]]
        record = records[(camera, int(arrays["image_id"][i]), action)]
        frame = np.asarray(Image.open(root / "images" / record["image"]), dtype=np.int16)
        plain = background(camera, frame.shape[1], frame.shape[0])
        Image.fromarray(plain).save(tmp_path / "plain.png")
        box = arrays["box"][i]
        plain_crop = read_crop(tmp_path / "plain.png", box, 32)[0].astype(np.int16)
        crop = crops[i].transpose(1, 2, 0).astype(np.int16)
        person_in_crop = np.abs(crop - plain_crop).max(-1) > 40
        person_in_frame = np.abs(frame - plain).max(-1) > 40
        side = box[2] - box[0]
        assert box[3] - box[1] == pytest.approx(side)  # square
        area_ratio = person_in_crop.sum() * (side / 32) ** 2 / person_in_frame.sum()
        assert 0.75 < area_ratio < 1.33  # the whole person, at the crop's scale
        assert person_in_crop.mean() > 0.05
        # joints land on the person in crop coordinates
        cols, rows = np.clip(((record["joints_2d"] - box[:2]) / side * 32).astype(int), 0, 31).T
        assert person_in_crop[rows, cols].mean() > 0.8


def test_statistics_come_from_the_training_split(dm, root, tmp_path):
    stats = dm.train_statistics
    train, test = dm.datasets["train"].arrays, dm.datasets["test"].arrays
    assert {k: tuple(v.shape) for k, v in stats.items()} == {
        "pose3d_mean": (17, 3), "pose3d_std": (17, 3), "pose2d_mean": (17, 2),
        "pose2d_std": (17, 2),
    }  # fmt: skip
    torch.testing.assert_close(stats["pose3d_mean"], train["pose3d"].mean(0))
    torch.testing.assert_close(stats["pose2d_std"], train["pose2d"].std(0, correction=0))
    assert not torch.allclose(stats["pose2d_mean"], test["pose2d"].mean(0), atol=1e-3)
    other = make(root, tmp_path, test_subjects=("S1",))  # another test split, same training one
    for key, value in stats.items():
        torch.testing.assert_close(other.train_statistics[key], value)


def test_strides_count_video_frames_and_joint_crops(root, tmp_path):
    dm = make(root, tmp_path, stride=10, crop="joints", crop_margin=0.5)
    arrays = cached(dm, "train")
    assert set(((arrays["image_id"] - 1) % 10).tolist()) == {0}
    listed = [r["image_id"] for r in load_annotations(root / "annot" / "h36m_train.pkl")]
    assert len(arrays["image_id"]) == sum((i - 1) % 10 == 0 for i in listed) > 0
    pixels = (arrays["pose2d"] + 1) * 160 / 2  # back to pixels: 160 x 160 frames (1002 * 0.16)
    square = arrays["box"]
    spread = (pixels.max(1) - pixels.min(1)).max(1)
    np.testing.assert_allclose(square[:, 2] - square[:, 0], 1.5 * spread, rtol=1e-3, atol=0.5)


def test_cache_is_reused_and_rebuilt_when_the_annotations_change(root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(root, data)
    first = make(data, tmp_path / "cache")
    poses_file, images_file = first.cache_files("train")
    stamp = poses_file.stat().st_mtime_ns
    make(data, tmp_path / "cache")
    assert poses_file.stat().st_mtime_ns == stamp  # reused
    records = load_annotations(data / "annot" / "h36m_train.pkl")
    records[0]["joints_3d_camera"] = records[0]["joints_3d_camera"].copy()
    records[0]["joints_3d_camera"][1] += 100.0  # move RHip by 10 cm
    save_annotations(data / "annot" / "h36m_train.pkl", records)
    second = make(data, tmp_path / "cache")
    assert second.cache_files("train")[0] != poses_file
    moved = (
        second.datasets["train"].arrays["pose3d"][0, 1]
        - first.datasets["train"].arrays["pose3d"][0, 1]
    )
    torch.testing.assert_close(moved, torch.full((3,), 100.0))


def test_a_broken_image_leaves_no_cache(root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(root, data)
    broken = sorted((data / "images").glob("s_09_*/*.jpg"))[3]
    broken.write_bytes(broken.read_bytes()[:300])  # truncated jpg
    with pytest.raises(ValueError, match=broken.name):
        make(data, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # no temporary file left behind
    train = H36MImageDataModule(
        root=str(data), cache_dir=str(tmp_path / "cache"), image_size=32, **SPLITS
    )
    assert train.cache_files("train")[0].exists()  # the split built before the broken one stays
    assert not train.cache_files("test")[0].exists() and not train.cache_files("test")[1].exists()


def test_missing_files_and_keys_are_named(root, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(root, data)
    (data / "annot" / "h36m_validation.pkl").unlink()
    with pytest.raises(FileNotFoundError, match="h36m_validation.pkl"):
        make(data, tmp_path / "c1")
    shutil.copy(root / "annot" / "h36m_validation.pkl", data / "h36m_validation.pkl")  # accepted
    records = load_annotations(data / "annot" / "h36m_train.pkl")
    missing = sorted((data / "images").glob("s_05_*/*.jpg"))[0]
    missing.unlink()
    with pytest.raises(FileNotFoundError, match=missing.name):
        make(data, tmp_path / "c2")
    del records[4]["joints_2d"]
    save_annotations(data / "annot" / "h36m_train.pkl", records)
    with pytest.raises(ValueError, match=r"h36m_train.pkl: record 4 has no key 'joints_2d'"):
        make(data, tmp_path / "c3")
    records[4]["joints_2d"] = np.zeros((16, 2))
    save_annotations(data / "annot" / "h36m_train.pkl", records)
    with pytest.raises(ValueError, match=r"h36m_train.pkl: record 4 key 'joints_2d'.*\(16, 2\)"):
        make(data, tmp_path / "c4")


def test_synthetic_root_none_through_the_frames_view(tmp_path):
    source = H36MImageDataModule(
        root=None, cache_dir=str(tmp_path), image_size=32, synthetic_subjects=("S1", "S9"),
        synthetic_actions=("Sitting",), synthetic_frames=10, synthetic_takes=1,
        synthetic_size=96, **{**SPLITS, "train_subjects": ("S1",)},
    )  # fmt: skip
    view = FramesDataModule(source, batch_size=4)
    view.prepare_data()
    view.setup("fit")
    assert (source.data_dir / "annot" / "h36m_train.pkl").exists()
    batch = next(iter(view.train_dataloader()))
    assert batch["image"].shape == (4, 3, 32, 32)
    assert set(batch) == KEYS
    listed = load_annotations(source.data_dir / "annot" / "h36m_train.pkl")
    assert len(view.datasets["train"]) == len(listed) >= 8  # 4 cameras x frames 1, 6, (11)
