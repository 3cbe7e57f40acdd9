"""Baselines of the paper models (HG-VAE: FCVAE, HMVAE; Hamiltonian VAE: DSVAE)."""

from motionzoo.models.baselines.dsvae import DSVAE
from motionzoo.models.baselines.fcvae import FCVAE
from motionzoo.models.baselines.hmvae import HMVAE

__all__ = ["DSVAE", "FCVAE", "HMVAE"]
