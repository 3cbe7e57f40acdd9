"""ConvVAE, the pixel-likelihood baseline of VAEGAN: the loss against torch.distributions, a
training step that lowers the loss, shapes, save / load."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from motionzoo.data.base import ArrayDataset, make_dataloader
from motionzoo.models.conv_vae import ConvVAE
from motionzoo.pretrained import load_pretrained, save_pretrained
from motionzoo.trainer import Trainer

TINY = dict(
    z_dim=8, encoder_channels=[4, 8, 8], encoder_hidden=32, decoder_channels=[8, 8, 4],
    decoder_start_channels=8,
)  # fmt: skip


def images(n: int = 8, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=64, mode="bilinear")


def test_likelihood_is_the_pixelwise_gaussian_log_density():
    torch.manual_seed(0)
    model = ConvVAE(**TINY, sigma=0.3).eval()
    x = images(2)
    torch.manual_seed(1)
    terms = model.loss_terms(x)
    torch.manual_seed(1)
    mu, logvar = model.encoder(x)
    recon = model.decoder(mu + torch.randn_like(mu) * (0.5 * logvar).exp())
    nll = -Normal(recon, 0.3).log_prob(x).flatten(1).sum(-1).mean()
    torch.testing.assert_close(terms["nll"], nll)
    kl = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(-1).mean()
    torch.testing.assert_close(terms["kl"], kl)
    torch.testing.assert_close(terms["loss"], nll + kl)
    assert math.isclose(float(terms["sigma"]), 0.3, rel_tol=1e-6)


def test_training_lowers_the_loss_and_methods_keep_shapes(tmp_path):
    torch.manual_seed(0)
    model = ConvVAE(**TINY, lr=3e-3)
    x = images(16)
    with torch.no_grad():
        before = model.eval().loss_terms(x)["nll"]
        mse_before = (model.reconstruct(x) - x).pow(2).mean()
    model.train()
    data = make_dataloader(ArrayDataset({"image": x}), 8, shuffle=True)
    trainer = Trainer(
        accelerator="cpu", max_epochs=6, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=data)
    with torch.no_grad():
        assert model.eval().loss_terms(x)["nll"] < before
        assert (model.reconstruct(x) - x).pow(2).mean() < mse_before
    assert isinstance(trainer.optimizers[0], torch.optim.RMSprop)
    assert model.generate(3).shape == (3, 3, 64, 64)
    assert model.reconstruct(x[:2]).shape == (2, 3, 64, 64)
    assert model.interpolate(x[:2], x[2:4], steps=4).shape == (2, 4, 3, 64, 64)
    save_pretrained(model, "conv-vae-tiny", config="configs/conv_vae/sprites_synthetic.yaml",
                    training_data="random", metrics={}, directory=tmp_path)  # fmt: skip
    loaded = load_pretrained("conv-vae-tiny", directory=tmp_path)
    torch.testing.assert_close(loaded.reconstruct(x[:2]), model.reconstruct(x[:2]))
    torch.testing.assert_close(loaded.log_sigma, model.log_sigma)


def test_a_judge_scores_reconstructions_samples_and_features_in_validation():
    """With ``judge`` set, validation logs the judge's attribute accuracy on reconstructions,
    its entropy on prior samples and the Fréchet distance of its features; the judge's weights
    are not the model's."""
    torch.manual_seed(0)
    heads = ["body", "hair"]
    model = ConvVAE(**TINY, judge="classifier-sprites-synthetic", judge_heads=heads)
    assert not any(k.startswith("judge") for k in model.state_dict())
    labels = {h: torch.randint(0, 6, (16,)) for h in heads}
    data = make_dataloader(ArrayDataset({"image": images(16), **labels}), 8, shuffle=False)
    trainer = Trainer(
        accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    logged = trainer.validate(model, data, verbose=False)[0]
    assert 0 <= logged["val/judge_acc"] <= 1
    assert 0 <= logged["val/judge_entropy"] <= math.log(6) + 1e-6
    assert logged["val/judge_fd"] > 0
    unlabelled = make_dataloader(ArrayDataset({"image": images(8)}), 8, shuffle=False)
    with pytest.raises(KeyError, match=r"scores heads \['body', 'hair'\], which the batch lacks"):
        trainer.validate(model, unlabelled, verbose=False)
