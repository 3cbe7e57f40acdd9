"""Synthetic Human3.6M in the published VideoPose3D files.

``write_h36m_pose_files`` writes the procedural actors of :mod:`.motion` exactly as
VideoPose3D's ``prepare_data_h36m.py`` writes the real dataset (``shared/reference/datasets.md``
section 1b), so the real loader reads them through its one code path:

- ``data_3d_h36m.npz``: ``positions_3d[subject][action]`` float32 (T, 32, 3), world metres;
- ``data_2d_h36m_gt.npz``: ``positions_2d[subject][action]`` = list of 4 float32 (T, 17, 2)
  pixel arrays, one per camera index, projected with the subject's real cameras (distortion
  included), and ``metadata`` without ``layout_name``, like the published GT file;
- ``data_2d_h36m_synthetic_det.npz`` (optional): a detection-style file, GT plus seeded
  Gaussian pixel noise and a few extra frames at the end (detections may outlast the mocap),
  with ``metadata['layout_name'] = 'h36m'``.

Action keys follow the published file: take 0 is ``'Walking'``, take 1 ``'Walking 1'``, ...
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from motionzoo.data.cache import atomic_write
from motionzoo.data.progress import progress
from motionzoo.data.synthetic.motion import generate_sequence
from motionzoo.geometry.camera import H36M_SUBJECTS, h36m_cameras, project, world_to_camera
from motionzoo.skeleton import H36M_17, H36M_ACTIONS

SYNTHETIC_VERSION = 1  # bump when the generator's output changes
DEFAULT_FRAMES = 100
DETECTION_NAME = "synthetic_det"
KEYPOINTS_SYMMETRY = [list(H36M_17.joints_left), list(H36M_17.joints_right)]


def action_key(action: str, take: int) -> str:
    """The published key of a take: ``'Walking'``, ``'Walking 1'``, ``'Walking 2'``, ..."""
    return action if take == 0 else f"{action} {take}"


def project_to_cameras(positions_mm: np.ndarray, subject: str) -> list[np.ndarray]:
    """World joints (T, 32, 3) mm -> 4 float32 (T, 17, 2) pixel arrays with the subject's real
    cameras (VideoPose3D GT 2D: project_to_2d(world_to_camera(X)) in image coordinates)."""
    joints = torch.from_numpy(np.asarray(positions_mm, dtype=np.float64)[:, H36M_17.from_32])
    return [
        project(world_to_camera(joints, camera), camera, distort=True).numpy().astype(np.float32)
        for camera in h36m_cameras(subject)
    ]


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op torch threads, then restore the setting. Generation and
    preprocessing run thousands of small float64 ops, for which extra threads only add
    synchronisation (10x slower on a busy 2-core machine)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _save(path: Path, **objects) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **objects)

    return atomic_write(path, write)


def _take(subject, action, take, seed, frames, noisy_detections, noise_px):
    """One take: float32 world metres (T, 32, 3), 4 GT pixel views, 4 detection views | None."""
    rng = np.random.default_rng([seed, 7, H36M_ACTIONS.index(action), take, *subject.encode()])
    length = frames + int(rng.integers(0, frames // 10 + 1))
    sequence = generate_sequence(action, subject, take, length, seed)
    metres = (sequence["positions"] / 1000).astype(np.float32)
    # 2D from the stored (float32) 3D, as VideoPose3D derives its GT 2D.
    views = project_to_cameras(metres.astype(np.float64) * 1000, subject)
    if not noisy_detections:
        return metres, views, None
    extra = int(rng.integers(1, 6))  # detections may run past the mocap
    detected = [
        (
            np.concatenate([v, np.repeat(v[-1:], extra, axis=0)])
            + rng.normal(0, noise_px, size=(len(v) + extra, 17, 2))
        ).astype(np.float32)
        for v in views
    ]
    return metres, views, detected


def write_h36m_pose_files(
    out_dir: str | Path,
    seed: int = 0,
    subjects: Sequence[str] = H36M_SUBJECTS,
    frames: int = DEFAULT_FRAMES,
    takes: int = 2,
    noisy_detections: bool = True,
    actions: Sequence[str] = H36M_ACTIONS,
    noise_px: float = 5.0,
) -> dict[str, Path]:
    """Write the synthetic VideoPose3D files into ``out_dir`` (each file atomically).

    Args:
        out_dir: destination folder (created).
        seed: dataset seed; the files are a pure function of the arguments.
        subjects: subjects with published cameras (``H36M_SUBJECTS``).
        frames: base length of a take at 50 Hz; each take is ``frames`` plus up to 10 % more
            (seeded), so sequences differ in length as in the real files.
        takes: takes per (subject, action).
        noisy_detections: also write ``data_2d_h36m_synthetic_det.npz``.
        actions: canonical action names to write.
        noise_px: standard deviation of the detection noise in pixels.

    Returns:
        file stem -> path, e.g. ``{"data_3d_h36m": ..., "data_2d_h36m_gt": ...,
        "data_2d_h36m_synthetic_det": ...}``.
    """
    out_dir = Path(out_dir)
    positions_3d: dict[str, dict[str, np.ndarray]] = {s: {} for s in subjects}
    positions_2d: dict[str, dict[str, list[np.ndarray]]] = {s: {} for s in subjects}
    detections: dict[str, dict[str, list[np.ndarray]]] = {s: {} for s in subjects}
    with torch_threads(1):
        for subject in progress(subjects, "subjects"):
            for action in actions:
                for take in range(takes):
                    key = action_key(action, take)
                    metres, views, detected = _take(
                        subject, action, take, seed, frames, noisy_detections, noise_px
                    )
                    positions_3d[subject][key], positions_2d[subject][key] = metres, views
                    if detected is not None:
                        detections[subject][key] = detected

    metadata = {"num_joints": 17, "keypoints_symmetry": KEYPOINTS_SYMMETRY}
    paths = {
        "data_3d_h36m": _save(out_dir / "data_3d_h36m.npz", positions_3d=positions_3d),
        "data_2d_h36m_gt": _save(
            out_dir / "data_2d_h36m_gt.npz", positions_2d=positions_2d, metadata=metadata
        ),
    }
    if noisy_detections:
        name = f"data_2d_h36m_{DETECTION_NAME}"
        paths[name] = _save(
            out_dir / f"{name}.npz",
            positions_2d=detections,
            metadata={"layout_name": "h36m", **metadata},
        )
    return paths
