"""AMASSDataModule: per-sequence SMPL-H npz files in, 18-joint motion windows out (HisRepItself /
HG-VAE protocol)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.data.amass import AMASSDataModule, read_amass_npz
from motionzoo.data.synthetic.motion_files import write_amass_files
from motionzoo.data.synthetic.smpl_motion import generate_smpl_sequence
from motionzoo.skeleton import AMASS_18, H36M_ACTIONS, SMPL_BODY_PARENTS, smpl_template

# BMLrub: the newer name of BioMotionLab_NTroje (the default test split) is found as well.
LAYOUT = {
    "CMU": (120.0, ("01", "02"), False),
    "KIT": (100.0, ("3",), True),
    "HumanEva": (60.0, ("S1",), False),
    "BMLrub": (120.0, ("rub001",), False),
    "Unlisted": (120.0, ("x",), False),
}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("amass")
    write_amass_files(out, layout=LAYOUT, sequences=2, seconds=(2.2, 3.0))
    return out


def make(root, cache, **kwargs) -> AMASSDataModule:
    dm = AMASSDataModule(root=str(root), cache_dir=str(cache), **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def scipy_joints(pose: np.ndarray) -> np.ndarray:
    """HisRepItself ``ang2joint`` with the root rotation zeroed, one joint at a time with scipy:
    pose (22, 3) -> (22, 3) metres."""
    template, position, orientation = smpl_template(), np.zeros((22, 3)), []
    for i, p in enumerate(SMPL_BODY_PARENTS):
        local = Rotation.from_rotvec(np.zeros(3) if i == 0 else pose[i])
        if p < 0:
            orientation.append(local)
        else:
            position[i] = orientation[p].apply(template[i] - template[p]) + position[p]
            orientation.append(orientation[p] * local)
    return position


def test_batch_contract_and_splits(root, tmp_path):
    dm = make(root, tmp_path, batch_size=8)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"motion", "action", "subset"}
    assert batch["motion"].shape == (8, 50, 18, 3) and batch["motion"].dtype == torch.float32
    assert batch["action"].dtype == torch.long and (batch["action"] == -1).all()
    assert dm.skeleton is AMASS_18 and dm.num_joints == 18 and dm.action_names == ()
    datasets = {s: {n.split("/")[0] for n in dm.sequence_names[s]} for s in dm.sequence_names}
    assert datasets == {"train": {"CMU", "KIT"}, "val": {"HumanEva"}, "test": {"BMLrub"}}
    assert len(dm.sequence_names["train"]) == 6 and not any(
        n.endswith("shape.npz") for names in dm.sequence_names.values() for n in names
    ), "shape.npz files have no poses and are skipped"
    assert dm.hparams.stride == 5 and dm.hparams.clip_length == 50


def test_round_trip_angles_files_loader_joints(root, tmp_path):
    """generated SMPL angles -> npz -> loader == scipy FK of those angles, every 4th frame of
    120 Hz, root rotation removed, joints 4..21 in mm."""
    dm = make(root, tmp_path, stride=3)
    name = next(n for n in dm.sequence_names["train"] if n.startswith("CMU/02/02_"))
    action = next(a for a in H36M_ACTIONS if name.endswith(f"_{a.lower()}_poses.npz"))
    with np.load(root / name) as f:
        length = len(f["poses"])
    generated = generate_smpl_sequence(action, "02", 1, length, 120.0, seed=0)["poses"]
    pose = generated[::4, :66].reshape(-1, 22, 3)  # int(120 // 25) = 4: 30 fps
    expected = np.stack([scipy_joints(p) for p in pose])[:, 4:22] * 1000

    train = dm.datasets["train"]
    windows = torch.nonzero(train.sequence == dm.sequence_names["train"].index(name)).squeeze(1)
    assert len(windows) == (len(pose) - 50) // 3 + 1
    motion = train.__getitems__(windows.tolist())["motion"].numpy()
    for n, window in enumerate(motion):
        np.testing.assert_allclose(window, expected[3 * n : 3 * n + 50], atol=1e-3)


def test_frame_step_from_the_mocap_rate(root, tmp_path):
    dm = make(root, tmp_path, clip_length=10, stride=1)
    for split in ("train", "val"):
        names = dm.sequence_names[split]
        for k, name in enumerate(names):
            with np.load(root / name) as f:
                rate, frames = float(f["mocap_framerate"]), len(f["poses"])
            step = {120.0: 4, 100.0: 4, 60.0: 2}[rate]
            windows = int((dm.datasets[split].sequence == k).sum())
            assert windows == -(-frames // step) - 10 + 1, name


def test_train_statistics(root, tmp_path):
    dm = make(root, tmp_path)
    train = dm.datasets["train"]
    windows = train.__getitems__(list(range(len(train))))["motion"].double()
    assert dm.train_mean.shape == (50, 18, 3) and dm.mean.shape == dm.std.shape == (18, 3)
    np.testing.assert_allclose(dm.train_mean.numpy(), windows.mean(0).numpy(), atol=1e-3)
    frames = windows.reshape(-1, 18, 3)
    np.testing.assert_allclose(dm.mean.numpy(), frames.mean(0).numpy(), atol=1e-3)
    np.testing.assert_allclose(dm.std.numpy(), frames.std(0, unbiased=False).numpy(), atol=1e-2)


def test_read_npz_decodes_gender_and_skips_shape_files(root):
    kit = read_amass_npz(next((root / "KIT" / "3").glob("*_poses.npz")))
    assert kit["gender"] in ("female", "male", "neutral") and kit["rate"] == 100.0
    assert kit["poses"].shape[1] == 66 and kit["poses"].dtype == np.float64
    assert read_amass_npz(root / "CMU" / "01" / "shape.npz") is None


# --- errors ---------------------------------------------------------------------------------


@pytest.fixture
def files(root, tmp_path):
    out = tmp_path / "files"
    shutil.copytree(root, out)
    return out


def assert_no_cache_left(cache):
    folder = cache / "amass" / "processed"
    assert not folder.exists() or list(folder.iterdir()) == [], "nothing half-written"


def test_missing_train_sub_datasets(root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none of the train sub-datasets \('ACCAD',\)"):
        make(root, tmp_path, train_datasets=("ACCAD",))


def rewrite(path, **changes):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays.update(changes)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def test_poses_npz_without_poses(files, tmp_path):
    path = next((files / "KIT" / "3").glob("*_poses.npz"))
    rewrite(path, poses=None)
    with pytest.raises(ValueError, match=rf"{path.name}: key 'poses' missing \(found \["):
        make(files, tmp_path / "cache")
    assert_no_cache_left(tmp_path / "cache")


def test_wrong_number_of_pose_columns(files, tmp_path):
    path = next((files / "HumanEva" / "S1").glob("*_poses.npz"))
    with np.load(path) as f:
        poses = f["poses"]
    rewrite(path, poses=poses[:, :155])
    with pytest.raises(ValueError, match=rf"{path.name}: 'poses' has shape \(\d+, 155\); expected"):
        make(files, tmp_path / "cache")
    assert_no_cache_left(tmp_path / "cache")


def test_truncated_npz(files, tmp_path):
    path = next((files / "BMLrub" / "rub001").glob("*_poses.npz"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=rf"{path.name}: not an npz \(zip\) archive .*truncated"):
        make(files, tmp_path / "cache")
    assert_no_cache_left(tmp_path / "cache")


def test_missing_frame_rate_and_smplx_names(files, tmp_path):
    path = next((files / "CMU" / "01").glob("*_poses.npz"))
    with np.load(path) as f:
        rate = f["mocap_framerate"]
    rewrite(path, mocap_framerate=None)
    with pytest.raises(ValueError, match=rf"{path.name}: key 'mocap_framerate' missing"):
        read_amass_npz(path)
    rewrite(path, mocap_frame_rate=rate)  # the SMPL-X releases' spelling
    assert read_amass_npz(path)["rate"] == 120.0


def test_synthetic_set_fills_every_split(motionzoo_cache):
    """root=None: the synthetic AMASS folders, BMLrub under its HisRepItself name for the test
    split (writing once into the cache: tests/data/test_base.py)."""
    dm = AMASSDataModule()
    dm.prepare_data()
    dm.setup()
    folders = {p.name for p in dm.data_dir.iterdir()}
    assert "BioMotionLab_NTroje" in folders and len(folders) >= 5
    assert {n.split("/")[0] for n in dm.sequence_names["test"]} == {"BioMotionLab_NTroje"}
    assert all(len(dm.datasets[s]) > 20 for s in ("train", "val", "test"))
