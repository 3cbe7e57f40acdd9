"""Skeletal pooling and the graph hourglass of GraphSH (Xu & Takano, CVPR 2021, Sec. 3.2-3.3),
and the squeeze-and-excitation block of its output head.

Pooling and unpooling are built from ONE grouping table (``Skeleton.pool_groups``): coarse node k
is the max over the fine joints of group k, and unpooling copies coarse node k back to exactly
those joints. (The public unofficial port hard-codes a second, inverse table for unpooling that
sends the right leg's feature to the left leg and vice versa; deriving both from one table rules
that out; ``GraphHourglass(unpool_groups=...)`` can still reproduce it for the port's weights.)
Both are one gather (+ a max), with no loop over joints.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from motionzoo.nn.graph import GraphConvBNReLUDropout
from motionzoo.nn.kernels import pair_max

Groups = Sequence[Sequence[int]]


def _check_partition(groups: Groups) -> int:
    """Number of fine nodes, after checking that ``groups`` partitions 0..N-1."""
    flat = sorted(j for group in groups for j in group)
    if any(len(group) == 0 for group in groups) or flat != list(range(len(flat))):
        raise ValueError(
            f"pooling groups {[tuple(g) for g in groups]} must partition the fine nodes "
            f"0..N-1, each node in exactly one non-empty group"
        )
    return len(flat)


class SkeletalPool(nn.Module):
    """Max over each group of fine nodes: x (N_fine, B, C) node-major -> (N_coarse, B, C).

    One gather (groups of unequal sizes padded by repeating a member, which leaves the max
    unchanged) and an amax over each group. With ``fused_kernels``, a table of pairs
    (GraphSH's) uses ``motionzoo.nn.kernels.pair_max`` instead: the same values and gradients.
    """

    def __init__(self, groups: Groups, fused_kernels: bool = True):
        super().__init__()
        self.num_fine = _check_partition(groups)
        self.num_coarse = len(groups)
        size = max(len(g) for g in groups)
        index = torch.tensor([list(g) + [g[0]] * (size - len(g)) for g in groups])
        self.register_buffer("index", index, persistent=False)
        self.pairs = fused_kernels and all(len(g) == 2 for g in groups)
        if self.pairs:
            pairs = index.t().flatten()  # [first members; second members], a permutation
            self.register_buffer("pair_index", pairs, persistent=False)
            self.register_buffer("pair_inverse", torch.argsort(pairs), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pairs:
            return pair_max(x, self.pair_index, self.pair_inverse)
        # (N_coarse * G, B, C) gathered -> (N_coarse, G, B, C) -> max over the group.
        gathered = x.index_select(0, self.index.flatten())
        return gathered.unflatten(0, self.index.shape).amax(dim=1)

    def extra_repr(self) -> str:
        return f"{self.num_fine} -> {self.num_coarse} nodes, pair_max={self.pairs}"


class SkeletalUnpool(nn.Module):
    """Copy each coarse node back to the fine nodes of its group: x (N_coarse, B, C) ->
    (N_fine, B, C). ``groups`` is the same table as the matching ``SkeletalPool``."""

    def __init__(self, groups: Groups):
        super().__init__()
        self.num_fine = _check_partition(groups)
        self.num_coarse = len(groups)
        parent = torch.empty(self.num_fine, dtype=torch.long)
        for k, group in enumerate(groups):
            parent[list(group)] = k
        self.register_buffer("parent", parent, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(0, self.parent)

    def extra_repr(self) -> str:
        return f"{self.num_coarse} -> {self.num_fine} nodes"


class GraphHourglass(nn.Module):
    """One graph hourglass over S scales (GraphSH Fig. 3; S = 3: 16, 8, 4 joints).

    Encoder: at scale s a GConv widths[s] -> widths[s+1] (the coarsest keeps its width), then a
    skeletal pool. Decoder: unpool, add the encoder feature of that scale (skip), GConv back to
    widths[s]. A residual connection adds the input to the output. With widths (64, 96, 128):
    GConv(16, 64->96) pool GConv(8, 96->128) pool GConv(4, 128->128) unpool+skip
    GConv(8, 128->96) unpool+skip GConv(16, 96->64), + input.

    Args:
        adjacencies: S dense adjacencies, finest first ((16,16), (8,8), (4,4)).
        pool_groups: S-1 grouping tables, table s pooling scale s into scale s+1.
        widths: S channel counts, finest first; input and output have widths[0] channels.
        conv: graph convolution name (``motionzoo.nn.graph.GRAPH_CONVS``).
        dropout: dropout after each GConv's ReLU.
        decouple: separate self / neighbour weights; ``None`` takes the conv's default.
        fused_kernels: the GConvs' and pools' fused CPU kernels (``motionzoo.nn.kernels``);
            ``False``: plain BatchNorm -> ReLU -> Dropout and gather + amax.
        unpool_groups: the tables unpooling reads, if not ``pool_groups`` (only to reproduce a
            reference that unpools with another table, e.g. ``H36M_16_PORT_UNPOOL_GROUPS``).

    x: (J, B, widths[0]) node-major -> (J, B, widths[0]).
    """

    def __init__(
        self,
        adjacencies: Sequence[torch.Tensor],
        pool_groups: Sequence[Groups],
        widths: Sequence[int],
        conv: str = "preagg",
        dropout: float = 0.25,
        decouple: bool | None = None,
        fused_kernels: bool = True,
        unpool_groups: Sequence[Groups] | None = None,
    ):
        super().__init__()
        scales = len(adjacencies)
        unpool_groups = pool_groups if unpool_groups is None else unpool_groups
        if len(pool_groups) != scales - 1 or len(widths) != scales:
            raise ValueError(
                f"an hourglass over {scales} scales needs {scales - 1} pooling tables and "
                f"{scales} widths, got {len(pool_groups)} and {len(widths)}"
            )
        if len(unpool_groups) != scales - 1:
            raise ValueError(
                f"an hourglass over {scales} scales needs {scales - 1} unpooling tables, "
                f"got {len(unpool_groups)}"
            )
        for s, (groups, inverse) in enumerate(zip(pool_groups, unpool_groups)):
            fine, coarse = adjacencies[s].shape[0], adjacencies[s + 1].shape[0]
            for kind, table in (("pooling", groups), ("unpooling", inverse)):
                if _check_partition(table) != fine or len(table) != coarse:
                    raise ValueError(
                        f"{kind} table {s} maps {_check_partition(table)} -> {len(table)} "
                        f"nodes, but the adjacencies have {fine} -> {coarse}"
                    )
        deeper = [widths[min(s + 1, scales - 1)] for s in range(scales)]

        def gconv(s: int, c_in: int, c_out: int) -> GraphConvBNReLUDropout:
            return GraphConvBNReLUDropout(
                conv, c_in, c_out, adjacencies[s], dropout, decouple, fused_kernels
            )

        self.down = nn.ModuleList(gconv(s, widths[s], deeper[s]) for s in range(scales))
        self.up = nn.ModuleList(gconv(s, deeper[s], widths[s]) for s in range(scales - 1))
        self.pool = nn.ModuleList(SkeletalPool(groups, fused_kernels) for groups in pool_groups)
        self.unpool = nn.ModuleList(SkeletalUnpool(groups) for groups in unpool_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips, out = [], x
        for s, conv in enumerate(self.down):
            out = conv(self.pool[s - 1](out) if s > 0 else out)
            skips.append(out)
        for s in reversed(range(len(self.up))):
            # the unpooled copy is fresh, so the skip is added in place
            out = self.up[s](self.unpool[s](out).add_(skips[s]))
        return out + x


class SqueezeExcitation(nn.Module):
    """Channel attention over a graph (Hu et al. 2018; GraphSH's output head): average over
    nodes -> Linear C -> C/r -> ReLU -> Linear -> sigmoid -> rescale each channel.

    x: (J, B, C) node-major -> (J, B, C).
    """

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        if channels % reduction:
            raise ValueError(
                f"SE block: {channels} channels do not divide by reduction {reduction}"
            )
        self.squeeze = nn.Linear(channels, channels // reduction)
        self.excite = nn.Linear(channels // reduction, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.sigmoid(self.excite(torch.relu(self.squeeze(x.mean(dim=0)))))
        return x * scale
