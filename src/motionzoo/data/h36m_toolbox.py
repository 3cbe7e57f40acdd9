"""The H36M-Toolbox layout of Human3.6M frames and their per-frame annotations.

The layout written by CHUNYUWANG/H36M-Toolbox (``video_to_images.py`` and ``generate_labels.py``
at commit dce619f, built on anibali/h36m-fetch; commit ee3c46b's loop stops at action 15) and
read by, among others, the Cross View Fusion code (microsoft/multiview-human-pose-estimation-
pytorch, ``lib/dataset/h36m.py``), whose README places the files as::

    <root>/images/s_01_act_02_subact_01_ca_01/s_01_act_02_subact_01_ca_01_000001.jpg
    <root>/annot/h36m_train.pkl          (H36M-Toolbox itself writes them next to images/;
    <root>/annot/h36m_validation.pkl      both places are accepted)

Folders are ``s_%02d_act_%02d_subact_%02d_ca_%02d`` (subject, action, subaction, camera), frames
``<folder>_%06d.jpg`` numbered from 1 (ffmpeg's ``%06d``, all frames of the 50 Hz video). The
Integral Human Pose code (mks0601, ``data/Human36M/Human36M.py``) and PoseLifter / HPE3D (the
thesis code: ``h36m17_<subjects>.h5`` built from the same folders) use the same folder names.

Each ``.pkl`` is a pickled list with one dict per frame (``generate_labels.py``), whose keys are

- ``image``: ``'<folder>/<folder>_%06d.jpg'``, relative to ``<root>/images``;
- ``joints_2d`` (17, 2): pixels of the full video frame (``D2_Positions``);
- ``joints_3d_camera`` (17, 3): camera coordinates in mm (``D3_Positions_mono``);
- ``joints_3d`` (17, 3): camera coordinates in mm of the "universal" skeleton (all subjects
  rescaled to one set of bone lengths, ``D3_Positions_mono_universal``);
- ``joints_vis`` (17, 3) ones; ``video_id``, ``image_id`` (the frame number, from 1);
- ``subject`` (1, 5, 6, 7, 8, 9, 11), ``action`` (2..16), ``subaction`` (1, 2),
  ``camera_id`` (0..3, folder ``ca_`` minus 1: cameras 54138969, 55011271, 58860488, 60457274,
  ``metadata.camera_ids`` of h36m-fetch, the order of cameras.h5's camera1..4 and of
  VideoPose3D); ``source`` ``'h36m'``;
- ``camera``: dict ``R`` (3, 3) world-to-camera rotation, ``T`` (3, 1) camera centre in world
  mm, ``fx``, ``fy``, ``cx``, ``cy`` (pixels), ``k`` (3, 1), ``p`` (2, 1);
- ``box`` (x0, y0, x1, y1) pixels: a 2000 x 2000 mm square at the pelvis depth (pelvis -1000 /
  +1000 mm in x, -900 / +1100 mm in y, camera frame) projected without distortion; ``center``
  its middle; ``scale`` its width and height / 200.

``h36m_train.pkl`` holds S1, S5, S6, S7, S8 and ``h36m_validation.pkl`` S9, S11 (every extracted
frame). The 17 joints are the 32-joint mocap indices ``[0, 1, 2, 3, 6, 7, 8, 12, 16, 14, 15,
17, 18, 19, 25, 26, 27]``: :data:`motionzoo.skeleton.H36M_17`'s order (Hip, RHip, RKnee, RFoot,
LHip, LKnee, LFoot, Spine, Thorax, Neck/Nose, Head, LShoulder, LElbow, LWrist, RShoulder,
RElbow, RWrist), root first; index 8 takes mocap joint 16 where VideoPose3D takes 13, a joint at
the same place (both sit on joint 12 with the same offset).

Action numbers are those of Human3.6M's ``metadata.xml`` (1 is ``_ALL``): 2 Directions,
3 Discussion, 4 Eating, 5 Greeting, 6 Phoning, 7 Posing, 8 Purchases, 9 Sitting, 10 SittingDown,
11 Smoking, 12 TakingPhoto (Photo), 13 Waiting, 14 Walking, 15 WalkingDog (WalkDog),
16 WalkTogether: the list of the Integral Human Pose code, which names evaluation rows with it.

The annotations are pickles: they are read with a restricted unpickler that builds only Python
containers, numbers, strings and numpy arrays / scalars (no other class is ever imported or
called), so only the user's own annotation files are read, and nothing in them can run code.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motionzoo.data.cache import atomic_write
from motionzoo.data.safe_pickle import load_pickle
from motionzoo.data.validate import NUMERIC_KINDS, check_finite
from motionzoo.skeleton import h36m_action_index

FOLDER = "s_{:02d}_act_{:02d}_subact_{:02d}_ca_{:02d}"
IMAGE = "{folder}_{frame:06d}.jpg"
ANNOTATION_FILES = ("h36m_train.pkl", "h36m_validation.pkl")
ANNOTATION_DIRS = ("annot", ".")
LAYOUT = (
    "<root>/images/s_%02d_act_%02d_subact_%02d_ca_%02d/<folder>_%06d.jpg and "
    "<root>/annot/h36m_{train,validation}.pkl (the H36M-Toolbox layout, see README#data)"
)
# The 32-joint mocap indices of the 17 joints (generate_labels.py joint_idx).
TOOLBOX_JOINTS = (0, 1, 2, 3, 6, 7, 8, 12, 16, 14, 15, 17, 18, 19, 25, 26, 27)
# metadata.xml action numbers 2..16, in the spelling of the Integral Human Pose code.
TOOLBOX_ACTIONS = {
    2: "Directions", 3: "Discussion", 4: "Eating", 5: "Greeting", 6: "Phoning", 7: "Posing",
    8: "Purchases", 9: "Sitting", 10: "SittingDown", 11: "Smoking", 12: "Photo", 13: "Waiting",
    14: "Walking", 15: "WalkDog", 16: "WalkTogether",
}  # fmt: skip
TOOLBOX_ACTION_IDS = {name: number for number, name in TOOLBOX_ACTIONS.items()}
# Per-frame keys read, and the shape of one record's value (() for a scalar).
FRAME_KEYS = {
    "image": (),
    "joints_2d": (17, 2),
    "joints_3d_camera": (17, 3),
    "joints_3d": (17, 3),
    "box": (4,),
    "subject": (),
    "action": (),
    "subaction": (),
    "camera_id": (),
    "image_id": (),
}  # Axis names (after the record) of the array keys, for errors.
_AXES = {
    "joints_2d": ("joint", "coordinate"), "joints_3d_camera": ("joint", "coordinate"),
    "joints_3d": ("joint", "coordinate"), "box": ("value",),
}  # fmt: skip


def folder_name(subject: int, action: int, subaction: int, camera: int) -> str:
    """``s_01_act_02_subact_01_ca_01``; ``camera`` counts from 1 as in the folder names."""
    return FOLDER.format(subject, action, subaction, camera)


def image_name(folder: str, frame: int) -> str:
    """``<folder>/<folder>_000001.jpg`` for frame number ``frame`` (from 1)."""
    return f"{folder}/{IMAGE.format(folder=folder, frame=frame)}"


def action_labels(numbers: np.ndarray) -> np.ndarray:
    """metadata.xml action numbers -> the zoo's labels (``H36M_ACTIONS`` order); -1 for numbers
    that name no action (1, ``_ALL``)."""
    table = np.full(max(TOOLBOX_ACTIONS) + 1, -1, dtype=np.int64)
    for number, name in TOOLBOX_ACTIONS.items():
        table[number] = h36m_action_index(name)
    numbers = np.asarray(numbers, dtype=np.int64)
    known = (numbers >= 0) & (numbers < len(table))
    return np.where(known, table[np.clip(numbers, 0, len(table) - 1)], -1)


def find_annotations(root: Path) -> list[Path]:
    """The two annotation files under ``root`` (``annot/`` first, then ``root`` itself)."""
    paths = []
    for name in ANNOTATION_FILES:
        candidates = [root / folder / name for folder in ANNOTATION_DIRS]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise FileNotFoundError(
                f"{candidates[0]} not found (nor {candidates[1]}): expected the H36M-Toolbox "
                f"annotation file {name}; layout {LAYOUT}"
            )
        paths.append(found)
    return paths


def load_annotations(path: str | Path) -> list[dict]:
    """The list of per-frame dicts of an H36M-Toolbox ``.pkl``, through the restricted unpickler
    of :mod:`motionzoo.data.safe_pickle`."""
    path = Path(path)
    expected = f"H36M-Toolbox's list of per-frame dicts (keys {', '.join(FRAME_KEYS)}, ...)"
    try:
        records = load_pickle(path, expected)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found; layout {LAYOUT}") from None
    if not isinstance(records, list) or (records and not isinstance(records[0], dict)):
        raise ValueError(f"{path}: holds a {type(records).__name__}; expected {expected}")
    return records


def save_annotations(path: str | Path, records: list[dict]) -> Path:
    """Pickle ``records`` to ``path`` atomically (``pickle.dump``, as ``generate_labels.py``)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            pickle.dump(records, f)

    return atomic_write(path, write)


def _column(records: list[dict], key: str, path: Path) -> np.ndarray:
    """One key of every record, stacked; errors name the file, the record and the key."""
    shape = FRAME_KEYS[key]
    try:
        values = [record[key] for record in records]
    except (KeyError, TypeError):
        index = next(i for i, r in enumerate(records) if not isinstance(r, dict) or key not in r)
        found = list(records[index]) if isinstance(records[index], dict) else records[index]
        raise ValueError(
            f"{path}: record {index} has no key {key!r} (it has {found}); expected H36M-Toolbox "
            f"per-frame dicts with {', '.join(FRAME_KEYS)}"
        ) from None
    if key == "image":
        return np.asarray([str(v) for v in values], dtype=str)
    dtype = np.float64 if shape else np.int64
    if not values:
        return np.zeros((0, *shape), dtype=dtype)
    try:  # no dtype: strings stay strings (even "1.5"), and are refused below
        column = np.asarray(values)
    except (ValueError, TypeError):
        column = None
    if column is None or column.shape[1:] != shape or column.dtype.kind not in NUMERIC_KINDS:
        what = "17 joints in the H36M-Toolbox order" if shape[:1] == (17,) else "numbers"
        index = next((i for i, v in enumerate(values) if np.shape(v) != shape), None)
        if index is not None:
            raise ValueError(
                f"{path}: record {index} key {key!r} has shape {np.shape(values[index])}; "
                f"expected {shape} ({what})"
            )
        index = next(
            (i for i, v in enumerate(values) if np.asarray(v).dtype.kind not in NUMERIC_KINDS), 0
        )
        raise ValueError(
            f"{path}: record {index} key {key!r} holds {np.asarray(values[index]).dtype} values "
            f"(e.g. {np.asarray(values[index]).reshape(-1)[:2].tolist()}), not numbers; expected "
            f"{shape} {what}"
        )
    column = column.astype(dtype, copy=False)
    if shape:
        check_finite(column, f"{path}: key {key!r}", ("record", *_AXES[key]))
    return column


def frame_table(
    records: list[dict], path: str | Path, keys: Sequence[str] = tuple(FRAME_KEYS)
) -> dict[str, np.ndarray]:
    """The ``keys`` of every record as arrays: ``image`` (N,) str, ``joints_2d`` (N, 17, 2),
    ``joints_3d[_camera]`` (N, 17, 3), ``box`` (N, 4) float64, the numbers (N,) int64."""
    return {key: _column(records, key, Path(path)) for key in keys}


def check_labels(table: dict[str, np.ndarray], path: str | Path) -> None:
    """Subjects, actions, subactions, cameras and frame numbers in the published ranges."""
    ranges = {"action": (1, 16), "subaction": (1, 2), "camera_id": (0, 3), "image_id": (1, None)}
    for key, (low, high) in ranges.items():
        if key not in table or not len(table[key]):
            continue
        values = table[key]
        bad = (values < low) | ((values > high) if high is not None else False)
        if bad.any():
            index = int(np.argmax(bad))
            raise ValueError(
                f"{path}: record {index} has {key}={values[index]}; expected {low}..{high or 'N'} "
                f"(action numbers of metadata.xml: {TOOLBOX_ACTIONS}; camera_id from 0)"
            )
