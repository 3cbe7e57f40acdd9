"""Human3.6M 2D -> 3D pose lifting data, read from the VideoPose3D files.

Reads ``data_3d_h36m.npz`` (world metres, 32 joints) and ``data_2d_h36m_<keypoints>.npz`` (pixels,
17 joints, 4 cameras) as VideoPose3D's ``run.py`` / SemGCN do: per camera, the 3D joints go to
camera coordinates (``world_to_camera``, mm), the 17 (or SemGCN's 16) joints are selected and
made root-relative; the 2D keypoints are trimmed to the mocap length and screen-normalised with
that camera's resolution. One sample = one frame seen by one camera.

With ``root=None`` the embedded synthetic set (:mod:`motionzoo.data.synthetic.h36m`, with both
``gt`` and ``synthetic_det`` keypoints) is written once in the same file format and read through
the same code. The processed arrays of every split are cached in one ``.npz`` named by a
fingerprint of the input files and the options.

Batch (DESIGN.md section 3): ``pose2d`` (B, J, 2) float32 normalised, ``pose3d`` (B, J, 3)
float32 root-relative camera mm, ``action`` (B,) long 0..14 (``H36M_ACTIONS``; -1 for a key that
names no Human3.6M action), ``subject`` (B,) long subject number, ``camera`` (B,) long 0..3.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motionzoo.data.base import ArrayDataset, DataModule, check_option
from motionzoo.data.cache import cached_arrays, fingerprint, write_cache
from motionzoo.data.progress import progress
from motionzoo.data.safe_pickle import load_npz_entry, open_npz
from motionzoo.data.synthetic.h36m import (
    DEFAULT_FRAMES,
    DETECTION_NAME,
    SYNTHETIC_VERSION,
    torch_threads,
    write_h36m_pose_files,
)
from motionzoo.data.validate import check_finite, numeric
from motionzoo.geometry.camera import (
    Camera,
    h36m_cameras,
    normalize_screen_coordinates,
    world_to_camera,
)
from motionzoo.skeleton import H36M_16, H36M_17, H36M_ACTIONS, Skeleton, h36m_action_index

PROCESSING_VERSION = 1  # part of the cache fingerprint; bump when processing changes
KEYS = ("pose2d", "pose3d", "action", "subject", "camera")
_NECK_NOSE_17 = H36M_17.joint_names.index("Neck/Nose")
_HELP = "see README#data"
_AXES = ("frame", "joint", "coordinate")


class H36MPoseDataModule(DataModule):
    """Human3.6M pose lifting (VideoPose3D / SemGCN protocol).

    Args:
        root: folder with the VideoPose3D files; None uses the embedded synthetic set.
        keypoints: 2D source, ``"gt"`` -> ``data_2d_h36m_gt.npz``, any other name N ->
            ``data_2d_h36m_{N}.npz`` (e.g. ``"cpn_ft_h36m_dbb"``). The synthetic set has
            ``"gt"`` and ``"synthetic_det"``.
        num_joints: 17 (VideoPose3D) or 16 (SemGCN / GraphSH: the 17 without Neck/Nose).
        train_subjects, test_subjects: the papers' split (S1 S5 S6 S7 S8 / S9 S11).
        val_subjects: defaults to the test subjects, as the papers validate on them.
        actions: canonical action names to keep (``H36M_ACTIONS``); None keeps all.
        stride, eval_stride: frame subsampling of the training / evaluation splits (None:
            ``stride``).
        synthetic_seed, synthetic_frames: seed and base take length of the synthetic set.
        synthetic_into_root, cache_dir, batch_size, eval_batch_size, num_workers, pin_memory:
            see :class:`~motionzoo.data.base.DataModule`.
    """

    cache_name = "h36m_pose"
    layout = "a folder with the VideoPose3D files data_3d_h36m.npz and data_2d_h36m_<keypoints>.npz"

    def __init__(
        self,
        root: str | None = None,
        synthetic_into_root: bool = False,
        cache_dir: str | None = None,
        keypoints: str = "gt",
        num_joints: int = 17,
        train_subjects: tuple[str, ...] = ("S1", "S5", "S6", "S7", "S8"),
        test_subjects: tuple[str, ...] = ("S9", "S11"),
        val_subjects: tuple[str, ...] | None = None,
        actions: tuple[str, ...] | None = None,
        stride: int = 1,
        eval_stride: int | None = None,
        synthetic_seed: int = 0,
        synthetic_frames: int = DEFAULT_FRAMES,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        super().__init__(locals())
        check_option(self, "num_joints", num_joints, num_joints in (16, 17),
                     "17 (VideoPose3D) or 16 (SemGCN)")  # fmt: skip
        unknown = [a for a in actions or () if a not in H36M_ACTIONS]
        if unknown:
            raise ValueError(f"unknown actions {unknown}; expected names from {H36M_ACTIONS}")
        synthetic = root is None or synthetic_into_root
        if synthetic and keypoints not in ("gt", DETECTION_NAME):
            raise ValueError(
                f"keypoints={keypoints!r} needs the real files: the embedded synthetic set has "
                f"'gt' and {DETECTION_NAME!r}; set root= to your VideoPose3D folder ({_HELP})"
            )
        self.skeleton: Skeleton = H36M_17 if num_joints == 17 else H36M_16
        self.num_joints = num_joints
        self.action_names = H36M_ACTIONS

    # --- files -------------------------------------------------------------------------------

    def _synthetic_set(self):
        h = self.hparams
        options = {"seed": h.synthetic_seed, "frames": h.synthetic_frames}
        return write_h36m_pose_files, options, SYNTHETIC_VERSION

    @property
    def path_3d(self) -> Path:
        return self.data_dir / "data_3d_h36m.npz"

    @property
    def path_2d(self) -> Path:
        return self.data_dir / f"data_2d_h36m_{self.hparams.keypoints}.npz"

    def _input_files(self) -> tuple[Path, Path]:
        """The two input files (writing the synthetic set first when it is used)."""
        self.ensure_data_dir()
        for path, what in ((self.path_3d, "3D poses"), (self.path_2d, "2D keypoints")):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: expected the VideoPose3D {what} file {path.name} "
                    f"in {self.data_dir} ({_HELP})"
                )
        return self.path_3d, self.path_2d

    def cache_file(self) -> Path:
        """The processed-array cache of this configuration; it is named by a fingerprint of the
        input files (path, size, mtime) and the options, so it exists once built."""
        h = self.hparams
        key = fingerprint(
            self._input_files(),
            version=PROCESSING_VERSION,
            keypoints=h.keypoints,
            num_joints=h.num_joints,
            splits=self._splits(),
            actions=sorted(h.actions) if h.actions else None,
        )
        return self.processed_file(key)

    def camera_for(self, subject: str, index: int) -> Camera:
        """Camera ``index`` (0..3, VideoPose3D order) of ``subject``."""
        return h36m_cameras(subject)[index]

    # --- Lightning hooks -----------------------------------------------------------------------

    def prepare_data(self) -> None:
        path = self.cache_file()
        if not path.exists():
            write_cache(path, self._build, self.processed_what)

    def setup(self, stage: str | None = None) -> None:
        arrays = cached_arrays(self.cache_file(), self._build, self.processed_what)
        for split in ("train", "val", "test"):
            source = self._stored_split(split)
            self.datasets[split] = ArrayDataset({k: arrays[f"{source}.{k}"] for k in KEYS})

    # --- processing ----------------------------------------------------------------------------

    def _splits(self) -> dict[str, tuple[tuple[str, ...], int]]:
        """Split -> (subjects, stride) of the splits stored in the cache."""
        h, strides = self.hparams, self.split_strides()
        splits = {
            "train": (tuple(h.train_subjects), strides["train"]),
            "test": (tuple(h.test_subjects), strides["test"]),
        }
        if self._stored_split("val") == "val":
            splits["val"] = (tuple(h.val_subjects), strides["val"])
        return splits

    def _stored_split(self, split: str) -> str:
        """Validation on the test subjects (the default) reuses the stored test arrays."""
        h = self.hparams
        if split == "val" and (
            h.val_subjects is None or tuple(h.val_subjects) == tuple(h.test_subjects)
        ):
            return "test"
        return split

    def _build(self) -> dict[str, np.ndarray]:
        """Read and check both files; every split's arrays, keys ``"<split>.<name>"``."""
        path_3d, path_2d = self._input_files()
        poses_3d, _ = _load_npz(path_3d, "positions_3d", "data_3d_h36m.npz")
        poses_2d, metadata = _load_npz(path_2d, "positions_2d", path_2d.name)
        _check_metadata(path_2d, metadata)
        arrays = {}
        for split, (subjects, stride) in self._splits().items():
            with torch_threads(1):  # many small float64 ops: threads only add overhead
                parts = [
                    self._process_subject(subject, split, stride, poses_3d, poses_2d)
                    for subject in progress(subjects, f"{split} subjects")
                ]
            parts = parts or [{k: _empty(k, self.num_joints) for k in KEYS}]
            for key in KEYS:
                arrays[f"{split}.{key}"] = np.concatenate([p[key] for p in parts])
            if subjects and len(arrays[f"{split}.action"]) == 0:
                raise ValueError(
                    f"no {split} samples: subjects {subjects} have no sequences of actions "
                    f"{self.hparams.actions} in {path_3d}"
                )
        return arrays

    def _process_subject(self, subject, split, stride, poses_3d, poses_2d) -> dict[str, np.ndarray]:
        path_3d, path_2d = self.path_3d, self.path_2d
        for path, poses, key in (
            (path_3d, poses_3d, "positions_3d"),
            (path_2d, poses_2d, "positions_2d"),
        ):
            if subject not in poses:
                raise ValueError(
                    f"{path}: subject {subject!r} ({split} split) not in {key}; the file has "
                    f"{sorted(poses)}"
                )
            if not isinstance(poses[subject], dict):
                raise ValueError(
                    f"{path}: {key}[{subject!r}] is a {type(poses[subject]).__name__}; expected a "
                    f"dict action -> {'array' if key == 'positions_3d' else 'list of 4 arrays'}"
                )
        cameras = h36m_cameras(subject)
        wanted = self.hparams.actions
        number = int(subject.lstrip("S"))
        parts: dict[str, list[np.ndarray]] = {k: [] for k in KEYS}
        for action in sorted(poses_3d[subject]):
            label = h36m_action_index(action)
            if wanted is not None and (label < 0 or H36M_ACTIONS[label] not in wanted):
                continue
            where = f"[{subject!r}][{action!r}]"
            world = numeric(
                poses_3d[subject][action], f"{path_3d}: positions_3d{where}",
                f"(T, 32, 3) world joints in metres ({_HELP})",
            )  # fmt: skip
            if world.ndim != 3 or world.shape[1:] != (32, 3):
                raise ValueError(
                    f"{path_3d}: positions_3d{where} has shape {world.shape}; expected (T, 32, 3) "
                    f"world joints in metres ({_HELP})"
                )
            if action not in poses_2d[subject]:
                raise ValueError(f"{path_2d}: positions_2d{where} missing; {path_3d} has it")
            views = poses_2d[subject][action]
            if not isinstance(views, (list, tuple, np.ndarray)) or len(views) != len(cameras):
                found = f"{len(views)} camera views" if hasattr(views, "__len__") else "no list"
                raise ValueError(
                    f"{path_2d}: positions_2d{where} has {found}; expected a list of 4 (T, 17, 2) "
                    f"arrays, one per camera ({_HELP})"
                )
            check_finite(world, f"{path_3d}: positions_3d{where}", _AXES)
            frames = len(world)
            world_mm = torch.from_numpy(world.astype(np.float64) * 1000)[::stride]
            for index, (camera, kps) in enumerate(zip(cameras, views)):
                kps = numeric(
                    kps, f"{path_2d}: positions_2d{where}[{index}]",
                    f"(T, 17, 2) pixel keypoints ({_HELP})",
                )  # fmt: skip
                if kps.ndim != 3 or kps.shape[1:] != (17, 2):
                    raise ValueError(
                        f"{path_2d}: positions_2d{where}[{index}] has shape {kps.shape}; "
                        f"expected (T, 17, 2) pixel keypoints ({_HELP})"
                    )
                if len(kps) < frames:
                    raise ValueError(
                        f"{path_2d}: positions_2d{where}[{index}] has {len(kps)} frames but the "
                        f"mocap in {path_3d.name} has {frames}; keypoints must cover every mocap "
                        f"frame (VideoPose3D asserts this)"
                    )
                check_finite(kps[:frames], f"{path_2d}: positions_2d{where}[{index}]", _AXES)
                kps = kps[:frames:stride]
                if self.num_joints == 16:
                    kps = np.delete(kps, _NECK_NOSE_17, axis=1)
                pose3d = world_to_camera(world_mm, camera)[:, list(self.skeleton.from_32)]
                pose3d = pose3d - pose3d[:, :1]
                n = len(kps)
                parts["pose2d"].append(
                    normalize_screen_coordinates(kps.astype(np.float32), camera.res_w, camera.res_h)
                )
                parts["pose3d"].append(pose3d.numpy().astype(np.float32))
                parts["action"].append(np.full(n, label, dtype=np.int64))
                parts["subject"].append(np.full(n, number, dtype=np.int64))
                parts["camera"].append(np.full(n, index, dtype=np.int64))
        if not parts["action"]:
            return {k: _empty(k, self.num_joints) for k in KEYS}
        return {k: np.concatenate(v) for k, v in parts.items()}


def _empty(key: str, num_joints: int) -> np.ndarray:
    shapes = {"pose2d": (0, num_joints, 2), "pose3d": (0, num_joints, 3)}
    dtype = np.float32 if key in shapes else np.int64
    return np.zeros(shapes.get(key, (0,)), dtype=dtype)


def _load_npz(path: Path, key: str, expected: str) -> tuple[dict, dict | None]:
    """``np.load(path)[key].item()`` and the file's ``metadata`` (None if absent), with errors
    naming the file and the key. The object arrays (pickled dicts) are read by the restricted
    unpickler of :mod:`motionzoo.data.safe_pickle`: nothing in the file can run code."""
    what = f"a VideoPose3D {expected} ({_HELP})"
    with open_npz(path, what) as f:
        if key not in f.files:
            raise ValueError(f"{path}: key {key!r} missing (found {f.files}); expected {what}")
        value = load_npz_entry(f, key, path, what)
        metadata = load_npz_entry(f, "metadata", path, what) if "metadata" in f.files else None
    value = value.item() if value.dtype == object and value.shape == () else value
    if not isinstance(value, dict):
        raise ValueError(
            f"{path}: {key!r} is a {type(value).__name__}; expected a dict "
            f"subject -> action -> arrays as in VideoPose3D's {expected} ({_HELP})"
        )
    if metadata is not None:
        metadata = metadata.item() if metadata.dtype == object and metadata.shape == () else None
        if not isinstance(metadata, dict):
            raise ValueError(
                f"{path}: 'metadata' is not a dict; expected VideoPose3D's {{'num_joints': 17, "
                f"'keypoints_symmetry': ...}} ({_HELP})"
            )
    return value, metadata


def _check_metadata(path: Path, metadata: dict | None) -> None:
    """The keypoints must be in the 17-joint Human3.6M layout (GT files carry no layout)."""
    if metadata is None:
        return
    layout = metadata.get("layout_name", "h36m")
    joints = metadata.get("num_joints", 17)
    if layout != "h36m" or joints != 17:
        raise ValueError(
            f"{path}: metadata says layout {layout!r} with {joints} joints; expected the 17-joint "
            f"Human3.6M layout ('h36m') ({_HELP})"
        )
