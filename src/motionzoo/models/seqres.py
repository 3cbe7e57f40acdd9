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
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from motionzoo.models.families.lifting import GraphLifter
from motionzoo.nn.graph import GraphConvBNReLUDropout, graph_conv


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
    (J, J) of the skeleton, the other arguments :class:`SeqRes`'s."""

    def __init__(
        self,
        adjacency: torch.Tensor,
        conv: str,
        hidden: int,
        num_blocks: int,
        dropout: float,
        decouple: bool | None,
        fused_kernels: bool = True,
    ):
        super().__init__()
        self.input = GraphConvBNReLUDropout(
            conv, 2, hidden, adjacency, dropout, decouple, fused_kernels
        )
        self.blocks = nn.Sequential(
            *(
                ResidualGraphConv(conv, hidden, adjacency, dropout, decouple, fused_kernels)
                for _ in range(num_blocks)
            )
        )
        self.output = graph_conv(conv, hidden, 3, adjacency, decouple)

    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        # Node-major (J, B, C) inside, as GraphSHNet.
        x = self.input(pose2d.transpose(0, 1).contiguous())
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
        **kwargs: Any,
    ):
        super().__init__(conv, **kwargs)
        self.net = SeqResNet(
            self.skeleton.adjacency(), conv, hidden, num_blocks, dropout, decouple, fused_kernels
        )
