"""Motion strips: one pose per drawn frame side by side, sides coloured, reference dotted."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from motionzoo.data.amass import AMASSDataModule
from motionzoo.data.synthetic.motion_files import write_amass_files
from motionzoo.skeleton import AMASS_18, H36M_22
from motionzoo.trainer import make_trainer
from motionzoo.viz.motion import MotionStripCallback, render_motion_strip, stack_strips

LEFT, RIGHT, GREY = "#1f77b4", "#d62728", "#888888"


def _count_colour(image: np.ndarray, rgb: str) -> int:
    target = np.array([int(rgb[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image.astype(int) - target).sum(-1) < 30).sum())


def _has_colour(image: np.ndarray, rgb: str) -> bool:
    return _count_colour(image, rgb) > 0


def _motion(skeleton, frames=20, seed=0) -> torch.Tensor:
    """A skeleton-shaped motion: random joints spread like a body, drifting slowly."""
    g = torch.Generator().manual_seed(seed)
    pose = torch.randn(skeleton.num_joints, 3, generator=g) * torch.tensor([150.0, 500.0, 100.0])
    return pose + torch.linspace(0, 1, frames)[:, None, None] * torch.randn(1, 1, 3, generator=g)


def _columns_with_ink(image: np.ndarray) -> np.ndarray:
    ink = (image < 200).any(-1).any(0)
    return np.flatnonzero(np.diff(ink.astype(int)) == 1)  # left edges of inked column runs


def test_strip_draws_every_kth_frame_side_by_side():
    motion = _motion(H36M_22, frames=20)
    every5 = render_motion_strip(motion, H36M_22, every=5)
    every2 = render_motion_strip(motion, H36M_22, every=2)
    assert every5.dtype == np.uint8 and every5.ndim == 3 and every5.shape[2] == 3
    assert every2.shape[0] == every5.shape[0] and every2.shape[1] > 2 * every5.shape[1]
    assert _has_colour(every5, LEFT) and _has_colour(every5, RIGHT)
    # four separate poses (frames 0, 5, 10, 15): four blocks of ink
    assert len(_columns_with_ink(every5)) >= 4


def test_reference_is_drawn_dotted_grey_and_shapes_are_checked():
    motion = _motion(AMASS_18)
    image = render_motion_strip(motion, AMASS_18, reference=motion + 60.0, title="walk")
    alone = render_motion_strip(motion, AMASS_18, title="walk")
    assert _count_colour(image, GREY) > 3 * _count_colour(alone, GREY) + 20
    with pytest.raises(ValueError, match=r"\(T, 18, 3\) for amass_18"):
        render_motion_strip(motion[:, :17], AMASS_18)
    with pytest.raises(ValueError, match="reference"):
        render_motion_strip(motion, AMASS_18, reference=motion[:10])
    stacked = stack_strips([image, image[:, :100]])
    assert stacked.shape == (2 * image.shape[0], image.shape[1], 3)
    assert (stacked[image.shape[0] :, 100:] == 255).all(), "narrow strips are padded white"


class _Reconstructor(pl.LightningModule):
    """A model with ``reconstruct``: the callback draws its output over the ground truth."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def reconstruct(self, motion):
        return motion * self.scale

    def training_step(self, batch, batch_idx):
        return (self.reconstruct(batch["motion"]) - batch["motion"]).square().mean()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def test_callback_logs_one_stacked_image(tmp_path, monkeypatch):
    layout = {"CMU": (120.0, ("01",), False), "HumanEva": (60.0, ("S1", "S2"), False),
              "BioMotionLab_NTroje": (60.0, ("rub001",), False)}  # fmt: skip
    write_amass_files(tmp_path / "amass", layout=layout, sequences=2, seconds=(2.2, 2.6))
    dm = AMASSDataModule(
        root=str(tmp_path / "amass"), cache_dir=str(tmp_path / "cache"), batch_size=4
    )
    trainer = make_trainer(
        save_dir=str(tmp_path),
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        callbacks=[callback := MotionStripCallback(num_samples=3, every=10)],
    )
    images = []
    monkeypatch.setattr(
        trainer.logger.experiment,
        "add_image",
        lambda tag, image, *a, **k: images.append((tag, image)),
    )
    trainer.fit(_Reconstructor(), datamodule=dm)
    ((tag, image),) = images
    assert tag == "val/motion" and image.dtype == np.uint8 and image.shape[2] == 3
    plain = stack_strips(
        [render_motion_strip(dm.datasets["val"][i]["motion"], AMASS_18, every=10) for i in (0,)]
    )
    assert _count_colour(image, GREY) > 3 * _count_colour(plain, GREY), "ground truth dotted"
    assert len(callback._samples(trainer)["motion"]) == 3
    strip = render_motion_strip(dm.datasets["val"][0]["motion"], AMASS_18, every=10)
    assert image.shape[0] == 3 * strip.shape[0]
