"""Baselines of the paper models (HG-VAE: FCVAE, HMVAE)."""

from motionzoo.models.baselines.dsvae import DSVAE
from motionzoo.models.baselines.fcvae import FCVAE

__all__ = ["DSVAE", "FCVAE"]
