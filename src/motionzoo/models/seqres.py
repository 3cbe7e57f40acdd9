"""SeqRes: the sequential residual graph-convolution lifter that GraphSH compares against
(SemGCN's architecture, Zhao et al. CVPR 2019, without non-local blocks; Liu et al. ECCV 2020
use it for every weight-sharing variant).

Network: input GConv 2 -> C, then ``num_blocks`` residual blocks x + GConv(GConv(x)) at C
channels, then a bare graph conv C -> 3 (no BatchNorm / ReLU). Every GConv is graph conv ->
BatchNorm -> ReLU (-> dropout), all on the full 16-joint graph.

Parameter counts of GraphSH paper Table 3 (16 joints, C = 128, 4 blocks; ``count_parameters``):

| conv          | setting                                | params    | paper |
| ------------- | -------------------------------------- | --------- | ----- |
| ``vanilla``   | coupled (one shared W: Â X W)          | 135,171   | 0.14M |
| ``semantic``  | decoupled self / neighbour W (SemGCN)  | 267,343   | 0.27M |
| ``preagg``    | decoupled, per-node W                  | 4,218,243 | 4.22M |

The vanilla count is 3.4 % below 0.14M but rounds to it at the paper's two decimals (0.1352M);
no other natural setting comes closer (a decoupled vanilla gives 0.27M, SemGCN's own count).
"""

from __future__ import annotations

import torch
from torch import nn

from motionzoo.models.graphsh import GraphLifter
from motionzoo.nn.graph import GraphConvBNReLU, graph_conv
from motionzoo.skeleton import H36M_ACTIONS


class ResidualGraphConv(nn.Module):
    """x + GConv(GConv(x)) at constant width (SemGCN ``_ResGraphConv``)."""

    def __init__(self, conv: str, channels: int, adjacency: torch.Tensor, dropout: float, decouple):
        super().__init__()
        self.layers = nn.Sequential(
            GraphConvBNReLU(conv, channels, channels, adjacency, dropout, decouple),
            GraphConvBNReLU(conv, channels, channels, adjacency, dropout, decouple),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class SeqResNet(nn.Module):
    """(B, J, 2) screen-normalised -> (B, J, 3), units of ``pose_scale``."""

    def __init__(
        self,
        adjacency: torch.Tensor,
        conv: str = "preagg",
        hidden: int = 128,
        num_blocks: int = 4,
        dropout: float = 0.0,
        decouple: bool | None = None,
    ):
        super().__init__()
        self.input = GraphConvBNReLU(conv, 2, hidden, adjacency, dropout, decouple)
        self.blocks = nn.Sequential(
            *(
                ResidualGraphConv(conv, hidden, adjacency, dropout, decouple)
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
        lr, lr_decay, lr_decay_steps: the optimiser schedule; defaults are GraphSH's (Adam 1e-4,
            x0.92 every 20,000 steps) so that the comparison varies the architecture only.
        skeleton: name of a ``motionzoo.skeleton`` layout (``"h36m_16"``; ``"h36m_17"`` works).
        pose_scale: millimetres per network output unit.
        action_names: the test set's action labels, for the per-action table.
    """

    def __init__(
        self,
        conv: str = "preagg",
        hidden: int = 128,
        num_blocks: int = 4,
        dropout: float = 0.0,
        decouple: bool | None = None,
        lr: float = 1e-4,
        lr_decay: float = 0.92,
        lr_decay_steps: int = 20_000,
        skeleton: str = "h36m_16",
        pose_scale: float = 1000.0,
        action_names: tuple[str, ...] = H36M_ACTIONS,
    ):
        super().__init__(skeleton, conv, pose_scale, action_names)
        self.save_hyperparameters()
        self.net = SeqResNet(self.skeleton.adjacency(), conv, hidden, num_blocks, dropout, decouple)
