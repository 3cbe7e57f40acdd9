"""Synthetic Human3.6M frames: the procedural actors drawn as limbs, in the H36M-Toolbox layout.

``write_h36m_image_files`` takes the embedded actors of :mod:`motionzoo.data.synthetic.h36m`
(the same world-metre joints it writes to ``data_3d_h36m.npz``, for the same seed / subjects /
actions / frames / takes), puts them in front of each subject's four real cameras and writes

- ``images/s_%02d_act_%02d_subact_%02d_ca_%02d/<folder>_%06d.jpg``: one jpg per kept frame;
- ``annot/h36m_train.pkl`` (S1, S5, S6, S7, S8) and ``annot/h36m_validation.pkl`` (others):
  one dict per written frame with H36M-Toolbox's keys (:mod:`motionzoo.data.h36m_toolbox`),

so :class:`motionzoo.data.h36m_images.H36MImageDataModule` reads them like the real frames.

Resolution: a frame is the camera's published image (1000 x 1000 or 1000 x 1002 px) scaled by
``s = size / 1000``: ``size`` x ``round(s * res_h)`` px (256 x 256 / 256 x 257 by default; so
the full-frame normalised 2D of a 257-row frame is within 0.002 of VideoPose3D's 1002-row one).
Every pixel quantity of the annotation is in the written image's pixels, i.e. the published
camera's times ``s``: ``joints_2d`` (projection with the radial / tangential distortion, as
VideoPose3D's ``project_to_2d``), ``box`` / ``center`` / ``scale`` (H36M-Toolbox's
``_infer_box``: a 2000 mm square at the pelvis, projected without distortion) and the camera's
``fx, fy, cx, cy``. 3D keys are camera millimetres; the synthetic actors have no separate
"universal" skeleton, so ``joints_3d`` equals ``joints_3d_camera``.

Frames are taken every ``frame_step`` mocap frames (50 Hz); ``image_id`` keeps the mocap frame
number (from 1), as the real files number every video frame. Drawing: each bone of the 17-joint
skeleton is a thick line with round ends whose width is a body-part width in mm divided by the
bone's depth (perspective), painted far to near; the head is a disc. Colours are per subject
(a hue each), the subject's left limbs light, right limbs dark, lower limbs a shade darker than
upper ones, torso and head in the subject's hue. Backgrounds are a per-camera vertical gradient
with a faint seeded texture.
"""

from __future__ import annotations

import colorsys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from motionzoo.data.h36m_toolbox import (
    TOOLBOX_ACTION_IDS,
    TOOLBOX_JOINTS,
    folder_name,
    image_name,
    save_annotations,
)
from motionzoo.data.progress import progress
from motionzoo.data.safe_pickle import load_npz_entry
from motionzoo.data.synthetic.h36m import (
    DEFAULT_FRAMES,
    action_key,
    torch_threads,
    write_h36m_pose_files,
)
from motionzoo.geometry.camera import (
    H36M_SUBJECTS,
    Camera,
    h36m_cameras,
    project,
    world_to_camera,
)
from motionzoo.skeleton import H36M_17, H36M_ACTIONS

SYNTHETIC_IMAGES_VERSION = 1  # bump when the rendered files change
DEFAULT_SIZE = 256
DEFAULT_FRAME_STEP = 5
TRAIN_SUBJECTS = (1, 5, 6, 7, 8)  # generate_labels.py train_list: the rest is "validation"
# Width (mm) of the body part drawn for the bone ending at each joint (H36M_17 order).
BONE_WIDTH_MM = (0, 150, 120, 95, 150, 120, 95, 230, 210, 90, 90, 110, 85, 65, 110, 85, 65)
HEAD_RADIUS_MM = 105.0
_HEAD = H36M_17.index("Head")
_SUBJECT_HUES = {"S1": 0.0, "S5": 0.08, "S6": 0.17, "S7": 0.33, "S8": 0.5, "S9": 0.62, "S11": 0.8}
# Per-camera gradient colours (top, bottom): muted, so every subject's hue stands out.
_BACKGROUNDS = (
    ((150, 156, 166), (92, 86, 80)),
    ((170, 164, 150), (84, 90, 98)),
    ((140, 150, 146), (96, 84, 88)),
    ((160, 154, 162), (88, 94, 84)),
)


def subject_colours(subject: str) -> dict[str, tuple[int, int, int]]:
    """RGB colours of a subject: ``centre`` (torso, head), ``left``, ``right`` and the darker
    ``left_lower`` / ``right_lower`` (forearms, shins)."""
    hue = _SUBJECT_HUES.get(subject, (sum(subject.encode()) * 0.137) % 1.0)

    def rgb(saturation: float, value: float) -> tuple[int, int, int]:
        return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(hue, saturation, value))

    return {
        "centre": rgb(0.85, 0.8),
        "left": rgb(0.45, 1.0),
        "left_lower": rgb(0.55, 0.88),
        "right": rgb(0.9, 0.55),
        "right_lower": rgb(0.95, 0.42),
    }


def _bone_colours(subject: str) -> list[tuple[int, int, int]]:
    """Colour of the bone ending at each joint of H36M_17 (index 0 unused)."""
    colours = subject_colours(subject)
    out = []
    for joint, parent in enumerate(H36M_17.parents):
        side = (
            "left"
            if joint in H36M_17.joints_left
            else "right"
            if joint in H36M_17.joints_right
            else "centre"
        )
        sided = H36M_17.joints_left + H36M_17.joints_right
        lower = parent in sided and H36M_17.parents[parent] in sided  # shins, forearms
        out.append(colours[f"{side}_lower" if lower else side])
    return out


def background(camera_index: int, width: int, height: int) -> np.ndarray:
    """(height, width, 3) uint8 background of camera 0..3: vertical gradient + faint texture."""
    top, bottom = (np.asarray(c, dtype=np.float64) for c in _BACKGROUNDS[camera_index % 4])
    v = np.linspace(0.0, 1.0, height)[:, None, None]
    image = top * (1 - v) + bottom * v
    rng = np.random.default_rng([31, camera_index])
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    phase, freq = rng.uniform(0, 2 * np.pi, 3), rng.uniform(3, 9, 3)
    texture = sum(np.sin(2 * np.pi * f * (x + p * y) + p) for f, p in zip(freq, phase)) * 2
    return np.clip(image + texture[..., None], 0, 255).astype(np.uint8)


def camera_record(camera: Camera, scale: float) -> dict:
    """H36M-Toolbox's ``camera`` dict in the written image's pixels: R (world-to-camera), T
    (camera centre, world mm), fx, fy, cx, cy (times ``scale``), k (3, 1), p (2, 1)."""
    t = torch.tensor(camera.translation, dtype=torch.float64)
    rotation = world_to_camera(t + torch.eye(3, dtype=torch.float64), camera).T  # columns R e_j
    return {
        "R": rotation.numpy(),
        "T": t.numpy().reshape(3, 1),
        "fx": camera.focal[0] * scale,
        "fy": camera.focal[1] * scale,
        "cx": camera.center[0] * scale,
        "cy": camera.center[1] * scale,
        "k": np.asarray(camera.radial, dtype=np.float64).reshape(3, 1),
        "p": np.asarray(camera.tangential, dtype=np.float64).reshape(2, 1),
    }


def toolbox_boxes(joints_camera: np.ndarray, record: dict) -> np.ndarray:
    """H36M-Toolbox ``_infer_box``: (N, 17, 3) camera mm -> (N, 4) x0, y0, x1, y1 pixels of the
    pelvis +-1000 mm (x), -900 / +1100 mm (y) square, projected without distortion."""
    root = joints_camera[:, 0]
    corners = np.stack([root + (-1000.0, -900.0, 0.0), root + (1000.0, 1100.0, 0.0)], axis=1)
    focal, centre = (record["fx"], record["fy"]), (record["cx"], record["cy"])
    pixels = corners[..., :2] / corners[..., 2:] * focal + centre  # (N, 2, 2)
    return pixels.reshape(-1, 4)


def draw_person(
    image: Image.Image, joints: np.ndarray, depth: np.ndarray, focal: float, colours
) -> Image.Image:
    """Draw the 17-joint skeleton (pixels (17, 2), camera depth (17,) mm) onto ``image``:
    bones as round-ended lines ``BONE_WIDTH_MM * focal / depth`` wide, far to near, head disc."""
    draw = ImageDraw.Draw(image)
    parts = [(0.5 * (depth[j] + depth[p]), j, p) for j, p in enumerate(H36M_17.parents) if p >= 0]
    parts.append((float(depth[_HEAD]) + 1.0, _HEAD, -1))  # the head disc just behind its bone
    for z, joint, parent in sorted(parts, reverse=True):
        colour = colours[joint]
        if parent < 0:
            r = HEAD_RADIUS_MM * focal / z
            x, y = joints[joint]
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
            continue
        width = max(1.0, BONE_WIDTH_MM[joint] * focal / z)
        a, b = tuple(joints[joint]), tuple(joints[parent])
        draw.line([a, b], fill=colour, width=round(width))
        r = width / 2
        for x, y in (a, b):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    return image


def _world_takes(out: Path, seed, subjects, actions, frames, takes) -> dict:
    """positions_3d[subject][action key] (T, 32, 3) world metres of the embedded actors."""
    write_h36m_pose_files(
        out, seed=seed, subjects=subjects, frames=frames, takes=takes, noisy_detections=False,
        actions=actions,
    )  # fmt: skip
    path = out / "data_3d_h36m.npz"
    with np.load(path, allow_pickle=False) as f:
        return load_npz_entry(f, "positions_3d", path, "the synthetic 3D poses").item()


def write_h36m_image_files(
    out_dir: str | Path,
    seed: int = 0,
    subjects: Sequence[str] = H36M_SUBJECTS,
    actions: Sequence[str] = H36M_ACTIONS,
    frames: int = DEFAULT_FRAMES,
    takes: int = 2,
    frame_step: int = DEFAULT_FRAME_STEP,
    size: int = DEFAULT_SIZE,
    quality: int = 90,
) -> dict[str, Path]:
    """Render the synthetic actors into ``out_dir`` in the H36M-Toolbox layout.

    Args:
        out_dir: destination (``images/`` and ``annot/`` are created in it).
        seed, subjects, actions, frames, takes: the actors, as :func:`write_h36m_pose_files`
            (take t is subaction t + 1, so at most 2 takes).
        frame_step: keep every n-th mocap frame (frame numbers keep counting every frame).
        size: width of the written frames in pixels (the published 1000 px scaled).
        quality: JPEG quality.

    Returns:
        ``{"images": <out>/images, "h36m_train": <pkl>, "h36m_validation": <pkl>}``; the
        annotation files are written last, each atomically.
    """
    if not 1 <= takes <= 2:
        raise ValueError(f"takes={takes}: Human3.6M has subactions 1 and 2, so 1 or 2 takes")
    if frame_step < 1 or size < 16:
        raise ValueError(f"frame_step must be >= 1 and size >= 16; got {frame_step}, {size}")
    unknown = sorted(set(actions) - set(TOOLBOX_ACTION_IDS))
    if unknown:
        raise ValueError(f"unknown actions {unknown}; expected names from {H36M_ACTIONS}")
    out_dir = Path(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        positions = _world_takes(Path(tmp), seed, subjects, actions, frames, takes)
    records: dict[str, list[dict]] = {"h36m_train": [], "h36m_validation": []}
    backgrounds: dict[tuple[int, int, int], Image.Image] = {}
    video = 0
    with torch_threads(1):
        for subject in progress(subjects, "subjects"):
            number = int(subject.lstrip("S"))
            colours = _bone_colours(subject)
            split = "h36m_train" if number in TRAIN_SUBJECTS else "h36m_validation"
            for action in actions:
                for take in range(takes):
                    world = positions[subject][action_key(action, take)].astype(np.float64) * 1000
                    world = torch.from_numpy(world[::frame_step][:, list(TOOLBOX_JOINTS)])
                    for index, camera in enumerate(h36m_cameras(subject)):
                        ids = (number, TOOLBOX_ACTION_IDS[action], take + 1, index + 1)
                        records[split] += _render_video(
                            out_dir, world, camera, index, ids, video, frame_step, size,
                            quality, colours, backgrounds,
                        )  # fmt: skip
                        video += 1
    paths = {"images": out_dir / "images"}
    for name, frames_ in records.items():
        paths[name] = save_annotations(out_dir / "annot" / f"{name}.pkl", frames_)
    return paths


def _render_video(
    out_dir, world, camera, index, ids, video, frame_step, size, quality, colours, backgrounds
) -> list[dict]:
    """Write the frames of one camera's video of a take; their annotation records."""
    scale = size / camera.res_w
    width, height = size, round(camera.res_h * scale)
    key = (index, width, height)
    if key not in backgrounds:
        backgrounds[key] = Image.fromarray(background(index, width, height))
    joints_camera = world_to_camera(world, camera)  # (T, 17, 3) mm
    joints_2d = (project(joints_camera, camera, distort=True) * scale).numpy()
    joints_camera = joints_camera.numpy()
    record = camera_record(camera, scale)
    boxes = toolbox_boxes(joints_camera, record)
    focal = 0.5 * (record["fx"] + record["fy"])
    folder = folder_name(*ids)
    (out_dir / "images" / folder).mkdir(parents=True, exist_ok=True)
    frames = []
    for i, (pixels, points, box) in enumerate(zip(joints_2d, joints_camera, boxes)):
        frame_id = i * frame_step + 1
        name = image_name(folder, frame_id)
        image = draw_person(backgrounds[key].copy(), pixels, points[:, 2], focal, colours)
        image.save(out_dir / "images" / name, quality=quality)
        x0, y0, x1, y1 = box
        frames.append({
            "image": name,
            "joints_2d": pixels,
            "joints_3d": points,
            "joints_3d_camera": points,
            "joints_vis": np.ones((17, 3)),
            "video_id": video,
            "image_id": frame_id,
            "subject": ids[0],
            "action": ids[1],
            "subaction": ids[2],
            "camera_id": index,
            "source": "h36m",
            "camera": record,
            "center": (0.5 * (x0 + x1), 0.5 * (y0 + y1)),
            "scale": ((x1 - x0) / 200.0, (y1 - y0) / 200.0),
            "box": box,
        })  # fmt: skip
    return frames
