"""ConvVAE: the plain VAE baseline of VAE/GAN (Larsen et al. 2016), pixel-wise likelihood.

The same 64x64 encoder and decoder as :class:`~motionzoo.models.vaegan.VAEGAN`
(:mod:`motionzoo.nn.conv`), trained on the ELBO with an element-wise Gaussian likelihood
``-log N(x | Dec(z), sigma^2 I)`` summed over pixels, and the analytic KL to N(0, I) (eq. 2.9
of the thesis). ``sigma`` is one scalar for all pixels, learned by default (a "calibrated"
decoder: its optimum is the RMS reconstruction error) or fixed.

Also here, shared with VAEGAN: :class:`LatentImageModule` (``generate``, ``reconstruct``,
``interpolate``, reconstruction / sample grids in TensorBoard, SSIM and image-gradient energy of
validation reconstructions), :func:`gaussian_kl` and :func:`gradient_energy`.

Batches: ``image`` (B, 3, 64, 64) in [-1, 1] (e.g. from
:class:`~motionzoo.data.frames.FramesDataModule`), or ``frames`` (B, T, 3, 64, 64), whose frames
are then used as independent images.
"""

from __future__ import annotations

import math

import torch
from einops import rearrange
from torchmetrics import MeanMetric

from motionzoo.metrics.image import FrameSSIM
from motionzoo.models.base import ZooModule
from motionzoo.nn.conv import ConvDecoder, ConvEncoder
from motionzoo.viz.frames import frame_grid


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample, summed over the latent: (B, Z) -> (B,).
    Computed in float32 whatever the autocast dtype (DESIGN.md, mixed precision)."""
    mu, logvar = mu.float(), logvar.float()
    return 0.5 * (logvar.exp() + mu.pow(2) - logvar - 1).sum(-1)


def gradient_energy(images: torch.Tensor) -> torch.Tensor:
    """Image-gradient energy per image: mean of squared horizontal and vertical finite
    differences over pixels and channels. images (B, C, H, W) -> (B,) (float64)."""
    x = images.double()
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean(dim=(-3, -2, -1))
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean(dim=(-3, -2, -1))
    return dx + dy


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    return mu + torch.randn_like(mu) * (0.5 * logvar).exp()


class LatentImageModule(ZooModule):
    """Shared by ConvVAE and VAEGAN: an ``encoder`` (images -> mu, logvar), a ``decoder``
    (z -> images) and ``hparams.z_dim`` / ``hparams.image_key``; generation, reconstruction,
    interpolation and the validation pictures and image metrics."""

    encoder: ConvEncoder
    decoder: ConvDecoder

    def _init_metrics(self) -> None:
        self.ssim = FrameSSIM()
        self.energy_ratio = MeanMetric()
        self._grid_images: torch.Tensor | None = None

    def images(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The batch's images (N, 3, H, W): ``batch[key]``, or all frames of ``batch['frames']``."""
        key = self.hparams.image_key
        if key in batch:
            return batch[key]
        if "frames" in batch:
            return rearrange(batch["frames"], "b t c h w -> (b t) c h w")
        raise KeyError(
            f"{type(self).__name__}: batch has no {key!r} (or 'frames'); keys: {list(batch)}"
        )

    def _eval(self):
        was = self.training
        self.eval()
        return was

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means (B, z) of images (B, 3, H, W)."""
        was = self._eval()
        mu = self.encoder(x)[0]
        self.train(was)
        return mu

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        was = self._eval()
        x = self.decoder(z)
        self.train(was)
        return x

    @torch.no_grad()
    def generate(self, n: int) -> torch.Tensor:
        """n images (n, 3, H, W) in [-1, 1] decoded from z ~ N(0, I)."""
        return self.decode(torch.randn(n, self.hparams.z_dim, device=self.device))

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """Dec(mean of q(z|x)) of images (B, 3, H, W) or sequences (B, T, 3, H, W), same shape."""
        if x.ndim == 5:
            b = x.shape[0]
            out = self.reconstruct(rearrange(x, "b t c h w -> (b t) c h w"))
            return rearrange(out, "(b t) c h w -> b t c h w", b=b)
        return self.decode(self.encode(x))

    @torch.no_grad()
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decoded straight line between the posterior means of a and b (B, 3, H, W) (or single
        images (3, H, W)), endpoints included: (B, steps, 3, H, W) (or (steps, 3, H, W))."""
        single = a.ndim == 3
        if single:
            a, b = a[None], b[None]
        za, zb = self.encode(a), self.encode(b)
        w = torch.linspace(0, 1, steps, device=za.device, dtype=za.dtype)[None, :, None]
        z = za[:, None] * (1 - w) + zb[:, None] * w  # (B, steps, z)
        out = self.decode(rearrange(z, "b s z -> (b s) z"))
        out = rearrange(out, "(b s) c h w -> b s c h w", s=steps)
        return out[0] if single else out

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _eval_step(self, batch, stage: str) -> None:
        x = self.images(batch)
        self.log_terms(stage, self.loss_terms(x), batch_size=x.shape[0])
        self._image_metrics(x, stage)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self.reconstruct(self.images(batch))

    def _image_metrics(self, x: torch.Tensor, stage: str) -> None:
        """SSIM of reconstructions (posterior mean) and their gradient energy / the data's."""
        recon = self.decoder(self.encoder(x)[0])
        self.ssim.update(recon.float(), x.float())
        ratio = gradient_energy(recon).sum() / gradient_energy(x).sum().clamp_min(1e-12)
        self.energy_ratio.update(ratio.float(), weight=x.shape[0])
        kw = dict(on_step=False, on_epoch=True, batch_size=x.shape[0])
        self.log(f"{stage}/ssim", self.ssim, **kw)
        self.log(f"{stage}/energy_ratio", self.energy_ratio, **kw)

    def on_validation_batch_end(self, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if batch_idx == 0 and dataloader_idx == 0:
            self._grid_images = self.images(batch)[:8].detach()

    def on_validation_epoch_end(self) -> None:
        """TensorBoard ``val/reconstructions`` (inputs above reconstructions) and ``val/samples``."""
        x, self._grid_images = self._grid_images, None
        if x is None or self.trainer.sanity_checking or not self.trainer.is_global_zero:
            return
        pictures = {
            "val/reconstructions": torch.stack([x, self.reconstruct(x)]),
            "val/samples": self.generate(2 * len(x)).reshape(2, len(x), *x.shape[1:]),
        }
        for logger in self.trainer.loggers:
            writer = getattr(logger, "experiment", None)
            if hasattr(writer, "add_image"):
                for tag, rows in pictures.items():
                    writer.add_image(tag, frame_grid(rows), self.global_step, dataformats="HWC")


class ConvVAE(LatentImageModule):
    """VAE on 64x64 images with a pixel-wise Gaussian likelihood (the VAE/GAN paper's baseline).

    Args:
        z_dim, encoder_channels, encoder_hidden, decoder_channels, decoder_start_channels,
            image_size: the architecture (defaults: the paper's, as VAEGAN's).
        sigma: pixel standard deviation (initial value when learned); learn_sigma: learn it.
        lr: RMSProp learning rate (VAEGAN's optimiser, so the two compare at the same budget).
        image_key: batch key of the images.
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
    ):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = ConvEncoder(z_dim, tuple(encoder_channels), encoder_hidden, image_size)
        self.decoder = ConvDecoder(
            z_dim, tuple(decoder_channels), decoder_start_channels, image_size
        )
        log_sigma = torch.tensor(math.log(sigma))
        if learn_sigma:
            self.log_sigma = torch.nn.Parameter(log_sigma)
        else:
            self.register_buffer("log_sigma", log_sigma)
        self._init_metrics()

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO per sample (batch mean): ``nll`` (-log N(x | Dec(z), sigma^2), summed
        over pixels) + ``kl``; ``loss`` their sum, ``sigma`` the pixel standard deviation."""
        mu, logvar = self.encoder(x)
        recon = self.decoder(reparameterize(mu, logvar))
        with torch.autocast(device_type=x.device.type, enabled=False):
            log_sigma = self.log_sigma.float()
            sq = (x.float() - recon.float()).pow(2).flatten(1)
            nll = 0.5 * sq / (2 * log_sigma).exp() + log_sigma + 0.5 * math.log(2 * math.pi)
            nll = nll.sum(-1).mean()
            kl = gaussian_kl(mu, logvar).mean()
        return {"loss": nll + kl, "nll": nll, "kl": kl, "sigma": log_sigma.exp().detach()}

    def training_step(self, batch, batch_idx):
        x = self.images(batch)
        terms = self.loss_terms(x)
        self.log_terms("train", terms, batch_size=x.shape[0])
        return terms["loss"]

    def configure_optimizers(self):
        return torch.optim.RMSprop(self.parameters(), lr=self.hparams.lr)
