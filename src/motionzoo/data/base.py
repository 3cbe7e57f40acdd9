"""Shared pieces of the zoo's DataModules: :class:`DataModule`, the base that owns the options
every dataset shares (where the files are, the embedded synthetic set, the cache folder, the
loaders) and checks the one option vocabulary; an in-memory dataset of aligned arrays that the
DataLoader fetches a whole batch at a time (no per-sample Python work), and its collate."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset

from motionzoo.data.cache import default_cache_dir, fingerprint
from motionzoo.data.progress import announce_build
from motionzoo.data.synthetic.motion_files import atomic_directory

DATA_HELP = "see README#data"
# Crop modes of the image DataModules; each supports some of them (``DataModule.crops``).
Crop = Literal["box", "joints", "center", "none"]


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


def check_option(owner: object, name: str, value: Any, ok: bool, expected: str) -> None:
    """Unless ``ok``: a ValueError naming the DataModule, the option, its value and what was
    expected."""
    if not ok:
        raise ValueError(f"{type(owner).__name__}: {name}={value!r}; expected {expected}")


def frame_step(source_fps: float, target_fps: float) -> int:
    """Keep every n-th frame to go from ``source_fps`` to about ``target_fps``: n is the quotient
    rounded down and at least 1, HisRepItself's ``int(mocap_framerate // 25)`` (so 50 Hz -> 25 fps,
    but 120 Hz -> 30 fps; the tolerance keeps 50 / (50 / 3) = 3)."""
    return max(1, math.floor(source_fps / target_fps + 1e-9))


class SplitLoadersMixin:
    """``train/val/test/predict_dataloader`` for a DataModule that fills ``self.datasets`` (split
    name -> Dataset) in ``setup`` and has the loader hyper-parameters ``batch_size``,
    ``eval_batch_size`` (None = ``batch_size``), ``num_workers`` and ``pin_memory`` (None = on
    CUDA). Prediction uses the test split. ``_missing_split`` decides what happens when a loader
    is asked for before ``setup`` (by default an error)."""

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
        return self.hparams.eval_batch_size or self.hparams.batch_size

    def _check_loader_options(self) -> None:
        h = self.hparams
        check_option(self, "batch_size", h.batch_size, h.batch_size >= 1, "an integer >= 1")
        check_option(
            self, "eval_batch_size", h.eval_batch_size,
            h.eval_batch_size is None or h.eval_batch_size >= 1, "None (batch_size) or >= 1",
        )  # fmt: skip
        check_option(self, "num_workers", h.num_workers, h.num_workers >= 0, "an integer >= 0")

    def _missing_split(self, split: str) -> None:
        raise RuntimeError(f"call setup() before {split}_dataloader()")

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        if split not in self.datasets:
            self._missing_split(split)
        h = self.hparams
        return make_dataloader(
            self.datasets[split], batch_size, shuffle, h.num_workers, h.pin_memory
        )


class DataModule(SplitLoadersMixin, pl.LightningDataModule):
    """The base of every dataset DataModule: it owns where the files are, the embedded synthetic
    set, the cache folder and the loaders, and checks the option vocabulary all of them share.

    Options of every subclass (each lists them in its own ``__init__``, with its own defaults):

    - ``root``: the folder of the real files. ``None`` uses the embedded synthetic set: written
      once, in the real format, into ``<cache>/<cache_name>/synthetic-<fingerprint of the
      generator's options>`` and read back through the same code as real files.
    - ``synthetic_into_root``: write the synthetic set into ``root`` instead (when that folder is
      missing or empty) and read it from there.
    - ``cache_dir``: the zoo's cache folder (None: ``$MOTIONZOO_CACHE``, else
      ``~/.cache/motionzoo``). Processed arrays go to ``<cache>/<cache_name>/processed/``, each
      named by a fingerprint of its input files and options and written atomically
      (:mod:`motionzoo.data.cache`).
    - ``batch_size``, ``eval_batch_size`` (None: ``batch_size``), ``num_workers``, ``pin_memory``
      (None: on CUDA): the DataLoaders.

    The rest of the vocabulary, checked here where a subclass has it: ``stride`` / ``eval_stride``
    (frames between training / evaluation samples; ``eval_stride`` None: ``stride``),
    ``clip_length`` (frames per sample), ``target_fps`` (temporal subsampling, see
    :func:`frame_step`), ``image_size`` (side of the square images), ``crop`` (one of
    :data:`Crop`, those in ``crops``); options of the synthetic set alone start with
    ``synthetic_``.

    A subclass sets ``cache_name`` and ``layout`` (what ``root`` must hold, for errors), calls
    ``super().__init__(locals())`` first in its ``__init__``, names its generator in
    ``_synthetic_set``, reads ``ensure_data_dir()`` and fills ``self.datasets`` in ``setup``.
    """

    cache_name: ClassVar[str]
    layout: ClassVar[str]
    crops: ClassVar[tuple[str, ...]] = ()

    def __init__(self, arguments: Mapping[str, Any]):
        super().__init__()
        # The arguments given explicitly: a plain save_hyperparameters() walks the call stack, and
        # a DataModule built inside another's __init__ (FramesDataModule's source) would record
        # the outer one's.
        hparams = {k: v for k, v in arguments.items() if k not in ("self", "__class__")}
        self.save_hyperparameters(hparams)
        self._check_loader_options()
        self._check_vocabulary()
        self.datasets: dict[str, Dataset] = {}

    def _check_vocabulary(self) -> None:
        h = self.hparams
        check_option(
            self, "synthetic_into_root", h.synthetic_into_root,
            not (h.synthetic_into_root and h.root is None), "a root folder to write into",
        )  # fmt: skip
        for name in ("stride", "clip_length"):
            if name in h:
                check_option(self, name, h[name], h[name] >= 1, "an integer >= 1")
        if "eval_stride" in h:
            ok = h.eval_stride is None or h.eval_stride >= 1
            check_option(self, "eval_stride", h.eval_stride, ok, "None (stride) or >= 1")
        if "target_fps" in h:
            check_option(self, "target_fps", h.target_fps, h.target_fps > 0, "a frame rate > 0")
        if "image_size" in h:
            check_option(self, "image_size", h.image_size, h.image_size >= 8, "pixels >= 8")
        if "crop" in h:
            expected = f"one of {self.crops} (this DataModule's crop modes)"
            check_option(self, "crop", h.crop, h.crop in self.crops, expected)

    # --- subclass interface --------------------------------------------------------------------

    def _synthetic_set(self) -> tuple[Callable[..., object], dict[str, Any], int]:
        """``(write, options, version)``: ``write(folder, **options)`` writes the synthetic set in
        the real files' format; its cache folder is named by a fingerprint of options and
        version (bump the generator's version when its output changes)."""
        raise NotImplementedError

    # --- folders -------------------------------------------------------------------------------

    @property
    def cache_dir(self) -> Path:
        """The zoo's cache folder: ``cache_dir``, else ``$MOTIONZOO_CACHE`` or
        ``~/.cache/motionzoo``."""
        given = self.hparams.cache_dir
        return Path(given).expanduser() if given is not None else default_cache_dir()

    @property
    def data_dir(self) -> Path:
        """The folder read: ``root``, or the synthetic set's folder in the cache."""
        if self.hparams.root is not None:
            return Path(self.hparams.root).expanduser()
        _, options, version = self._synthetic_set()
        tag = fingerprint(version=version, **options)
        return self.cache_dir / self.cache_name / f"synthetic-{tag}"

    def processed_file(self, key: str, suffix: str = ".npz") -> Path:
        """``<cache>/<cache_name>/processed/<key><suffix>``; ``key`` is a fingerprint."""
        return self.cache_dir / self.cache_name / "processed" / f"{key}{suffix}"

    @property
    def processed_what(self) -> str:
        """How a build of the processed cache is announced on stderr."""
        return f"the processed cache of {type(self).__name__}"

    def ensure_data_dir(self) -> Path:
        """``data_dir``; the synthetic set is written into it first when it is used (``root``
        None or ``synthetic_into_root``) and the folder is missing or empty. It is written aside
        and renamed into place, so there is never half a dataset. Writing it is announced on
        stderr (what, where, then size and time; :mod:`motionzoo.data.progress`)."""
        folder, h = self.data_dir, self.hparams
        if h.root is None or h.synthetic_into_root:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()  # an empty root to fill
            if not folder.exists():
                write, options, _ = self._synthetic_set()
                with announce_build(f"the synthetic set of {type(self).__name__}", folder):
                    atomic_directory(folder, lambda tmp: write(tmp, **options))
        if not folder.is_dir():
            raise FileNotFoundError(
                f"{folder}: folder not found; expected {self.layout} ({DATA_HELP}), or root: "
                f"null for the embedded synthetic set"
            )
        return folder

    def split_strides(self) -> dict[str, int]:
        """Split -> frame stride, for the DataModules with ``stride`` and ``eval_stride``."""
        h = self.hparams
        eval_stride = h.stride if h.eval_stride is None else h.eval_stride
        return {"train": h.stride, "val": eval_stride, "test": eval_stride}
