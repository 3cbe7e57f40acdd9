"""ConvVAE: the plain VAE baseline of VAE/GAN (Larsen et al. 2016), pixel-wise likelihood.

The same 64x64 encoder and decoder as :class:`~motionzoo.models.vaegan.VAEGAN`
(:mod:`motionzoo.nn.conv`), trained on the negative ELBO (thesis eq. 2.9)

    L = -sum_pixels log N(x | Dec(z), sigma^2) + KL(q(z|x) || N(0, I)),   z ~ q(z|x),

per image, batch mean, in float32. ``sigma`` is one scalar for all pixels, learned by default (a
"calibrated" decoder: its optimum is the RMS reconstruction error) or fixed. Images (B, 3, 64, 64)
in [-1, 1]; the verbs are those of :class:`~motionzoo.models.families.image_vae.ImageVAE`.
"""

from __future__ import annotations

import math

import torch

from motionzoo.models.families.image_vae import ImageVAE
from motionzoo.nn.distributions import gaussian_kl, gaussian_log_prob, reparameterize


class ConvVAE(ImageVAE):
    """VAE on 64x64 images with a pixel-wise Gaussian likelihood (the VAE/GAN paper's baseline).

    Args:
        z_dim, encoder_channels, encoder_hidden, decoder_channels, decoder_start_channels,
            image_size: the architecture (defaults: the paper's, as VAEGAN's).
        sigma: pixel standard deviation (initial value when learned); learn_sigma: learn it.
        lr: RMSProp learning rate (VAEGAN's optimiser, so the two compare at the same budget).
        image_key: batch key of the images.
        judge, judge_heads: a classifier (pretrained name or path) and the heads of it whose
            accuracy / entropy / feature distance are logged at val / test (None: off; see
            :mod:`motionzoo.models.families.image_vae`).
    """

    def __init__(
        self,
        z_dim: int = 128,
        encoder_channels: list[int] | tuple[int, ...] = (64, 128, 256),
        encoder_hidden: int = 2048,
        decoder_channels: list[int] | tuple[int, ...] = (256, 128, 32),
        decoder_start_channels: int = 256,
        image_size: int = 64,
        sigma: float = 1.0,
        learn_sigma: bool = True,
        lr: float = 3e-4,
        image_key: str = "image",
        judge: str | None = None,
        judge_heads: list[str] | tuple[str, ...] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self._build_autoencoder()
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = torch.nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO per sample (batch mean): ``nll`` (-log N(x | Dec(z), sigma^2), summed
        over pixels) + ``kl``; ``loss`` their sum, ``sigma`` the pixel standard deviation."""
        mu, logvar = self.encoder(x)
        recon = self.decoder(reparameterize(mu, logvar))
        log_sigma = self.log_sigma.float()
        nll = -gaussian_log_prob(x, recon, 2 * log_sigma).flatten(1).sum(-1).mean()
        kl = gaussian_kl(mu, logvar).sum(-1).mean()
        return {"loss": nll + kl, "nll": nll, "kl": kl, "sigma": log_sigma.exp().detach()}

    def configure_optimizers(self):
        return torch.optim.RMSprop(self.parameters(), lr=self.hparams.lr)
