"""Similarity Procrustes alignment of point sets (the alignment of P-MPJPE, Protocol #2).

Same solution as VideoPose3D ``common/loss.py`` ``p_mpjpe`` (orthogonal Procrustes by SVD with the
reflection fix on the sign of det R, Umeyama's optimal scale), batched over any leading dims.
"""

from __future__ import annotations

import torch


def procrustes_align(pred: torch.Tensor, target: torch.Tensor, scale: bool = True) -> torch.Tensor:
    """Align ``pred`` onto ``target`` by the best proper rotation, scale (if ``scale``) and
    translation in the least-squares sense.

    pred, target: (..., J, 3). Returns (..., J, 3) in ``pred``'s dtype: a s pred R + t, with R a
    rotation (det +1, never a reflection), row-vector convention.

    Computed in float64. A degenerate ``pred`` (all points equal) gets scale 0, i.e. every point
    lands on the target's centroid; a degenerate ``target`` gives the target back. Neither
    produces NaN.
    """
    if pred.shape != target.shape or pred.shape[-1] != 3 or pred.dim() < 2:
        raise ValueError(
            f"procrustes_align expects pred and target of the same shape (..., J, 3), "
            f"got {tuple(pred.shape)} and {tuple(target.shape)}"
        )
    x = pred.to(torch.float64)
    y = target.to(torch.float64)
    mu_x = x.mean(dim=-2, keepdim=True)
    mu_y = y.mean(dim=-2, keepdim=True)
    x0, y0 = x - mu_x, y - mu_y

    # argmin_R |x0 R - y0|: H = x0^T y0 = U S V^T, R = U D V^T with D = diag(1, 1, sign det(U V^T)).
    u, s, vh = torch.linalg.svd(x0.transpose(-1, -2) @ y0)
    sign = torch.where(torch.linalg.det(u @ vh) < 0, -1.0, 1.0).to(torch.float64)
    d = torch.ones_like(s)
    d[..., -1] = sign
    rotation = (u * d.unsqueeze(-2)) @ vh

    if scale:
        # Umeyama: a = tr(S D) / |x0|^2; 0 when pred is a single repeated point.
        norm2 = x0.square().sum(dim=(-2, -1))
        a = (s * d).sum(dim=-1) / norm2.clamp_min(torch.finfo(torch.float64).tiny)
        a = torch.where(norm2 > 0, a, torch.zeros_like(a))[..., None, None]
    else:
        a = 1.0
    aligned = a * (x0 @ rotation) + mu_y
    return aligned.to(pred.dtype)
