"""Orthonormal DCT-II / inverse DCT over time as cached matrices (HG-VAE paper, eq. 6-7).

``dct_matrix(n)[k, t] = w_k cos(pi (2t + 1) k / (2n))`` with ``w_0 = sqrt(1/n)`` and
``w_k = sqrt(2/n)`` otherwise: the same transform as ``scipy.fft.dct(x, norm="ortho")``. The
matrix is orthogonal, so the inverse (DCT-III) is its transpose. ``keep`` truncates to the first
``keep`` coefficients (the inverse then returns the least-squares reconstruction from them).

Convention: time is the LAST axis; ``dct(x)`` is ``x @ D.T`` (coefficients on the last axis).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
from torch import nn


@functools.lru_cache(maxsize=32)
def _dct_matrix64(n: int) -> np.ndarray:
    """The float64 master, read-only. Built with NumPy's ``cos``: in PyTorch 2.13 (CPU) the first
    float64 ``torch.cos`` of a process is, in about one process in six, accurate to only ~1e-8,
    and a cached matrix would keep that error for the whole session (test_dct.py)."""
    k = np.arange(n, dtype=np.float64)[:, None]
    t = np.arange(n, dtype=np.float64)[None, :]
    matrix = np.cos(math.pi * (2 * t + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    matrix[0] /= math.sqrt(2.0)
    matrix.flags.writeable = False
    return matrix


def dct_matrix(
    n: int, keep: int | None = None, dtype: torch.dtype = torch.float32, device=None
) -> torch.Tensor:
    """(keep, n) orthonormal DCT-II matrix (rows = frequencies), a new tensor: the float64 master
    per ``n`` is cached and never handed out, so no caller can alter it in place."""
    if n < 1 or (keep is not None and not 1 <= keep <= n):
        raise ValueError(f"dct_matrix: need n >= 1 and 1 <= keep <= n, got n={n}, keep={keep}")
    return torch.tensor(_dct_matrix64(n)[: keep or n], dtype=dtype, device=device)


def dct(x: torch.Tensor, keep: int | None = None) -> torch.Tensor:
    """x (..., T) -> orthonormal DCT-II coefficients (..., keep or T) over the last axis."""
    return x @ dct_matrix(x.shape[-1], keep, x.dtype, x.device).T


def idct(coefficients: torch.Tensor, n: int | None = None) -> torch.Tensor:
    """coefficients (..., K) -> signal (..., n) (n defaults to K): the inverse of :func:`dct`."""
    n = n or coefficients.shape[-1]
    return coefficients @ dct_matrix(
        n, coefficients.shape[-1], coefficients.dtype, coefficients.device
    )


class DCT(nn.Module):
    """DCT-II over the last axis as a (non-persistent) buffer, for use inside models.

    ``forward(x (..., n)) -> (..., keep)``; ``inverse(c (..., keep)) -> (..., n)``.
    """

    def __init__(self, n: int, keep: int | None = None):
        super().__init__()
        self.n, self.keep = n, keep or n
        self.register_buffer("matrix", dct_matrix(n, keep), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.matrix.to(x.dtype).T

    def inverse(self, coefficients: torch.Tensor) -> torch.Tensor:
        return coefficients @ self.matrix.to(coefficients.dtype)
