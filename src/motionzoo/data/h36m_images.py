"""Human3.6M image crops with their 2D and 3D poses, read from the H36M-Toolbox layout.

Reads the frames and per-frame annotations of :mod:`motionzoo.data.h36m_toolbox`
(``<root>/images/s_%02d_act_%02d_subact_%02d_ca_%02d/*.jpg`` + ``<root>/annot/h36m_{train,
validation}.pkl``, CHUNYUWANG/H36M-Toolbox), crops the person out of every kept frame, resizes the
crop to ``image_size`` x ``image_size`` and serves it with the pose-lifting keys of
:class:`~motionzoo.data.h36m_pose.H36MPoseDataModule` (DESIGN.md section 3, cross-modal)::

    image   (B, 3, S, S) float32 in [-1, 1] (byte p -> p / 127.5 - 1)
    pose2d  (B, 17, 2)   float32, ``joints_2d`` screen-normalised relative to the FULL frame as
                         VideoPose3D does: x / w * 2 - [1, h / w], (w, h) the jpg's size (so for
                         the real 1000 x 1002 frames the same numbers as H36MPoseDataModule)
    pose3d  (B, 17, 3)   float32, ``joints_3d_camera`` (or ``pose3d_key``; camera mm) minus
                         the root joint
    action  (B,) long    0..14 in ``H36M_ACTIONS`` order (``action_names``); -1 for action 1
    subject (B,) long    subject number;  camera (B,) long 0..3

Joints are :data:`~motionzoo.skeleton.H36M_17` (root first). Crops: ``crop="box"`` takes the
annotation's ``box`` (H36M-Toolbox: 2000 mm around the pelvis) made square around its centre;
``crop="joints"`` the square around the 2D joints enlarged by ``crop_margin``. Pixels outside the
frame are black. Frames are kept when ``(image_id - 1) % stride == 0``: the strides count video
frames (50 Hz), H36M-Toolbox / Integral Human Pose use every 5th for training (``stride``) and
every 64th for evaluation (``eval_stride``), the defaults. Splits by subject (train S1 S5 S6 S7
S8, test S9 S11, validation on the test subjects unless ``val_subjects`` says otherwise),
whichever file lists them.

``root=None`` first writes the synthetic actors in that layout
(:mod:`motionzoo.data.synthetic.h36m_images`, into the cache folder) and reads them through the
same code. Cache: per split one ``.npz`` of poses and one ``.images.npy`` of uint8 crops
(N, 3, S, S), read memory-mapped; both are written atomically (crops first, the ``.npz`` last,
so a crash or a broken jpg leaves no usable half cache) and named by a fingerprint of the two
annotation files and the images folder (path, size, mtime) and of the options; jpgs replaced in
place without touching their folder are not noticed (delete ``<cache>/h36m_images/processed``).
Frames are decoded with Pillow in ``num_workers`` DataLoader workers while the cache is built.

After ``setup``: ``train_statistics`` (``pose3d_mean`` / ``pose3d_std`` (17, 3), ``pose2d_mean``
/ ``pose2d_std`` (17, 2), population std, from the training split only) and ``action_names``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from motionzoo.data.base import Crop, DataModule, check_option
from motionzoo.data.cache import atomic_save_npz, atomic_write, fingerprint
from motionzoo.data.h36m_toolbox import (
    LAYOUT,
    action_labels,
    check_labels,
    find_annotations,
    frame_table,
    load_annotations,
)
from motionzoo.data.progress import announce_build, progress
from motionzoo.data.sprites import bytes_to_unit
from motionzoo.data.synthetic.h36m import DEFAULT_FRAMES
from motionzoo.data.synthetic.h36m_images import (
    DEFAULT_FRAME_STEP,
    DEFAULT_SIZE,
    SYNTHETIC_IMAGES_VERSION,
    write_h36m_image_files,
)
from motionzoo.data.validate import open_image, rgb
from motionzoo.geometry.camera import H36M_SUBJECTS, normalize_screen_coordinates
from motionzoo.skeleton import H36M_17, H36M_ACTIONS

PROCESSING_VERSION = 1  # part of the cache fingerprint; bump when the processing changes
POSE_KEYS = ("pose2d", "pose3d", "action", "subject", "camera")


def square_boxes(boxes: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(N, 4) x0, y0, x1, y1 -> the squares with the same centres, side max(w, h) * (1 + margin)."""
    centre = 0.5 * (boxes[:, :2] + boxes[:, 2:])
    half = 0.5 * (boxes[:, 2:] - boxes[:, :2]).max(axis=1, keepdims=True) * (1 + margin)
    return np.concatenate([centre - half, centre + half], axis=1)


def joint_boxes(joints_2d: np.ndarray, margin: float = 0.25) -> np.ndarray:
    """(N, J, 2) pixels -> (N, 4) squares around the joints, enlarged by ``margin``."""
    return square_boxes(np.concatenate([joints_2d.min(axis=1), joints_2d.max(axis=1)], 1), margin)


def read_crop(path: str | Path, box, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Crop ``box`` (x0, y0, x1, y1 pixels, may leave the frame: black there) out of the image at
    ``path`` and resize it to ``size`` x ``size`` (bilinear, antialiased).

    Returns the (size, size, 3) uint8 crop and the frame's (width, height)."""
    path = Path(path)
    with open_image(path) as im:
        width, height = im.size
        side = max(box[2] - box[0], box[3] - box[1])
        if side >= 2 * size:  # JPEG: let the decoder downscale, keeping >= size in the crop
            im.draft("RGB", (math.ceil(width * size / side), math.ceil(height * size / side)))
        sx, sy = im.size[0] / width, im.size[1] / height
        pixels = rgb(im, path)
    x0, y0, x1, y1 = box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy
    left, top = math.floor(x0), math.floor(y0)
    outer = pixels.crop((left, top, math.ceil(x1), math.ceil(y1)))  # zero-filled outside the frame
    inner = (x0 - left, y0 - top, x1 - left, y1 - top)
    crop = outer.resize((size, size), Image.Resampling.BILINEAR, box=inner)
    return np.asarray(crop), (width, height)


class _CropChunks(Dataset):
    """Chunks of frames to crop, decoded in DataLoader workers while the cache is built."""

    def __init__(self, paths: np.ndarray, boxes: np.ndarray, size: int, chunk: int = 64):
        self.paths, self.boxes, self.size, self.chunk = paths, boxes, size, chunk

    def __len__(self) -> int:
        return math.ceil(len(self.paths) / self.chunk)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        part = slice(i * self.chunk, (i + 1) * self.chunk)
        pairs = zip(self.paths[part], self.boxes[part])
        crops, sizes = zip(*(read_crop(path, box, self.size) for path, box in pairs))
        return np.stack(crops).transpose(0, 3, 1, 2), np.asarray(sizes, dtype=np.int64)


def build_crops(
    paths: np.ndarray, boxes: np.ndarray, size: int, out: Path, num_workers: int = 0
) -> np.ndarray:
    """Write the (N, 3, size, size) uint8 crops of ``paths`` to the ``.npy`` file ``out``
    (atomically, filled in place through a memory map); returns the frames' (N, 2) sizes."""
    sizes = np.zeros((len(paths), 2), dtype=np.int64)

    def write(tmp: Path) -> None:
        crops = np.lib.format.open_memmap(tmp, "w+", np.uint8, (len(paths), 3, size, size))
        chunks = _CropChunks(paths, boxes, size)
        loader = DataLoader(chunks, batch_size=None, num_workers=num_workers)
        start = 0
        for chunk, chunk_sizes in progress(loader, "image chunks"):
            chunk, chunk_sizes = np.asarray(chunk), np.asarray(chunk_sizes)
            crops[start : start + len(chunk)] = chunk
            sizes[start : start + len(chunk)] = chunk_sizes
            start += len(chunk)
        crops.flush()
        del crops

    atomic_write(out, write)
    return sizes


def normalize_by_frame(joints_2d: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """(N, J, 2) pixels -> screen-normalised with each frame's own (w, h) (N, 2)."""
    out = np.empty(joints_2d.shape, dtype=np.float32)
    for w, h in np.unique(sizes, axis=0):  # a handful of frame sizes
        rows = (sizes == (w, h)).all(axis=1)
        out[rows] = normalize_screen_coordinates(joints_2d[rows], int(w), int(h))
    return out


class H36MCrops(Dataset):
    """Crops (memory-mapped uint8 ``.npy``, opened lazily in each process) and poses; a whole
    batch is one numpy gather of crops and one ``index_select`` per pose key."""

    def __init__(self, images_path: str | Path, poses: dict[str, np.ndarray]):
        self.images_path = Path(images_path)
        self.arrays = {k: torch.as_tensor(np.asarray(poses[k])) for k in POSE_KEYS}
        self._images: np.ndarray | None = None

    @property
    def images(self) -> np.ndarray:
        if self._images is None:
            self._images = np.load(self.images_path, mmap_mode="r")
        return self._images

    def __getstate__(self) -> dict:  # workers open their own memory map
        return {**self.__dict__, "_images": None}

    def __len__(self) -> int:
        return len(self.arrays["action"])

    def __getitems__(self, indices) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        batch = {k: v.index_select(0, idx) for k, v in self.arrays.items()}
        batch["image"] = bytes_to_unit(torch.from_numpy(self.images[idx.numpy()]))
        return batch

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}


class H36MImageDataModule(DataModule):
    """Human3.6M person crops + 2D / 3D poses (see the module docstring for the batch).

    Args:
        root: the H36M-Toolbox folder (``images/`` and ``annot/``); None: the synthetic frames.
        image_size: side of the crops (the thesis: 256; 64 for the VAEGAN / small configs).
        crop: ``"box"`` (the annotation's box, squared) or ``"joints"`` (around the 2D joints).
        crop_margin: enlargement of the ``"joints"`` square (0.25 = 25 % larger).
        pose3d_key: ``"joints_3d_camera"`` (real bone lengths) or ``"joints_3d"`` (H36M's
            "universal" skeleton).
        train_subjects, test_subjects, val_subjects: subject splits (val None: the test ones).
        actions: canonical names (``H36M_ACTIONS``) to keep; None keeps all.
        stride, eval_stride: keep frames with (image_id - 1) % stride == 0 in the training /
            evaluation splits (eval_stride None: ``stride``).
        synthetic_seed, synthetic_subjects, synthetic_actions (None: all), synthetic_frames,
            synthetic_takes, synthetic_frame_step, synthetic_size: the synthetic set (see
            :func:`~motionzoo.data.synthetic.h36m_images.write_h36m_image_files`).
        synthetic_into_root, cache_dir, batch_size, eval_batch_size, num_workers, pin_memory:
            see :class:`~motionzoo.data.base.DataModule` (the workers also decode the jpgs while
            the cache is built).
    """

    cache_name = "h36m_images"
    layout = LAYOUT
    crops = ("box", "joints")

    def __init__(
        self,
        root: str | None = None,
        synthetic_into_root: bool = False,
        cache_dir: str | None = None,
        image_size: int = 256,
        crop: Crop = "box",
        crop_margin: float = 0.25,
        pose3d_key: Literal["joints_3d_camera", "joints_3d"] = "joints_3d_camera",
        train_subjects: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8"),
        test_subjects: tuple[str, ...] = ("S9", "S11"),
        val_subjects: tuple[str, ...] | None = None,
        actions: tuple[str, ...] | None = None,
        stride: int = 5,
        eval_stride: int | None = 64,
        synthetic_seed: int = 0,
        synthetic_subjects: tuple[str, ...] = H36M_SUBJECTS,
        synthetic_actions: tuple[str, ...] | None = None,
        synthetic_frames: int = DEFAULT_FRAMES,
        synthetic_takes: int = 2,
        synthetic_frame_step: int = DEFAULT_FRAME_STEP,
        synthetic_size: int = DEFAULT_SIZE,
        batch_size: int = 64,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        super().__init__(locals())
        keys = ("joints_3d_camera", "joints_3d")
        check_option(self, "pose3d_key", pose3d_key, pose3d_key in keys, f"one of {keys}")
        for name in ("train_subjects", "test_subjects", "val_subjects", "synthetic_subjects"):
            bad = [s for s in getattr(self.hparams, name) or () if not re.fullmatch(r"S\d+", s)]
            if bad:
                raise ValueError(f"{name}: {bad} are not subject names like 'S1', 'S11'")
        unknown = [
            a for a in [*(actions or ()), *(synthetic_actions or ())] if a not in H36M_ACTIONS
        ]
        if unknown:
            raise ValueError(f"unknown actions {unknown}; expected names from {H36M_ACTIONS}")
        self.skeleton = H36M_17
        self.num_joints = 17
        self.action_names = list(H36M_ACTIONS)
        self.train_statistics: dict[str, torch.Tensor] = {}

    # --- files -------------------------------------------------------------------------------

    def _synthetic_set(self):
        h = self.hparams
        options = dict(
            seed=h.synthetic_seed, subjects=tuple(h.synthetic_subjects),
            actions=tuple(h.synthetic_actions or H36M_ACTIONS), frames=h.synthetic_frames,
            takes=h.synthetic_takes, frame_step=h.synthetic_frame_step, size=h.synthetic_size,
        )  # fmt: skip
        return write_h36m_image_files, options, SYNTHETIC_IMAGES_VERSION

    def input_files(self) -> list[Path]:
        """The two annotation files (writing the synthetic set first when it is used)."""
        return find_annotations(self.ensure_data_dir())

    def _splits(self) -> dict[str, tuple[tuple[str, ...], int]]:
        h, strides = self.hparams, self.split_strides()
        return {
            "train": (tuple(h.train_subjects), strides["train"]),
            "val": (tuple(h.val_subjects or h.test_subjects), strides["val"]),
            "test": (tuple(h.test_subjects), strides["test"]),
        }

    def cache_files(self, split: str) -> tuple[Path, Path]:
        """(poses ``.npz``, crops ``.images.npy``) of a split; named by a fingerprint of the
        annotation files, the images folder and the options."""
        h = self.hparams
        subjects, stride = self._splits()[split]
        key = fingerprint(
            [*self.input_files(), self.data_dir / "images"], version=PROCESSING_VERSION,
            subjects=list(subjects), stride=stride, actions=sorted(h.actions or ()),
            size=h.image_size, crop=h.crop, margin=h.crop_margin if h.crop == "joints" else None,
            pose3d=h.pose3d_key,
        )  # fmt: skip
        return self.processed_file(key), self.processed_file(key, ".images.npy")

    # --- Lightning hooks -----------------------------------------------------------------------

    def prepare_data(self) -> None:
        missing = {}  # cache file -> split (validation on the test subjects shares the test cache)
        for split in self._splits():
            path = self.cache_files(split)[0]
            if not path.exists():
                missing.setdefault(path, split)
        if missing:
            files = [f for split in missing.values() for f in self.cache_files(split)]
            with announce_build(self.processed_what, *files):
                self._build(list(missing.values()))

    def setup(self, stage: str | None = None) -> None:
        if self.datasets:
            return
        self.prepare_data()  # a no-op when the caches exist (setup without prepare_data)
        loaded: dict[Path, H36MCrops] = {}
        for split in self._splits():
            poses_path, images_path = self.cache_files(split)
            if poses_path not in loaded:
                with np.load(poses_path, allow_pickle=False) as f:
                    loaded[poses_path] = H36MCrops(images_path, {k: f[k] for k in POSE_KEYS})
            self.datasets[split] = loaded[poses_path]
        train = self.datasets["train"].arrays
        self.train_statistics = {
            f"{key}_{stat}": getattr(train[key], stat)(dim=0, **extra)
            for key in ("pose3d", "pose2d")
            for stat, extra in (("mean", {}), ("std", {"correction": 0}))
        }

    # --- building the caches -------------------------------------------------------------------

    def _table(self) -> tuple[dict[str, np.ndarray], list[Path]]:
        """Every frame of both annotation files, one table."""
        keys = ["image", "joints_2d", self.hparams.pose3d_key, "subject", "action", "camera_id"]
        keys += ["image_id"] + (["box"] if self.hparams.crop == "box" else [])
        files = self.input_files()
        parts = []
        for path in files:
            part = frame_table(load_annotations(path), path, keys)
            check_labels(part, path)
            parts.append(part)
        return {k: np.concatenate([p[k] for p in parts]) for k in keys}, files

    def _build(self, splits: list[str]) -> None:
        h = self.hparams
        table, files = self._table()
        labels = action_labels(table["action"])
        for split in splits:
            subjects, stride = self._splits()[split]
            numbers = [int(s[1:]) for s in subjects]
            keep = np.isin(table["subject"], numbers) & ((table["image_id"] - 1) % stride == 0)
            if h.actions:
                keep &= np.isin(labels, [H36M_ACTIONS.index(a) for a in h.actions])
            if subjects and not keep.any():
                raise ValueError(
                    f"no {split} frames: subjects {list(subjects)} (actions {h.actions}, stride "
                    f"{stride}) not in {[str(f) for f in files]}, which list subjects "
                    f"{sorted(set(table['subject'].tolist()))}"
                )
            self._build_split(split, {k: v[keep] for k, v in table.items()}, labels[keep], files)

    def _build_split(self, split, frames: dict[str, np.ndarray], labels, files) -> None:
        h = self.hparams
        paths = np.asarray([str(self.data_dir / "images" / name) for name in frames["image"]])
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{path}: image listed in {' / '.join(str(f) for f in files)} not found; "
                    f"expected {LAYOUT}"
                )
        if h.crop == "box":
            boxes = square_boxes(frames["box"])
        else:
            boxes = joint_boxes(frames["joints_2d"], h.crop_margin)
        poses_path, images_path = self.cache_files(split)
        sizes = build_crops(paths, boxes, h.image_size, images_path, h.num_workers)
        pose3d = frames[h.pose3d_key] - frames[h.pose3d_key][:, :1]
        atomic_save_npz(
            poses_path,
            pose2d=normalize_by_frame(frames["joints_2d"], sizes),
            pose3d=pose3d.astype(np.float32),
            action=labels.astype(np.int64),
            subject=frames["subject"].astype(np.int64),
            camera=frames["camera_id"].astype(np.int64),
            image_id=frames["image_id"].astype(np.int64),
            box=boxes.astype(np.float32),
            frame_size=sizes,
        )
