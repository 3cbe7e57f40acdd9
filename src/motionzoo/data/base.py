"""Shared pieces of the zoo's DataModules: an in-memory dataset of aligned arrays that the
DataLoader fetches a whole batch at a time (no per-sample Python work), and its collate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset


class ArrayDataset(Dataset):
    """Dict-of-arrays dataset; every array has the same first dimension (samples).

    ``__getitems__`` gathers a whole batch with one fancy index per key, and
    :func:`collate_batch` passes that dict straight through, so loading costs one gather per
    key and batch instead of one Python call per sample.
    """

    def __init__(self, arrays: Mapping[str, np.ndarray | torch.Tensor]):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = {k: torch.as_tensor(v) for k, v in arrays.items()}
        lengths = {k: len(v) for k, v in self.arrays.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"ArrayDataset arrays differ in length: {lengths}")
        self._len = next(iter(lengths.values()))

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in self.arrays.items()}

    def __getitems__(self, indices: Sequence[int]) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        # index_select: a plain v[idx] gather is ~1000x slower under thread contention.
        return {k: v.index_select(0, idx) for k, v in self.arrays.items()}


def collate_batch(batch):
    """Collate for :class:`ArrayDataset`: a dict from ``__getitems__`` is already a batch."""
    if isinstance(batch, Mapping):
        return dict(batch)
    return torch.utils.data.default_collate(batch)


def make_dataloader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 0,
    pin_memory: bool | None = None,
    **kwargs,
) -> DataLoader:
    """The zoo's DataLoader: batched collate, pinned memory on CUDA (unless ``pin_memory`` says
    otherwise), persistent workers.

    Evaluation loaders (``shuffle=False``) in a distributed run get Lightning's
    ``UnrepeatedDistributedSampler``: every sample is seen exactly once across processes (the
    default sampler pads with repeats), so metrics equal a single-process run's.
    """
    sampler = None
    if not shuffle and torch.distributed.is_available() and torch.distributed.is_initialized():
        sampler = UnrepeatedDistributedSampler(dataset, shuffle=False)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_batch,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        persistent_workers=num_workers > 0,
        **kwargs,
    )


class SplitLoadersMixin:
    """``train/val/test/predict_dataloader`` for a DataModule that fills ``self.datasets`` (split
    name -> Dataset) in ``setup`` and has ``batch_size`` and ``num_workers`` hyper-parameters
    (optionally ``eval_batch_size``, None = same, and ``pin_memory``, None = on CUDA).
    Prediction uses the test split. ``_missing_split`` decides what happens when a loader is
    asked for before ``setup`` (by default an error)."""

    datasets: dict[str, Dataset]

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self._eval_batch_size, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self._eval_batch_size, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self.test_dataloader()

    @property
    def _eval_batch_size(self) -> int:
        return self.hparams.get("eval_batch_size") or self.hparams.batch_size

    def _missing_split(self, split: str) -> None:
        raise RuntimeError(f"call setup() before {split}_dataloader()")

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            self._missing_split(split)
        h = self.hparams
        return make_dataloader(
            self.datasets[split], batch_size, shuffle, h.num_workers, h.get("pin_memory")
        )
