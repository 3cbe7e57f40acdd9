"""What every 2D->3D lifting model of the zoo shares (LinearLifter, GraphSH, SeqRes).

A lifter maps screen-normalised 2D joints ``(B, J, 2)`` to root-relative 3D joints ``(B, J, 3)``
in millimetres; the network itself works in units of ``pose_scale`` mm (metres by default) so
its outputs are of order one. Training minimises the MSE; validation and test report MPJPE
(Protocol #1), P-MPJPE (Protocol #2), 3D-PCK and AUC, with the per-action breakdown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from pytorch_lightning.utilities import rank_zero_info
from torch import nn

from motionzoo.geometry.camera import Camera, normalize_screen_coordinates
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
        self._report_action_table()

    def lift(
        self,
        pose2d: torch.Tensor | np.ndarray,
        camera: Camera | None = None,
        *,
        res_w: int | None = None,
        res_h: int | None = None,
    ) -> torch.Tensor:
        """2D joints in pixels -> root-relative 3D joints in mm (camera frame).

        pose2d: (..., J, 2) pixels, any batch shape, in the joint order of the model's skeleton.
        camera: the camera the pixels come from (only its image size is used), or give
            ``res_w`` and ``res_h``. Returns (..., J, 3) mm, root joint at 0. Runs in eval mode
            without gradients; the model's train/eval mode is restored afterwards.
        """
        if camera is not None:
            res_w, res_h = camera.res_w, camera.res_h
        if res_w is None or res_h is None:
            raise ValueError(
                "lift needs the image size: pass camera=Camera(...) or res_w and res_h"
            )
        x = torch.as_tensor(pose2d, dtype=torch.float32, device=self.device)
        if x.dim() < 2 or x.shape[-2:] != (self.num_joints, 2):
            raise ValueError(
                f"lift expects pixels (..., {self.num_joints}, 2), got shape {tuple(x.shape)}"
            )
        batch = x.shape[:-2]
        x = normalize_screen_coordinates(x, res_w, res_h).reshape(-1, self.num_joints, 2)
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                out = self(x)
        finally:
            self.train(was_training)
        return out.reshape(*batch, self.num_joints, 3)

    def _report_action_table(self) -> None:
        """Print the per-action table and log it as TensorBoard text ``test/per_action``."""
        metrics = self.trainer.callback_metrics
        overall = {k: float(metrics[f"test/{k}"]) for k in ("pck", "auc") if f"test/{k}" in metrics}
        text = format_action_table(self.per_action_results, self.action_names, **overall)
        rank_zero_info("\n" + text)
        for logger in self.loggers:
            add_text = getattr(logger.experiment, "add_text", None)
            if add_text is not None:
                markdown = format_action_table(
                    self.per_action_results, self.action_names, markdown=True, **overall
                )
                add_text("test/per_action", markdown, self.global_step)


# Column headers of the Human3.6M per-action tables (Martinez et al. 2017 onwards).
ACTION_ABBREVIATIONS = {
    "Directions": "Dir.", "Discussion": "Disc.", "Eating": "Eat", "Greeting": "Greet",
    "Phoning": "Phone", "Photo": "Photo", "Posing": "Pose", "Purchases": "Purch.",
    "Sitting": "Sit", "SittingDown": "SitD.", "Smoking": "Smoke", "Waiting": "Wait",
    "WalkDog": "WalkD.", "Walking": "Walk", "WalkTogether": "WalkT.",
}  # fmt: skip


def format_action_table(
    per_action: Mapping[str, torch.Tensor],
    action_names: Sequence[str] = H36M_ACTIONS,
    pck: float | None = None,
    auc: float | None = None,
    markdown: bool = False,
) -> str:
    """The papers' Human3.6M table: one column per action + Avg (mean over the actions present,
    Protocol #1 MPJPE and #2 P-MPJPE rows, mm), then 3D-PCK (150 mm) and AUC (0-150 mm) in %.

    per_action: ``{"mpjpe": (A,), "p_mpjpe": (A,), ...}`` as ``LiftingModule.per_action_results``
    (NaN for actions absent from the test set, shown as "-"). ``pck``/``auc``: overall fractions;
    when absent, the mean over actions of the per-action values is shown.
    """
    headers = [ACTION_ABBREVIATIONS.get(a, a) for a in action_names] + ["Avg"]
    rows = []
    for key, label in (("mpjpe", "Protocol #1 (MPJPE)"), ("p_mpjpe", "Protocol #2 (P-MPJPE)")):
        if key in per_action:
            values = torch.as_tensor(per_action[key], dtype=torch.float64)
            cells = [f"{v:.1f}" if v == v else "-" for v in values.tolist()]
            rows.append((label, [*cells, f"{values.nanmean().item():.1f}"]))
    extras = []
    for key, label, value in (("pck", "3D-PCK (150 mm)", pck), ("auc", "AUC (0-150 mm)", auc)):
        if value is None and key in per_action:
            value = torch.as_tensor(per_action[key], dtype=torch.float64).nanmean().item()
        if value is not None:
            extras.append(f"{label}: {100 * value:.1f} %")
    if markdown:
        lines = ["| mm | " + " | ".join(headers) + " |", "|---" * (len(headers) + 1) + "|"]
        lines += [f"| {label} | " + " | ".join(cells) + " |" for label, cells in rows]
        return "\n".join(lines + ([""] + extras if extras else []))
    width = max(len(label) for label, _ in rows) if rows else 10
    cols = [max(len(h), 5) for h in headers]
    lines = [" " * width + "  " + " ".join(h.rjust(c) for h, c in zip(headers, cols))]
    lines += [
        label.ljust(width) + "  " + " ".join(v.rjust(c) for v, c in zip(cells, cols))
        for label, cells in rows
    ]
    return "\n".join(lines + (["   ".join(extras)] if extras else []))
