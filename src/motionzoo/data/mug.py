"""MUG Facial Expression Database: 64x64 clips of six facial expressions, split by subject.

Reads the MUG folder layout (``reference/datasets.md`` section 4)::

    <root>/subjects3/<subject>/<expression>/<take>/img_0001.jpg ...   (jpg or png)

Expression folders other than the six are ignored (e.g. ``neutral``), takes whose name contains
``nsg`` are skipped as bad takes, and frames are sorted by the last number in their file name.
``root=None`` first writes the procedural faces of :mod:`motionzoo.data.synthetic.faces` in that
layout (into the cache folder, or into ``root`` with ``synthetic_into_root``).

Per take the loader keeps frames at ``target_fps`` (of MUG's 19 fps, Aifanti et al. 2010; the
default 9.5 keeps every 2nd frame, MoCoGAN/S3VAE "speed 2"), crops the face and resizes it to
``image_size`` x ``image_size`` with Pillow (bilinear, antialiased), and serves clips of
``clip_length`` consecutive kept frames: a random clip per take and epoch for training, the
middle clip for validation and test (deterministic). Takes shorter than one clip are skipped.

Face crop (there is no face detector here; MoCoGAN uses an OpenCV Haar cascade): ``"box"``
takes the take's middle kept frame, marks the pixels that differ from the median colour of the
image border by more than ``crop_threshold``, and crops the square around their bounding box
enlarged by ``crop_margin``, shifted inside the image; the same box is used for every frame of the
take, so the head's motion is kept. ``"center"`` crops the central square of ``center_fraction``
of the short side; ``"none"`` resizes the whole image.

Batches (DESIGN.md section 3): ``frames`` (B, T, 3, S, S) float32 in [-1, 1] (byte p ->
p / 127.5 - 1), ``action`` (B,) long = ``expression`` (B,) in the order anger 0, disgust 1,
happiness 2, fear 3, sadness 4, surprise 5 (not alphabetical), ``identity`` (B,) long: the
subject's index among all subject folders of ``root`` sorted by name (the same in every split).

Splits: ``split_by="subject"`` (default) holds out whole subjects (``val_subjects`` /
``test_subjects`` by name, or seeded ``val_fraction`` / ``test_fraction`` of them);
``split_by="take"`` holds out random takes of every subject, as S3VAE's 75/25 video split, which
the identity classifier needs (it cannot name subjects it has never seen).

Frames are read with Pillow inside the DataLoader workers. With ``cache=True`` (default)
``prepare_data`` decodes, crops and resizes every kept frame once into one ``.npz`` (bytes,
written atomically, named by a fingerprint of the image files and the preprocessing options), and
clips are then gathered from memory a whole batch at a time; both paths give identical clips.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from pytorch_lightning.utilities import rank_zero_warn
from torch.utils.data import DataLoader, Dataset

from motionzoo.data.base import Crop, DataModule, check_option, frame_step
from motionzoo.data.cache import fingerprint, write_cache
from motionzoo.data.progress import progress
from motionzoo.data.sprites import bytes_to_unit
from motionzoo.data.synthetic.faces import EXPRESSIONS, write_mug
from motionzoo.data.validate import open_image, rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LAYOUT = "<root>/subjects3/<subject>/<expression>/<take>/img_XXXX.jpg"
MUG_FPS = 19.0  # the MUG cameras' frame rate (Aifanti et al. 2010)
_SYNTHETIC_VERSION = 2
_CACHE_VERSION = 1


@dataclass(frozen=True)
class Take:
    """One take: its kept frame files (after temporal subsampling) and labels."""

    subject: str
    expression: int
    name: str
    frames: tuple[Path, ...]


def _frame_number(path: Path) -> int:
    numbers = re.findall(r"\d+", path.stem)
    return int(numbers[-1]) if numbers else -1


def scan_mug(root: str | os.PathLike, step: int = 2, min_frames: int = 1) -> list[Take]:
    """Every usable take under ``root/subjects3``, sorted by subject, expression, take; every
    ``step``-th frame of a take is kept."""
    base = Path(root) / "subjects3"
    if not base.is_dir():
        raise FileNotFoundError(
            f"{base}: not found; a MUG root holds {LAYOUT} (see README#data), "
            f"or use root: null for the procedural faces"
        )
    takes, short = [], 0
    for subject in sorted(p for p in base.iterdir() if p.is_dir()):
        for label, expression in enumerate(EXPRESSIONS):
            for take in sorted((subject / expression).glob("*")):
                if not take.is_dir() or "nsg" in take.name:
                    continue
                files = [f for f in take.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES]
                kept = sorted(files, key=lambda f: (_frame_number(f), f.name))[::step]
                if len(kept) < min_frames:
                    short += int(bool(files))
                    continue
                takes.append(Take(subject.name, label, take.name, tuple(kept)))
    if short:
        rank_zero_warn(f"{base}: skipped {short} takes shorter than {min_frames} kept frames")
    if not takes:
        raise ValueError(
            f"{base}: no usable takes; expected {LAYOUT} with expression folders "
            f"{', '.join(EXPRESSIONS)} and at least {min_frames * step} frames per take"
        )
    return takes


def face_box(
    path: Path, crop: str = "box", margin: float = 0.15, threshold: float = 30.0,
    center_fraction: float = 0.8,
) -> tuple[int, int, int, int]:  # fmt: skip
    """Crop box (left, top, right, bottom) in the pixels of the image at ``path``."""
    with open_image(path) as im:
        width, height = im.size
        if crop == "none":
            return 0, 0, width, height
        if crop == "center":
            side = max(1, round(center_fraction * min(width, height)))
            left, top = (width - side) // 2, (height - side) // 2
            return left, top, left + side, top + side
        im.draft("RGB", (128, 128))  # JPEG: decode at a reduced scale, enough to find the face
        small = np.asarray(rgb(im, path), dtype=np.int16)
    scale = width / small.shape[1]
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    fg = np.abs(small - np.median(border, axis=0)).max(-1) > threshold
    rows, cols = np.nonzero(fg.mean(1) > 0.02)[0], np.nonzero(fg.mean(0) > 0.02)[0]
    if len(rows) == 0 or len(cols) == 0:  # nothing stands out: fall back to the central square
        return face_box(path, "center", center_fraction=1.0)
    y0, y1 = rows[0] * scale, (rows[-1] + 1) * scale
    x0, x1 = cols[0] * scale, (cols[-1] + 1) * scale
    side = min(max(y1 - y0, x1 - x0) * (1 + margin), width, height)
    left = min(max((x0 + x1 - side) / 2, 0), width - side)
    top = min(max((y0 + y1 - side) / 2, 0), height - side)
    left, top, side = round(left), round(top), round(side)
    return left, top, left + side, top + side


def read_frames(paths, box: tuple[int, int, int, int], size: int = 64) -> np.ndarray:
    """Crop ``box`` out of each image and resize it to ``size``: (len(paths), size, size, 3) uint8.
    The images must share one size, which holds ``box`` (found on the take's middle frame)."""
    out = np.empty((len(paths), size, size, 3), np.uint8)
    side = max(box[2] - box[0], box[3] - box[1])
    first = None
    for i, path in enumerate(paths):
        with open_image(path) as im:
            width, height = im.size
            first = first or (paths[0], width, height)
            if (width, height) != first[1:]:
                raise ValueError(
                    f"{path}: frame of {width}x{height} pixels, but {first[0]} is "
                    f"{first[1]}x{first[2]}; expected every frame of a take to have one size"
                )
            if box[2] > width or box[3] > height:
                raise ValueError(
                    f"{path}: frame of {width}x{height} pixels does not hold the take's face box "
                    f"{box} (found on its middle frame); expected every frame of a take to have "
                    f"one size"
                )
            if side >= 2 * size:  # JPEG: let the decoder downscale, keeping >= size in the crop
                im.draft("RGB", (math.ceil(width * size / side), math.ceil(height * size / side)))
            sx, sy = im.size[0] / width, im.size[1] / height
            scaled = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
            pixels = rgb(im, path)
        out[i] = np.asarray(pixels.resize((size, size), Image.Resampling.BILINEAR, box=scaled))
    return out


class _Clips(Dataset):
    """Shared clip choice: a random start per take (training) or the middle clip (evaluation)."""

    def __init__(self, lengths, expression, identity, clip_length: int, random: bool, repeats=1):
        self.lengths = torch.as_tensor(lengths, dtype=torch.long)
        self.expression = torch.as_tensor(expression, dtype=torch.long)
        self.identity = torch.as_tensor(identity, dtype=torch.long)
        self.clip_length, self.random, self.repeats = clip_length, random, repeats

    def __len__(self) -> int:
        return len(self.lengths) * self.repeats

    def _starts(self, takes: torch.Tensor) -> torch.Tensor:
        choices = self.lengths[takes] - self.clip_length + 1
        if self.random:  # torch RNG: seeded per DataLoader worker
            return (torch.rand(len(takes)) * choices).long()
        return (choices - 1) // 2

    def _labels(self, takes: torch.Tensor) -> dict[str, torch.Tensor]:
        e = self.expression[takes]
        return {"action": e, "expression": e, "identity": self.identity[takes]}


class MUGClipsFromFiles(_Clips):
    """Clips read from the image files (one take per item, Pillow in the worker)."""

    def __init__(self, takes: list[Take], identity, clip_length, random, repeats, size, box_args):
        super().__init__(
            [len(t.frames) for t in takes], [t.expression for t in takes], identity,
            clip_length, random, repeats,
        )  # fmt: skip
        self.takes, self.size, self.box_args = takes, size, box_args
        self._boxes: dict[int, tuple] = {}  # per worker, filled lazily

    def box(self, i: int) -> tuple[int, int, int, int]:
        if i not in self._boxes:
            frames = self.takes[i].frames
            self._boxes[i] = face_box(frames[len(frames) // 2], **self.box_args)
        return self._boxes[i]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        i = index % len(self.takes)
        start = int(self._starts(torch.tensor([i]))[0])
        paths = self.takes[i].frames[start : start + self.clip_length]
        frames = torch.from_numpy(read_frames(paths, self.box(i), self.size)).permute(0, 3, 1, 2)
        item = {k: v[0] for k, v in self._labels(torch.tensor([i])).items()}
        return {"frames": bytes_to_unit(frames), **item}


class MUGClipsFromCache(_Clips):
    """Clips gathered from the preprocessed frames in memory, a whole batch per call.

    frames: (total, 3, H, W) uint8 array of all takes; take i is ``frames[offsets[i]:][:lengths[i]]``.
    Gathered with numpy (torch's fancy indexing is much slower on CPU for rows this large)."""

    def __init__(
        self, frames, offsets, lengths, expression, identity, clip_length, random, repeats=1
    ):
        super().__init__(lengths, expression, identity, clip_length, random, repeats)
        self.frames = np.asarray(frames)
        self.offsets = torch.as_tensor(offsets, dtype=torch.long)

    def __getitems__(self, indices) -> dict[str, torch.Tensor]:
        takes = torch.as_tensor(indices, dtype=torch.long) % len(self.lengths)
        first = self.offsets[takes] + self._starts(takes)
        index = first[:, None] + torch.arange(self.clip_length)  # (B, T)
        frames = torch.from_numpy(self.frames[index.numpy()])  # (B, T, 3, H, W)
        return {"frames": bytes_to_unit(frames), **self._labels(takes)}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


class _WholeTakes(Dataset):
    """Every kept frame of a take (used to build the cache in DataLoader workers)."""

    def __init__(self, takes: list[Take], size: int, box_args: dict):
        self.takes, self.size, self.box_args = takes, size, box_args

    def __len__(self) -> int:
        return len(self.takes)

    def __getitem__(self, i: int) -> np.ndarray:
        frames = self.takes[i].frames
        return read_frames(frames, face_box(frames[len(frames) // 2], **self.box_args), self.size)


class MUGDataModule(DataModule):
    """MUG expression clips as dict batches (see the module docstring).

    Args:
        root: MUG root (holding ``subjects3``); None uses the procedural faces in the cache.
        clip_length: frames per clip (after temporal subsampling).
        target_fps: frame rate kept of MUG's 19 fps (9.5: every 2nd frame).
        image_size: side of the output frames.
        crop, crop_margin, crop_threshold, center_fraction: the face crop, ``"box"``,
            ``"center"`` or ``"none"`` (see the module docstring).
        split_by: ``"subject"`` or ``"take"``; val_subjects / test_subjects: explicit subject
            folder names (subject split); val_fraction / test_fraction: seeded shares otherwise.
        clips_per_take: training items per take and epoch (each a different random clip).
        cache: preprocess once into an ``.npz`` under ``<cache>/mug/processed``.
        synthetic_subjects, synthetic_takes (per expression), synthetic_frames (per take),
            synthetic_size, synthetic_image_format, synthetic_seed: the procedural data
            (default 8 subjects x 6 x 2 takes of 24 frames, 128 px jpg).
        synthetic_into_root, cache_dir, batch_size, eval_batch_size, num_workers, pin_memory:
            see :class:`~motionzoo.data.base.DataModule`.
    """

    cache_name = "mug"
    layout = LAYOUT
    crops = ("box", "center", "none")

    def __init__(
        self,
        root: str | None = None,
        synthetic_into_root: bool = False,
        cache_dir: str | None = None,
        clip_length: int = 8,
        target_fps: float = MUG_FPS / 2,
        image_size: int = 64,
        crop: Crop = "box",
        crop_margin: float = 0.15,
        crop_threshold: float = 30.0,
        center_fraction: float = 0.8,
        split_by: Literal["subject", "take"] = "subject",
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        val_subjects: list[str] | None = None,
        test_subjects: list[str] | None = None,
        split_seed: int = 0,
        clips_per_take: int = 1,
        cache: bool = True,
        synthetic_subjects: int = 8,
        synthetic_takes: int = 2,
        synthetic_frames: int = 24,
        synthetic_size: int = 128,
        synthetic_image_format: Literal["jpg", "png"] = "jpg",
        synthetic_seed: int = 0,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        super().__init__(locals())
        ways = ("subject", "take")
        check_option(self, "split_by", split_by, split_by in ways, f"one of {ways}")
        self.subjects: list[str] = []

    def _synthetic_set(self):
        h = self.hparams
        options = dict(
            num_subjects=h.synthetic_subjects, takes=h.synthetic_takes, frames=h.synthetic_frames,
            size=h.synthetic_size, image_format=h.synthetic_image_format, seed=h.synthetic_seed,
        )  # fmt: skip
        return write_mug, options, _SYNTHETIC_VERSION

    @property
    def box_args(self) -> dict:
        h = self.hparams
        return dict(
            crop=h.crop, margin=h.crop_margin, threshold=h.crop_threshold,
            center_fraction=h.center_fraction,
        )  # fmt: skip

    @property
    def num_identities(self) -> int:
        """Number of subject folders (the identity classes); valid after ``setup``."""
        return len(self.subjects)

    def _step(self) -> int:
        return frame_step(MUG_FPS, self.hparams.target_fps)

    def _scan(self) -> list[Take]:
        return scan_mug(self.ensure_data_dir(), self._step(), self.hparams.clip_length)

    def cache_path(self, takes: list[Take]) -> Path:
        h = self.hparams
        files = [f for t in takes for f in t.frames]
        tag = fingerprint(
            files, size=h.image_size, step=self._step(), min_frames=h.clip_length,
            version=_CACHE_VERSION, **self.box_args,
        )  # fmt: skip
        return self.processed_file(tag)

    def build_cache(self, takes: list[Take]) -> dict[str, np.ndarray]:
        """Decode, crop and resize every kept frame (in ``num_workers`` DataLoader workers)."""
        loader = DataLoader(
            _WholeTakes(takes, self.hparams.image_size, self.box_args),
            batch_size=None,
            num_workers=self.hparams.num_workers,
        )
        videos = [np.asarray(v) for v in progress(loader, "takes")]
        return {
            "frames": np.concatenate(videos),
            "offsets": np.cumsum([0] + [len(v) for v in videos]),
            "subject": np.array([t.subject for t in takes]),
            "take": np.array([t.name for t in takes]),
            "expression": np.array([t.expression for t in takes]),
        }

    def prepare_data(self) -> None:
        self.ensure_data_dir()
        if self.hparams.cache:
            takes = self._scan()
            path = self.cache_path(takes)
            if not path.exists():
                write_cache(path, lambda: self.build_cache(takes), self.processed_what)

    def _split(self, subjects: np.ndarray) -> dict[str, np.ndarray]:
        """Boolean masks over takes (whose subjects are ``subjects``) for train / val / test."""
        h = self.hparams
        rng = np.random.RandomState(h.split_seed)
        if h.split_by == "take":
            order = rng.permutation(len(subjects))
            n_test, n_val = round(h.test_fraction * len(order)), round(h.val_fraction * len(order))
            part = np.empty(len(order), dtype="<U5")
            part[order[:n_test]], part[order[n_test : n_test + n_val]] = "test", "val"
            part[order[n_test + n_val :]] = "train"
        else:
            names = np.array(sorted(set(subjects)))
            known = set(names)
            for given in (h.val_subjects, h.test_subjects):
                if given and not set(given) <= known:
                    raise ValueError(
                        f"{self.data_dir}: subjects {sorted(set(given) - known)} not found; "
                        f"subjects are {sorted(known)}"
                    )
            shuffled = [n for n in names[rng.permutation(len(names))]]
            test = list(h.test_subjects or [])
            if h.test_subjects is None:
                test = [n for n in shuffled if n not in (h.val_subjects or [])]
                test = test[: round(h.test_fraction * len(names))]
            val = list(h.val_subjects or [])
            if h.val_subjects is None:
                val = [n for n in shuffled if n not in test][: round(h.val_fraction * len(names))]
            part = np.where(
                np.isin(subjects, test), "test", np.where(np.isin(subjects, val), "val", "train")
            )
        masks = {name: part == name for name in ("train", "val", "test")}
        unit = "takes" if h.split_by == "take" else "subjects"
        count = len(subjects) if h.split_by == "take" else len(set(subjects))
        for name in ("val", "test"):
            fraction = h[f"{name}_fraction"]
            if fraction > 0 and not masks[name].any():
                raise ValueError(
                    f"{self.data_dir}: {name}_fraction={fraction} of {count} {unit} selects none; "
                    f"give more {unit}, a larger fraction, or {name}_fraction=0"
                )
        if not masks["train"].any():
            raise ValueError(
                f"{self.data_dir}: the split leaves no training takes; lower the fractions"
            )
        return masks

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        h = self.hparams
        takes = self._scan()
        self.subjects = sorted({t.subject for t in takes})
        identity = np.array([self.subjects.index(t.subject) for t in takes])
        masks = self._split(np.array([t.subject for t in takes]))
        cached = None
        if h.cache:
            path = self.cache_path(takes)
            if not path.exists():  # setup without prepare_data (e.g. a plain script)
                self.prepare_data()
            with np.load(path, allow_pickle=False) as f:
                cached = {k: f[k] for k in f.files}
            # (total, 3, H, W), shared by the three splits
            frames = np.ascontiguousarray(cached["frames"].transpose(0, 3, 1, 2))
        for split, mask in masks.items():
            random = split == "train"
            repeats = h.clips_per_take if random else 1
            if cached is None:
                chosen = [t for t, m in zip(takes, mask) if m]
                self.datasets[split] = MUGClipsFromFiles(
                    chosen, identity[mask], h.clip_length, random, repeats, h.image_size,
                    self.box_args,
                )  # fmt: skip
                continue
            offsets = cached["offsets"]
            self.datasets[split] = MUGClipsFromCache(
                frames, offsets[:-1][mask], np.diff(offsets)[mask], cached["expression"][mask],
                identity[mask], h.clip_length, random, repeats,
            )  # fmt: skip

    def _missing_split(self, split: str) -> None:
        self.setup()
