"""AMASS motion windows read from the per-sequence npz files (HisRepItself / HG-VAE protocol).

Reads ``<root>/<SubDataset>/<subject>/*.npz`` (``shared/reference/datasets.md`` section 2):
``poses`` (T, 156) SMPL-H axis-angle (the first 66 columns are the 22 body joints, root first),
``trans``, ``betas``, ``mocap_framerate`` (``mocap_frame_rate`` in SMPL-X releases, also
accepted) and ``gender`` (a 0-d str or bytes array, decoded either way). As HisRepItself's
``amass3d.py`` and bouracha/generative_imputation's ``datasets/amass.py``:

- splits by sub-dataset folder: train CMU MPI_Limits TotalCapture Eyes_Japan_Dataset KIT EKUT
  TCD_handMocap ACCAD, val HumanEva MPI_HDM05 SFU MPI_mosh, test BioMotionLab_NTroje (BMLrub).
  Folders that are missing are skipped; the newer AMASS names of the same sub-datasets
  (``BMLrub``, ``PosePrior``, ``HDM05``, ``MoSh``, ``TCDHands``, ``EyesJapanDataset``) are accepted
  for the old ones and the other way round;
- every ``int(mocap_framerate // target_fps)``-th frame is kept (``target_fps`` 25: 100 Hz ->
  25 fps, but 120 Hz -> 30 fps and 60 Hz -> 30 fps: the rate is not exactly 25);
- the root rotation is zeroed and ``trans`` ignored; forward kinematics of the 22 body joints on
  the one SMPL template ``SMPL_TEMPLATE_22`` (``p3d0``; the sequence's ``betas`` are not used),
  column convention, Y up; joints 4..21 are kept (``AMASS_18``) and scaled to mm;
- windows of ``clip_length`` 50 frames every ``stride`` 5 frames (``skip_rate``) of each
  sequence.

Files in a subject folder that lack ``poses`` are skipped when their name does not end in
``_poses.npz`` (``shape.npz`` holds only ``betas`` and ``gender``; HisRepItself skips such
files with try/except); a ``*_poses.npz`` without ``poses`` is an error, as is a truncated or
corrupt npz.

Shapes. A batch is ``motion`` (B, T, J, 3) float32 mm with J = 18, ``action`` (B,) = -1 (AMASS
has no action labels) and ``subset`` (B,) long, the sub-dataset the window comes from as an index
into ``subset_names`` (the sub-dataset folders read, all splits, in split order; listed in
``label_names``, which pictures use to name labels). generative_imputation's ``__getitem__`` returns
``motion.reshape([54, 50])`` of a (50, 18, 3) window: a raw reshape without transposing, so its
rows are not per-coordinate trajectories and its "temporal" DCT mixes joints and time. We do not
copy that: windows stay (T, J, 3), and a model that wants (J*3, T) nodes transposes
(``rearrange(motion, "b t j c -> b (j c) t")``). ``train_mean`` (T, J, 3) is the per-feature train
mean for mean imputation (their ``train_averages.csv``, in this layout), ``mean`` / ``std``
(J, 3) the train statistics (see :class:`~motionzoo.data.h36m_motion.MotionDataModule`).

With ``root=None`` the procedural SMPL motion of :mod:`motionzoo.data.synthetic.motion_files` is
first written as AMASS npz files (once, atomically, into the cache folder; or into ``root`` with
``synthetic_into_root``) and read through the same code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motionzoo.data.base import frame_step
from motionzoo.data.motion_base import SPLITS, MotionDataModule, MotionWindows
from motionzoo.data.safe_pickle import load_npz_entry, named_errors, open_npz
from motionzoo.data.synthetic.motion_files import MOTION_FILES_VERSION, write_amass_files
from motionzoo.data.validate import check_finite, numeric
from motionzoo.geometry.kinematics import axis_angle_to_matrix, forward_kinematics
from motionzoo.skeleton import AMASS_18, AMASS_18_FROM_22, SMPL_BODY_PARENTS, smpl_offsets

LAYOUT = "<root>/<SubDataset>/<subject>/<sequence>_poses.npz"
AMASS_TRAIN = (
    "CMU",
    "MPI_Limits",
    "TotalCapture",
    "Eyes_Japan_Dataset",
    "KIT",
    "EKUT",
    "TCD_handMocap",
    "ACCAD",
)
AMASS_VAL = ("HumanEva", "MPI_HDM05", "SFU", "MPI_mosh")
AMASS_TEST = ("BioMotionLab_NTroje",)
# HisRepItself's folder names -> the names of later AMASS downloads (BMLrub is named in the
# issue; the others follow the AMASS download page and are accepted either way).
AMASS_RENAMED = {
    "BioMotionLab_NTroje": "BMLrub",
    "MPI_Limits": "PosePrior",
    "MPI_HDM05": "HDM05",
    "MPI_mosh": "MoSh",
    "TCD_handMocap": "TCDHands",
    "Eyes_Japan_Dataset": "EyesJapanDataset",
}
_ALIASES = {**AMASS_RENAMED, **{new: old for old, new in AMASS_RENAMED.items()}}
# poses widths: body only, SMPL (24 joints), SMPL-H (52), SMPL-X (55); the body is columns 0:66.
POSE_WIDTHS = (66, 72, 156, 165)
BODY_COLUMNS = 66
_HELP = "see README#data"


def smpl_body_joints(pose: torch.Tensor, zero_root: bool = False) -> torch.Tensor:
    """SMPL body forward kinematics (HisRepItself ``ang2joint``) on the template ``p3d0``.

    pose: (..., 66) or (..., 22, 3) axis-angle, root first (AMASS ``poses[..., :66]``).
    zero_root: set the root rotation to 0 first (``poses[:, 0] = 0``).
    Returns (..., 22, 3) joints in metres, pelvis at the origin, in the template frame (Y up,
    facing +z): ``G_i = G_parent @ [R_i | J_i - J_parent]`` (``convention="column"``).
    """
    if pose.shape[-1] == BODY_COLUMNS:
        pose = pose.unflatten(-1, (22, 3))
    if pose.shape[-2:] != (22, 3):
        raise ValueError(f"expected SMPL body pose (..., 66) or (..., 22, 3), got {pose.shape}")
    rotations = axis_angle_to_matrix(pose)
    if zero_root:
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        rotations = torch.cat(
            [eye.expand_as(rotations[..., :1, :, :]), rotations[..., 1:, :, :]], -3
        )
    offsets = torch.as_tensor(smpl_offsets(), dtype=pose.dtype, device=pose.device)
    return forward_kinematics(rotations, offsets, SMPL_BODY_PARENTS, convention="column")


def _decode(f, key: str) -> str:
    """A 0-d string entry stored as str or bytes; "unknown" if absent or not a plain array."""
    try:
        item = f[key].item() if key in f.files else "unknown"
    except ValueError:  # e.g. a pickled object array
        return "unknown"
    return item.decode() if isinstance(item, bytes) else str(item)


def read_amass_npz(path: str | Path) -> dict | None:
    """One AMASS npz -> ``{"poses": (T, 66) float64 body pose, "rate": float, "gender": str}``,
    or None for a file without ``poses`` whose name does not end in ``_poses.npz`` (e.g.
    ``shape.npz``). Errors name the file, the key and what was expected."""
    path = Path(path)
    expected = (
        f"an AMASS sequence npz ({LAYOUT}) with poses (T, 156), trans, betas, mocap_framerate, "
        f"gender ({_HELP})"
    )
    with named_errors(path, "the npz", expected), open_npz(path, expected) as f:

        def numbers(key: str, what: str) -> np.ndarray:
            return numeric(load_npz_entry(f, key, path, expected), f"{path}: key {key!r}", what)

        keys = list(f.files)
        if "poses" not in keys:
            if path.name.endswith("_poses.npz"):
                raise ValueError(f"{path}: key 'poses' missing (found {keys}); expected {expected}")
            return None
        poses = numbers("poses", f"(T, 156) SMPL-H axis-angle ({_HELP})")
        # trans is ignored by the processing, but checked: a NaN there means a broken file
        trans = numbers("trans", "(T, 3) metres") if "trans" in keys else None
        rate_key = next((k for k in ("mocap_framerate", "mocap_frame_rate") if k in keys), None)
        if rate_key is None:
            raise ValueError(
                f"{path}: key 'mocap_framerate' missing (found {keys}); expected the capture "
                f"frame rate in Hz as an AMASS sequence npz has ({_HELP})"
            )
        rate = numbers(rate_key, "a frame rate in Hz")
        if rate.size != 1:
            raise ValueError(
                f"{path}: {rate_key!r} has shape {rate.shape}; expected one frame rate in Hz"
            )
        rate = float(rate.reshape(()))
        gender = _decode(f, "gender")
    if poses.ndim != 2 or poses.shape[1] not in POSE_WIDTHS:
        raise ValueError(
            f"{path}: 'poses' has shape {poses.shape}; expected (T, 156) SMPL-H axis-angle "
            f"(or (T, {POSE_WIDTHS}) columns; the body is the first 66) ({_HELP})"
        )
    check_finite(poses[:, :BODY_COLUMNS], f"{path}: key 'poses'", ("frame", "column"))
    if trans is not None:
        check_finite(trans, f"{path}: key 'trans'", ("frame", "coordinate"))
    if not np.isfinite(rate) or rate <= 0:
        raise ValueError(f"{path}: '{rate_key}' is {rate}; expected a frame rate in Hz")
    return {"poses": poses[:, :BODY_COLUMNS].astype(np.float64), "rate": rate, "gender": gender}


class SubsetWindows(MotionWindows):
    """:class:`MotionWindows` whose samples also carry ``subset``: the sub-dataset index of
    their sequence (``subset_of_sequence`` (N_seq,) long)."""

    def __init__(self, windows: MotionWindows, subset_of_sequence: torch.Tensor):
        super().__init__(windows.frames, windows.starts, windows.action, windows.length)
        self.sequence = windows.sequence
        self.subset = subset_of_sequence[windows.sequence]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {**super().__getitem__(index), "subset": self.subset[index]}

    def __getitems__(self, indices) -> dict[str, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return {**super().__getitems__(indices), "subset": self.subset.index_select(0, idx)}


class AMASSDataModule(MotionDataModule):
    """AMASS 18-joint motion windows (HisRepItself / HG-VAE; see the module docstring).

    Args:
        root: AMASS folder (one folder per sub-dataset); None uses the embedded synthetic set.
        train_datasets, val_datasets, test_datasets: sub-dataset folders of each split (missing
            ones are skipped; renamed ones are found under either name).
        clip_length: frames per window (50).
        stride: frames between training window starts (HisRepItself ``skip_rate`` 5).
        eval_stride: the same for validation and test (None: ``stride``).
        target_fps: the frame step is ``int(mocap_framerate // target_fps)`` (at least 1).
        synthetic_seed: seed of the synthetic set.
        synthetic_into_root, cache_dir, batch_size, eval_batch_size, num_workers, pin_memory:
            see :class:`~motionzoo.data.base.DataModule`.
    """

    skeleton = AMASS_18
    action_names = ()
    cache_name = "amass"
    layout = LAYOUT

    def __init__(
        self,
        root: str | None = None,
        synthetic_into_root: bool = False,
        cache_dir: str | None = None,
        train_datasets: tuple[str, ...] = AMASS_TRAIN,
        val_datasets: tuple[str, ...] = AMASS_VAL,
        test_datasets: tuple[str, ...] = AMASS_TEST,
        clip_length: int = 50,
        stride: int = 5,
        eval_stride: int | None = None,
        target_fps: float = 25.0,
        synthetic_seed: int = 0,
        batch_size: int = 256,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool | None = None,
    ):
        super().__init__(locals())

    def _synthetic_set(self):
        return write_amass_files, {"seed": self.hparams.synthetic_seed}, MOTION_FILES_VERSION

    def dataset_folders(self) -> dict[str, list[Path]]:
        """split -> the sub-dataset folders found (each listed name, or its other name)."""
        h = self.hparams
        splits = {"train": h.train_datasets, "val": h.val_datasets, "test": h.test_datasets}
        found = {}
        for split, names in splits.items():
            found[split] = []
            for name in names:
                for candidate in (name, _ALIASES.get(name)):
                    if candidate and (self.data_dir / candidate).is_dir():
                        found[split].append(self.data_dir / candidate)
                        break
        if not found["train"]:
            present = sorted(p.name for p in self.data_dir.iterdir() if p.is_dir())
            raise FileNotFoundError(
                f"{self.data_dir}: none of the train sub-datasets {tuple(h.train_datasets)} "
                f"found (folders there: {present}); expected {LAYOUT} ({_HELP})"
            )
        return found

    def _input_files(self) -> dict[str, list[Path]]:
        return {
            split: [
                path
                for dataset in folders
                for subject in sorted(p for p in dataset.iterdir() if p.is_dir())
                for path in sorted(subject.glob("*.npz"))
            ]
            for split, folders in self.dataset_folders().items()
        }

    def _options(self) -> dict:
        return {"target_fps": self.hparams.target_fps, "datasets": self._dataset_names()}

    def _dataset_names(self) -> dict[str, list[str]]:
        return {k: [p.name for p in v] for k, v in self.dataset_folders().items()}

    def _read_split(self, split: str, files: list[Path]):
        sequences, names, seconds = [], [], 0.0
        keep = list(AMASS_18_FROM_22)
        for path in files:
            sequence = read_amass_npz(path)
            if sequence is None:
                continue
            step = frame_step(sequence["rate"], self.hparams.target_fps)
            seconds += len(sequence["poses"]) / sequence["rate"]
            pose = torch.from_numpy(sequence["poses"][::step])
            joints = smpl_body_joints(pose, zero_root=True)[:, keep] * 1000
            sequences.append(joints.numpy().astype(np.float32))
            names.append(path.relative_to(self.data_dir).as_posix())
        return sequences, [-1] * len(sequences), names, seconds

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        # the sub-dataset of a sequence is the first folder of its name ("CMU/01/01_01_poses.npz")
        self.subset_names = tuple(
            dict.fromkeys(name.split("/")[0] for s in SPLITS for name in self.sequence_names[s])
        )
        self.label_names = {"subset": self.subset_names}
        for split in SPLITS:
            subset = [self.subset_names.index(n.split("/")[0]) for n in self.sequence_names[split]]
            self.datasets[split] = SubsetWindows(
                self.datasets[split], torch.tensor(subset, dtype=torch.long)
            )
