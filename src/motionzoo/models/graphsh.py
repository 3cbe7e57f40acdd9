"""GraphSH: Graph Stacked Hourglass Networks for 3D Human Pose Estimation (Xu & Takano, CVPR
2021), a lifter (``motionzoo.models.families.lifting``) on the 16-joint Human3.6M skeleton.

Network (paper Fig. 2-3): input GConv 2 -> C; N stacked graph hourglasses over 16/8/4-joint
graphs with C/1.5C/2C channels; after each hourglass a 1x1 conv C -> C/N ("intermediate
feature"); the N intermediate features are concatenated (C channels), re-weighted by a
squeeze-and-excitation block (r = 8) and mapped to 3D by a 1x1 conv. Paper: C = 64, N = 4,
dropout 0.25; MSE, Adam 1e-4 x0.92 every 20,000 steps, batch 256, gradient norm clipped to 1
(the configs' ``trainer.gradient_clip_val``). Parameter counts of paper Table 3 (16 joints):

| conv               | setting                                  | params    | paper |
| ------------------ | ---------------------------------------- | --------- | ----- |
| ``vanilla``        | coupled (one shared W: Â X W)            | 224,907   | 0.22M |
| ``semantic``       | decoupled self / neighbour W (SemGCN)    | 438,657   | 0.44M |
| ``preagg``         | decoupled, per-node W                    | 3,685,899 | 3.70M |

Every ``--gcn`` of the public port (tamasino52/GraphSH) is a ``conv`` / ``decouple`` here, its
parameter count equal to the unit (``tests/convert/test_graphsh.py``); ``motionzoo convert
--from graphsh-<gcn>`` reads its checkpoints. The port differs from the paper's model in two
tables, reproduced only by ``port_leg_swap`` and ``port_coarse_graph`` (docs/models/graphsh.md).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from motionzoo.models.families.lifting import GraphLifter
from motionzoo.nn.graph import GraphConvBNReLUDropout
from motionzoo.nn.hourglass import GraphHourglass, SqueezeExcitation
from motionzoo.skeleton import (
    H36M_16,
    H36M_16_PORT_COARSE_EDGES,
    H36M_16_PORT_UNPOOL_GROUPS,
    Skeleton,
    edges_to_adjacency,
)


def scale_adjacencies(
    skeleton: Skeleton, coarse_edges: tuple[tuple[tuple[int, int], ...], ...] | None = None
) -> list[torch.Tensor]:
    """Row-normalised D^-1 (A + I) of the skeleton and of each pooled graph (edges
    ``coarse_edges``, default the skeleton's), finest first."""
    if not skeleton.pool_groups:
        raise ValueError(f"skeleton {skeleton.name!r} has no pooling groups (GraphSH needs them)")
    coarse = [
        edges_to_adjacency(edges, len(groups))
        for edges, groups in zip(coarse_edges or skeleton.coarse_edges, skeleton.pool_groups)
    ]
    return [skeleton.adjacency(), *coarse]


class GraphSHNet(nn.Module):
    """The GraphSH network: (B, J, 2) screen-normalised -> (B, J, 3), units of ``pose_scale``.

    ``skeleton``: one with ``pool_groups`` and ``coarse_edges`` (``H36M_16``); the other
    arguments are :class:`GraphSH`'s.
    """

    def __init__(
        self,
        skeleton: Skeleton,
        conv: str,
        hidden: int,
        num_stacks: int,
        dropout: float,
        se_reduction: int,
        decouple: bool | None,
        fused_kernels: bool = True,
        port_leg_swap: bool = False,
        port_coarse_graph: bool = False,
    ):
        super().__init__()
        if hidden % num_stacks:
            raise ValueError(f"hidden={hidden} must divide by num_stacks={num_stacks}")
        if (port_leg_swap or port_coarse_graph) and skeleton.name != H36M_16.name:
            raise ValueError(
                f"port_leg_swap / port_coarse_graph reproduce the GraphSH port's tables of the "
                f"{H36M_16.name!r} skeleton; got skeleton {skeleton.name!r}"
            )
        adjacencies = scale_adjacencies(
            skeleton, H36M_16_PORT_COARSE_EDGES if port_coarse_graph else None
        )
        unpool_groups = H36M_16_PORT_UNPOOL_GROUPS if port_leg_swap else None
        widths = [hidden, hidden * 3 // 2, hidden * 2][: len(adjacencies)]
        widths += [widths[-1]] * (len(adjacencies) - len(widths))
        self.input = GraphConvBNReLUDropout(
            conv, 2, hidden, adjacencies[0], dropout, decouple, fused_kernels
        )
        self.hourglasses = nn.ModuleList(
            GraphHourglass(
                adjacencies,
                skeleton.pool_groups,
                widths,
                conv,
                dropout,
                decouple,
                fused_kernels,
                unpool_groups,
            )
            for _ in range(num_stacks)
        )
        # 1x1 convs over nodes are Linear layers on the channel axis.
        self.intermediate = nn.ModuleList(
            nn.Linear(hidden, hidden // num_stacks) for _ in range(num_stacks)
        )
        self.attention = SqueezeExcitation(hidden, se_reduction)
        self.output = nn.Linear(hidden, 3)

    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        """pose2d: (B, J, 2) -> (B, J, 3)."""
        # Node-major (J, B, C) inside: per-node weights and aggregation are then single matmuls.
        x, features = self.input(pose2d.transpose(0, 1).contiguous()), []
        for hourglass, intermediate in zip(self.hourglasses, self.intermediate):
            x = hourglass(x)
            features.append(intermediate(x))
        return self.output(self.attention(torch.cat(features, dim=-1))).transpose(0, 1)


class GraphSH(GraphLifter):
    """Graph Stacked Hourglass lifter (Xu & Takano, CVPR 2021).

    Args:
        conv: graph convolution: ``"preagg"`` (paper's best, 3.70M params), ``"semantic"``
            (SemGConv, 0.44M) or ``"vanilla"`` (Kipf, 0.22M); the port's other ``--gcn``
            choices: ``"postagg"``, ``"convstyle"``, ``"nosharing"``, ``"modulated"``
            (``motionzoo.nn.graph``).
        hidden: C = 64 -> hourglass channels 64 / 96 / 128.
        num_stacks: N stacked hourglasses (4); each contributes C // N intermediate channels.
        dropout: after every GConv's ReLU, input layer included as in the public code (0.25).
        se_reduction: squeeze-and-excitation reduction r (8).
        decouple: separate self / neighbour weights; ``None``: coupled for vanilla, decoupled
            for semantic and preagg (the settings giving the paper's parameter counts).
        fused_kernels: the fused CPU kernels of ``motionzoo.nn.kernels`` (BatchNorm -> ReLU ->
            Dropout as one node, pair-max pooling); ``False``: plain PyTorch, the same model.
        port_leg_swap: unpool 8 -> 16 nodes as the public port does, the right lower leg's
            coarse feature to the left knee and foot and vice versa (its defect; only to run
            its weights, ``H36M_16_PORT_UNPOOL_GROUPS``).
        port_coarse_graph: the port's 4-node graph, a chain legs - hips/torso - arms -
            thorax/head+shoulders (its defect: the arms hang on the torso; only to run its
            weights, ``H36M_16_PORT_COARSE_EDGES``).
        kwargs: ``lr``, ``lr_decay``, ``lr_decay_steps``, ``skeleton`` (one with pooling
            groups), ``pose_scale``, ``action_names`` of :class:`GraphLifter`.
    """

    def __init__(
        self,
        conv: str = "preagg",
        hidden: int = 64,
        num_stacks: int = 4,
        dropout: float = 0.25,
        se_reduction: int = 8,
        decouple: bool | None = None,
        fused_kernels: bool = True,
        port_leg_swap: bool = False,
        port_coarse_graph: bool = False,
        **kwargs: Any,
    ):
        super().__init__(conv, **kwargs)
        self.net = GraphSHNet(
            self.skeleton,
            conv,
            hidden,
            num_stacks,
            dropout,
            se_reduction,
            decouple,
            fused_kernels,
            port_leg_swap,
            port_coarse_graph,
        )
