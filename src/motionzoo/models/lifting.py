"""What every 2D->3D lifting model of the zoo shares (LinearLifter, GraphSH, SeqRes).

A lifter maps screen-normalised 2D joints ``(B, J, 2)`` to root-relative 3D joints ``(B, J, 3)``
in millimetres; the network itself works in units of ``pose_scale`` mm (metres by default) so
its outputs are of order one. Training minimises the MSE; validation and test report MPJPE
(Protocol #1), P-MPJPE (Protocol #2), 3D-PCK and AUC, with the per-action breakdown.
"""

from __future__ import annotations

import torch
from torch import nn

from motionzoo.metrics.pose import AUC3D, MPJPE, PCK3D, PMPJPE
from motionzoo.models.base import ZooModule
from motionzoo.skeleton import H36M_ACTIONS


class LiftingModule(ZooModule):
    """Base of the lifters: subclasses build ``self.net`` mapping (B, J, 2) -> (B, J, 3)."""

    net: nn.Module

    def __init__(self, num_joints: int = 17, pose_scale: float = 1000.0, action_names=H36M_ACTIONS):
        super().__init__()
        self.num_joints = num_joints
        self.pose_scale = pose_scale
        self.action_names = tuple(action_names)
        metrics = {
            "mpjpe": lambda: MPJPE(num_actions=len(self.action_names)),
            "p_mpjpe": lambda: PMPJPE(num_actions=len(self.action_names)),
            "pck": lambda: PCK3D(num_actions=len(self.action_names)),
            "auc": lambda: AUC3D(num_actions=len(self.action_names)),
        }
        self.val_metrics = nn.ModuleDict({k: make() for k, make in metrics.items()})
        self.test_metrics = nn.ModuleDict({k: make() for k, make in metrics.items()})

    def forward(self, pose2d: torch.Tensor) -> torch.Tensor:
        """pose2d: (B, J, 2) screen-normalised -> (B, J, 3) root-relative mm (root row zero)."""
        pose3d = self.net(pose2d) * self.pose_scale
        return pose3d - pose3d[:, :1]

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred = self.net(batch["pose2d"])
        loss = nn.functional.mse_loss(pred, batch["pose3d"] / self.pose_scale)
        self.log_terms("train", {"loss": loss}, batch_size=len(pred), prog_bar=True)
        return loss

    def _evaluate(self, batch: dict[str, torch.Tensor], stage: str, metrics: nn.ModuleDict):
        pred = self(batch["pose2d"])
        loss = nn.functional.mse_loss(pred / self.pose_scale, batch["pose3d"] / self.pose_scale)
        self.log_terms(stage, {"loss": loss}, batch_size=len(pred))
        for metric in metrics.values():
            metric.update(pred.float(), batch["pose3d"].float(), batch.get("action"))
        return pred

    def validation_step(self, batch, batch_idx):
        return self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch, batch_idx):
        return self._evaluate(batch, "test", self.test_metrics)

    def predict_step(self, batch, batch_idx, dataloader_idx=0):
        return self(batch["pose2d"])

    def _log_metrics(self, stage: str, metrics: nn.ModuleDict) -> dict[str, torch.Tensor]:
        results = {name: metric.compute() for name, metric in metrics.items()}
        for name, value in results.items():
            self.log(f"{stage}/{name}", value, prog_bar=name == "mpjpe")
        for metric in metrics.values():
            metric.reset()
        return results

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.val_metrics)

    def on_test_epoch_end(self) -> None:
        per_action = {
            name: metric.compute_per_action() for name, metric in self.test_metrics.items()
        }
        action_mean = {
            name: metric.compute_action_mean() for name, metric in self.test_metrics.items()
        }
        self._log_metrics("test", self.test_metrics)
        for name in per_action:
            self.log(f"test/{name}_action_mean", action_mean[name])
            for action, value in zip(self.action_names, per_action[name].tolist()):
                if value == value:  # not NaN: the action was in the test set
                    self.log(f"test_per_action/{name}/{action}", value)
        self.per_action_results = {k: v.cpu() for k, v in per_action.items()}
