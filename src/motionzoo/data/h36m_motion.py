"""Human3.6M motion windows read from the exp-map txt files (HisRepItself protocol).

Reads ``<root>/S{n}/<action>_{1,2}.txt`` (``shared/reference/datasets.md`` section 1a): one frame
per line, 99 comma-separated values (root translation, then 32 exp-maps, joint i in columns
[3 + 3i, 6 + 3i)), 50 Hz, the 15 actions under their lowercase file names. As HisRepItself's
``h36motion3d.py``: frames are kept at ``target_fps`` (every 2nd: 50 -> 25 Hz, its
``sample_rate`` 2; see :func:`~motionzoo.data.base.frame_step`), columns 0:6 are zeroed
(global translation and rotation removed), forward kinematics on the standard 32-joint skeleton
(``H36M_32`` offsets, row convention; mm, Y up, the actor facing +z), and the 22 used joints are
kept (``H36M_22``: ``[2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19, 21, 22, 25, 26, 27, 29,
30]``). Windows of ``clip_length`` frames start every ``stride`` frames of each sequence
(``arange(0, T - clip_length + 1, stride)``). Splits: train S1 S6 S7 S8 S9, val S11, test S5.

With ``root=None`` the procedural actions of :mod:`motionzoo.data.synthetic.motion_files` are
first written in that file format (once, atomically, into the cache folder; or into ``root`` with
``synthetic_into_root``) and read through the same code.

Batch (DESIGN.md section 3): ``motion`` (B, T, J, 3) float32 mm, ``action`` (B,) long: the
canonical label (index into ``H36M_ACTIONS``; ``takingphoto`` is ``Photo``, ``walkingdog``
``WalkDog``). After ``setup`` the module exposes the train-split statistics: ``train_mean``
(T, J, 3), the mean of every (frame, joint, coordinate) feature over the training windows (mean
imputation, as bouracha/generative_imputation's ``train_averages.csv``), and ``mean`` / ``std``
(J, 3) over every frame of the training windows.

:class:`MotionDataModule` and :class:`MotionWindows` are shared with the AMASS module: the
per-split frames are cached once (one ``.npz`` named by a fingerprint of the input files and the
options, written atomically) and windows are gathered from them a whole batch at a time.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch

from motionzoo.data.base import frame_step
from motionzoo.data.motion_base import MotionDataModule
from motionzoo.data.synthetic.motion_files import (
    DEFAULT_H36M_FRAMES,
    H36M_FILE_ACTIONS,
    H36M_MOTION_FPS,
    MOTION_FILES_VERSION,
    h36m_motion_path,
    write_h36m_motion_files,
)
from motionzoo.data.validate import first_non_finite
from motionzoo.geometry.kinematics import expmap_to_joints
from motionzoo.skeleton import H36M_22, H36M_ACTIONS

EXPMAP_COLUMNS = 99
LAYOUT = "<root>/S{n}/<action>_{1,2}.txt"
_HELP = "see README#data"
_FILE_ACTION = {canonical: name for name, canonical in H36M_FILE_ACTIONS.items()}


def read_expmap_txt(path: str | Path) -> np.ndarray:
    """One exp-map motion file -> (T, 99) float64, with errors naming the file and the line."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: cannot read the file ({error})") from error
    if not text.strip():
        raise ValueError(f"{path}: no frames; expected {_EXPECTED}")
    try:
        frames = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{path}: {_first_bad_line(text) or error}") from error
    if frames.shape[1] != EXPMAP_COLUMNS:
        raise ValueError(f"{path}: every line has {frames.shape[1]} values; expected {_EXPECTED}")
    found = first_non_finite(frames)
    if found is not None:
        count, (row, column) = found
        line = _data_lines(text)[row][0]
        raise ValueError(
            f"{path}: {count} non-finite value{'s' if count > 1 else ''} (NaN / inf), the first at "
            f"line {line}, value {column + 1} ({frames[row, column]}); expected {_EXPECTED}"
        )
    return frames


_EXPECTED = (
    f"{EXPMAP_COLUMNS} comma-separated numbers per line (root translation + 32 joints x 3 "
    f"exp-map values; {_HELP})"
)


def _data_lines(text: str) -> list[tuple[int, str]]:
    """(1-based line number, stripped text) of every non-blank line (error path)."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def _first_bad_line(text: str) -> str | None:
    """The first line with the wrong number of values or a non-number, described (error path)."""
    for number, line in _data_lines(text):
        values = line.split(",")
        if len(values) != EXPMAP_COLUMNS:
            return f"line {number} has {len(values)} values; expected {_EXPECTED}"
        for column, value in enumerate(values, 1):
            try:
                float(value)
            except ValueError:
                return f"line {number}, value {column} is {value!r}, not a number; expected {_EXPECTED}"
    return None


def _canonical_action(name: str) -> str:
    if name in H36M_ACTIONS:
        return name
    if name in H36M_FILE_ACTIONS:
        return H36M_FILE_ACTIONS[name]
    raise ValueError(
        f"unknown action {name!r}; expected a canonical name {H36M_ACTIONS} or a file name "
        f"{tuple(H36M_FILE_ACTIONS)}"
    )


class H36MMotionDataModule(MotionDataModule):
    """Human3.6M exp-map motion windows (HisRepItself protocol; see the module docstring).

    Args:
        root: folder with ``S{n}/<action>_{1,2}.txt``; None uses the embedded synthetic set.
        actions: actions to read (canonical ``H36M_ACTIONS`` names or lowercase file names);
            None reads all 15.
        train_subjects, val_subjects, test_subjects: HisRepItself's split.
        clip_length: frames per window (HG-VAE: 50).
        stride: frames between training window starts (HisRepItself ``skip_rate``: 1).
        eval_stride: the same for validation and test (None: ``stride``).
        target_fps: frame rate kept of the 50 Hz files (25: every 2nd frame).
        synthetic_seed, synthetic_frames: seed and base file length (50 Hz frames) of the
            synthetic set.
        synthetic_into_root, cache_dir, batch_size, eval_batch_size, num_workers, pin_memory:
            see :class:`~motionzoo.data.base.DataModule`.
    """

    skeleton = H36M_22
    action_names = H36M_ACTIONS
    cache_name = "h36m_motion"
    layout = LAYOUT

    def __init__(
        self,
        root: str | None = None,
        synthetic_into_root: bool = False,
        cache_dir: str | None = None,
        actions: tuple[str, ...] | None = None,
        train_subjects: tuple[str, ...] = ("S1", "S6", "S7", "S8", "S9"),
        val_subjects: tuple[str, ...] = ("S11",),
        test_subjects: tuple[str, ...] = ("S5",),
        clip_length: int = 50,
        stride: int = 1,
        eval_stride: int | None = None,
        target_fps: float = 25.0,
        synthetic_seed: int = 0,
        synthetic_frames: int = DEFAULT_H36M_FRAMES,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        super().__init__(locals())
        self.actions = tuple(
            dict.fromkeys(_canonical_action(a) for a in actions) if actions else H36M_ACTIONS
        )

    def _synthetic_set(self):
        h = self.hparams
        options = {"seed": h.synthetic_seed, "frames": h.synthetic_frames}
        return write_h36m_motion_files, options, MOTION_FILES_VERSION

    def _subjects(self) -> dict[str, tuple[str, ...]]:
        h = self.hparams
        return {
            "train": tuple(h.train_subjects),
            "val": tuple(h.val_subjects),
            "test": tuple(h.test_subjects),
        }

    def _input_files(self) -> dict[str, list[Path]]:
        files: dict[str, list[Path]] = {}
        for split, subjects in self._subjects().items():
            files[split] = []
            for subject in subjects:
                folder = self.data_dir / subject
                if not folder.is_dir():
                    raise FileNotFoundError(
                        f"{folder}: folder not found ({split} subject {subject}); expected "
                        f"{LAYOUT} ({_HELP})"
                    )
                for action in self.actions:
                    for sub in (1, 2):
                        path = h36m_motion_path(self.data_dir, subject, _FILE_ACTION[action], sub)
                        if not path.is_file():
                            raise FileNotFoundError(
                                f"{path}: not found; every subject folder holds "
                                f"<action>_1.txt and <action>_2.txt for the 15 actions "
                                f"{tuple(H36M_FILE_ACTIONS)} ({_HELP})"
                            )
                        files[split].append(path)
        return files

    def _options(self) -> dict:
        return {"actions": self.actions, "step": self._step()}

    def _step(self) -> int:
        return frame_step(H36M_MOTION_FPS, self.hparams.target_fps)

    def _read_split(self, split: str, files: list[Path]):
        sequences, labels, names, seconds = [], [], [], 0.0
        for path in files:
            expmap = read_expmap_txt(path)
            seconds += len(expmap) / H36M_MOTION_FPS
            frames = torch.from_numpy(expmap[:: self._step()])
            joints = expmap_to_joints(frames, zero_global=True)[:, list(self.skeleton.from_32)]
            sequences.append(joints.numpy().astype(np.float32))
            action = path.stem.rsplit("_", 1)[0]
            labels.append(H36M_ACTIONS.index(H36M_FILE_ACTIONS[action]))
            names.append(f"{path.parent.name}/{path.name}")
        return sequences, labels, names, seconds
