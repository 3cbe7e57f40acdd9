"""Fuzz suite: every dataset's files in the real format, one corruption per case.

Each dataset's good files are written once (tiny synthetic sets, module-scoped) and copied per
case; one corruption is applied (truncated, zero-byte, wrong key, wrong shape, NaN / inf, strings,
object arrays, a folder where a file should be, a foreign pickle, a non-image) and the
DataModule's ``prepare_data`` + ``setup`` must end in a *clear* error: a ValueError or
FileNotFoundError whose message names the file (or folder), no code from the file run, and no
processed cache written. Anything else is reported as one of

- ``obscure``: another exception type, or a message that names none of the expected files;
- ``silent``: no error at all (bad data accepted);
- ``unsafe``: a foreign pickle ran (its marker file exists);
- ``cached``: a processed cache was written from the corrupted input.

``pytest -v tests/data/test_corrupt_files.py`` lists every case by dataset and corruption.
"""

from __future__ import annotations

import pickle
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from motionzoo.data.amass import AMASSDataModule
from motionzoo.data.h36m_images import H36MImageDataModule
from motionzoo.data.h36m_motion import H36MMotionDataModule
from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.data.h36m_toolbox import load_annotations, save_annotations
from motionzoo.data.mug import MUGDataModule
from motionzoo.data.safe_pickle import load_npz_entry
from motionzoo.data.sprites import SpritesDataModule
from motionzoo.data.synthetic.faces import write_mug
from motionzoo.data.synthetic.h36m import write_h36m_pose_files
from motionzoo.data.synthetic.h36m_images import write_h36m_image_files
from motionzoo.data.synthetic.motion_files import write_amass_files, write_h36m_motion_files
from motionzoo.data.synthetic.sprites import write_sprites

MARKER = "pwned.txt"  # what a foreign pickle creates when it runs


class Payload:
    """Pickles as a call of ``exec`` that creates the marker file next to the dataset's root
    folder (the one holding ``path``): the foreign pickle."""

    def __init__(self, path: Path):
        self.marker = next(p for p in path.parents if p.name == "root").parent / MARKER

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


# --- generic corruptions of one file ------------------------------------------------------------


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


def folder_instead(path: Path) -> None:
    path.unlink()
    path.mkdir()


def not_this_format(path: Path) -> None:
    path.write_bytes(b"this is not the file you are looking for\n" * 40)


def npz_edit(path: Path, edit: Callable[[dict], None]) -> None:
    """Rewrite an npz after ``edit`` changed its entries (object entries are read safely)."""
    with np.load(path, allow_pickle=False) as f:
        entries = {k: load_npz_entry(f, k, path, "test data") for k in f.files}
    entries = {
        k: v.item() if v.dtype == object and v.shape == () else v for k, v in entries.items()
    }
    edit(entries)
    path.unlink()
    with open(path, "wb") as out:
        np.savez_compressed(out, **entries)


def set_value(array: np.ndarray, value) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.reshape(-1)[len(array.reshape(-1)) // 3] = value
    return array


def as_strings(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).astype(str)


def as_objects(array: np.ndarray) -> np.ndarray:
    return np.asarray(array).astype(object)


# --- the datasets ---------------------------------------------------------------------------------


@dataclass
class Dataset:
    """How to write a dataset's good files and read them through its DataModule."""

    name: str
    write: Callable[[Path], None]
    make: Callable[[Path, Path], object]  # (root, cache) -> DataModule

    def load(self, root: Path, cache: Path) -> None:
        dm = self.make(root, cache)
        dm.prepare_data()
        dm.setup(None)


def _h36m_pose(root, cache):
    return H36MPoseDataModule(root=str(root), cache_dir=str(cache), train_subjects=("S1",),
                              test_subjects=("S9",), batch_size=8)  # fmt: skip


def _h36m_images(root, cache):
    return H36MImageDataModule(root=str(root), cache_dir=str(cache), image_size=16,
                               train_subjects=("S1",), test_subjects=("S9",), stride=5,
                               eval_stride=5, batch_size=8)  # fmt: skip


def _h36m_motion(root, cache):
    return H36MMotionDataModule(root=str(root), cache_dir=str(cache), actions=("walking",),
                                train_subjects=("S1",), val_subjects=("S11",),
                                test_subjects=("S5",), clip_length=10, batch_size=8)  # fmt: skip


def _amass(root, cache):
    return AMASSDataModule(root=str(root), cache_dir=str(cache), clip_length=20, batch_size=8,
                           val_datasets=("BioMotionLab_NTroje",))  # fmt: skip


def _sprites(root, cache):
    return SpritesDataModule(root=str(root), cache_dir=str(cache), val_fraction=0.0, batch_size=8)


def _mug(root, cache):
    return MUGDataModule(root=str(root), cache_dir=str(cache), clip_length=4, split_by="take",
                         val_fraction=0.0, test_fraction=0.0, batch_size=4)  # fmt: skip


AMASS_LAYOUT = {
    "CMU": (120.0, ("01",), False),
    "BioMotionLab_NTroje": (120.0, ("rub001",), False),
}
DATASETS = {
    "h36m_pose": Dataset(
        "h36m_pose",
        lambda out: write_h36m_pose_files(
            out,
            subjects=("S1", "S9"),
            frames=20,
            takes=1,
            noisy_detections=False,
            actions=("Walking",),
        ),
        _h36m_pose,
    ),  # fmt: skip
    "h36m_images": Dataset(
        "h36m_images",
        lambda out: write_h36m_image_files(
            out,
            subjects=("S1", "S9"),
            actions=("Walking",),
            frames=10,
            takes=1,
            frame_step=5,
            size=64,
        ),
        _h36m_images,
    ),  # fmt: skip
    "h36m_motion": Dataset(
        "h36m_motion",
        lambda out: write_h36m_motion_files(
            out, subjects=("S1", "S5", "S11"), actions=("walking",), frames=60
        ),
        _h36m_motion,
    ),  # fmt: skip
    "amass": Dataset(
        "amass",
        lambda out: write_amass_files(out, layout=AMASS_LAYOUT, sequences=1, seconds=(2.2, 2.4)),
        _amass,
    ),
    "sprites": Dataset("sprites", lambda out: write_sprites(out, num_characters=3), _sprites),
    "mug": Dataset(
        "mug", lambda out: write_mug(out, num_subjects=2, takes=1, frames=8, size=64), _mug
    ),
}


# --- where each dataset's files are ---------------------------------------------------------------


def vp3d_3d(root):
    return root / "data_3d_h36m.npz"


def vp3d_2d(root):
    return root / "data_2d_h36m_gt.npz"


def toolbox_annotations(root):
    return root / "annot" / "h36m_train.pkl"


def toolbox_image(root):
    record = load_annotations(toolbox_annotations(root))[0]
    return root / "images" / record["image"]


def motion_txt(root):
    return root / "S1" / "walking_1.txt"


def amass_npz(root):
    return next((root / "CMU" / "01").glob("*_poses.npz"))


def sprites_npy(key):
    return lambda root: root / f"sprites_{key}_train.npy"


def mug_frame(number):
    return lambda root: root / "subjects3" / "001" / "anger" / "take000" / f"img_{number:04d}.jpg"


# --- corruptions specific to a format -------------------------------------------------------------


def vp3d_entry(key: str, change: Callable[[dict], None]):
    """An edit of one VideoPose3D entry (``positions_3d`` / ``positions_2d`` dicts)."""
    return lambda path: npz_edit(path, lambda entries: change(entries[key]))


def first_action(poses: dict) -> tuple[str, str]:
    subject = sorted(poses)[0]
    return subject, sorted(poses[subject])[0]


def edit_3d(change):
    def apply(poses):
        subject, action = first_action(poses)
        poses[subject][action] = change(poses[subject][action])

    return vp3d_entry("positions_3d", apply)


def edit_2d(change):
    def apply(poses):
        subject, action = first_action(poses)
        views = list(poses[subject][action])
        views[1] = change(views[1])
        poses[subject][action] = views

    return vp3d_entry("positions_2d", apply)


def drop_camera(poses):
    subject, action = first_action(poses)
    poses[subject][action] = list(poses[subject][action])[:3]


def rename_key(old: str, new: str):
    return lambda path: npz_edit(path, lambda entries: entries.__setitem__(new, entries.pop(old)))


def npz_payload(key: str):
    def apply(path: Path) -> None:
        def change(entries):
            entries[key] = np.array(Payload(path), dtype=object)

        npz_edit(path, change)

    return apply


def npz_set(key: str, change):
    return lambda path: npz_edit(path, lambda e: e.__setitem__(key, change(e[key])))


def pickle_payload(path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(Payload(path), f)


def edit_records(change):
    def apply(path: Path) -> None:
        records = load_annotations(path)
        change(records[0])
        path.unlink()
        save_annotations(path, records)

    return apply


def record_set(key, change):
    return edit_records(lambda record: record.__setitem__(key, change(record[key])))


def txt_edit(change):
    def apply(path: Path) -> None:
        lines = path.read_text().splitlines()
        path.write_text("\n".join(change(lines)) + "\n")

    return apply


def txt_value(value: str):
    def change(lines):
        values = lines[3].split(",")
        values[7] = value
        return lines[:3] + [",".join(values)] + lines[4:]

    return txt_edit(change)


def npy_save(change, allow_pickle=False):
    def apply(path: Path) -> None:
        array = change(np.load(path))
        path.unlink()
        np.save(path, array, allow_pickle=allow_pickle)

    return apply


def npy_payload(path: Path) -> None:
    path.unlink()
    np.save(path, np.array([Payload(path)], dtype=object), allow_pickle=True)


def other_size(path: Path) -> None:
    Image.new("RGB", (48, 40), (200, 100, 50)).save(path)


def remove(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink()


# (dataset, case id, file to corrupt, corruption)
CASES = [
    # VideoPose3D npz files: 3D poses
    ("h36m_pose", "3d-truncated", vp3d_3d, truncate),
    ("h36m_pose", "3d-zero-byte", vp3d_3d, zero_bytes),
    ("h36m_pose", "3d-folder", vp3d_3d, folder_instead),
    ("h36m_pose", "3d-not-zip", vp3d_3d, not_this_format),
    ("h36m_pose", "3d-wrong-key", vp3d_3d, rename_key("positions_3d", "positions")),
    ("h36m_pose", "3d-wrong-shape", vp3d_3d, edit_3d(lambda a: a[:, :17])),
    ("h36m_pose", "3d-nan", vp3d_3d, edit_3d(lambda a: set_value(a, np.nan))),
    ("h36m_pose", "3d-inf", vp3d_3d, edit_3d(lambda a: set_value(a, -np.inf))),
    ("h36m_pose", "3d-strings", vp3d_3d, edit_3d(as_strings)),
    ("h36m_pose", "3d-object-array", vp3d_3d, edit_3d(as_objects)),
    ("h36m_pose", "3d-not-a-dict", vp3d_3d, npz_set("positions_3d", lambda _: np.zeros(3))),
    ("h36m_pose", "3d-foreign-pickle", vp3d_3d, npz_payload("positions_3d")),
    # ... 2D keypoints
    ("h36m_pose", "2d-truncated", vp3d_2d, truncate),
    ("h36m_pose", "2d-zero-byte", vp3d_2d, zero_bytes),
    ("h36m_pose", "2d-missing", vp3d_2d, remove),
    ("h36m_pose", "2d-wrong-shape", vp3d_2d, edit_2d(lambda a: a[:, :16])),
    ("h36m_pose", "2d-nan", vp3d_2d, edit_2d(lambda a: set_value(a, np.nan))),
    ("h36m_pose", "2d-inf", vp3d_2d, edit_2d(lambda a: set_value(a, np.inf))),
    ("h36m_pose", "2d-strings", vp3d_2d, edit_2d(as_strings)),
    ("h36m_pose", "2d-three-cameras", vp3d_2d, vp3d_entry("positions_2d", drop_camera)),
    ("h36m_pose", "2d-metadata-foreign-pickle", vp3d_2d, npz_payload("metadata")),
    # H36M-Toolbox annotations and frames
    ("h36m_images", "pkl-truncated", toolbox_annotations, truncate),
    ("h36m_images", "pkl-zero-byte", toolbox_annotations, zero_bytes),
    ("h36m_images", "pkl-folder", toolbox_annotations, folder_instead),
    ("h36m_images", "pkl-foreign-pickle", toolbox_annotations, pickle_payload),
    ("h36m_images", "pkl-not-a-pickle", toolbox_annotations, not_this_format),
    ("h36m_images", "record-wrong-key", toolbox_annotations,
     edit_records(lambda r: r.__setitem__("joints", r.pop("joints_2d")))),
    ("h36m_images", "joints_2d-wrong-shape", toolbox_annotations,
     record_set("joints_2d", lambda a: a[:16])),
    ("h36m_images", "joints_2d-number-strings", toolbox_annotations,
     record_set("joints_2d", as_strings)),
    ("h36m_images", "joints_2d-words", toolbox_annotations,
     record_set("joints_2d", lambda a: np.full(np.shape(a), "left"))),
    ("h36m_images", "joints_2d-inf", toolbox_annotations,
     record_set("joints_2d", lambda a: set_value(a, np.inf))),
    ("h36m_images", "joints_3d_camera-nan", toolbox_annotations,
     record_set("joints_3d_camera", lambda a: set_value(a, np.nan))),
    ("h36m_images", "box-nan", toolbox_annotations,
     record_set("box", lambda a: set_value(a, np.nan))),
    ("h36m_images", "jpg-truncated", toolbox_image, truncate),
    ("h36m_images", "jpg-zero-byte", toolbox_image, zero_bytes),
    ("h36m_images", "jpg-not-an-image", toolbox_image, not_this_format),
    ("h36m_images", "jpg-folder", toolbox_image, folder_instead),
    ("h36m_images", "jpg-missing", toolbox_image, remove),
    # Human3.6M exp-map txt
    ("h36m_motion", "txt-truncated-line", motion_txt, txt_edit(lambda ls: ls[:-1] + [ls[-1][:40]])),
    ("h36m_motion", "txt-zero-byte", motion_txt, zero_bytes),
    ("h36m_motion", "txt-folder", motion_txt, folder_instead),
    ("h36m_motion", "txt-binary", motion_txt, lambda p: p.write_bytes(bytes(range(256)) * 8)),
    ("h36m_motion", "txt-nan", motion_txt, txt_value("nan")),
    ("h36m_motion", "txt-inf", motion_txt, txt_value("-inf")),
    ("h36m_motion", "txt-strings", motion_txt, txt_value("left")),
    ("h36m_motion", "txt-96-columns", motion_txt,
     txt_edit(lambda lines: [",".join(line.split(",")[:96]) for line in lines])),
    ("h36m_motion", "txt-missing", motion_txt, remove),
    # AMASS npz
    ("amass", "npz-truncated", amass_npz, truncate),
    ("amass", "npz-zero-byte", amass_npz, zero_bytes),
    ("amass", "npz-folder", amass_npz, folder_instead),
    ("amass", "npz-not-zip", amass_npz, not_this_format),
    ("amass", "npz-wrong-key", amass_npz, rename_key("poses", "pose")),
    ("amass", "poses-wrong-shape", amass_npz, npz_set("poses", lambda a: a[:, :60])),
    ("amass", "poses-nan", amass_npz, npz_set("poses", lambda a: set_value(a, np.nan))),
    ("amass", "trans-inf", amass_npz, npz_set("trans", lambda a: set_value(a, np.inf))),
    ("amass", "poses-strings", amass_npz, npz_set("poses", as_strings)),
    ("amass", "poses-object-array", amass_npz, npz_set("poses", as_objects)),
    ("amass", "poses-foreign-pickle", amass_npz, npz_payload("poses")),
    ("amass", "framerate-string", amass_npz,
     npz_set("mocap_framerate", lambda _: np.array("fast"))),
    # Sprites npy
    ("sprites", "X-truncated", sprites_npy("X"), truncate),
    ("sprites", "X-zero-byte", sprites_npy("X"), zero_bytes),
    ("sprites", "X-folder", sprites_npy("X"), folder_instead),
    ("sprites", "X-not-npy", sprites_npy("X"), not_this_format),
    ("sprites", "X-object-array", sprites_npy("X"), npy_save(lambda a: as_objects(a[:2]), allow_pickle=True)),
    ("sprites", "X-foreign-pickle", sprites_npy("X"), npy_payload),
    ("sprites", "X-nan-pixel", sprites_npy("X"), npy_save(lambda a: set_value(a, np.nan))),
    ("sprites", "X-inf-pixel", sprites_npy("X"), npy_save(lambda a: set_value(a, np.inf))),
    ("sprites", "X-strings", sprites_npy("X"), npy_save(lambda a: as_strings(a[:2]))),
    ("sprites", "X-wrong-shape", sprites_npy("X"), npy_save(lambda a: a[:, :, :32])),
    ("sprites", "A-nan", sprites_npy("A"), npy_save(lambda a: set_value(a, np.nan))),
    ("sprites", "D-strings", sprites_npy("D"), npy_save(as_strings)),
    # MUG frames
    ("mug", "jpg-truncated", mug_frame(3), truncate),
    ("mug", "jpg-zero-byte", mug_frame(3), zero_bytes),
    ("mug", "jpg-not-an-image", mug_frame(3), not_this_format),
    ("mug", "jpg-folder", mug_frame(3), folder_instead),
    ("mug", "jpg-other-size", mug_frame(3), other_size),
    ("mug", "jpg-other-size-first", mug_frame(1), other_size),
    ("mug", "no-subjects3", lambda root: root / "subjects3", remove),
]  # fmt: skip


@pytest.fixture(scope="module")
def good_files(tmp_path_factory):
    """dataset name -> folder of its good files, each written on first use."""
    written: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in written:
            written[name] = tmp_path_factory.mktemp(name) / "root"
            DATASETS[name].write(written[name])
        return written[name]

    return get


def outcome(load: Callable[[], None], target: Path, marker: Path, cache: Path) -> str:
    """``clear`` or what went wrong (see the module docstring)."""
    try:
        load()
        error = None
    except (ValueError, FileNotFoundError) as caught:
        error = caught
    except Exception as caught:  # noqa: BLE001 - the point is to classify it
        return f"obscure: {type(caught).__name__}: {caught}"
    if marker.exists():
        return "unsafe: the foreign pickle ran"
    if error is None:
        return "silent: no error"
    if str(target) not in str(error):
        return f"obscure: does not name {target}: {error}"
    written = [p.name for p in cache.rglob("*") if p.is_file()]
    if written:
        return f"cached: {written} written from corrupted input"
    return "clear"


@pytest.mark.parametrize(
    "dataset, where, corrupt",
    [c[0:1] + c[2:] for c in CASES],
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_corrupt_file_gives_a_clear_error(good_files, tmp_path, dataset, where, corrupt):
    root = tmp_path / "root"
    shutil.copytree(good_files(dataset), root)
    target = where(root)
    corrupt(target)
    cache = tmp_path / "cache"
    result = outcome(lambda: DATASETS[dataset].load(root, cache), target, tmp_path / MARKER, cache)
    assert result == "clear", result


def test_the_good_files_load(good_files, tmp_path):
    """The uncorrupted tiny sets (the real layouts) load, so every failure above is the
    corruption's."""
    for name, dataset in DATASETS.items():
        dataset.load(good_files(name), tmp_path / name)


@pytest.mark.parametrize("batch_size", [0, -4])
@pytest.mark.parametrize("name", list(DATASETS))
def test_bad_batch_size_is_refused_before_any_data_is_written(tmp_path, name, batch_size):
    root, cache = tmp_path / "root", tmp_path / "cache"
    cls = type(DATASETS[name].make(root, cache))
    with pytest.raises(ValueError, match=rf"batch_size={batch_size}; expected an integer >= 1"):
        cls(root=str(root), synthetic_into_root=True, cache_dir=str(cache), batch_size=batch_size)
    assert not root.exists() and not cache.exists()
