"""FCVAE: the fully connected VAE baseline of the HG-VAE paper (reference ``models/VAE.py``).

motion (B, T, J, 3) mm -> centred and scaled as HGVAE -> flattened (B, J*3*T) (the node-major
layout of HGVAE, time domain) -> encoder 2000-1000-500-100-50 [Linear, GELU, BatchNorm, Dropout]
-> Gaussian head n_z = 50; the decoder mirrors it (50-50-100-500-1000-2000) and ends in a Gaussian
head (mean and learned log-variance, clamped to [-20, 3]) over the J*3*T inputs. On 2700 inputs
it has the reference network's 21.34M parameters (the paper quotes 20.81M: docs/models/fcvae.md).

One latent level: log p(z*) = log N(mu_z; 0, I) (the reference VAE's ``cal_posterior``) and
log p(x | z*) = log p(x | mu_z) for the family's scores and imputation.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from motionzoo.models.families.motion_vae import MotionVAE
from motionzoo.nn.distributions import (
    LOGVAR_MAX,
    LOGVAR_MIN,
    gaussian_kl,
    gaussian_log_prob,
    reparameterize,
)
from motionzoo.nn.modes import evaluating


def _block(i: int, o: int, batch_norm: bool, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(i, o),
        nn.GELU(),
        nn.BatchNorm1d(o) if batch_norm else nn.Identity(),
        nn.Dropout(dropout),
    )


class FCVAE(MotionVAE):
    """Fully connected VAE over (B, T, J, 3) mm motion windows; verbs as
    :class:`~motionzoo.models.families.motion_vae.MotionVAE`.

    Args:
        num_joints, num_frames: J and T (2700 inputs for 18 x 3 x 50).
        hidden: encoder widths (decoder mirrored); latent: n_z.
        batch_norm, dropout: in every hidden block.
        num_actions: > 0 appends an action one-hot to z (conditional decoder).
        imputation_objective, scale_mm, lr, weight_decay, kl_*, ood_quantile, action_names: as
            :class:`~motionzoo.models.hgvae.HGVAE`.
    """

    def __init__(
        self,
        num_joints: int = 18,
        num_frames: int = 50,
        hidden: list[int] = (2000, 1000, 500, 100, 50),
        latent: int = 50,
        batch_norm: bool = True,
        dropout: float = 0.0,
        num_actions: int = 0,
        imputation_objective: str = "joint",
        scale_mm: float = 100.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kl_weight_start: float = 1e-3,
        kl_weight_end: float = 1.0,
        kl_warmup_epochs: int = 200,
        ood_quantile: float = 0.01,
        action_names: list[str] | None = None,
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
        self.register_statistics(num_frames, num_joints, scale_mm)

    def to_features(self, motion: torch.Tensor) -> torch.Tensor:
        """(B, T, J, 3) mm -> (B, J*3*T) model units."""
        return rearrange(self.normalise(motion), "b t j c -> b (j c t)")

    def to_motion(self, x: torch.Tensor) -> torch.Tensor:
        """(B, J*3*T) model units -> (B, T, J, 3) mm."""
        return self.denormalise(
            rearrange(x, "b (j c t) -> b t j c", c=3, t=self.hparams.num_frames)
        )

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z | x): features (B, J*3*T) -> (mu, logvar), each (B, n_z)."""
        h = self.encoder(x)
        return self.z_mean(h), self.z_logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def decode(self, z: torch.Tensor, action=None) -> tuple[torch.Tensor, torch.Tensor]:
        """p(x | z): z (B, n_z) -> (mu, logvar), each (B, J*3*T)."""
        onehot = self.action_onehot(action, z)
        if onehot is not None:
            z = torch.cat([z, onehot], -1)
        h = self.decoder(z)
        return self.x_mean(h), self.x_logvar(h).clamp(LOGVAR_MIN, LOGVAR_MAX)

    def forward(self, motion: torch.Tensor, action=None, sample: bool = True) -> dict:
        """motion (B, T, J, 3) mm -> ``mu``, ``logvar``, ``nll`` (B,), ``kl`` [(B,)] (family)."""
        self.check_motion("forward", motion)
        x = self.to_features(motion)
        mu_z, logvar_z = self.posterior(x)
        z = reparameterize(mu_z, logvar_z) if sample else mu_z
        mu, logvar = self.decode(z, action)
        nll = -gaussian_log_prob(x, mu, logvar).sum(1)
        return {"mu": mu, "logvar": logvar, "nll": nll, "kl": [gaussian_kl(mu_z, logvar_z).sum(1)]}

    @evaluating
    def encode(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """motion (B, T, J, 3) mm -> posterior mean (B, n_z)."""
        self.check_motion("encode", motion)
        return self.z_mean(self.encoder(self.to_features(motion)))

    def log_joint_terms(self, motion: torch.Tensor, action=None):
        """(log p(x | mu_z) (B,), log N(mu_z; 0, I) (B, 1)), model units; the second is the
        reference VAE's imputation objective (``cal_posterior``)."""
        mu_z, _ = self.posterior(self.to_features(motion))
        log_prior = gaussian_log_prob(mu_z, torch.zeros_like(mu_z), torch.zeros_like(mu_z))
        mu, logvar = self.decode(mu_z, action)
        log_lik = gaussian_log_prob(self.to_features(motion), mu, logvar).sum(1)
        return log_lik, log_prior.sum(1, keepdim=True)

    def sample_prior(self, n: int, action, level: int | None) -> torch.Tensor:
        """Decoder mean (n, J*3*T) of n samples z ~ N(0, I); ``level=0``: of z = 0."""
        z = self.offset.new_zeros(n, self.hparams.latent)
        if level != 0:
            z = torch.randn_like(z)
        return self.decode(z, action)[0]
