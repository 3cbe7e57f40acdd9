"""Sprites (DSVAE / S3VAE / C-DSVAE): 8-frame 64x64 characters, 4 attributes x 6 values,
3 actions x 3 directions.

Reads the published arrays (``reference/datasets.md`` section 3) from ``root``::

    sprites_X_{train,test}.npy  (N, 8, 64, 64, 3) float32, bytes / 256 (values in [0, 255/256])
    sprites_A_{train,test}.npy  (N, 8, 4, 6) one-hot float32, rows [body, bottom, top, hair]
    sprites_D_{train,test}.npy  (N, 8, 9) one-hot float64, label = 3 * action + direction

``root=None`` writes the procedural characters of :mod:`motionzoo.data.synthetic.sprites` in
exactly that format first (into the cache folder, or into ``root`` with ``synthetic_into_root``)
and then reads them with the same code.

Batches (DESIGN.md section 3), B sequences:

- ``frames`` (B, 8, 3, 64, 64) float32 in [-1, 1]: byte value p -> p / 127.5 - 1, so the real
  files' ``p / 256`` become exactly -1 ... 1 and Sprites and MUG frames share one scale;
- ``action`` (B,) long, the 9-way action x direction label ``3 * action3 + direction`` (DSVAE);
- ``action3`` (B,) long: 0 walk, 1 spellcard, 2 slash (the 3 actions of the HamiltonianVAE);
- ``direction`` (B,) long: 0 front, 1 left, 2 right;
- ``attributes`` (B, 4) long, and the same as ``body``, ``bottom``, ``top``, ``hair`` (B,).

The files hold train and test only; the validation set is ``val_fraction`` of the training
*characters* (a character is its attribute tuple), so no character is in two splits. Frames are
kept in memory as bytes (the real train set is 0.9 GB that way) and scaled per batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motionzoo.data.base import ArrayDataset, DataModule
from motionzoo.data.safe_pickle import load_npy
from motionzoo.data.synthetic.sprites import ATTRIBUTES, write_sprites
from motionzoo.data.validate import check_finite, numeric

FILES = ("X", "A", "D")
LAYOUT = "<root>/sprites_{X,A,D}_{train,test}.npy (the DSVAE arrays)"
SHAPES = {"X": (8, 64, 64, 3), "A": (8, 4, 6), "D": (8, 9)}
_SYNTHETIC_VERSION = 1  # bump when the procedural drawing changes, so old caches are not reused


def bytes_to_unit(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames -> float32 in [-1, 1] (p / 127.5 - 1), a new contiguous tensor."""
    return frames.float().div_(127.5).sub_(1)


class FrameArrayDataset(ArrayDataset):
    """:class:`ArrayDataset` whose ``frames`` are stored as bytes and scaled to [-1, 1] on access,
    one vectorised gather and conversion per batch. Frames are gathered with numpy: torch's
    fancy indexing along the first axis is 10-40x slower on CPU for rows this large."""

    def __init__(self, arrays):
        super().__init__(arrays)
        self._frames = self.arrays["frames"].numpy()  # the same memory

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}

    def __getitems__(self, indices) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        batch = {k: v[idx] for k, v in self.arrays.items() if k != "frames"}
        batch["frames"] = bytes_to_unit(torch.from_numpy(self._frames[idx.numpy()]))
        return batch


def _load(root: Path, key: str, split: str) -> np.ndarray:
    path = root / f"sprites_{key}_{split}.npy"
    expected = f"(N, {', '.join(map(str, SHAPES[key]))}) float numbers (the DSVAE arrays)"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: missing or not a file; a Sprites root holds sprites_{{X,A,D}}_"
            f"{{train,test}}.npy (the DSVAE arrays, see README#data), or use root: null for the "
            f"procedural data"
        )
    array = load_npy(path, expected, mmap_mode="r")
    numeric(array[:1], str(path), expected)  # the dtype (and one sequence as an example)
    if array.ndim != 1 + len(SHAPES[key]) or array.shape[1:] != SHAPES[key]:
        raise ValueError(f"{path}: shape {array.shape}; expected {expected}")
    return array


def _labels(path_hint: str, onehot: np.ndarray, axes: tuple[str, ...]) -> np.ndarray:
    """One-hot over the last axis, constant over frames -> indices of frame 0."""
    onehot = check_finite(np.asarray(onehot), path_hint, ("sequence", "frame", *axes))
    if not (np.all(onehot.sum(-1) == 1) and np.all((onehot == 0) | (onehot == 1))):
        raise ValueError(f"{path_hint}: labels are not one-hot over the last axis")
    index = onehot.argmax(-1)
    if not np.all(index == index[:, :1]):
        raise ValueError(f"{path_hint}: labels change between frames of a sequence")
    return index[:, 0]


def read_sprites(root: str | Path, split: str, chunk: int = 256) -> dict[str, np.ndarray]:
    """The arrays of one split as the DataModule keeps them: ``frames`` (N, 8, 3, 64, 64) uint8
    and the label indices; the float frames are converted in chunks to bound memory."""
    root = Path(root)
    x, a, d = (_load(root, key, split) for key in FILES)
    if not len(x) == len(a) == len(d):
        raise ValueError(
            f"{root}: sprites_X/A/D_{split}.npy hold {len(x)}, {len(a)}, {len(d)} sequences; "
            f"expected the same number in all three"
        )
    frames = np.empty((len(x), 8, 3, 64, 64), np.uint8)
    path_x = root / f"sprites_X_{split}.npy"
    for start in range(0, len(x), chunk):
        block = np.asarray(x[start : start + chunk], dtype=np.float32)
        check_finite(block, str(path_x), ("sequence", "frame", "row", "column", "channel"), start)
        if block.size and (block.min() < 0 or block.max() > 1):
            raise ValueError(
                f"{path_x}: values in [{block.min()}, {block.max()}]; "
                f"expected bytes / 256 in [0, 255/256] as the DSVAE files are written"
            )
        pixels = np.clip(np.rint(block * 256), 0, 255).astype(np.uint8)
        frames[start : start + chunk] = pixels.transpose(0, 1, 4, 2, 3)
    attributes = _labels(str(root / f"sprites_A_{split}.npy"), a, ("attribute", "value"))
    action = _labels(str(root / f"sprites_D_{split}.npy"), d, ("label",))
    out = {
        "frames": frames,
        "action": action,
        "action3": action // 3,
        "direction": action % 3,
        "attributes": attributes,
    }
    out.update({name: attributes[:, i] for i, name in enumerate(ATTRIBUTES)})
    return out


class SpritesDataModule(DataModule):
    """Sprites sequences as dict batches (see the module docstring for keys and scaling).

    Args:
        root: folder of the DSVAE ``.npy`` files; None uses the procedural data in the cache.
        val_fraction: share of the training characters held out for validation.
        split_seed: seed of that validation split.
        synthetic_characters: procedural characters, split 1000 : 296 into train and test as the
            real 1296 are (the default 22 gives 17 / 5 characters, 198 sequences, 78 MB of files).
        synthetic_seed: seed of the procedural files' shuffle.
        synthetic_into_root, cache_dir, batch_size, eval_batch_size, num_workers, pin_memory:
            see :class:`~motionzoo.data.base.DataModule`.
    """

    cache_name = "sprites"
    layout = LAYOUT

    def __init__(
        self,
        root: str | None = None,
        synthetic_into_root: bool = False,
        cache_dir: str | None = None,
        val_fraction: float = 0.1,
        split_seed: int = 0,
        synthetic_characters: int = 22,
        synthetic_seed: int = 0,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        super().__init__(locals())

    def _synthetic_set(self):
        h = self.hparams
        options = {"num_characters": h.synthetic_characters, "seed": h.synthetic_seed}
        return write_sprites, options, _SYNTHETIC_VERSION

    def prepare_data(self) -> None:
        self.ensure_data_dir()

    def setup(self, stage: str | None = None) -> None:
        if stage in (None, "fit", "validate") and "train" not in self.datasets:
            train, val = self._split_characters(read_sprites(self.ensure_data_dir(), "train"))
            self.datasets["train"], self.datasets["val"] = (
                FrameArrayDataset(train),
                FrameArrayDataset(val),
            )
        if stage in (None, "test", "predict") and "test" not in self.datasets:
            self.datasets["test"] = FrameArrayDataset(read_sprites(self.ensure_data_dir(), "test"))

    def _split_characters(self, arrays: dict[str, np.ndarray]):
        _, character = np.unique(arrays["attributes"], axis=0, return_inverse=True)
        character = character.reshape(-1)
        n = character.max() + 1
        n_val = int(round(self.hparams.val_fraction * n))
        if self.hparams.val_fraction > 0:
            n_val = min(max(n_val, 1), n - 1)
        held = np.random.RandomState(self.hparams.split_seed).permutation(n)[:n_val]
        is_val = np.isin(character, held)
        return (
            {k: v[~is_val] for k, v in arrays.items()},
            {k: v[is_val] for k, v in arrays.items()},
        )

    def _missing_split(self, split: str) -> None:
        self.setup({"train": "fit", "val": "validate", "test": "test"}[split])
