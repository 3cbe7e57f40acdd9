"""64x64 convolutional encoder, decoder and discriminator of VAE/GAN (Larsen et al. 2016).

The paper's architecture table (DESIGN.md, VAEGAN; ``reference/papers.md`` section 4), every
width configurable so that tests and small pretrained models use the same code:

- :class:`ConvEncoder`: 3 x [conv5 s2 (no bias) BN ReLU] 64/128/256 -> FC 2048 BN ReLU ->
  Linear mu, Linear logvar (z 128). images (B, 3, 64, 64) -> mu, logvar (B, z).
- :class:`ConvDecoder`: FC z -> 8x8x256 BN ReLU -> 3 x [convT5 s2 BN ReLU] 256/128/32 ->
  conv5 -> 3 channels, tanh. z (B, z) -> images (B, 3, 64, 64) in [-1, 1].
- :class:`ConvDiscriminator`: conv5 32 s1 ReLU -> 3 x [conv5 s2 BN ReLU] 128/256/256 ->
  FC 512 BN ReLU -> FC 1 (a logit; the sigmoid lives in the loss). ``Dis_l`` is the pre-BN
  output of strided block ``feature_layer`` (1-based; the paper's l is block 3, 256x8x8).
  :meth:`ConvDiscriminator.adversarial_terms`: its half of the VAE/GAN losses (eq. 2.12-2.13).

BatchNorm momentum 0.1 in PyTorch's convention is what the reference's ``momentum=0.9`` means in
Keras' convention (the weight of the running average); ``bn_momentum=0.9`` is what the reference
code actually runs (PyTorch's convention: running statistics ~ the last batch's).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


def _down(c_in: int, c_out: int, momentum: float = 0.1) -> nn.Sequential:
    """conv5 stride 2 (64 -> 32 -> 16 -> 8), BN, ReLU; indexable so the pre-BN output is [0]."""
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 5, 2, 2, bias=False),
        nn.BatchNorm2d(c_out, momentum=momentum),
        nn.ReLU(True),
    )


def _up(c_in: int, c_out: int, momentum: float = 0.1) -> nn.Sequential:
    """transposed conv5 stride 2 (8 -> 16 -> 32 -> 64), BN, ReLU."""
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 5, 2, 2, output_padding=1, bias=False),
        nn.BatchNorm2d(c_out, momentum=momentum),
        nn.ReLU(True),
    )


class ConvEncoder(nn.Module):
    """images (B, 3, size, size) -> (mu, logvar), each (B, z_dim)."""

    def __init__(
        self,
        z_dim: int = 128,
        channels: tuple[int, ...] = (64, 128, 256),
        hidden: int = 2048,
        size: int = 64,
        in_channels: int = 3,
        bn_momentum: float = 0.1,
    ):
        super().__init__()
        pairs = zip((in_channels, *channels[:-1]), channels)
        self.blocks = nn.Sequential(*[_down(a, b, bn_momentum) for a, b in pairs])
        side = size // 2 ** len(channels)
        self.fc = nn.Sequential(
            nn.Linear(channels[-1] * side * side, hidden, bias=False),
            nn.BatchNorm1d(hidden, momentum=bn_momentum),
            nn.ReLU(True),
        )
        self.mu = nn.Linear(hidden, z_dim)
        self.logvar = nn.Linear(hidden, z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.fc(rearrange(self.blocks(x), "b c h w -> b (c h w)"))
        return self.mu(h), self.logvar(h)


class ConvDecoder(nn.Module):
    """z (B, z_dim) -> images (B, 3, size, size) in [-1, 1] (tanh)."""

    def __init__(
        self,
        z_dim: int = 128,
        channels: tuple[int, ...] = (256, 128, 32),
        start_channels: int = 256,
        size: int = 64,
        out_channels: int = 3,
        bn_momentum: float = 0.1,
    ):
        super().__init__()
        self.side = size // 2 ** len(channels)
        self.start_channels = start_channels
        self.fc = nn.Sequential(
            nn.Linear(z_dim, start_channels * self.side**2, bias=False),
            nn.BatchNorm1d(start_channels * self.side**2, momentum=bn_momentum),
            nn.ReLU(True),
        )
        pairs = zip((start_channels, *channels[:-1]), channels)
        ups = [_up(a, b, bn_momentum) for a, b in pairs]
        self.blocks = nn.Sequential(*ups)
        self.out = nn.Sequential(nn.Conv2d(channels[-1], out_channels, 5, 1, 2), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = rearrange(self.fc(z), "b (c h w) -> b c h w", c=self.start_channels, h=self.side)
        return self.out(self.blocks(h))


class ConvDiscriminator(nn.Module):
    """images (B, 3, size, size) -> (logit (B,), Dis_l features (B, F)).

    ``feature_layer`` l in 1..len(channels): the features are the conv output of strided block
    l before its BatchNorm, flattened (the paper's choice is the last block, 256x8x8)."""

    def __init__(
        self,
        channels: tuple[int, ...] = (128, 256, 256),
        stem_channels: int = 32,
        hidden: int = 512,
        feature_layer: int = 3,
        size: int = 64,
        in_channels: int = 3,
        bn_momentum: float = 0.1,
    ):
        super().__init__()
        if not 1 <= feature_layer <= len(channels):
            raise ValueError(
                f"feature_layer {feature_layer} out of range; the discriminator has "
                f"{len(channels)} strided conv blocks (1-based)"
            )
        self.feature_layer = feature_layer
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem_channels, 5, 1, 2), nn.ReLU(True))
        pairs = zip((stem_channels, *channels[:-1]), channels)
        self.blocks = nn.ModuleList([_down(a, b, bn_momentum) for a, b in pairs])
        side = size // 2 ** len(channels)
        self.head = nn.Sequential(
            nn.Linear(channels[-1] * side * side, hidden, bias=False),
            nn.BatchNorm1d(hidden, momentum=bn_momentum),
            nn.ReLU(True),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.stem(x)
        features = None
        for i, (conv, bn, act) in enumerate(self.blocks, start=1):
            h = conv(h)
            if i == self.feature_layer:
                features = rearrange(h, "b c h w -> b (c h w)")
            h = act(bn(h))
        logit = self.head(rearrange(h, "b c h w -> b (c h w)"))[:, 0]
        return logit, features

    def adversarial_terms(
        self, x: torch.Tensor, recon: torch.Tensor, sampled: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """One pass over [x, x~, x_p] (images, reconstructions, prior samples, each (B, 3, H, W);
        shared BatchNorm statistics, as the reference), losses in float32 outside autocast:

        - ``features_real``, ``features_recon``: Dis_l(x), Dis_l(x~) (B, F) (eq. 2.12);
        - ``bce_real``, ``bce_recon``, ``bce_sampled``: BCE(D(x), 1), BCE(D(x~), 0), BCE(D(x_p), 0),
          batch means; their sum is L_GAN, the negative of eq. 2.13;
        - ``generator``: BCE(D(x~), 1) + BCE(D(x_p), 1), the non-saturating generator loss;
        - ``acc_real``, ``acc_recon``, ``acc_sampled``: accuracy per group (logit > 0: "real").
        """
        b = len(x)
        logits, features = self(torch.cat([x, recon, sampled]))
        with torch.autocast(device_type=x.device.type, enabled=False):
            logits, features = logits.float(), features.float()
            real, rec, smp = logits.split(b)
            ones, zeros = torch.ones_like(real), torch.zeros_like(real)
            bce = F.binary_cross_entropy_with_logits
            return {
                "features_real": features[:b],
                "features_recon": features[b : 2 * b],
                "bce_real": bce(real, ones),
                "bce_recon": bce(rec, zeros),
                "bce_sampled": bce(smp, zeros),
                "generator": bce(rec, ones) + bce(smp, ones),
                "acc_real": (real > 0).float().mean(),
                "acc_recon": (rec < 0).float().mean(),
                "acc_sampled": (smp < 0).float().mean(),
            }
