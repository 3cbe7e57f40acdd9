"""The sequence classifier that scores generated sequences (DSVAE / S3VAE / HamiltonianVAE).

A 64x64 convolutional encoder embeds every frame, the frame embeddings are pooled over time
(mean, or the last state of an LSTM), and one linear head per label gives its logits. Trained
on real-format data, it turns samples of a generative model into the scores of
:mod:`motionzoo.metrics.generation` (accuracy, H(y|x), H(y)) through :meth:`predict_proba`.

``heads`` maps a head name to its number of classes, e.g. Sprites
``{"action": 9, "body": 6, "bottom": 6, "top": 6, "hair": 6}`` or MUG
``{"expression": 6, "identity": 52}``; each head reads the batch key of the same name (or the
key ``targets[name]``). The loss is the sum of the heads' cross-entropies; accuracy per head is
logged as ``{stage}/acc_{head}`` and their mean as ``{stage}/acc_mean`` (checkpoint monitor).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from motionzoo.models.base import STAGES, ZooModule
from motionzoo.nn.modes import evaluating


class FrameEncoder(nn.Sequential):
    """(N, C, H, W) -> (N, dim): stride-2 4x4 conv + BatchNorm + LeakyReLU per entry of
    ``channels`` (64 -> 4 pixels for four entries), then a linear layer."""

    def __init__(
        self, channels=(16, 32, 64, 64), dim: int = 128, in_channels: int = 3, size: int = 64
    ):
        layers: list[nn.Module] = []
        for c_in, c_out in zip((in_channels, *channels[:-1]), channels):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2)]
        side = size // 2 ** len(channels)
        layers += [nn.Flatten(), nn.Linear(channels[-1] * side * side, dim), nn.LeakyReLU(0.2)]
        super().__init__(*layers)


def random_shift(frames: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Translate each sequence (B, T, C, H, W) by its own random integer offset in
    [-max_shift, max_shift]^2, the same for all its frames; borders repeat the edge pixels."""
    b, t, c, h, w = frames.shape
    padded = F.pad(
        rearrange(frames, "b t c h w -> b (t c) h w"), (max_shift,) * 4, mode="replicate"
    )
    offset = torch.randint(0, 2 * max_shift + 1, (2, b, 1), device=frames.device)
    rows = offset[0] + torch.arange(h, device=frames.device)  # (B, H)
    cols = offset[1] + torch.arange(w, device=frames.device)  # (B, W)
    out = padded[
        torch.arange(b, device=frames.device)[:, None, None], :, rows[:, :, None], cols[:, None, :]
    ]
    return rearrange(out, "b h w (t c) -> b t c h w", t=t)


def gaussian_blur(frames: torch.Tensor, sigma: torch.Tensor, truncate: float = 4.0) -> torch.Tensor:
    """Blur each sequence (B, T, C, H, W) with its own gaussian, sigma (B,) in pixels.

    The same separable filter as ``scipy.ndimage.gaussian_filter(image, sigma, mode="nearest",
    truncate=truncate)`` on every frame and channel of a sequence: taps out to the radius
    ``int(truncate * sigma + 0.5)`` of that sequence, renormalised, borders repeat the edge pixels.
    One grouped convolution per axis for the whole batch (sequences are the groups); sigma 0 is
    the identity."""
    b, t, c, h, w = frames.shape
    if sigma.shape != (b,):
        raise ValueError(
            f"sigma must hold one value per sequence, shape ({b},); got {tuple(sigma.shape)}"
        )
    if (sigma < 0).any():
        raise ValueError(f"sigma must be >= 0 pixels; got min {sigma.min().item()}")
    sigma = sigma.to(device=frames.device, dtype=torch.float64)
    radius = (truncate * sigma + 0.5).floor()  # (B,): scipy's radius per sequence
    r = int(radius.max().item())
    if r == 0:
        return frames
    x = torch.arange(-r, r + 1, device=frames.device, dtype=torch.float64)  # (k,)
    inside = x.abs() <= radius[:, None]  # (B, k)
    taps = torch.exp(-0.5 * (x / sigma.clamp_min(1e-12)[:, None]) ** 2)
    taps = torch.where(inside, taps, 0.0)  # sigma 0: only the centre tap, the identity
    kernel = (taps / taps.sum(-1, keepdim=True)).to(frames.dtype)  # (B, k)
    # sequences as channels, (frame, channel) pairs as the batch: groups=B, one kernel each
    z = F.pad(rearrange(frames, "b t c h w -> (t c) b h w"), (r,) * 4, mode="replicate")
    z = F.conv2d(z, rearrange(kernel, "b k -> b 1 1 k"), groups=b)
    z = F.conv2d(z, rearrange(kernel, "b k -> b 1 k 1"), groups=b)
    return rearrange(z, "(t c) b h w -> b t c h w", t=t)


def random_gaussian_blur(
    frames: torch.Tensor, max_sigma: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """:func:`gaussian_blur` of each sequence (B, T, C, H, W) with its own sigma ~ U(0, max_sigma)
    pixels, the same for all its frames."""
    device = generator.device if generator is not None else frames.device
    sigma = torch.rand(frames.shape[0], generator=generator, device=device) * max_sigma
    return gaussian_blur(frames, sigma.to(frames.device))


class SequenceClassifier(ZooModule):
    """Classify frame sequences (B, T, 3, 64, 64) in [-1, 1] into one label per head.

    Args:
        heads: head name -> number of classes.
        targets: head name -> batch key when they differ (default: the head's own name).
        channels: conv channels of the frame encoder; dim: frame / sequence embedding size.
        temporal: ``"mean"`` (mean of frame embeddings) or ``"lstm"`` (last LSTM state).
        dropout: before the heads. augment_shift: random translation of training sequences by up
            to this many pixels (0: off).
        augment_blur: training sequences get a gaussian blur of sigma ~ U(0, augment_blur) pixels
            each, the same for all their frames, before any shift (0: off;
            :func:`random_gaussian_blur`).
        val_blur: validation sequences are blurred with sigmas spread evenly over [0, val_blur]
            pixels across each batch, so ``val/acc_mean`` (the checkpoint monitor) rewards
            robustness, not only clean accuracy, which saturates at 1.0 early (0: clean; test
            frames are always clean).
        lr, weight_decay: Adam.

    The blur lets the judge of blurry *generated* frames score identity, not sharpness
    (measurements in docs/models/classifier.md).
    """

    def __init__(
        self,
        heads: dict[str, int],
        targets: dict[str, str] | None = None,
        channels: list[int] | tuple[int, ...] = (16, 32, 64, 64),
        dim: int = 128,
        temporal: Literal["mean", "lstm"] = "mean",
        dropout: float = 0.1,
        augment_shift: int = 0,
        augment_blur: float = 0.0,
        val_blur: float = 0.0,
        image_size: int = 64,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if min(augment_shift, augment_blur, val_blur) < 0:
            raise ValueError(
                "augment_shift, augment_blur and val_blur must be >= 0; got "
                f"{augment_shift}, {augment_blur}, {val_blur}"
            )
        if not heads:
            raise ValueError("SequenceClassifier needs at least one head, e.g. {'action': 9}")
        self.targets = {name: (targets or {}).get(name, name) for name in heads}
        self.encoder = FrameEncoder(tuple(channels), dim, 3, image_size)
        self.lstm = nn.LSTM(dim, dim, batch_first=True) if temporal == "lstm" else None
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({name: nn.Linear(dim, k) for name, k in heads.items()})
        self.add_metrics(
            lambda: {
                f"acc_{name}": MulticlassAccuracy(k, average="micro") for name, k in heads.items()
            },
            stages=STAGES,
        )

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, H, W) -> sequence embedding (B, dim)."""
        b = frames.shape[0]
        h = rearrange(
            self.encoder(rearrange(frames, "b t c h w -> (b t) c h w")), "(b t) d -> b t d", b=b
        )
        if self.lstm is None:
            return h.mean(1)
        return self.lstm(h)[1][0][-1]

    def forward(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """frames (B, T, 3, H, W) in [-1, 1] -> {head: logits (B, K)}."""
        h = self.dropout(self.embed(frames))
        return {name: head(h) for name, head in self.heads.items()}

    @evaluating
    def predict_proba(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """{head: p(y|x) (B, K)} in eval mode, for :class:`~motionzoo.metrics.generation.GenerationScores`."""
        return {k: v.float().softmax(-1) for k, v in self(frames).items()}

    def augment(self, frames: torch.Tensor) -> torch.Tensor:
        """The training-time augmentations of ``frames`` (B, T, 3, H, W) that are switched on."""
        h = self.hparams
        if h.augment_blur > 0:
            frames = random_gaussian_blur(frames, h.augment_blur)
        if h.augment_shift > 0:
            frames = random_shift(frames, h.augment_shift)
        return frames

    def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        frames = batch["frames"]
        if stage == "train":
            frames = self.augment(frames)
        elif stage == "val" and self.hparams.val_blur > 0:
            sigma = torch.linspace(0, self.hparams.val_blur, len(frames), device=frames.device)
            frames = gaussian_blur(frames, sigma)
        logits = self(frames)
        size = batch["frames"].shape[0]
        losses = {}
        for name, z in logits.items():
            target = batch[self.targets[name]]
            losses[f"loss_{name}"] = F.cross_entropy(z.float(), target)
            metric = self.metrics[f"{stage}/acc_{name}"]
            metric(z.detach(), target)
            self.log(
                f"{stage}/acc_{name}",
                metric,
                on_step=stage == "train",
                on_epoch=True,
                batch_size=size,
            )
        loss = torch.stack(list(losses.values())).sum()
        self.log_terms(stage, {"loss": loss, **losses}, batch_size=size)
        return loss

    def on_validation_epoch_end(self) -> None:
        self._log_mean("val")

    def on_test_epoch_end(self) -> None:
        self._log_mean("test")

    def _log_mean(self, stage: str) -> None:
        accs = [m.compute() for m in self.stage_metrics(stage).values() if m.update_count]
        if accs:
            self.log(f"{stage}/acc_mean", torch.stack(accs).mean(), sync_dist=True)

    def predict_step(self, batch, batch_idx):
        return self.predict_proba(batch["frames"])

    def configure_optimizers(self):
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
