"""FCVAE: the fully connected VAE baseline of the HG-VAE paper (reference ``models/VAE.py``).

motion (B, T, J, 3) mm -> centred and scaled as HGVAE -> flattened (B, J*3*T) (the node-major
layout of HGVAE, time domain) -> encoder 2000-1000-500-100 [Linear, GELU, BatchNorm, Dropout]
-> Gaussian head n_z = 50; the decoder mirrors it and ends in a Gaussian head (mean and learned
log-variance, clamped to [-20, 3]) over the J*3*T inputs.

Parameters on 2700 inputs: 21.34M with the two 2000 -> 2700 output heads (the paper quotes
20.81M; the reference code does not pin down the difference). Imputation and OoD share
:class:`~motionzoo.models.hgvae.MotionVAEMixin`; the objective is the reference's
log N(mu_z; 0, I) at the posterior mean.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn
from torchmetrics import MeanMetric

from motionzoo.models.base import ZooModule
from motionzoo.models.hgvae import MotionVAEMixin
from motionzoo.nn.graph_vae import LOGVAR_MAX, LOGVAR_MIN, gaussian_kl, gaussian_log_prob


def _block(i: int, o: int, batch_norm: bool, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(i, o),
        nn.GELU(),
        nn.BatchNorm1d(o) if batch_norm else nn.Identity(),
        nn.Dropout(dropout),
    )


class FCVAE(MotionVAEMixin, ZooModule):
    """Fully connected VAE over (B, T, J, 3) mm motion windows.

    Args:
        num_joints, num_frames: J and T (2700 inputs for 18 x 3 x 50).
        hidden: encoder widths (decoder mirrored); latent: n_z.
        batch_norm, dropout: in every hidden block.
        num_actions: > 0 appends an action one-hot to z (conditional decoder).
        scale_mm, lr, weight_decay, kl_*: as :class:`~motionzoo.models.hgvae.HGVAE`.
    """

    def __init__(
        self,
        num_joints: int = 18,
        num_frames: int = 50,
        hidden: list[int] = (2000, 1000, 500, 100),
        latent: int = 50,
        batch_norm: bool = True,
        dropout: float = 0.0,
        num_actions: int = 0,
        scale_mm: float = 100.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kl_weight_start: float = 1e-3,
        kl_weight_end: float = 1.0,
        kl_warmup_epochs: int = 200,
        ood_quantile: float = 0.01,
    ):
        super().__init__()
        self.save_hyperparameters()
        d = num_joints * 3 * num_frames
        widths = [d, *hidden]
        self.encoder = nn.Sequential(
            *[_block(i, o, batch_norm, dropout) for i, o in zip(widths[:-1], widths[1:])]
        )
        self.z_mean, self.z_logvar = nn.Linear(hidden[-1], latent), nn.Linear(hidden[-1], latent)
        back = [latent + num_actions, *hidden[::-1]]
        self.decoder = nn.Sequential(
            *[_block(i, o, batch_norm, dropout) for i, o in zip(back[:-1], back[1:])]
        )
        self.x_mean, self.x_logvar = nn.Linear(hidden[0], d), nn.Linear(hidden[0], d)
        self.register_buffer("offset", torch.zeros(num_joints, 3))
        self.register_buffer("train_mean", torch.zeros(num_frames, num_joints, 3))
        self.register_buffer("ood_threshold", torch.tensor(float("nan")))
        self.metrics = nn.ModuleDict(
            {
                f"{s}_{k}": MeanMetric()
                for s in ("val", "test")
                for k in ("elbo", "nll", "kl", "mse_mm")
            }
        )

    def to_features(self, motion: torch.Tensor) -> torch.Tensor:
        """(B, T, J, 3) mm -> (B, J*3*T) model units."""
        x = (motion - self.offset) / self.hparams.scale_mm
        return rearrange(x, "b t j c -> b (j c t)")

    def to_motion(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "b (j c t) -> b t j c", c=3, t=self.hparams.num_frames)
        return x * self.hparams.scale_mm + self.offset

    def encode(self, motion: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.to_features(motion))
        return self.z_mean(h), self.z_logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def decode(self, z: torch.Tensor, action=None) -> tuple[torch.Tensor, torch.Tensor]:
        k = self.hparams.num_actions
        if k:
            onehot = z.new_zeros(z.shape[0], k)
            if action is not None:
                a = torch.as_tensor(action, device=z.device).long().expand(z.shape[0])
                onehot[a >= 0, a[a >= 0]] = 1.0
            z = torch.cat([z, onehot], -1)
        h = self.decoder(z)
        return self.x_mean(h), self.x_logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def forward(self, motion: torch.Tensor, action=None, sample: bool = True) -> dict:
        mu_z, logvar_z = self.encode(motion)
        z = mu_z + torch.randn_like(mu_z) * (0.5 * logvar_z).exp() if sample else mu_z
        mu, logvar = self.decode(z, action)
        nll = -gaussian_log_prob(self.to_features(motion), mu, logvar).sum(1)
        return {"mu": mu, "logvar": logvar, "nll": nll, "kl": gaussian_kl(mu_z, logvar_z).sum(1)}

    def kl_weight(self) -> float:
        h = self.hparams
        progress = (
            1.0 if h.kl_warmup_epochs <= 0 else min(1.0, self.current_epoch / h.kl_warmup_epochs)
        )
        return h.kl_weight_start + (h.kl_weight_end - h.kl_weight_start) * progress

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        motion = batch["motion"]
        out = self(motion, batch.get("action") if self.hparams.num_actions else None)
        nll, kl = out["nll"].mean(), out["kl"].mean()
        if stage == "train":
            loss = nll + self.kl_weight() * kl
            self.log_terms(stage, {"loss": loss, "nll": nll, "kl": kl}, batch_size=len(motion))
            return loss
        self.log_terms(stage, {"loss": nll + kl}, batch_size=len(motion))
        mse = (self.to_motion(out["mu"]) - motion).square().flatten(1).mean(1)
        for key, value in (
            ("elbo", -(out["nll"] + out["kl"])),
            ("nll", out["nll"]),
            ("kl", out["kl"]),
            ("mse_mm", mse),
        ):
            metric = self.metrics[f"{stage}_{key}"]
            metric.update(value.detach())
            self.log(f"{stage}/{key}", metric, on_epoch=True, batch_size=len(motion))
        return nll + kl

    def _log_posterior(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """log N(mu_z; 0, I) at the posterior mean (the reference VAE's imputation objective)."""
        mu_z, _ = self.encode(motion)
        return gaussian_log_prob(mu_z, torch.zeros_like(mu_z), torch.zeros_like(mu_z)).sum(1)

    @torch.no_grad()
    def log_posterior(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        return self._log_posterior(motion, action)

    @torch.no_grad()
    def reconstruct(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        return self.to_motion(self(motion, action, sample=False)["mu"])

    @torch.no_grad()
    def generate(self, n: int, action=None, level: int | None = None) -> torch.Tensor:
        """n samples (n, T, J, 3) mm; ``level=0`` decodes the prior mean (one level only)."""
        z = self.offset.new_zeros(n, self.hparams.latent)
        if level != 0:
            z = torch.randn_like(z)
        return self.to_motion(self.decode(z, action)[0])
