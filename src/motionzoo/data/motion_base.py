"""What the motion DataModules (Human3.6M exp-map, AMASS) share: fixed-length windows over
sequences of 3D joints, gathered a batch at a time, with the train-set statistics that imputation
and normalisation need, and one cached processing path (read -> FK -> windows -> statistics).

Batch: ``motion`` (B, T, J, 3) float32 mm, ``action`` (B,) long (-1 where unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import Dataset

from motionzoo.data.base import DataModule
from motionzoo.data.cache import cached_arrays, fingerprint, write_cache
from motionzoo.data.progress import progress
from motionzoo.data.synthetic.h36m import torch_threads
from motionzoo.skeleton import Skeleton

SPLITS = ("train", "val", "test")
PROCESSING_VERSION = 1  # part of the cache fingerprint; bump when processing changes


class MotionWindows(Dataset):
    """Windows of ``length`` consecutive frames of a frame array.

    ``frames`` (F, J, 3) holds every sequence of a split end to end; window n is
    ``frames[starts[n] : starts[n] + length]`` (no window crosses a sequence boundary) and comes
    from sequence ``sequence[n]``. ``__getitems__`` gathers a whole batch with one
    ``index_select``.
    """

    def __init__(self, frames, starts, action, length: int, sequence=None):
        self.frames = torch.as_tensor(frames)
        self.starts = torch.as_tensor(starts, dtype=torch.long)
        self.action = torch.as_tensor(action, dtype=torch.long)
        self.sequence = None if sequence is None else torch.as_tensor(sequence, dtype=torch.long)
        self.length = length
        self._steps = torch.arange(length)

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        start = int(self.starts[index])
        return {"motion": self.frames[start : start + self.length], "action": self.action[index]}

    def __getitems__(self, indices) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        frame_idx = (self.starts.index_select(0, idx)[:, None] + self._steps).reshape(-1)
        motion = self.frames.index_select(0, frame_idx).unflatten(0, (len(idx), self.length))
        return {"motion": motion, "action": self.action.index_select(0, idx)}


def window_starts(lengths: np.ndarray, window: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Start frames (in the concatenation of sequences of ``lengths``) of every window, and the
    sequence index of each; HisRepItself's ``arange(0, T - window + 1, stride)`` per sequence."""
    lengths = np.asarray(lengths, dtype=np.int64)
    first = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    counts = np.maximum((lengths - window) // stride + 1, 0)
    sequence = np.repeat(np.arange(len(lengths)), counts)
    rank = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return first[sequence] + rank * stride, sequence


def window_statistics(
    frames: np.ndarray, starts: np.ndarray, window: int, chunk: int = 4096
) -> dict[str, np.ndarray]:
    """Per-feature statistics over windows: ``train_mean`` (T, J, 3), the mean of every
    (frame-in-window, joint, coordinate); ``mean``, ``std`` (J, 3) over all window frames
    (``std`` is 0 for a coordinate that removing the global motion fixes: add an epsilon before
    dividing by it)."""
    x = torch.from_numpy(frames)
    steps = torch.arange(window)
    total = torch.zeros(window, *frames.shape[1:], dtype=torch.float64)
    squares = torch.zeros(frames.shape[1:], dtype=torch.float64)
    for begin in range(0, len(starts), chunk):  # bounded memory: chunk x window frames at once
        idx = (torch.from_numpy(starts[begin : begin + chunk])[:, None] + steps).reshape(-1)
        block = x.index_select(0, idx).double().unflatten(0, (-1, window))
        total += block.sum(0)
        squares += block.square().sum((0, 1))
    n = max(len(starts), 1)
    train_mean = total / n
    mean = train_mean.mean(0)
    std = (squares / (n * window) - mean.square()).clamp_min(0).sqrt()
    return {
        "train_mean": train_mean.float().numpy(),
        "mean": mean.float().numpy(),
        "std": std.float().numpy(),
    }


class MotionDataModule(DataModule):
    """Shared machinery of the motion DataModules: cache, windows, statistics, loaders (the files
    and the synthetic set are :class:`~motionzoo.data.base.DataModule`'s). A subclass has the
    options ``clip_length``, ``stride``, ``eval_stride`` and ``target_fps`` besides the shared
    ones, and implements ``_input_files``, ``_read_split`` and ``_options``."""

    skeleton: Skeleton
    action_names: tuple[str, ...] = ()

    def __init__(self, arguments: Mapping[str, Any]) -> None:
        super().__init__(arguments)
        self.num_joints = self.skeleton.num_joints
        self.train_mean: torch.Tensor | None = None
        self.mean: torch.Tensor | None = None
        self.std: torch.Tensor | None = None

    # --- subclass interface --------------------------------------------------------------------

    def _input_files(self) -> dict[str, list[Path]]:
        """split -> the files it reads (errors for missing folders / files)."""
        raise NotImplementedError

    def _read_split(self, split: str, files: list[Path]):
        """-> (list of (T_i, J, 3) float32 mm sequences, (N_seq,) labels, names, seconds)."""
        raise NotImplementedError

    def _options(self) -> dict:
        """Processing options that change the cache (besides clip length and strides)."""
        raise NotImplementedError

    # --- cache ---------------------------------------------------------------------------------

    def cache_file(self) -> Path:
        """The processed-array cache of this configuration, named by a fingerprint of the input
        files (path, size, mtime) and the options."""
        self.ensure_data_dir()
        files = [f for split in SPLITS for f in self._input_files()[split]]
        key = fingerprint(
            files,
            version=PROCESSING_VERSION,
            clip_length=self.hparams.clip_length,
            strides=self.split_strides(),
            **self._options(),
        )
        return self.processed_file(key)

    def _build(self) -> dict[str, np.ndarray]:
        """Read every split; frames, window starts, labels, names, and train statistics."""
        self.ensure_data_dir()
        inputs = self._input_files()
        window, strides = self.hparams.clip_length, self.split_strides()
        arrays: dict[str, np.ndarray] = {}
        with torch_threads(1):  # many small float64 ops: threads only add overhead
            for split in SPLITS:
                files = progress(inputs[split], f"{split} files")
                sequences, labels, names, seconds = self._read_split(split, files)
                lengths = np.array([len(s) for s in sequences], dtype=np.int64)
                starts, sequence = window_starts(lengths, window, strides[split])
                frames = (
                    np.concatenate(sequences)
                    if sequences
                    else np.zeros((0, self.num_joints, 3), np.float32)
                )
                arrays[f"{split}.frames"] = frames.astype(np.float32)
                arrays[f"{split}.starts"] = starts
                arrays[f"{split}.action"] = np.asarray(labels, dtype=np.int64)[sequence]
                arrays[f"{split}.sequence"] = sequence
                arrays[f"{split}.names"] = np.array(names, dtype=np.str_)
                arrays[f"{split}.seconds"] = np.array(float(seconds))
                if len(starts) == 0:
                    message = (
                        f"{self.data_dir}: no {split} windows of {window} frames "
                        f"({len(sequences)} sequences read)"
                    )
                    if split == "train":
                        raise ValueError(message)
                    rank_zero_warn(message)
            stats = window_statistics(arrays["train.frames"], arrays["train.starts"], window)
        arrays.update({f"stats.{k}": v for k, v in stats.items()})
        return arrays

    # --- Lightning hooks -----------------------------------------------------------------------

    def prepare_data(self) -> None:
        path = self.cache_file()
        if not path.exists():
            write_cache(path, self._build, self.processed_what)

    def setup(self, stage: str | None = None) -> None:
        arrays = cached_arrays(self.cache_file(), self._build, self.processed_what)
        for split in SPLITS:
            self.datasets[split] = MotionWindows(
                arrays[f"{split}.frames"],
                arrays[f"{split}.starts"],
                arrays[f"{split}.action"],
                self.hparams.clip_length,
                arrays[f"{split}.sequence"],
            )
        self.train_mean = torch.from_numpy(arrays["stats.train_mean"])
        self.mean = torch.from_numpy(arrays["stats.mean"])
        self.std = torch.from_numpy(arrays["stats.std"])
        self.sequence_names = {split: arrays[f"{split}.names"].tolist() for split in SPLITS}
        self.source_seconds = {split: float(arrays[f"{split}.seconds"]) for split in SPLITS}
