"""Synthetic motion written in the published motion-dataset files.

Two writers turn the procedural actions of :mod:`.motion` (Human3.6M exp-maps) and
:mod:`.smpl_motion` (the same programs on the SMPL body) into the real on-disk formats
(``shared/reference/datasets.md`` sections 1a and 2), so the real loaders read them through their
one code path:

- :func:`write_h36m_motion_files`: ``<out>/S{n}/<action>_{1,2}.txt``, one frame per line, 99
  comma-separated values (root translation, 32 exp-maps), 50 Hz, the 15 actions under their
  lowercase file names (``takingphoto``, ``walkingdog``, ...), every subject S1 S5 S6 S7 S8 S9 S11
  with its own style per (action, subaction) and its own bone lengths in the root height;
- :func:`write_amass_files`: ``<out>/<SubDataset>/<subject>/<NN>_<action>_poses.npz`` with
  ``poses`` (T, 156) float64 SMPL-H axis-angle (fingers 0), ``trans`` (T, 3), ``betas`` (16,),
  ``dmpls`` (T, 8), ``mocap_framerate`` (0-d float: 60, 100 or 120 by sub-dataset) and
  ``gender`` (0-d string; bytes in one sub-dataset, as some releases have), in several
  sub-dataset folders of the HisRepItself splits including ``BioMotionLab_NTroje`` (test), plus a
  ``shape.npz`` (``betas``, ``gender``, no ``poses``) in some subject folders, as real AMASS has.

Every file is written atomically; :func:`atomic_directory` fills a whole folder atomically, so a
crash never leaves a half-written synthetic set where a loader would find it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from motionzoo.data.cache import atomic_write
from motionzoo.data.progress import progress
from motionzoo.data.synthetic.h36m import torch_threads
from motionzoo.data.synthetic.motion import generate_sequence
from motionzoo.data.synthetic.smpl_motion import generate_smpl_sequence
from motionzoo.skeleton import H36M_ACTIONS

MOTION_FILES_VERSION = 1  # bump when the written files change
H36M_MOTION_SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")
# Lowercase file names of the exp-map release (HisRepItself define_actions order) -> canonical.
H36M_FILE_ACTIONS = {
    "walking": "Walking",
    "eating": "Eating",
    "smoking": "Smoking",
    "discussion": "Discussion",
    "directions": "Directions",
    "greeting": "Greeting",
    "phoning": "Phoning",
    "posing": "Posing",
    "purchases": "Purchases",
    "sitting": "Sitting",
    "sittingdown": "SittingDown",
    "takingphoto": "Photo",
    "waiting": "Waiting",
    "walkingdog": "WalkDog",
    "walkingtogether": "WalkTogether",
}
H36M_MOTION_FPS = 50
DEFAULT_H36M_FRAMES = 120  # 2.4 s at 50 Hz: 60 frames (a few 50-frame windows) at 25 Hz

# Sub-dataset -> (mocap_framerate, subject folders, gender stored as bytes).
AMASS_SYNTHETIC_LAYOUT: dict[str, tuple[float, tuple[str, ...], bool]] = {
    "CMU": (120.0, ("01", "02", "07"), False),
    "KIT": (100.0, ("3", "167"), True),
    "ACCAD": (120.0, ("Female1General_c3d", "Male2General_c3d"), False),
    "HumanEva": (60.0, ("S1",), False),
    "SFU": (120.0, ("0005",), False),
    "BioMotionLab_NTroje": (120.0, ("rub001", "rub002"), False),
}
DEFAULT_AMASS_SEQUENCES = 4  # per subject
DEFAULT_AMASS_SECONDS = (3.0, 6.0)  # uniform sequence duration


def h36m_motion_path(root: str | os.PathLike, subject: str, file_action: str, subaction: int):
    """``<root>/S{n}/<action>_<subaction>.txt`` (HisRepItself's file name)."""
    return Path(root) / subject / f"{file_action}_{subaction}.txt"


def atomic_directory(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """Fill the folder ``path`` atomically: ``write(tmp)`` fills a temporary sibling folder that
    is then renamed to ``path``. On error the temporary folder is removed; if another process
    created ``path`` meanwhile, its folder is kept and ours discarded."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        write(tmp)
        try:
            os.rename(tmp, path)
        except OSError:
            if not path.is_dir():
                raise
            shutil.rmtree(tmp)  # lost a race: someone else wrote the same folder
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _write_text(path: Path, text: str) -> Path:
    def write(tmp: Path) -> None:
        tmp.write_text(text)

    return atomic_write(path, write)


def format_expmap(expmap: np.ndarray) -> str:
    """(T, 99) -> the file's text: comma-separated values (6 significant digits), one frame per
    line."""
    rows = (np.asarray(expmap, dtype=np.float64) + 0.0).tolist()  # + 0.0: no "-0"
    return "".join(",".join([f"{v:.6g}" for v in row]) + "\n" for row in rows)


def write_h36m_motion_files(
    out_dir: str | os.PathLike,
    seed: int = 0,
    subjects: Sequence[str] = H36M_MOTION_SUBJECTS,
    actions: Sequence[str] = tuple(H36M_FILE_ACTIONS),
    frames: int = DEFAULT_H36M_FRAMES,
    subactions: int = 2,
) -> dict[tuple[str, str, int], Path]:
    """Write synthetic exp-map txt files (each atomically) into ``out_dir``.

    Args:
        out_dir: destination root (created).
        seed: dataset seed; the files are a pure function of the arguments.
        subjects: subject folders to write.
        actions: lowercase file action names (keys of ``H36M_FILE_ACTIONS``).
        frames: base length at 50 Hz; each file has ``frames`` plus up to 20 % more (seeded).
        subactions: files per (subject, action), numbered from 1.

    Returns:
        (subject, file action, subaction) -> path.
    """
    unknown = [a for a in actions if a not in H36M_FILE_ACTIONS]
    if unknown:
        raise ValueError(f"unknown action file names {unknown}; expected {list(H36M_FILE_ACTIONS)}")
    out_dir = Path(out_dir)
    paths = {}
    with torch_threads(1):
        for subject in progress(subjects, "subjects"):
            for file_action in actions:
                action = H36M_FILE_ACTIONS[file_action]
                for sub in range(1, subactions + 1):
                    rng = np.random.default_rng(
                        [seed, 99, H36M_ACTIONS.index(action), sub, *subject.encode()]
                    )
                    length = frames + int(rng.integers(0, frames // 5 + 1))
                    expmap = generate_sequence(action, subject, sub - 1, length, seed)["expmap"]
                    path = h36m_motion_path(out_dir, subject, file_action, sub)
                    paths[subject, file_action, sub] = _write_text(path, format_expmap(expmap))
    return paths


def _save_npz(path: Path, **arrays) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return atomic_write(path, write)


def write_amass_files(
    out_dir: str | os.PathLike,
    seed: int = 0,
    layout: dict[str, tuple[float, tuple[str, ...], bool]] | None = None,
    sequences: int = DEFAULT_AMASS_SEQUENCES,
    seconds: tuple[float, float] = DEFAULT_AMASS_SECONDS,
) -> dict[str, Path]:
    """Write synthetic AMASS sequence npz files (each atomically) into ``out_dir``.

    Args:
        out_dir: destination root (created).
        seed: dataset seed; the files are a pure function of the arguments.
        layout: sub-dataset -> (frame rate, subject folders, gender as bytes); default
            ``AMASS_SYNTHETIC_LAYOUT``.
        sequences: sequences per subject; each plays one of the 15 actions (drawn per subject).
        seconds: (min, max) sequence duration.

    Returns:
        path relative to ``out_dir`` (posix) -> path, for every file written (``shape.npz``
        included).
    """
    layout = AMASS_SYNTHETIC_LAYOUT if layout is None else layout
    out_dir = Path(out_dir)
    paths = {}
    with torch_threads(1):
        for dataset, (rate, subjects, gender_bytes) in progress(layout.items(), "datasets"):
            for number, subject in enumerate(subjects):
                rng = np.random.default_rng([seed, 156, *dataset.encode(), *subject.encode()])
                gender = str(rng.choice(["female", "male", "neutral"]))
                stored_gender = np.array(gender.encode() if gender_bytes else gender)
                betas = rng.normal(0.0, 1.0, 16)
                folder = out_dir / dataset / subject
                actions = rng.choice(len(H36M_ACTIONS), size=sequences, replace=False)
                for k, action_index in enumerate(actions):
                    action = H36M_ACTIONS[action_index]
                    length = int(rng.uniform(*seconds) * rate)
                    motion = generate_smpl_sequence(action, subject, k, length, rate, seed)
                    path = folder / f"{k + 1:02d}_{action.lower()}_poses.npz"
                    paths[path.relative_to(out_dir).as_posix()] = _save_npz(
                        path,
                        poses=motion["poses"],
                        trans=motion["trans"],
                        betas=betas,
                        dmpls=np.zeros((length, 8)),
                        mocap_framerate=np.array(rate),
                        gender=stored_gender,
                    )
                if number % 2 == 0:  # some subject folders carry a shape file without poses
                    path = folder / "shape.npz"
                    paths[path.relative_to(out_dir).as_posix()] = _save_npz(
                        path, betas=betas, gender=stored_gender
                    )
    return paths
