"""A frames view of any image-sequence DataModule: single images for image models (VAEGAN).

:class:`FramesDataModule` wraps a DataModule whose batches hold ``frames`` (B, T, 3, H, W) in
[-1, 1] (Sprites, MUG; DESIGN.md section 3) and serves its frames one by one::

    image   (N, 3, H, W) float32 in [-1, 1]
    frame   (N,) long, the time index of the image in its sequence
    <label> (N,) ... every per-sequence key of the source batch (``action``, ``identity``, ...),
            repeated for each frame taken from the sequence

Each split (train / val / test) of the source becomes the split of the same name, so frames of
one sequence never cross splits. ``frames_per_sequence`` k images are taken from every sequence
(None: all T): item ``i`` is frame slot ``i % k`` of sequence ``i // k``. For training the slot
picks a random frame of its stretch of T / k frames (a new one every epoch); for evaluation the
frames are spread evenly and fixed. The source's datasets are read through its own
``*_dataloader().dataset`` (so any DataModule with map-style datasets works), a whole batch of
sequences at a time when the dataset has ``__getitems__``.

Sources whose items hold a single ``image`` (C, H, W) and no sequence (Human3.6M crops,
:class:`~motionzoo.data.h36m_images.H36MImageDataModule`) are served as they are, with all their
keys; ``frames_per_sequence`` does not apply to them.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset, default_collate

from motionzoo.data.base import SplitLoadersMixin

SPLITS = {"train": "fit", "val": "validate", "test": "test"}


def _build(source: pl.LightningDataModule | dict[str, Any]) -> pl.LightningDataModule:
    """A DataModule instance, or one built from ``{"class_path": ..., "init_args": {...}}``."""
    if isinstance(source, pl.LightningDataModule):
        return source
    if isinstance(source, dict) and "class_path" in source:
        module, _, name = source["class_path"].rpartition(".")
        if not module:
            module = "motionzoo.data"
        cls = getattr(importlib.import_module(module), name)
        return cls(**source.get("init_args", {}))
    raise TypeError(
        f"FramesDataModule source must be a LightningDataModule or a config "
        f"{{'class_path': ..., 'init_args': {{...}}}}; got {type(source).__name__}"
    )


def holds_single_images(dataset: Dataset, key: str = "frames") -> bool:
    """Whether the items of ``dataset`` are single images: an ``image`` (C, H, W), no ``key``."""
    first = dataset[0]
    image = first.get("image") if isinstance(first, dict) else None
    return key not in first and isinstance(image, torch.Tensor) and image.dim() == 3


class SequenceFrames(Dataset):
    """Frames of the sequences of ``sequences`` (a dataset of dicts with ``frames`` (T, C, H, W))
    as images; ``k`` per sequence, random within its stretch (``random``) or evenly spaced."""

    def __init__(self, sequences: Dataset, k: int | None, random: bool, key: str = "frames"):
        self.sequences, self.random, self.key = sequences, random, key
        first = sequences[0]
        if key not in first:
            raise KeyError(
                f"{type(sequences).__name__}: items have no {key!r} (keys {list(first)}); the "
                f"frames view needs image sequences (T, C, H, W) or single images 'image' (C, H, W)"
            )
        self.length = first[key].shape[0]
        self.k = self.length if k is None else k
        if not 1 <= self.k <= self.length:
            raise ValueError(
                f"frames_per_sequence {k}: sequences have {self.length} frames; expected 1 to "
                f"{self.length} (or None for all)"
            )

    def __len__(self) -> int:
        return len(self.sequences) * self.k

    def _time(self, slot: torch.Tensor) -> torch.Tensor:
        start = slot * self.length // self.k
        stop = (slot + 1) * self.length // self.k  # exclusive, > start since k <= T
        if self.random:  # torch RNG: seeded per DataLoader worker
            return start + (torch.rand(slot.shape) * (stop - start)).long()
        if self.k == 1:
            return torch.full_like(slot, (self.length - 1) // 2)
        return torch.round(slot * (self.length - 1) / (self.k - 1)).long()

    def _fetch(self, seqs: list[int]) -> dict[str, torch.Tensor]:
        getitems = getattr(self.sequences, "__getitems__", None)
        batch = getitems(seqs) if getitems is not None else None
        if not isinstance(batch, dict):
            batch = default_collate([self.sequences[i] for i in seqs])
        return batch

    def __getitems__(self, indices) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        seq, slot = idx // self.k, idx % self.k
        unique, inverse = torch.unique(seq, return_inverse=True)
        batch = self._fetch(unique.tolist())
        time = self._time(slot)
        frames = batch[self.key]  # (S, T, C, H, W)
        out = {"image": frames[inverse, time], "frame": time}
        n = len(unique)
        for name, value in batch.items():
            if name != self.key and isinstance(value, torch.Tensor) and value.shape[:1] == (n,):
                out[name] = value[inverse]
        return out

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


class FramesDataModule(SplitLoadersMixin, pl.LightningDataModule):
    """Single frames (``image`` (B, 3, H, W)) of an image-sequence DataModule, or the images of a
    single-image DataModule as they are.

    Args:
        source: the sequence DataModule, or its config ``{class_path, init_args}`` (in YAML the
            usual nested ``class_path`` / ``init_args``).
        frames_per_sequence: images taken from each sequence per epoch (None: every frame).
        sequence_key: the source's batch key of the sequences.
        batch_size, eval_batch_size, num_workers, pin_memory: this view's DataLoaders, images
            per batch (as :class:`~motionzoo.data.base.DataModule`'s; the source's own loader
            options do not apply to them).
    """

    def __init__(
        self,
        source: pl.LightningDataModule,
        frames_per_sequence: int | None = None,
        sequence_key: str = "frames",
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        super().__init__()
        self.save_hyperparameters(ignore=["source"])
        self._check_loader_options()
        self.source = _build(source)
        self.datasets: dict[str, SequenceFrames] = {}

    def prepare_data(self) -> None:
        self.source.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.source.setup(stage)
        wanted = [
            s for s, st in SPLITS.items() if stage in (None, st) or (stage == "fit" and s == "val")
        ]
        if stage == "predict":
            wanted = ["test"]
        for split in wanted:
            if split not in self.datasets:
                dataset = getattr(self.source, f"{split}_dataloader")().dataset
                if holds_single_images(dataset, self.hparams.sequence_key):
                    self.datasets[split] = dataset
                    continue
                self.datasets[split] = SequenceFrames(
                    dataset, self.hparams.frames_per_sequence, split == "train",
                    self.hparams.sequence_key,
                )  # fmt: skip
