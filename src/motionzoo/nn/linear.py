"""The fully connected unit of the Martinez et al. (ICCV 2017) lifting baseline, shared by
``LinearLifter`` and the cross-modal VAE's residual pose networks (HPE3D's ``LBAD``): x (B, F).
"""

from __future__ import annotations

import torch
from torch import nn


class LinearBlock(nn.Sequential):
    """Linear -> BatchNorm -> ReLU -> Dropout (HPE3D's ``LBAD``)."""

    def __init__(self, in_features: int, out_features: int, dropout: float):
        super().__init__(
            nn.Linear(in_features, out_features),
            nn.BatchNorm1d(out_features),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )


class ResidualLinearBlock(nn.Module):
    """x + LinearBlock(LinearBlock(x)) at ``width``: Martinez's residual block, HPE3D's pair
    (``LBAD_1``, ``LBAD_2``)."""

    def __init__(self, width: int, dropout: float):
        super().__init__()
        self.layers = nn.Sequential(
            LinearBlock(width, width, dropout), LinearBlock(width, width, dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)
