"""The lifting family: 2D -> 3D human pose (LinearLifter, SeqRes, GraphSH).

A lifter builds ``self.net``: (B, J, 2) screen-normalised -> (B, J, 3) in units of ``pose_scale``
mm (metres by default, so that the outputs are of order one). The family fixes the verbs:

- ``forward(pose2d)``: (B, J, 2) screen-normalised in [-1, 1] -> (B, J, 3) root-relative mm
  (root row zero). ``predict_step`` returns ``forward(batch["pose2d"])``.
- ``lift(pixels, camera=None, *, res_w=None, res_h=None)``: (..., J, 2) pixels, any batch shape
  -> (..., J, 3) root-relative mm in the camera frame: the eval-mode ``forward`` at inference
  speed (``motionzoo.nn.inference``: BatchNorm folded, no autograd, cache-sized chunks).
- ``_common_step(batch, stage)``: the MSE in units of ``pose_scale`` (``<stage>/loss``); val and
  test also update ``self.metrics``: MPJPE (Protocol #1), P-MPJPE (#2), 3D-PCK (150 mm) and AUC
  (0-150 mm), logged as ``val/mpjpe``, ``val/p_mpjpe``, ``val/pck``, ``val/auc``, ``test/...``;
  a test adds ``test/<m>_action_mean``, ``test_per_action/<m>/<action>`` and the per-action table
  (printed and logged as TensorBoard text ``test/per_action``).
- ``configure_optimizers``: Adam, lr x ``lr_decay`` per ``lr_decay_steps`` optimiser steps, as a
  staircase (GraphSH's code) or continuously (Martinez et al.): ``staircase_decay``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import nn

import motionzoo.skeleton as skeletons
from motionzoo.geometry.camera import Camera, normalize_screen_coordinates
from motionzoo.metrics.pose import AUC3D, MPJPE, PCK3D, PMPJPE, format_action_table
from motionzoo.models.base import ZooModule
from motionzoo.nn.graph import GRAPH_CONVS
from motionzoo.nn.inference import inference_copy
from motionzoo.skeleton import H36M_ACTIONS, Skeleton


def skeleton_by_name(name: str) -> Skeleton:
    """The ``motionzoo.skeleton`` skeleton whose ``name`` is ``name`` (e.g. ``"h36m_16"``)."""
    known = {s.name: s for s in vars(skeletons).values() if isinstance(s, Skeleton)}
    if name not in known:
        raise ValueError(f"unknown skeleton {name!r}; known: {sorted(known)}")
    return known[name]


def count_parameters(module: nn.Module) -> int:
    """Trainable parameters (what the papers' "#Params" count)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


class LiftingModule(ZooModule):
    """Base of the lifters (module docstring); subclasses build ``self.net`` and save their
    hyper-parameters, which include ``lr``, ``lr_decay`` and ``lr_decay_steps``."""

    net: nn.Module
    #: lr * lr_decay ** (step // lr_decay_steps) if True, else lr_decay ** (step / lr_decay_steps).
    staircase_decay: bool = False
    #: Adam's fused kernel where Lightning allows it (``ZooModule.fused_adam``).
    use_fused_adam: bool = False

    def __init__(self, num_joints: int = 17, pose_scale: float = 1000.0, action_names=H36M_ACTIONS):
        super().__init__()
        self.num_joints = num_joints
        self.pose_scale = pose_scale
        self.action_names = tuple(action_names)
        actions = len(self.action_names)
        self.add_metrics(
            lambda: {
                "mpjpe": MPJPE(num_actions=actions),
                "p_mpjpe": PMPJPE(num_actions=actions),
                "pck": PCK3D(num_actions=actions),
                "auc": AUC3D(num_actions=actions),
            }
        )

    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        """pose2d: (B, J, 2) screen-normalised -> (B, J, 3) root-relative mm (root row zero)."""
        self.check_shape("forward", pose2d, "pose2d", "B J 2", J=self.num_joints)
        return self._root_relative_mm(self.net(pose2d))

    def _root_relative_mm(self, pose3d: torch.Tensor) -> torch.Tensor:
        """The network's (B, J, 3) in units of ``pose_scale`` -> root-relative mm."""
        pose3d = pose3d * self.pose_scale
        return pose3d - pose3d[:, :1]

    def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        target = batch["pose3d"] / self.pose_scale
        if stage == "train":
            # Every joint of the network's output is fitted, the root to zero (Martinez et al.).
            pred = self.net(batch["pose2d"])
            loss = nn.functional.mse_loss(pred, target)
            self.log_terms(stage, {"loss": loss}, batch_size=len(pred), prog_bar=True)
            return loss
        pred = self(batch["pose2d"])
        loss = nn.functional.mse_loss(pred / self.pose_scale, target)
        self.log_terms(stage, {"loss": loss}, batch_size=len(pred))
        for metric in self.stage_metrics(stage).values():
            metric.update(pred.float(), batch["pose3d"].float(), batch.get("action"))
        return loss

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self(batch["pose2d"])

    def on_validation_epoch_end(self) -> None:
        self.log_metrics("val", prog_bar=("mpjpe",))

    def on_test_epoch_end(self) -> None:
        metrics = self.stage_metrics("test")
        per_action = {name: metric.compute_per_action() for name, metric in metrics.items()}
        action_mean = {name: metric.compute_action_mean() for name, metric in metrics.items()}
        self.log_metrics("test", prog_bar=("mpjpe",))
        for name in per_action:
            self.log(f"test/{name}_action_mean", action_mean[name])
            for action, value in zip(self.action_names, per_action[name].tolist()):
                if value == value:  # not NaN: the action was in the test set
                    self.log(f"test_per_action/{name}/{action}", value)
        self.per_action_results = {k: v.cpu() for k, v in per_action.items()}
        self._report_action_table()

    def _report_action_table(self) -> None:
        """Print the per-action table and log it as TensorBoard text ``test/per_action``."""
        metrics = self.trainer.callback_metrics
        overall = {k: float(metrics[f"test/{k}"]) for k in ("pck", "auc") if f"test/{k}" in metrics}
        rank_zero_info(
            "\n" + format_action_table(self.per_action_results, self.action_names, **overall)
        )
        for logger in self.loggers:
            add_text = getattr(logger.experiment, "add_text", None)
            if add_text is not None:
                markdown = format_action_table(
                    self.per_action_results, self.action_names, markdown=True, **overall
                )
                add_text("test/per_action", markdown, self.global_step)

    def lift(
        self,
        pose2d: torch.Tensor | np.ndarray,
        camera: Camera | None = None,
        *,
        res_w: int | None = None,
        res_h: int | None = None,
        chunk_size: int | None = None,
    ) -> torch.Tensor:
        """2D joints in pixels -> root-relative 3D joints in mm (camera frame).

        pose2d: (..., J, 2) pixels, any batch shape, in the joint order of the model's skeleton.
        camera: the camera the pixels come from (only its image size is used), or give
            ``res_w`` and ``res_h``. chunk_size: poses per network call; ``None``: 256 on the
            CPU (GraphSH's activations of a chunk, 16 x 256 x 128 floats, stay in a core's L2
            cache: 1.5-2x the poses/s of 4,096 a call), 16,384 on other devices.
            Returns (..., J, 3) mm, root joint at 0: the eval-mode ``forward``, whatever the
            model's mode, which is left as it was.

        Inference only: ``torch.inference_mode`` on ``motionzoo.nn.inference.inference_copy``
        of the network (BatchNorm folded into the preceding layer, adjacencies computed once),
        built anew at each call from the current weights.
        """
        if camera is not None:
            res_w, res_h = camera.res_w, camera.res_h
        if res_w is None or res_h is None:
            raise ValueError(
                "lift needs the image size: pass camera=Camera(...) or res_w and res_h"
            )
        x = torch.as_tensor(pose2d, dtype=torch.float32, device=self.device)
        if chunk_size is None:
            chunk_size = 256 if x.device.type == "cpu" else 16_384
        if not (isinstance(chunk_size, int) and chunk_size >= 1):
            raise ValueError(f"lift: chunk_size must be an integer >= 1, got {chunk_size!r}")
        self.check_shape("lift", x, "pixels", "... J 2", J=self.num_joints)
        batch = x.shape[:-2]
        x = normalize_screen_coordinates(x, res_w, res_h).reshape(-1, self.num_joints, 2)
        out = x.new_empty(len(x), self.num_joints, 3)  # a normal tensor, not an inference one
        with torch.inference_mode():
            net = inference_copy(self.net)
            for chunk, result in zip(x.split(chunk_size), out.split(chunk_size)):
                result.copy_(self._root_relative_mm(net(chunk)))
        return out.reshape(*batch, self.num_joints, 3)

    def configure_optimizers(self):
        h = self.hparams
        fused = {"fused": self.fused_adam()} if self.use_fused_adam else {}
        optimizer = torch.optim.Adam(self.parameters(), lr=h.lr, **fused)
        decay, every, staircase = h.lr_decay, h.lr_decay_steps, self.staircase_decay

        def factor(step: int) -> float:
            return decay ** (step // every if staircase else step / every)

        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


class GraphLifter(LiftingModule):
    """A lifter on a graph of the skeleton's joints (GraphSH, SeqRes): a named skeleton and
    graph convolution, and Adam with GraphSH's staircase decay (its public code).

    Args:
        conv: graph convolution: ``"vanilla"`` (Kipf), ``"semantic"`` (SemGConv) or
            ``"preagg"`` (per-node weights).
        lr, lr_decay, lr_decay_steps: Adam 1e-4, x0.92 every 20,000 optimiser steps (GraphSH's;
            its SeqRes baseline takes the same, so that comparisons vary the architecture only).
        skeleton: name of a ``motionzoo.skeleton`` layout (``"h36m_16"``; GraphSH needs one with
            pooling groups).
        pose_scale: millimetres per network output unit (metres).
        action_names: the test set's action labels, for the per-action table.
        checkpoint_keys: what a checkpoint's hyper-parameters hold besides the arguments
            (``_class_path``, written by ``ZooModule.on_save_checkpoint``); other names raise.

    Subclasses take these through ``**kwargs``; every argument is saved as a hyper-parameter.
    """

    staircase_decay = True
    use_fused_adam = True

    def __init__(
        self,
        conv: str,
        lr: float = 1e-4,
        lr_decay: float = 0.92,
        lr_decay_steps: int = 20_000,
        skeleton: str = "h36m_16",
        pose_scale: float = 1000.0,
        action_names: tuple[str, ...] = H36M_ACTIONS,
        **checkpoint_keys: Any,
    ) -> None:
        # load_from_checkpoint passes every saved hyper-parameter to a class with **kwargs.
        unknown = sorted(k for k in checkpoint_keys if not k.startswith("_"))
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected arguments {unknown}")
        layout = skeleton_by_name(skeleton)
        super().__init__(
            num_joints=layout.num_joints, pose_scale=pose_scale, action_names=action_names
        )
        if conv not in GRAPH_CONVS:
            raise ValueError(
                f"unknown graph convolution {conv!r}; choose one of {sorted(GRAPH_CONVS)}"
            )
        self.skeleton = layout
        # Records these arguments and the calling subclass's (its own and its **kwargs).
        self.save_hyperparameters()
