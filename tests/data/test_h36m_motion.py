"""H36MMotionDataModule: exp-map txt files in, 22-joint motion windows out (HisRepItself)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.data.h36m_motion import H36MMotionDataModule
from motionzoo.data.motion_base import window_starts
from motionzoo.data.synthetic.motion import generate_sequence
from motionzoo.data.synthetic.motion_files import write_h36m_motion_files
from motionzoo.skeleton import H36M_22, H36M_32, H36M_ACTIONS, h36m_offsets

ACTIONS = ("walking", "takingphoto", "sittingdown")
KEPT = [2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19, 21, 22, 25, 26, 27, 29, 30]
SPLIT = {"train_subjects": ("S1", "S6"), "val_subjects": ("S11",), "test_subjects": ("S5",)}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    out = tmp_path_factory.mktemp("h36m_motion")
    write_h36m_motion_files(out, subjects=("S1", "S5", "S6", "S11"), actions=ACTIONS, frames=110)
    return out


def make(root, cache, **kwargs) -> H36MMotionDataModule:
    kwargs = {"actions": ACTIONS, **SPLIT, **kwargs}
    dm = H36MMotionDataModule(root=str(root), cache_dir=str(cache), **kwargs)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def hri_fkl(expmap: np.ndarray) -> np.ndarray:
    """HisRepItself ``fkl`` for one frame (99,) -> (32, 3) mm, one joint at a time (row
    vectors), rotations from scipy."""
    offsets, xyz, rot = h36m_offsets(), np.zeros((32, 3)), np.zeros((32, 3, 3))
    for i, p in enumerate(H36M_32.parents):
        r = Rotation.from_rotvec(expmap[3 + 3 * i : 6 + 3 * i]).as_matrix()
        if p < 0:
            xyz[i], rot[i] = offsets[i] + expmap[:3], r
        else:
            xyz[i], rot[i] = offsets[i] @ rot[p] + xyz[p], r @ rot[p]
    return xyz


def read_txt(path) -> np.ndarray:
    return np.array([line.split(",") for line in path.read_text().split()], dtype=np.float64)


def test_batch_contract(root, tmp_path):
    dm = make(root, tmp_path, batch_size=16)
    batch = next(iter(dm.train_dataloader()))
    assert set(batch) == {"motion", "action"}
    assert batch["motion"].shape == (16, 50, 22, 3) and batch["motion"].dtype == torch.float32
    assert batch["action"].shape == (16,) and batch["action"].dtype == torch.long
    assert dm.skeleton is H36M_22 and dm.num_joints == 22 and dm.action_names == H36M_ACTIONS
    labels = {H36M_ACTIONS.index(a) for a in ("Walking", "Photo", "SittingDown")}
    for split in ("train", "val", "test"):
        assert set(dm.datasets[split].action.tolist()) == labels
    names = dm.sequence_names
    assert {n.split("/")[0] for n in names["train"]} == {"S1", "S6"}
    assert {n.split("/")[0] for n in names["val"]} == {"S11"}
    assert {n.split("/")[0] for n in names["test"]} == {"S5"}
    assert "S6/takingphoto_2.txt" in names["train"]
    assert dm.hparams.clip_length == 50 and dm.hparams.stride == 1
    assert dm.hparams.target_fps == 25  # every 2nd frame of the 50 Hz files


def test_round_trip_angles_files_loader_joints(root, tmp_path):
    """generated exp-maps -> txt -> loader == independent FK of those exp-maps at 25 Hz with
    the global rotation and translation removed, 22 joints."""
    dm = make(root, tmp_path, stride=3)
    train = dm.datasets["train"]
    k = dm.sequence_names["train"].index("S6/sittingdown_2.txt")
    length = len(read_txt(root / "S6" / "sittingdown_2.txt"))
    expmap = generate_sequence("SittingDown", "S6", 1, length, seed=0)["expmap"][::2].copy()
    expmap[:, :6] = 0
    expected = np.stack([hri_fkl(frame) for frame in expmap])[:, KEPT]
    windows = torch.nonzero(train.sequence == k).squeeze(1)
    assert len(windows) == (len(expmap) - 50) // 3 + 1
    batch = train.__getitems__(windows.tolist())
    for n, motion in enumerate(batch["motion"].numpy()):
        np.testing.assert_allclose(motion, expected[3 * n : 3 * n + 50], atol=0.02)
    assert (batch["action"] == H36M_ACTIONS.index("SittingDown")).all()
    # single items and batches agree
    assert torch.equal(train[int(windows[1])]["motion"], batch["motion"][1])


def test_windows_strides_and_target_fps(root, tmp_path):
    dm = make(root, tmp_path, clip_length=20, stride=4, eval_stride=7, target_fps=50 / 3)
    lengths = {
        split: [-(-len(read_txt(root / n)) // 3) for n in dm.sequence_names[split]]
        for split in ("train", "val", "test")
    }
    for split, stride in (("train", 4), ("val", 7), ("test", 7)):
        expected = sum((n - 20) // stride + 1 for n in lengths[split])
        assert len(dm.datasets[split]) == expected
    assert next(iter(dm.val_dataloader()))["motion"].shape[1:] == (20, 22, 3)
    starts, sequence = window_starts(np.array([5, 3, 7]), window=3, stride=2)
    assert starts.tolist() == [0, 2, 5, 8, 10, 12] and sequence.tolist() == [0, 0, 1, 2, 2, 2]


def test_train_statistics(root, tmp_path):
    dm = make(root, tmp_path, stride=2)
    train = dm.datasets["train"]
    windows = train.__getitems__(list(range(len(train))))["motion"].double()
    np.testing.assert_allclose(dm.train_mean.numpy(), windows.mean(0).numpy(), atol=1e-3)
    frames = windows.reshape(-1, 22, 3)
    np.testing.assert_allclose(dm.mean.numpy(), frames.mean(0).numpy(), atol=1e-3)
    np.testing.assert_allclose(dm.std.numpy(), frames.std(0, unbiased=False).numpy(), atol=1e-2)
    assert dm.train_mean.shape == (50, 22, 3) and dm.mean.shape == dm.std.shape == (22, 3)
    assert (dm.std[H36M_22.index("LeftHand")] > 10).all()  # mm
    assert dm.std[H36M_22.index("Spine1")].max() < 20  # near the removed root: little motion


def test_cache_built_once_reused_and_rebuilt_on_change(root, tmp_path):
    dm = make(root, tmp_path)
    (cache,) = (tmp_path / "h36m_motion" / "processed").iterdir()
    assert cache == dm.cache_file()
    mtime = cache.stat().st_mtime_ns
    again = make(root, tmp_path)
    assert cache.stat().st_mtime_ns == mtime
    assert torch.equal(again.datasets["train"].frames, dm.datasets["train"].frames)
    make(root, tmp_path, stride=5)
    assert len(list(cache.parent.iterdir())) == 2


# --- errors ---------------------------------------------------------------------------------


def copy_set(root, tmp_path):
    out = tmp_path / "files"
    for path in root.rglob("*.txt"):
        target = out / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    return out


def assert_no_cache_left(cache):
    folder = cache / "h36m_motion" / "processed"
    assert not folder.exists() or list(folder.iterdir()) == [], "nothing half-written"


def test_missing_subjects_and_files(root, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"S9: folder not found \(train subject S9\)"):
        make(root, tmp_path, train_subjects=("S1", "S9"))
    with pytest.raises(FileNotFoundError, match=r"S1/eating_1.txt: not found"):
        make(root, tmp_path, actions=("eating",))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda lines: lines[:4] + [",".join(lines[4].split(",")[:98])] + lines[5:],
         r"walking_2.txt: line 5 has 98 values; expected 99"),
        (lambda lines: lines[:2] + [lines[2].replace(",", ",abc,", 1).rsplit(",", 1)[0]]
         + lines[3:], r"walking_2.txt: line 3, value 2 is 'abc', not a number"),
        (lambda lines: lines[:-1] + [lines[-1][: len(lines[-1]) // 2]],
         r"walking_2.txt: line \d+ has \d+ values; expected 99"),
        (lambda lines: [",".join(line.split(",")[:96]) for line in lines],
         r"walking_2.txt: every line has 96 values; expected 99"),
        (lambda lines: [], r"walking_2.txt: no frames"),
        (lambda lines: lines[:1] + [lines[1].replace(lines[1].split(",")[4], "nan", 1)]
         + lines[2:], r"walking_2.txt: 1 non-finite value.*first at line 2"),
    ],
    ids=["98-values", "non-numeric", "truncated", "96-columns", "empty", "nan"],
)  # fmt: skip
def test_corrupt_file_is_named_and_nothing_half_written(root, tmp_path, corrupt, message):
    files = copy_set(root, tmp_path)
    path = files / "S11" / "walking_2.txt"
    path.write_text("\n".join(corrupt(path.read_text().splitlines())))
    with pytest.raises(ValueError, match=message):
        make(files, tmp_path / "cache")
    assert_no_cache_left(tmp_path / "cache")


def test_options_are_checked(root, tmp_path):
    with pytest.raises(ValueError, match="unknown action 'jumping'"):
        H36MMotionDataModule(root=str(root), actions=("jumping",))
    dm = H36MMotionDataModule(root=str(root), actions=("Photo", "takingphoto", "Walking"))
    assert dm.actions == ("Photo", "Walking")
    with pytest.raises(RuntimeError, match="call setup"):
        dm.train_dataloader()


def test_synthetic_set_has_every_subject_and_action(tmp_path):
    """root=None: both takes of the 15 actions for the 7 subjects (writing once into the cache:
    tests/data/test_base.py)."""
    dm = H36MMotionDataModule(cache_dir=str(tmp_path), synthetic_frames=100, stride=10)
    dm.prepare_data()
    dm.setup()
    files = sorted(dm.data_dir.rglob("*.txt"))
    assert len(files) == 7 * 15 * 2
    assert {p.parent.name for p in files} == {"S1", "S5", "S6", "S7", "S8", "S9", "S11"}
    assert set(dm.datasets["train"].action.tolist()) == set(range(15))
