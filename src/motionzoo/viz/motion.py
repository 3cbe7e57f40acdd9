"""Motion as a strip of poses over time (HG-VAE paper, Figure 1): every ``every``-th frame of a
window drawn side by side, each pose shifted along the horizontal axis, bones coloured by side;
an optional reference (ground truth) is drawn dotted grey underneath.

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
from motionzoo.skeleton import Skeleton  # noqa: E402
from motionzoo.viz.callback import ValidationPictureCallback  # noqa: E402
from motionzoo.viz.skeleton import bone_colours, figure_to_array  # noqa: E402

_AXES = {"x": 0, "y": 1, "z": 2}


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
    poses = [_project(motion[frames], up, azimuth)]
    if reference is not None:
        reference = np.asarray(torch.as_tensor(reference).detach().float().cpu())
        if reference.shape != motion.shape:
            raise ValueError(f"reference {reference.shape} must match motion {motion.shape}")
        poses.append(_project(reference[frames], up, azimuth))
    everything = np.concatenate(poses)
    low, high = everything.min((0, 1)), everything.max((0, 1))
    spacing = 1.15 * max(float(high[0] - low[0]), 1e-6)
    shift = np.stack([frames / every * spacing, np.zeros(len(frames))], -1)[:, None, :]

    extent = (spacing * len(frames), float(high[1] - low[1]) * 1.1 + 1e-6)
    height = size * (1.8 if title else 1.6)
    width = float(np.clip(size * 1.6 * extent[0] / extent[1], size, 4 * size * len(frames)))
    fig, ax = plt.subplots(figsize=(width, height), dpi=80)
    child, parent = np.array(skeleton.edges).T

    def segments(p: np.ndarray) -> np.ndarray:  # (K, J, 2) -> (K * E, 2, 2)
        p = p + shift
        return np.stack([p[:, child], p[:, parent]], 2).reshape(-1, 2, 2)

    if reference is not None:
        ax.add_collection(
            LineCollection(
                segments(poses[1]), colors="#888888", linestyles="dotted", linewidths=1.5
            )
        )
    colours = bone_colours(skeleton) * len(frames)
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


class MotionStripCallback(ValidationPictureCallback):
    """Each validation epoch, draws ``num_samples`` validation windows spread evenly over the set
    (so several actions appear) as strips of poses, stacked into one TensorBoard image ``tag``.

    If the model has a method named ``method`` (default ``"reconstruct"``) taking motion
    (B, T, J, 3) and returning motion of that shape (or a dict with key ``"motion"``), its output
    (in eval mode, without gradients) is drawn solid over the ground truth dotted; otherwise the
    ground truth is drawn. The
    skeleton comes from the DataModule's ``skeleton`` attribute.
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
        names = getattr(trainer.datamodule, "action_names", ())
        strips = []
        for i, motion in enumerate(truth):
            label = int(batch["action"][i]) if "action" in batch else -1
            strips.append(
                render_motion_strip(
                    motion,
                    skeleton,
                    reference=None if reference is None else reference[i],
                    every=self.every,
                    title=names[label] if 0 <= label < len(names) else None,
                )
            )
        image = stack_strips(strips)
        writer.add_image(self.tag, image, trainer.global_step, dataformats="HWC")
