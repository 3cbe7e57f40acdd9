"""3D pose metrics as torchmetrics: MPJPE (Protocol #1), P-MPJPE (Protocol #2), 3DPCK and AUC
(MPI-INF-3DHP), each with an optional per-action breakdown (the papers' per-action tables).

Every metric reduces a pose to one score; ``_PoseErrorMetric`` keeps the running sum and count of
those scores overall and per action. All states are sums (``dist_reduce_fx="sum"``), so DDP
gathering and ``merge_state`` are exact.

Inputs: pred, target (B, J, 3) mm (any leading dims (..., J, 3) are flattened into poses);
action (B,) long or None, -1 meaning unknown (counted in the overall mean only).
``format_action_table`` prints the per-action results in the papers' Human3.6M table layout.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torchmetrics import Metric

from motionzoo.geometry.procrustes import procrustes_align
from motionzoo.skeleton import H36M_ACTIONS


def _joint_errors(
    pred: torch.Tensor, target: torch.Tensor, align_root: bool = False, root_index: int = 0
) -> torch.Tensor:
    """(..., J, 3) -> (..., J) Euclidean distance per joint, after subtracting the root joint
    from both poses when ``align_root``."""
    if align_root:
        pred = pred - pred[..., root_index : root_index + 1, :]
        target = target - target[..., root_index : root_index + 1, :]
    return torch.linalg.vector_norm(pred - target, dim=-1)


class _PoseErrorMetric(Metric):
    """Mean of a per-pose score, overall and per action.

    Subclasses define ``pose_score(pred, target) -> (N,)`` for poses (N, J, 3).

    Args:
        num_actions: size of the per-action breakdown; 0 disables it.
        kwargs: passed to ``torchmetrics.Metric`` (``sync_on_compute``, ``dist_sync_fn``, ...).
    """

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, num_actions: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_actions < 0:
            raise ValueError(f"num_actions must be >= 0, got {num_actions}")
        self.num_actions = num_actions
        self.add_state("score_sum", torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("pose_count", torch.tensor(0), dist_reduce_fx="sum")
        if num_actions:
            self.add_state("action_score_sum", torch.zeros(num_actions), dist_reduce_fx="sum")
            self.add_state(
                "action_pose_count",
                torch.zeros(num_actions, dtype=torch.long),
                dist_reduce_fx="sum",
            )

    def pose_score(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(
        self, pred: torch.Tensor, target: torch.Tensor, action: torch.Tensor | None = None
    ) -> None:
        """pred, target: (B, J, 3) mm; action: (B,) long in [-1, num_actions) or None."""
        if pred.shape != target.shape or pred.dim() < 3 or pred.shape[-1] != 3:
            raise ValueError(
                f"{type(self).__name__}: expected pred and target of the same shape (B, J, 3), "
                f"got {tuple(pred.shape)} and {tuple(target.shape)}"
            )
        poses = pred.shape[:-2]
        # Low-precision outputs (autocast) are scored in float32.
        dtype = torch.promote_types(pred.dtype, torch.float32)
        score = self.pose_score(
            pred.detach().to(dtype).reshape(-1, *pred.shape[-2:]),
            target.detach().to(dtype).reshape(-1, *target.shape[-2:]),
        ).to(self.score_sum.dtype)
        self.score_sum += score.sum()
        self.pose_count += score.numel()
        if not self.num_actions or action is None:
            return

        if action.shape != poses[: action.dim()]:
            raise ValueError(
                f"{type(self).__name__}: action of shape {tuple(action.shape)} does not match "
                f"the {tuple(poses)} poses of pred"
            )
        action = action.reshape(*action.shape, *(1,) * (len(poses) - action.dim()))
        action = action.expand(poses).reshape(-1).long()
        if bool(((action < -1) | (action >= self.num_actions)).any()):
            raise ValueError(
                f"{type(self).__name__}: action labels must lie in [-1, {self.num_actions}), "
                f"got min {int(action.min())}, max {int(action.max())}"
            )
        # Unknown actions (-1) go to an extra bin that is dropped.
        bins = torch.where(action >= 0, action, self.num_actions)
        sums = score.new_zeros(self.num_actions + 1).scatter_add_(0, bins, score)
        counts = torch.zeros_like(sums, dtype=torch.long).scatter_add_(
            0, bins, torch.ones_like(bins)
        )
        self.action_score_sum += sums[:-1]
        self.action_pose_count += counts[:-1]

    def compute(self) -> torch.Tensor:
        """Mean score over all poses (NaN before any update)."""
        return self.score_sum / self.pose_count

    def compute_per_action(self) -> torch.Tensor:
        """(num_actions,) mean score per action; NaN for actions never seen."""
        with self._synced():
            return self._per_action()

    def compute_action_mean(self) -> torch.Tensor:
        """Mean of the per-action means over the actions seen: the "Avg" column of the papers'
        per-action tables (each action weighted equally, unlike ``compute``)."""
        with self._synced():
            return self._per_action().nanmean()

    def _per_action(self) -> torch.Tensor:
        if not self.num_actions:
            raise ValueError(
                f"{type(self).__name__} was built with num_actions=0: no per-action breakdown"
            )
        count = self.action_pose_count
        mean = self.action_score_sum / count.clamp_min(1)
        return torch.where(count > 0, mean, torch.full_like(mean, float("nan")))

    def _synced(self):
        """Gather states across processes like ``compute`` does (no-op outside DDP, or when
        already synced, e.g. inside ``compute``)."""
        return self.sync_context(
            dist_sync_fn=self.dist_sync_fn,
            should_sync=self._to_sync and not self._is_synced,
            should_unsync=self._should_unsync,
        )


class MPJPE(_PoseErrorMetric):
    """Mean per-joint position error, Protocol #1 (mm): mean over joints of the Euclidean
    distance, after subtracting the root joint from both poses when ``align_root``."""

    def __init__(
        self, num_actions: int = 0, align_root: bool = True, root_index: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(num_actions=num_actions, **kwargs)
        self.align_root = align_root
        self.root_index = root_index

    def pose_score(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _joint_errors(pred, target, self.align_root, self.root_index).mean(dim=-1)


class PMPJPE(_PoseErrorMetric):
    """Procrustes-aligned MPJPE, Protocol #2 (mm): MPJPE after the similarity transform
    (rotation, scale, translation) that best aligns the prediction to the target."""

    def pose_score(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return _joint_errors(procrustes_align(pred, target), target).mean(dim=-1)


class PCK3D(_PoseErrorMetric):
    """3D percentage of correct keypoints (MPI-INF-3DHP 3DPCK) as a fraction in [0, 1]: share
    of joints whose root-aligned error is below ``threshold`` mm (150 in the benchmark)."""

    higher_is_better = True

    def __init__(
        self,
        threshold: float = 150.0,
        num_actions: int = 0,
        align_root: bool = True,
        root_index: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_actions=num_actions, **kwargs)
        self.threshold = threshold
        self.align_root = align_root
        self.root_index = root_index

    def pose_score(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        errors = _joint_errors(pred, target, self.align_root, self.root_index)
        return (errors < self.threshold).to(errors.dtype).mean(dim=-1)


class AUC3D(_PoseErrorMetric):
    """Area under the 3DPCK curve (MPI-INF-3DHP AUC) as a fraction in [0, 1]: mean of the PCK
    over ``num_thresholds`` thresholds evenly spaced in [0, ``max_threshold``] mm (0, 5, ..., 150
    in the benchmark)."""

    higher_is_better = True

    def __init__(
        self,
        max_threshold: float = 150.0,
        num_thresholds: int = 31,
        num_actions: int = 0,
        align_root: bool = True,
        root_index: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(num_actions=num_actions, **kwargs)
        self.max_threshold = max_threshold
        self.num_thresholds = num_thresholds
        self.align_root = align_root
        self.root_index = root_index

    def pose_score(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        errors = _joint_errors(pred, target, self.align_root, self.root_index)
        thresholds = torch.linspace(
            0.0, self.max_threshold, self.num_thresholds, dtype=errors.dtype, device=errors.device
        )
        return (errors.unsqueeze(-1) < thresholds).to(errors.dtype).mean(dim=(-2, -1))


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

    per_action: ``{"mpjpe": (A,), "p_mpjpe": (A,), ...}`` as a lifter's ``per_action_results``
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
