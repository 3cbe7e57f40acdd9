"""Motion as a strip of poses over time (HG-VAE paper, Figure 1): every ``every``-th frame of a
window drawn side by side, each pose shifted along the horizontal axis, bones coloured by side;
an optional reference (ground truth) is drawn dotted grey underneath.

The 22-joint Human3.6M and 18-joint AMASS layouts leave out the pelvis, hips and lower spine
(their positions are fixed once the global motion is removed), so their legs would float apart
from the torso. :func:`complete_body` draws the whole body, as HisRepItself's visualisation does:
the left-out joints at their fixed positions (the root at the origin, the hips and lower spine at
their rest offsets from it; ``zero_global`` / ``zero_root`` in the DataModules make these exact)
and the duplicated joints of the 32-joint layout at the joint they duplicate.

Poses are projected orthographically: the ``up`` axis is vertical and the horizontal axis is the
ground plane seen from ``azimuth`` degrees (0 = straight from the front for Y-up data facing +z,
as both motion DataModules give). Rendering uses matplotlib's Agg backend; the result is an
(H, W, 3) uint8 array for ``SummaryWriter.add_image(..., dataformats="HWC")``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from motionzoo.nn.modes import eval_mode  # noqa: E402
from motionzoo.skeleton import (  # noqa: E402
    AMASS_18,
    AMASS_18_FROM_22,
    AMASS_22,
    H36M_22,
    H36M_32,
    Skeleton,
    h36m_offsets,
    smpl_template,
)
from motionzoo.viz.callback import ValidationPictureCallback  # noqa: E402
from motionzoo.viz.skeleton import bone_colours, figure_to_array  # noqa: E402

_AXES = {"x": 0, "y": 1, "z": 2}


def _rest_positions(skeleton: Skeleton) -> np.ndarray:
    """(J, 3) mm joint positions of a skeleton with bone ``offsets`` at rest (parents first)."""
    offsets, rest = h36m_offsets(skeleton), np.zeros((skeleton.num_joints, 3))
    for joint, parent in enumerate(skeleton.parents):  # 32 joints once, at import
        rest[joint] = offsets[joint] + (rest[parent] if parent >= 0 else 0.0)
    return rest


# Model layout -> (drawn layout, drawn joint of each model joint, fixed positions (mm) of the
# left-out joints, (left-out joint, drawn joint it duplicates)): HisRepItself's ``joint_equal``.
_BODIES = {
    H36M_22.name: (
        H36M_32,
        H36M_22.from_32,
        {j: _rest_positions(H36M_32)[j] for j in (0, 1, 6, 11)},
        ((16, 13), (20, 19), (23, 22), (24, 13), (28, 27), (31, 30)),
    ),
    AMASS_18.name: (
        AMASS_22,
        AMASS_18_FROM_22,
        {j: smpl_template("mm")[j] for j in (0, 1, 2, 3)},
        (),
    ),
}


def complete_body(motion: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, Skeleton]:
    """motion (..., J, 3) mm of ``skeleton`` -> (motion (..., J', 3), the drawn skeleton): for
    ``H36M_22`` / ``AMASS_18`` the full 32 / 22-joint body with the left-out joints filled in (see
    the module docstring), so the legs hang from the hips; other layouts are returned as they are.
    """
    if skeleton.name not in _BODIES:
        return motion, skeleton
    full, kept, fixed, copies = _BODIES[skeleton.name]
    # one gather from [model joints, fixed joints]: the index of every drawn joint in that list
    source = np.zeros(full.num_joints, dtype=np.int64)
    source[list(kept)] = np.arange(len(kept))
    source[list(fixed)] = len(kept) + np.arange(len(fixed))
    for joint, same in copies:
        source[joint] = source[same]
    constants = np.broadcast_to(np.stack(list(fixed.values())), (*motion.shape[:-2], len(fixed), 3))
    return np.concatenate([motion, constants], -2)[..., source, :], full


def _project(motion: np.ndarray, up: str, azimuth: float) -> np.ndarray:
    """(..., 3) -> (..., 2) (horizontal, vertical)."""
    vertical = _AXES[up]
    a, b = [i for i in range(3) if i != vertical]  # ground plane: (x, z) for Y up, (x, y) for Z up
    theta = np.radians(azimuth)
    horizontal = motion[..., a] * np.cos(theta) + motion[..., b] * np.sin(theta)
    return np.stack([horizontal, motion[..., vertical]], -1)


def render_motion_strip(
    motion: np.ndarray | torch.Tensor,
    skeleton: Skeleton,
    reference: np.ndarray | torch.Tensor | None = None,
    every: int = 5,
    up: str = "y",
    azimuth: float = 30.0,
    title: str | None = None,
    size: float = 1.5,
) -> np.ndarray:
    """Draw a motion as poses side by side over time.

    Args:
        motion: (T, J, 3), e.g. mm; frames 0, every, 2 * every, ... are drawn.
        skeleton: the layout of J (``H36M_22``, ``AMASS_18``, ...); bones are its edges.
        reference: optional (T, J, 3) ground truth, drawn dotted grey under the same shift.
        every: frame step between drawn poses.
        up: the vertical axis of the data (``"y"`` for both motion datasets).
        azimuth: viewing angle about the vertical axis, degrees.
        title: optional text above the strip.
        size: inches per drawn pose (width) and strip height.

    Returns:
        (H, W, 3) uint8; the height depends only on ``size`` and ``title``, the width on the
        number of drawn poses and their spread.
    """
    motion = np.asarray(torch.as_tensor(motion).detach().float().cpu())
    if motion.ndim != 3 or motion.shape[1:] != (skeleton.num_joints, 3):
        raise ValueError(
            f"motion must be (T, {skeleton.num_joints}, 3) for {skeleton.name}, got {motion.shape}"
        )
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    frames = np.arange(0, len(motion), every)
    drawn, body = complete_body(motion[frames], skeleton)
    poses = [_project(drawn, up, azimuth)]
    if reference is not None:
        reference = np.asarray(torch.as_tensor(reference).detach().float().cpu())
        if reference.shape != motion.shape:
            raise ValueError(f"reference {reference.shape} must match motion {motion.shape}")
        poses.append(_project(complete_body(reference[frames], skeleton)[0], up, azimuth))
    everything = np.concatenate(poses)
    low, high = everything.min((0, 1)), everything.max((0, 1))
    spacing = 1.15 * max(float(high[0] - low[0]), 1e-6)
    shift = np.stack([frames / every * spacing, np.zeros(len(frames))], -1)[:, None, :]

    extent = (spacing * len(frames), float(high[1] - low[1]) * 1.1 + 1e-6)
    height = size * (1.8 if title else 1.6)
    width = float(np.clip(size * 1.6 * extent[0] / extent[1], size, 4 * size * len(frames)))
    fig, ax = plt.subplots(figsize=(width, height), dpi=80)
    child, parent = np.array(body.edges).T

    def segments(p: np.ndarray) -> np.ndarray:  # (K, J, 2) -> (K * E, 2, 2)
        p = p + shift
        return np.stack([p[:, child], p[:, parent]], 2).reshape(-1, 2, 2)

    if reference is not None:
        ax.add_collection(
            LineCollection(
                segments(poses[1]), colors="#888888", linestyles="dotted", linewidths=1.5
            )
        )
    colours = bone_colours(body) * len(frames)
    ax.add_collection(LineCollection(segments(poses[0]), colors=colours, linewidths=1.8))
    margin = 0.05 * spacing
    ax.set_xlim(low[0] - margin, low[0] + spacing * len(frames))
    ax.set_ylim(low[1] - margin, high[1] + margin)
    ax.set_aspect("equal", adjustable="box")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=8)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.9 if title else 0.98)
    return figure_to_array(fig)


def stack_strips(strips: list[np.ndarray]) -> np.ndarray:
    """Stack (H_i, W_i, 3) images vertically, padding each on the right with white."""
    width = max(s.shape[1] for s in strips)
    padded = [
        np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips
    ]
    return np.concatenate(padded)


def tile_strips(strips: list[np.ndarray], aspect: float = 1.5) -> np.ndarray:
    """Strips in columns (filled top to bottom, then left to right), the number of columns chosen
    so that the picture's width / height is closest to ``aspect`` (a long list of strips becomes
    a page, not a ribbon)."""
    height, width = max(s.shape[0] for s in strips), max(s.shape[1] for s in strips)

    def mismatch(columns: int) -> float:
        rows = -(-len(strips) // columns)
        return abs(np.log(columns * width / (rows * height) / aspect))

    columns = min(range(1, len(strips) + 1), key=mismatch)
    rows = -(-len(strips) // columns)
    blank = np.full((height, width, 3), 255, np.uint8)
    cells = [stack_strips([s, blank[: height - s.shape[0]]]) for s in strips]
    cells += [blank] * (rows * columns - len(cells))
    return np.concatenate(
        [np.concatenate(cells[c * rows : (c + 1) * rows]) for c in range(columns)], 1
    )


def sample_labels(datamodule, batch: dict) -> list[str]:
    """What each sample of ``batch`` is, in words: its action name when known, else the names
    of the DataModule's ``label_names`` keys present in the batch (e.g. AMASS's ``subset``),
    else "sample i"."""
    n = len(batch["motion"])
    names = {"action": getattr(datamodule, "action_names", ())}
    names.update(getattr(datamodule, "label_names", {}))
    words = [[] for _ in range(n)]
    for key, values in names.items():
        if key in batch:
            for i, label in enumerate(batch[key].tolist()):
                if 0 <= label < len(values):
                    words[i].append(values[label])
    return [" / ".join(w) if w else f"sample {i + 1}" for i, w in enumerate(words)]


class MotionStripCallback(ValidationPictureCallback):
    """Each validation epoch, draws ``num_samples`` validation windows spread evenly over the set
    (so several actions appear) as strips of poses, stacked into one TensorBoard image ``tag``.

    If the model has a method named ``method`` (default ``"reconstruct"``) taking motion
    (B, T, J, 3) and returning motion of that shape (or a dict with key ``"motion"``), its output
    (in eval mode, without gradients) is drawn solid over the ground truth dotted; otherwise the
    ground truth is drawn. Each strip's title says what it shows and which sample it is
    (:func:`sample_labels`). The skeleton comes from the DataModule's ``skeleton`` attribute.
    """

    def __init__(
        self,
        num_samples: int = 3,
        every: int = 5,
        method: str | None = "reconstruct",
        tag: str = "val/motion",
    ):
        super().__init__(num_samples)
        self.every, self.method, self.tag = every, method, tag

    def draw(self, trainer, pl_module, batch, skeleton, writer) -> None:
        truth, reference = batch["motion"], None
        predict = getattr(pl_module, self.method, None) if self.method else None
        if callable(predict):
            with eval_mode(pl_module):
                out = predict(truth.to(pl_module.device))
            truth, reference = (out["motion"] if isinstance(out, dict) else out), truth
        what = (
            f"model.{self.method} (colour) over the input (dotted grey)"
            if reference is not None
            else "validation motion"
        )
        labels = sample_labels(trainer.datamodule, batch)
        strips = [
            render_motion_strip(
                motion,
                skeleton,
                reference=None if reference is None else reference[i],
                every=self.every,
                title=f"{labels[i]}: {what}, every {self.every}th frame",
            )
            for i, motion in enumerate(truth)
        ]
        image = stack_strips(strips)
        writer.add_image(self.tag, image, trainer.global_step, dataformats="HWC")
