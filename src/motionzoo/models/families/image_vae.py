"""Image VAEs: a convolutional encoder to a diagonal Gaussian q(z|x), a decoder back to images.

The contract of :class:`ImageVAE` (ConvVAE, VAEGAN):

- images ``(B, 3, H, W)`` in [-1, 1], H = W = ``hparams.image_size`` (64 for the paper's
  networks); latents ``(B, Z)``, Z = ``hparams.z_dim``.
- ``forward(images) -> (B, 3, H, W)``: the decoder at the posterior mean, in the module's current
  mode (so ``model(x)``, tracing and ``torch.export`` work).
- ``encode(images) -> (B, Z)`` posterior mean; ``decode(z) -> (B, 3, H, W)``;
  ``reconstruct(images) -> images`` (also sequences (B, T, 3, H, W) -> same shape);
  ``generate(n) -> (n, 3, H, W)`` decoded from z ~ N(0, I); ``interpolate(a, b, steps)``. All
  run in eval mode without gradients and restore the mode (:func:`~motionzoo.nn.modes.evaluating`).
- ``_common_step(batch, stage)``: the model's ``loss_terms(images)`` logged as ``<stage>/<term>``;
  at val / test also ``<stage>/ssim`` and ``<stage>/energy_ratio`` (reconstructions at the
  posterior mean) from ``self.metrics``; with a judge classifier (``hparams.judge``: a pretrained
  name such as ``classifier-sprites-synthetic``, ``hparams.judge_heads``: its heads to score, whose
  labels the batch holds) also ``<stage>/judge_acc`` (reconstructions), ``<stage>/judge_entropy``
  (prior samples) and ``<stage>/judge_fd`` (reconstructions against the real images), the
  measures of :mod:`motionzoo.metrics.fidelity`. Pictures:
  :class:`motionzoo.viz.frames.ImageVAEPictures`.

:class:`~motionzoo.models.cross_modal_vae.CrossModalVAE` uses the same verbs for its image side.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torchmetrics import MeanMetric

from motionzoo.metrics.fidelity import Judge, JudgeAccuracy, JudgeEntropy, JudgeFrechetDistance
from motionzoo.metrics.image import FrameSSIM, gradient_energy
from motionzoo.models.base import ZooModule
from motionzoo.nn.conv import ConvDecoder, ConvEncoder
from motionzoo.nn.modes import evaluating


class ImageVAE(ZooModule):
    """Base of the image VAEs (module docstring). A model calls :meth:`_build_autoencoder` in its
    ``__init__`` after ``save_hyperparameters()`` and defines ``loss_terms(images) -> {name:
    scalar}`` (its ``"loss"``, if any, is what ``_common_step`` returns)."""

    encoder: ConvEncoder  # images (B, 3, H, W) -> (mu, logvar), each (B, Z)
    decoder: ConvDecoder  # z (B, Z) -> images (B, 3, H, W) in [-1, 1]

    def _build_autoencoder(self) -> None:
        """The encoder and decoder of :mod:`motionzoo.nn.conv` from the hyper-parameters
        (``z_dim``, ``encoder_channels``, ``encoder_hidden``, ``decoder_channels``,
        ``decoder_start_channels``, ``image_size``, ``bn_momentum`` if the model has it), and
        the image metrics of val / test (with the judge's if ``judge`` is set; the judge is not
        one of the model's modules, its weights are not in the model's checkpoint)."""
        h = self.hparams
        momentum = h.get("bn_momentum", 0.1)
        self.encoder = ConvEncoder(
            h.z_dim, tuple(h.encoder_channels), h.encoder_hidden, h.image_size,
            bn_momentum=momentum,
        )  # fmt: skip
        self.decoder = ConvDecoder(
            h.z_dim, tuple(h.decoder_channels), h.decoder_start_channels, h.image_size,
            bn_momentum=momentum,
        )  # fmt: skip
        self.add_metrics(lambda: {"ssim": FrameSSIM(), "energy_ratio": MeanMetric()})
        self.judge = Judge(h.judge, h.judge_heads) if h.get("judge") else None
        if self.judge is not None:
            j = self.judge
            self.add_metrics(
                lambda: {
                    "judge_acc": JudgeAccuracy(j.heads),
                    "judge_entropy": JudgeEntropy(j.heads),
                    "judge_fd": JudgeFrechetDistance(j.dim),
                }
            )

    def images(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """The batch's images (N, 3, H, W): ``batch[hparams.image_key]``, or all frames of
        ``batch['frames']`` (B, T, 3, H, W) as N = B * T images."""
        key = self.hparams.image_key
        if key in batch:
            return batch[key]
        if "frames" in batch:
            return rearrange(batch["frames"], "b t c h w -> (b t) c h w")
        raise KeyError(
            f"{type(self).__name__}: batch has no {key!r} (or 'frames'); keys: {list(batch)}"
        )

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError(f"{type(self).__name__} defines no loss_terms")

    def check_images(self, verb: str, images: torch.Tensor, axes: str = "B 3 H W") -> None:
        """``images`` must have the shape ``axes`` with H = W = ``image_size``."""
        size = self.hparams.image_size
        self.check_shape(verb, images, "images", axes, H=size, W=size)

    # --- the verbs -----------------------------------------------------------------------------
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Dec(mean of q(z|x)) of images (B, 3, H, W), in the current mode, with autograd."""
        self.check_images("forward", images)
        return self.decoder(self.encoder(images)[0])

    @evaluating
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Posterior means (B, Z) of images (B, 3, H, W)."""
        self.check_images("encode", images)
        return self.encoder(images)[0]

    @evaluating
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [-1, 1] of latents z (B, Z)."""
        return self.decoder(z)

    @evaluating
    def generate(self, n: int) -> torch.Tensor:
        """n images (n, 3, H, W) in [-1, 1] decoded from z ~ N(0, I)."""
        return self.decoder(torch.randn(n, self.hparams.z_dim, device=self.device))

    @evaluating
    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Dec(mean of q(z|x)) of images (B, 3, H, W) or sequences (B, T, 3, H, W), same shape."""
        self.check_images("reconstruct", images, "B T 3 H W" if images.ndim == 5 else "B 3 H W")
        if images.ndim == 5:
            flat = self(rearrange(images, "b t c h w -> (b t) c h w"))
            return rearrange(flat, "(b t) c h w -> b t c h w", b=images.shape[0])
        return self(images)

    @evaluating
    def interpolate(self, a: torch.Tensor, b: torch.Tensor, steps: int = 8) -> torch.Tensor:
        """Decoded straight line between the posterior means of a and b (B, 3, H, W) (or single
        images (3, H, W)), endpoints included: (B, steps, 3, H, W) (or (steps, 3, H, W))."""
        single = a.ndim == 3
        for x in (a, b):
            self.check_images("interpolate", x, "3 H W" if single else "B 3 H W")
        if single:
            a, b = a[None], b[None]
        za, zb = self.encoder(a)[0], self.encoder(b)[0]
        w = torch.linspace(0, 1, steps, device=za.device, dtype=za.dtype)[None, :, None]
        z = za[:, None] * (1 - w) + zb[:, None] * w  # (B, steps, Z)
        out = self.decoder(rearrange(z, "b s z -> (b s) z"))
        out = rearrange(out, "(b s) c h w -> b s c h w", s=steps)
        return out[0] if single else out

    # --- steps ---------------------------------------------------------------------------------
    def _common_step(self, batch, stage: str) -> torch.Tensor | None:
        x = self.images(batch)
        terms = self.loss_terms(x)
        self.log_terms(stage, terms, batch_size=x.shape[0])
        if stage != "train":
            self._image_metrics(x, stage, batch)
        return terms.get("loss")

    def predict_step(self, batch, batch_idx):
        return self.reconstruct(self.images(batch))

    def _judge_metrics(self, metrics, x: torch.Tensor, recon: torch.Tensor, batch) -> None:
        """The judge's accuracy on ``recon`` against the batch's labels, its entropy on as many
        prior samples and its features of ``recon`` against those of ``x``."""
        missing = [h for h in self.judge.heads if h not in batch]
        if missing:
            raise KeyError(
                f"{type(self).__name__}: judge {self.judge.name!r} scores heads {missing}, "
                f"which the batch lacks; keys: {list(batch)} (set judge_heads)"
            )
        # labels per sequence (B,) serve its T images when the batch holds ``frames``
        labels = {h: batch[h].repeat_interleave(len(x) // len(batch[h])) for h in self.judge.heads}
        real_features, _ = self.judge(x)
        recon_features, recon_probs = self.judge(recon)
        sampled = self.decoder(torch.randn(len(x), self.hparams.z_dim, device=x.device))
        metrics["judge_acc"].update(recon_probs, labels)
        metrics["judge_entropy"].update(self.judge(sampled)[1])
        metrics["judge_fd"].update(real_features, recon_features)

    def _image_metrics(self, x: torch.Tensor, stage: str, batch) -> None:
        """SSIM of reconstructions (posterior mean) and their gradient energy / the data's (per
        batch; the logged value is the batch-size weighted mean of the batches' ratios); the
        judge's scores when there is one."""
        recon = self(x)
        metrics = self.stage_metrics(stage)
        metrics["ssim"].update(recon.float(), x.float())
        ratio = gradient_energy(recon).sum() / gradient_energy(x).sum().clamp_min(1e-12)
        metrics["energy_ratio"].update(ratio.float(), weight=x.shape[0])
        if self.judge is not None:
            self._judge_metrics(metrics, x, recon, batch)
        for name, metric in metrics.items():
            self.log(f"{stage}/{name}", metric, on_step=False, on_epoch=True, batch_size=len(x))
