"""The non-local block over a skeleton's joints that SemGCN (Zhao et al., CVPR 2019, sec. 3.3)
interleaves with its graph convolutions: the concatenation form of Wang et al.'s non-local
neural networks (CVPR 2018, eq. 1 and 4), with keys and values max-pooled over groups of joints.

For node features x_i (C channels) and G joint groups of equal size,

    f_ij = ReLU(w_q . theta(x_i) + w_k . phi_j)      phi_j, g_j: max over group j of phi(x), g(x)
    y_i  = (1 / G) sum_j f_ij g_j
    z_i  = x_i + BN(W y_i)

theta, phi, g: C -> C/2 linear maps, W: C/2 -> C, [w_q; w_k] one (1, C) relation vector.
SemGCN's ``_GraphNonLocal`` reorders the joints so that each group is contiguous, max-pools
pairs with a ``MaxPool1d`` and restores the order; gathering each group's joints is the same
computation without the reordering. As there, the block starts as the identity (BN's scale and
shift are zero) and the other weights are Kaiming-normal with zero biases.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class GraphNonLocal(nn.Module):
    """x: (J, B, C) node-major -> (J, B, C); ``groups``: G tuples of joint indices, all of one
    size (SemGCN: the skeleton's 8 pairs, ``Skeleton.pool_groups[0]``)."""

    def __init__(
        self, channels: int, groups: Sequence[Sequence[int]], inter_channels: int | None = None
    ):
        super().__init__()
        sizes = {len(g) for g in groups}
        if len(sizes) != 1 or not groups:
            raise ValueError(f"non-local groups must all have one size, got sizes {sorted(sizes)}")
        inter = inter_channels or channels // 2
        self.theta = nn.Linear(channels, inter)
        self.phi = nn.Linear(channels, inter)
        self.g = nn.Linear(channels, inter)
        self.relation = nn.Linear(2 * inter, 1, bias=False)
        self.project = nn.Linear(inter, channels)
        self.norm = nn.BatchNorm1d(channels)
        self.register_buffer("groups", torch.tensor(groups, dtype=torch.long), persistent=False)
        for layer in (self.theta, self.phi, self.g, self.relation, self.project):
            nn.init.kaiming_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.norm.weight)
        nn.init.zeros_(self.norm.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (J, B, C) -> (J, B, C)."""
        query = self.theta(x)  # (J, B, I)
        key = self.phi(x)[self.groups].amax(dim=1)  # (G, S, B, I) -> (G, B, I)
        value = self.g(x)[self.groups].amax(dim=1)
        w_query, w_key = self.relation.weight[0].split(query.shape[-1])
        # f_ij = ReLU(w_q . theta_i + w_k . phi_j): (J, 1, B) + (1, G, B) -> (J, G, B)
        f = torch.relu((query @ w_query)[:, None] + (key @ w_key)[None]) / len(self.groups)
        y = torch.einsum("jgb,gbc->jbc", f, value)
        out = self.norm(self.project(y).flatten(0, 1)).view_as(x)
        return x + out
