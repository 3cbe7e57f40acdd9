"""LinearLifter: the simple yet effective baseline of Martinez et al. (ICCV 2017).

(B, J, 2) screen-normalised 2D joints, flattened -> Linear 1024 -> two residual blocks of
[Linear 1024, BatchNorm, ReLU, Dropout 0.5] x 2 -> Linear -> (B, J, 3) in units of
``pose_scale`` mm. Adam 1e-3 with continuous exponential decay lr * 0.96^(step / 100k) and
max-norm gradient clipping 1 (configs set ``trainer.gradient_clip_val``).

``predict_root=False`` is the layout of SemGCN's ``models/linear_model.py`` and
weigq/3d_pose_baseline_pytorch (the Martinez network whose weights SemGCN publishes as
``ckpt_linear``): the output layer predicts the J - 1 non-root joints and the root is zero.
``motionzoo.convert`` maps those weights onto this network (``tests/convert/test_semgcn.py``).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from motionzoo.models.families.lifting import LiftingModule
from motionzoo.nn.linear import LinearBlock, ResidualLinearBlock
from motionzoo.skeleton import H36M_ACTIONS


class LinearNet(nn.Module):
    """(B, J, 2) -> (B, J, 3): 2D joints in, all joints out (the root is re-centred by the
    caller); with ``predict_root=False`` the output layer gives joints 1..J-1 and the root row
    is zero."""

    def __init__(
        self,
        num_joints: int,
        width: int,
        num_blocks: int,
        dropout: float,
        predict_root: bool = True,
    ):
        super().__init__()
        self.predict_root = predict_root
        self.input = LinearBlock(num_joints * 2, width, dropout)
        self.blocks = nn.Sequential(
            *[ResidualLinearBlock(width, dropout) for _ in range(num_blocks)]
        )
        out_joints = num_joints if predict_root else num_joints - 1
        self.output = nn.Linear(width, out_joints * 3)

    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        x = self.output(self.blocks(self.input(rearrange(pose2d, "b j c -> b (j c)"))))
        x = rearrange(x, "b (j c) -> b j c", c=3)
        return x if self.predict_root else nn.functional.pad(x, (0, 0, 1, 0))


class LinearLifter(LiftingModule):
    """Martinez et al. 2017 lifting baseline.

    Args:
        num_joints: joints of the layout (17 for VideoPose3D files, 16 for GraphSH's).
        width: hidden units (1024 in the paper).
        num_blocks: residual blocks (2 in the paper).
        dropout: dropout probability (0.5 in the paper).
        lr: Adam learning rate (1e-3 in the paper).
        lr_decay, lr_decay_steps: lr x 0.96 per 100,000 optimiser steps, continuously (the
            paper's ``lr * decay ** (step / steps)``).
        pose_scale: millimetres per network output unit.
        action_names: the test set's action labels, for the per-action table.
        predict_root: the output layer predicts every joint, the root included (fitted to
            zero); ``False``: only the J - 1 others, the root being zero (SemGCN's and
            3d_pose_baseline_pytorch's layout: 4,288,557 params at 16 joints, not 4,291,632).
    """

    def __init__(
        self,
        num_joints: int = 17,
        width: int = 1024,
        num_blocks: int = 2,
        dropout: float = 0.5,
        lr: float = 1e-3,
        lr_decay: float = 0.96,
        lr_decay_steps: int = 100_000,
        pose_scale: float = 1000.0,
        action_names: tuple[str, ...] = H36M_ACTIONS,
        predict_root: bool = True,
    ):
        super().__init__(num_joints=num_joints, pose_scale=pose_scale, action_names=action_names)
        self.save_hyperparameters()
        self.net = LinearNet(num_joints, width, num_blocks, dropout, predict_root)
