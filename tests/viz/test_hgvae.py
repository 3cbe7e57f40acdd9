"""HG-VAE pictures: samples per action and imputation strips, logged during validation."""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from motionzoo.models.hgvae import HGVAE
from motionzoo.skeleton import AMASS_18
from motionzoo.viz.hgvae import ActionSamplesCallback, ImputationStripCallback, occlude_joints
from motionzoo.viz.motion import render_motion_strip


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_occlude_joints_makes_a_gap_in_whole_joints():
    mask = occlude_joints((4, 10, 18, 3), joints=3, frames=(2, 7), seed=1)
    assert mask.shape == (4, 10, 18, 3) and mask.dtype == torch.bool
    assert (mask.flatten(1).sum(1) == 3 * 5 * 3).all()
    assert not mask[:, :2].any() and not mask[:, 7:].any()
    per_joint = mask.any(1).any(-1)  # (4, 18)
    assert (per_joint.sum(1) == 3).all()
    assert mask[:, 2:7][per_joint[:, None, :].expand(4, 5, 18)].all(), (
        "all 3 coordinates, all frames"
    )
    assert torch.equal(mask, occlude_joints((4, 10, 18, 3), 3, (2, 7), seed=1))


class _Motion(pl.LightningDataModule):
    skeleton = AMASS_18
    action_names = ("walk", "sit", "wave")

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        pose = torch.randn(18, 3, generator=g) * torch.tensor([150.0, 500.0, 100.0])
        wave = torch.sin(torch.linspace(0, 3, 10))[:, None, None] * 40
        self.items = [
            {"motion": pose + wave * (i + 1) + torch.randn(10, 18, 3, generator=g), "action": i % 3}
            for i in range(6)
        ]

    def train_dataloader(self):
        return torch.utils.data.DataLoader(self.items, batch_size=3)

    val_dataloader = train_dataloader


def test_callbacks_draw_samples_per_action_and_imputation_strips(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = HGVAE(
        num_joints=18, num_frames=10, levels=[[None, 4], [1, 4]], residual_features=8,
        num_actions=3,
    )  # fmt: skip
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        logger=pl.loggers.TensorBoardLogger(tmp_path),
        callbacks=[
            ActionSamplesCallback(samples_per_action=2, every=5),
            ImputationStripCallback(num_samples=2, joints=2, frames=(2, 8), steps=2, every=5),
        ],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    images = {}
    monkeypatch.setattr(
        trainer.logger.experiment,
        "add_image",
        lambda tag, image, *a, **k: images.__setitem__(tag, image),
    )
    trainer.fit(model, datamodule=_Motion())
    assert set(images) == {"samples/actions", "val/imputation"}
    strip = render_motion_strip(torch.zeros(10, 18, 3), AMASS_18, every=5, title="x")
    samples, imputation = images["samples/actions"], images["val/imputation"]
    # 3 actions x 2 samples = 6 strips tiled into a page (rows x columns), not a 6-strip ribbon
    rows, columns = samples.shape[0] // strip.shape[0], round(samples.shape[1] / strip.shape[1])
    assert samples.dtype == np.uint8 and rows * strip.shape[0] == samples.shape[0]
    assert rows < 6 and rows * columns >= 6 and 0.6 < samples.shape[1] / samples.shape[0] < 3
    # per window: mean-imputed, MAP and truth
    assert imputation.dtype == np.uint8 and imputation.shape[0] == 2 * 3 * strip.shape[0]
    assert model.training, "the callback leaves the model as it found it"
