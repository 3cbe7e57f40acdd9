"""Pictures of 3D skeletons for TensorBoard: predicted vs true poses, side by side.

Rendering uses matplotlib's Agg backend (no display); the result is an (H, W, 3) uint8 array that
``SummaryWriter.add_image(..., dataformats="HWC")`` takes directly.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from mpl_toolkits.mplot3d.art3d import Line3DCollection  # noqa: E402

from motionzoo.skeleton import Skeleton  # noqa: E402
from motionzoo.viz.callback import ValidationPictureCallback  # noqa: E402

LEFT, RIGHT, CENTRE = "#1f77b4", "#d62728", "#444444"


def bone_colours(skeleton: Skeleton) -> list[str]:
    left, right = set(skeleton.joints_left), set(skeleton.joints_right)
    return [LEFT if c in left else RIGHT if c in right else CENTRE for c, _ in skeleton.edges]


def figure_to_array(fig: plt.Figure) -> np.ndarray:
    """Rasterise a matplotlib figure to (H, W, 3) uint8 and close it."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return image


def render_poses(
    poses: np.ndarray | torch.Tensor,
    skeleton: Skeleton,
    reference: np.ndarray | torch.Tensor | None = None,
    titles: list[str] | None = None,
    size: float = 3.0,
    camera_frame: bool = True,
) -> np.ndarray:
    """Draw N 3D poses in a row; ``reference`` (same shape) is drawn dashed grey underneath.

    poses: (N, J, 3) mm. ``camera_frame`` poses have y pointing down and z forward (camera
    coordinates), and are drawn upright. The axes are in mm with ticks, named after the data's
    coordinates.
    Returns an (H, W, 3) uint8 image.
    """
    poses = np.asarray(torch.as_tensor(poses).detach().float().cpu())
    if reference is not None:
        reference = np.asarray(torch.as_tensor(reference).detach().float().cpu())
    n = len(poses)
    fig = plt.figure(figsize=(size * n, size), dpi=100)
    child, parent = np.array(skeleton.edges).T
    colours = bone_colours(skeleton)

    def to_plot(p: np.ndarray) -> np.ndarray:
        # camera (x right, y down, z forward) -> plot (x, depth, up)
        return np.stack([p[..., 0], p[..., 2], -p[..., 1]], -1) if camera_frame else p

    axis_names = (
        ("x mm", "z mm (depth)", "-y mm (up)") if camera_frame else ("x mm", "y mm", "z mm")
    )
    span = np.abs(np.concatenate([poses, reference]) if reference is not None else poses).max()
    span = max(float(span), 1.0)
    for i in range(n):
        ax = fig.add_subplot(1, n, i + 1, projection="3d")
        if reference is not None:
            ref = to_plot(reference[i])
            segments = np.stack([ref[child], ref[parent]], 1)
            ax.add_collection3d(Line3DCollection(segments, colors="#999999", linestyles="dashed"))
        pose = to_plot(poses[i])
        ax.add_collection3d(
            Line3DCollection(np.stack([pose[child], pose[parent]], 1), colors=colours, linewidths=2)
        )
        ax.set(xlim=(-span, span), ylim=(-span, span), zlim=(-span, span))
        ax.set_box_aspect((1, 1, 1))
        ax.view_init(elev=15, azim=-70)
        for axis, name in zip((ax.xaxis, ax.yaxis, ax.zaxis), axis_names):
            axis.set_major_locator(MaxNLocator(4, symmetric=True))
            axis.set_tick_params(labelsize=6, pad=0)
            axis.set_label_text(name, fontsize=7)
            axis.labelpad = -6
        if titles:
            ax.set_title(titles[i], fontsize=8)
    fig.tight_layout()
    return figure_to_array(fig)


class LiftingSkeletonCallback(ValidationPictureCallback):
    """Each validation epoch, draws the lifter's predictions (solid, coloured by side) over the
    ground truth (dashed grey) for ``num_samples`` poses spread evenly over the validation set
    (so several actions appear), as the TensorBoard image ``val/skeletons``.

    The skeleton comes from the DataModule's ``skeleton`` attribute.
    """

    def __init__(self, num_samples: int = 6):
        super().__init__(num_samples)

    def draw(self, trainer, pl_module, batch, skeleton, writer) -> None:
        with torch.no_grad():
            pred = pl_module(batch["pose2d"].to(pl_module.device))
        names = getattr(pl_module, "action_names", ())
        titles = [names[a] if 0 <= a < len(names) else "" for a in batch["action"].tolist()]
        image = render_poses(pred, skeleton, reference=batch["pose3d"], titles=titles)
        writer.add_image("val/skeletons", image, trainer.global_step, dataformats="HWC")
