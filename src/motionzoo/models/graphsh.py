"""GraphSH: Graph Stacked Hourglass Networks for 3D Human Pose Estimation (Xu & Takano, CVPR
2021), a 2D->3D lifter on the 16-joint Human3.6M skeleton.

Network (paper Fig. 2-3): input GConv 2 -> C; N stacked graph hourglasses over 16/8/4-joint
graphs with C/1.5C/2C channels; after each hourglass a 1x1 conv C -> C/N ("intermediate
feature"); the N intermediate features are concatenated (C channels), re-weighted by a
squeeze-and-excitation block (r = 8) and mapped to 3D by a 1x1 conv. Paper defaults: C = 64,
N = 4, dropout 0.25; MSE loss, Adam 1e-4 decayed x0.92 every 20,000 steps, batch 256, gradient
norm clipped to 1 (the configs' ``trainer.gradient_clip_val``).

Parameter counts of paper Table 3 (16 joints, C = 64, N = 4; ``count_parameters``):

| conv               | setting                                  | params    | paper |
| ------------------ | ---------------------------------------- | --------- | ----- |
| ``vanilla``        | coupled (one shared W: Â X W)            | 224,907   | 0.22M |
| ``semantic``       | decoupled self / neighbour W (SemGCN)    | 438,657   | 0.44M |
| ``preagg``         | decoupled, per-node W                    | 3,685,899 | 3.70M |

This module also holds what GraphSH shares with its SeqRes baseline (``GraphLifter``): the
optimiser schedule, ``lift`` from pixels, and the per-action test table in the papers' layout.
"""

from __future__ import annotations

import torch
from torch import nn

import motionzoo.skeleton as skeletons
from motionzoo.models.lifting import LiftingModule
from motionzoo.nn.graph import GRAPH_CONVS, GraphConvBNReLU
from motionzoo.nn.hourglass import GraphHourglass, SqueezeExcitation
from motionzoo.skeleton import H36M_ACTIONS, Skeleton, edges_to_adjacency


def skeleton_by_name(name: str) -> Skeleton:
    """The ``motionzoo.skeleton`` skeleton whose ``name`` is ``name`` (e.g. ``"h36m_16"``)."""
    known = {s.name: s for s in vars(skeletons).values() if isinstance(s, Skeleton)}
    if name not in known:
        raise ValueError(f"unknown skeleton {name!r}; known: {sorted(known)}")
    return known[name]


def scale_adjacencies(skeleton: Skeleton) -> list[torch.Tensor]:
    """Row-normalised D^-1 (A + I) of the skeleton and of each pooled graph, finest first."""
    if not skeleton.pool_groups:
        raise ValueError(f"skeleton {skeleton.name!r} has no pooling groups (GraphSH needs them)")
    coarse = [
        edges_to_adjacency(edges, len(groups))
        for edges, groups in zip(skeleton.coarse_edges, skeleton.pool_groups)
    ]
    return [skeleton.adjacency(), *coarse]


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (what the papers' "#Params" count)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class GraphSHNet(nn.Module):
    """The GraphSH network: (B, J, 2) screen-normalised -> (B, J, 3), units of ``pose_scale``.

    Args:
        skeleton: a skeleton with ``pool_groups`` and ``coarse_edges`` (``H36M_16``).
        conv: graph convolution name (``vanilla``, ``semantic``, ``preagg``).
        hidden: C, channels at full resolution (hourglass widths C, 1.5C, 2C).
        num_stacks: N hourglasses; each contributes C // N intermediate channels.
        dropout: after every GConv's ReLU (input layer included, as the public code).
        se_reduction: r of the squeeze-and-excitation block.
        decouple: separate self / neighbour weights; ``None`` takes the conv's default.
    """

    def __init__(
        self,
        skeleton: Skeleton,
        conv: str = "preagg",
        hidden: int = 64,
        num_stacks: int = 4,
        dropout: float = 0.25,
        se_reduction: int = 8,
        decouple: bool | None = None,
    ):
        super().__init__()
        if hidden % num_stacks:
            raise ValueError(f"hidden={hidden} must divide by num_stacks={num_stacks}")
        adjacencies = scale_adjacencies(skeleton)
        widths = [hidden, hidden * 3 // 2, hidden * 2][: len(adjacencies)]
        widths += [widths[-1]] * (len(adjacencies) - len(widths))
        self.input = GraphConvBNReLU(conv, 2, hidden, adjacencies[0], dropout, decouple)
        self.hourglasses = nn.ModuleList(
            GraphHourglass(adjacencies, skeleton.pool_groups, widths, conv, dropout, decouple)
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


class GraphLifter(LiftingModule):
    """What GraphSH and its SeqRes baseline share on top of ``LiftingModule``: a named skeleton
    and graph convolution, and Adam with the paper's staircase decay."""

    def __init__(self, skeleton: str, conv: str, pose_scale: float, action_names) -> None:
        layout = skeleton_by_name(skeleton)
        super().__init__(
            num_joints=layout.num_joints, pose_scale=pose_scale, action_names=action_names
        )
        if conv not in GRAPH_CONVS:
            raise ValueError(
                f"unknown graph convolution {conv!r}; choose one of {sorted(GRAPH_CONVS)}"
            )
        self.skeleton = layout

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, fused=self._fused_adam()
        )
        decay, every = self.hparams.lr_decay, self.hparams.lr_decay_steps
        # lr * decay^floor(step / every): the public code's lr_decay, applied every 20k steps.
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: decay ** (step // every)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def _fused_adam(self) -> bool:
        """Adam's fused kernel (the same update; 3x faster a step on CPU) where Lightning allows
        it: mixed precision refuses gradient clipping with a fused optimizer."""
        precision = str(self._trainer.precision) if self._trainer is not None else "32-true"
        devices = {p.device.type for p in self.parameters()}
        return precision.startswith(("32", "64")) and devices <= {"cpu", "cuda"}


class GraphSH(GraphLifter):
    """Graph Stacked Hourglass lifter (Xu & Takano, CVPR 2021).

    Args:
        conv: graph convolution: ``"preagg"`` (paper's best, 3.70M params), ``"semantic"``
            (SemGConv, 0.44M) or ``"vanilla"`` (Kipf, 0.22M).
        hidden: C = 64 -> hourglass channels 64 / 96 / 128.
        num_stacks: stacked hourglasses (4).
        dropout: after every GConv (0.25).
        se_reduction: squeeze-and-excitation reduction r (8).
        decouple: separate self / neighbour weights; ``None``: coupled for vanilla, decoupled
            for semantic and preagg (the settings giving the paper's parameter counts).
        lr, lr_decay, lr_decay_steps: Adam 1e-4, x0.92 every 20,000 optimiser steps.
        skeleton: name of a ``motionzoo.skeleton`` layout with pooling groups (``"h36m_16"``).
        pose_scale: millimetres per network output unit (metres).
        action_names: the test set's action labels, for the per-action table.
    """

    def __init__(
        self,
        conv: str = "preagg",
        hidden: int = 64,
        num_stacks: int = 4,
        dropout: float = 0.25,
        se_reduction: int = 8,
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
        self.net = GraphSHNet(
            self.skeleton, conv, hidden, num_stacks, dropout, se_reduction, decouple
        )
