"""Skeleton pictures: the image has one panel per pose and draws both sides' colours."""

from __future__ import annotations

import numpy as np
import torch

from motionzoo.models.linear import LinearLifter
from motionzoo.skeleton import H36M_17
from motionzoo.trainer import make_trainer
from motionzoo.viz.skeleton import LiftingSkeletonCallback, render_poses


def _has_colour(image: np.ndarray, rgb: str) -> bool:
    target = np.array([int(rgb[i : i + 2], 16) for i in (1, 3, 5)])
    return bool((np.abs(image.astype(int) - target).sum(-1) < 30).any())


def test_render_poses_panels_and_side_colours():
    poses = torch.randn(3, 17, 3) * 300
    one = render_poses(poses[:1], H36M_17)
    three = render_poses(poses, H36M_17, reference=poses * 0.8, titles=["a", "b", "c"])
    assert one.dtype == np.uint8 and one.shape[2] == 3
    assert three.shape[0] == one.shape[0] and three.shape[1] == 3 * one.shape[1]
    assert _has_colour(three, "#1f77b4") and _has_colour(three, "#d62728")


def test_3d_axes_are_in_mm_with_ticks(monkeypatch):
    import motionzoo.viz.skeleton as skeleton_viz

    figures = []
    draw = skeleton_viz.figure_to_array
    monkeypatch.setattr(
        skeleton_viz, "figure_to_array", lambda fig: (figures.append(fig), draw(fig))[1]
    )
    render_poses(torch.randn(2, 17, 3) * 300, H36M_17)
    (fig,) = figures
    assert len(fig.axes) == 2
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis, ax.zaxis):
            labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
            assert len(labels) >= 3, "ticks with numbers on every axis"
            assert "mm" in axis.get_label_text()
        assert "up" in ax.zaxis.get_label_text()


def test_callback_logs_spread_validation_samples(tiny_lifting_data, tmp_path, monkeypatch):
    trainer = make_trainer(
        save_dir=str(tmp_path),
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        callbacks=[callback := LiftingSkeletonCallback(num_samples=4)],
    )
    images = []
    monkeypatch.setattr(
        trainer.logger.experiment,
        "add_image",
        lambda tag, image, *a, **k: images.append((tag, image.shape)),
    )
    trainer.fit(LinearLifter(width=32), datamodule=tiny_lifting_data)
    assert [tag for tag, _ in images] == ["val/skeletons"]
    assert images[0][1][2] == 3
    batch = callback._samples(trainer)
    assert len(batch["pose2d"]) == 4
    assert len(set(batch["action"].tolist())) > 1, "samples should span several actions"
