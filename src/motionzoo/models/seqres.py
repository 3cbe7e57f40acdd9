"""SeqRes: the sequential residual graph-convolution lifter that GraphSH compares against
(SemGCN's architecture, Zhao et al. CVPR 2019, without non-local blocks; Liu et al. ECCV 2020
use it for every weight-sharing variant).

Network: input GConv 2 -> C, then ``num_blocks`` residual blocks x + GConv(GConv(x)) at C
channels, then a bare graph conv C -> 3 (no BatchNorm / ReLU). Every GConv is graph conv ->
BatchNorm -> ReLU (-> dropout), all on the full 16-joint graph. A lifter of
``motionzoo.models.families.lifting``. Parameter counts of GraphSH paper Table 3 (16 joints,
C = 128, 4 blocks; why vanilla is 3.4 % below 0.14M: docs/models/seqres.md):

| conv          | setting                                | params    | paper |
| ------------- | -------------------------------------- | --------- | ----- |
| ``vanilla``   | coupled (one shared W: Â X W)          | 135,171   | 0.14M |
| ``semantic``  | decoupled self / neighbour W (SemGCN)  | 267,343   | 0.27M |
| ``preagg``    | decoupled, per-node W                  | 4,218,243 | 4.22M |

``non_local=True`` adds SemGCN's non-local blocks (``motionzoo.nn.non_local``) after the input
GConv and after every residual block: ``SeqRes(conv="semantic", non_local=True)`` is SemGCN with
non-local blocks (434,703 params, its README's 0.43M), ``SeqRes(conv="semantic")`` SemGCN without
(267,343). Both compute the reference's function on its converted weights
(``motionzoo.convert``, ``tests/convert/test_semgcn.py``). SemGCN's ``p_dropout`` sits after each ReLU
followed by a second ReLU, which is the same function as our ``dropout``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from motionzoo.models.families.lifting import GraphLifter
from motionzoo.nn.graph import GraphConvBNReLUDropout, graph_conv
from motionzoo.nn.non_local import GraphNonLocal


class ResidualGraphConv(nn.Module):
    """x + GConv(GConv(x)) at constant width (SemGCN ``_ResGraphConv``)."""

    def __init__(
        self, conv: str, channels: int, adjacency: torch.Tensor, dropout: float, decouple, fused
    ):
        super().__init__()
        self.layers = nn.Sequential(
            GraphConvBNReLUDropout(conv, channels, channels, adjacency, dropout, decouple, fused),
            GraphConvBNReLUDropout(conv, channels, channels, adjacency, dropout, decouple, fused),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class SeqResNet(nn.Module):
    """(B, J, 2) screen-normalised -> (B, J, 3), units of ``pose_scale``; ``adjacency``
    (J, J) of the skeleton, ``non_local_groups`` the joint groups of the non-local blocks
    (``None``: none), the other arguments :class:`SeqRes`'s.

    With non-local blocks, ``blocks`` interleaves them with the residual blocks (SemGCN's
    ``gconv_layers``) and ``input_non_local`` follows ``input``."""

    def __init__(
        self,
        adjacency: torch.Tensor,
        conv: str,
        hidden: int,
        num_blocks: int,
        dropout: float,
        decouple: bool | None,
        fused_kernels: bool = True,
        non_local_groups: tuple[tuple[int, ...], ...] | None = None,
    ):
        super().__init__()
        self.input = GraphConvBNReLUDropout(
            conv, 2, hidden, adjacency, dropout, decouple, fused_kernels
        )
        self.input_non_local = (
            nn.Identity() if non_local_groups is None else GraphNonLocal(hidden, non_local_groups)
        )
        blocks = []
        for _ in range(num_blocks):
            blocks.append(
                ResidualGraphConv(conv, hidden, adjacency, dropout, decouple, fused_kernels)
            )
            if non_local_groups is not None:
                blocks.append(GraphNonLocal(hidden, non_local_groups))
        self.blocks = nn.Sequential(*blocks)
        self.output = graph_conv(conv, hidden, 3, adjacency, decouple)

    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        # Node-major (J, B, C) inside, as GraphSHNet.
        x = self.input_non_local(self.input(pose2d.transpose(0, 1).contiguous()))
        return self.output(self.blocks(x)).transpose(0, 1)


class SeqRes(GraphLifter):
    """Sequential residual graph-conv baseline of the GraphSH paper.

    Args:
        conv: ``"vanilla"`` (0.14M params), ``"semantic"`` (SemGConv, 0.27M) or ``"preagg"``
            (4.22M).
        hidden: channels (128, SemGCN's).
        num_blocks: residual blocks of two GConvs (4, SemGCN's).
        dropout: after every GConv's ReLU (SemGCN's default: none).
        decouple: ``None``: coupled for vanilla, decoupled for semantic and preagg.
        fused_kernels: the fused CPU BatchNorm -> ReLU -> Dropout kernel of
            ``motionzoo.nn.kernels`` (used when dropout > 0); ``False``: plain PyTorch.
        non_local: SemGCN's non-local blocks after the input GConv and every residual block,
            over the skeleton's first pooling groups (``False``: SemGCN without them, and
            GraphSH's SeqRes baseline).
        kwargs: ``lr``, ``lr_decay``, ``lr_decay_steps`` (GraphSH's), ``skeleton``
            (``"h36m_16"``; ``"h36m_17"`` works), ``pose_scale``, ``action_names`` of
            :class:`GraphLifter`.
    """

    def __init__(
        self,
        conv: str = "preagg",
        hidden: int = 128,
        num_blocks: int = 4,
        dropout: float = 0.0,
        decouple: bool | None = None,
        fused_kernels: bool = True,
        non_local: bool = False,
        **kwargs: Any,
    ):
        super().__init__(conv, **kwargs)
        groups = None
        if non_local:
            if not self.skeleton.pool_groups:
                raise ValueError(
                    f"non_local=True needs joint groups: skeleton {self.skeleton.name!r} has no "
                    f"pool_groups (use h36m_16)"
                )
            groups = self.skeleton.pool_groups[0]
        self.net = SeqResNet(
            self.skeleton.adjacency(),
            conv,
            hidden,
            num_blocks,
            dropout,
            decouple,
            fused_kernels,
            non_local_groups=groups,
        )
