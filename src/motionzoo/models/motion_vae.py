"""What the motion VAEs of the zoo share (HGVAE, FCVAE, HMVAE): training-set statistics and
the normalisation they define, the log posterior used for imputation and out-of-distribution
scoring, and batched MAP imputation by gradient ascent on it (HG-VAE paper, section
"imputation"; reference ``gradient_ascent_on_posterior``).

Normalisation. Model units are ``(motion - offset) / scale_mm`` with the train mean pose
``offset`` (J, 3) (the reference feeds raw millimetres). Gaussian log-likelihoods are in model
units (add ``-T * J * 3 * log(scale_mm)`` for millimetres). We tried dividing each coordinate by
its own train std instead: on the synthetic AMASS set, where the root rotation is removed and
the spine moves by 0.2 mm, test inputs then lie several "standard deviations" out on those
coordinates and the test likelihood diverged; one scale for all coordinates generalised.

The scores, at the amortised latent mode z* (the posterior means of the encoder), from the
per-level log p(z*_l | z*_<l) (top-down, z0 first) and log p(x | z*):

- :meth:`log_posterior` = the sum over every level but the bottom one of log p(z*_l | z*_<l):
  the reference's ``cal_posterior`` (a one-level model keeps its level). It is the
  out-of-distribution score. The bottom level (J*3 nodes) sees a motion almost entry by entry:
  its density drops with local spikes such as a few mean-filled entries but not for a fully
  mean-filled (smooth, static) motion, so with it the score would not fall monotonically with
  the number of occluded entries; without it, it does (on our checkpoints).
- :meth:`log_joint` = log p(x | z*) + the sum over every level: log p(x, z*). With the observed
  entries x_o fixed, the unknowns are the occluded entries x_m and the latents, and
  log p(x_m, z | x_o) = log p(x, z) - log p(x_o): this is the log posterior of the unknowns, which
  imputation ascends (``imputation_objective="joint"``, default). The reference ascends
  :meth:`log_posterior` (``"posterior"``): on the shipped synthetic AMASS checkpoint that changes
  the MAP error by -12% (k = 1) to +1% with steps of 0.03 std and makes it 30-480% worse with
  0.3 std (k in 1..2700), while the log joint lowers it by 69-98% for k <= 1000: its data term
  ties an occluded entry to the motion its observed neighbours imply (the learned variances of
  the DCT coefficients alone penalise the spike a wrong entry makes).

Imputation steps. The reference's Adam ``lr = 1.0`` acts on raw millimetres, so 10 steps move an
entry by at most ~10 mm while AMASS coordinates vary by up to ~200 mm. Here the occluded entries
are parametrised as ``start + std * u`` and Adam updates u: ``lr`` is in units of each
coordinate's train standard deviation (``std``, from the DataModule, floored at 1 mm; Adam is
invariant to a per-coordinate rescaling of the gradient, so this is Adam on x with a learning
rate ``lr * std`` per coordinate). The default 0.3 (chosen among 0.1, 0.3, 1.0 on intermediate
checkpoints) lets an entry travel ~3 std in 10 steps; with 1.0 the first steps overshoot (k =
1000 on the shipped AMASS checkpoint: -34% at 1.0, -69% at 0.3). With nothing observed the log
joint climbs toward the model's mode, which held-out motion is farther from than from the train
mean (the mean minimises the expected squared error); there no step of 0.3 raises the
objective and MAP returns the train mean (change 0%); small steps raise it and the error. The start is the train mean (the reference starts from
``torch.randn``, a bug) and the input optimiser is the one zeroed every step (the reference
zeroes the model's optimiser, so input gradients accumulated). Per sample the step with the
highest objective is kept, as the reference.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

OBJECTIVES = ("joint", "posterior")
MIN_STEP_MM = 1.0  # floor of the per-coordinate imputation step unit (static coordinates)


class MotionVAEMixin:
    """Mixed into a :class:`~motionzoo.models.base.ZooModule` that defines

    - ``_step(batch, stage) -> loss``,
    - ``log_joint_terms(motion, action) -> (log p(x | z*) (B,), log p(z*_l | z*_<l) (B, L))``
      at the posterior means z*, levels top-down,
    - buffers ``offset`` (J, 3) mm, ``std`` (J, 3) mm, ``train_mean`` (T, J, 3) mm,
      ``ood_threshold`` () (see :meth:`register_statistics`),
    - hparams ``lr``, ``weight_decay``, ``num_actions``, ``ood_quantile``, ``imputation_objective``,
      ``scale_mm``, ``kl_weight_start``, ``kl_weight_end``,
      ``kl_warmup_epochs``.
    """

    def register_statistics(self, num_frames: int, num_joints: int, scale_mm: float) -> None:
        """Buffers carried by a checkpoint: the centring ``offset``, the per-coordinate ``std``
        (imputation step unit; ``scale_mm`` until statistics are set), the imputation start
        ``train_mean`` and the OoD threshold (NaN until fitted)."""
        if self.hparams.imputation_objective not in OBJECTIVES:
            raise ValueError(
                f"imputation_objective must be one of {OBJECTIVES}, "
                f"got {self.hparams.imputation_objective!r}"
            )
        self.register_buffer("offset", torch.zeros(num_joints, 3))
        self.register_buffer("std", torch.full((num_joints, 3), float(scale_mm)))
        self.register_buffer("train_mean", torch.zeros(num_frames, num_joints, 3))
        self.register_buffer("ood_threshold", torch.tensor(float("nan")))

    def normalise(self, motion: torch.Tensor) -> torch.Tensor:
        """(..., J, 3) mm -> model units."""
        return (motion - self.offset) / self.hparams.scale_mm

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """(..., J, 3) model units -> mm."""
        return x * self.hparams.scale_mm + self.offset

    # --- training ------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")

    def configure_optimizers(self):
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )

    def kl_weight(self) -> float:
        """KL weight, warmed linearly from ``kl_weight_start`` to ``kl_weight_end`` over
        ``kl_warmup_epochs`` (reference ``warmup``: 1e-4 -> 1 over 200 epochs)."""
        h = self.hparams
        progress = (
            1.0 if h.kl_warmup_epochs <= 0 else min(1.0, self.current_epoch / h.kl_warmup_epochs)
        )
        return h.kl_weight_start + (h.kl_weight_end - h.kl_weight_start) * progress

    def on_fit_start(self) -> None:
        # The statistics come from the training data unless a checkpoint already set them.
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and not self.offset.any() and getattr(dm, "mean", None) is not None:
            self.set_statistics(dm.mean, getattr(dm, "train_mean", None), getattr(dm, "std", None))

    def set_statistics(
        self,
        mean: torch.Tensor,
        train_mean: torch.Tensor | None = None,
        std: torch.Tensor | None = None,
    ) -> None:
        """Set the centring offset (J, 3) mm, the imputation start ``train_mean`` (T, J, 3) mm and
        the per-coordinate train ``std`` (J, 3) mm (imputation step unit, floored at 1 mm)."""
        self.offset.copy_(torch.as_tensor(mean, dtype=self.offset.dtype))
        if train_mean is not None:
            self.train_mean.copy_(torch.as_tensor(train_mean, dtype=self.train_mean.dtype))
        if std is not None:
            self.std.copy_(torch.as_tensor(std, dtype=self.std.dtype).clamp_min(MIN_STEP_MM))

    # --- scores --------------------------------------------------------------------------------
    @torch.no_grad()
    def log_posterior(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) sum of log p(z*_l | z*_<l) over all levels but the bottom one, for motion
        (B, T, J, 3) mm, model units (module docstring): the OoD score."""
        return self._objective(motion, action, "posterior")

    @torch.no_grad()
    def log_joint(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) log p(x | z*) + sum_l log p(z*_l | z*_<l), model units: the default imputation
        objective."""
        return self._objective(motion, action, "joint")

    def _objective(self, motion: torch.Tensor, action, objective: str) -> torch.Tensor:
        log_lik, log_priors = self.log_joint_terms(motion, action)
        if objective == "posterior":
            return log_priors[:, : max(log_priors.shape[1] - 1, 1)].sum(1)
        return log_lik + log_priors.sum(1)

    def impute(
        self,
        motion: torch.Tensor,
        mask: torch.Tensor,
        steps: int = 10,
        lr: float = 0.3,
        init: torch.Tensor | None = None,
        action=None,
        return_objective: bool = False,
    ):
        """Batched MAP imputation by gradient ascent on the ``imputation_objective``
        (:meth:`log_joint` by default; module docstring).

        motion (B, T, J, 3) mm; mask (B, T, J, 3) bool, True = occluded. Occluded entries start
        at ``init`` (default: the train mean, (T, J, 3) or (B, T, J, 3)) and move by Adam steps
        of ``lr`` train standard deviations per coordinate; the model is frozen in eval mode.
        Per sample the step (0..steps) with the highest objective is returned, so the result is
        never worse than the start under that objective. All samples run as one batch.
        Returns imputed motion (and the objective (B,) if ``return_objective``).
        """
        mask, name = mask.bool(), self.hparams.imputation_objective
        start = torch.where(
            mask, (self.train_mean if init is None else init).to(motion), motion
        ).detach()
        unit = torch.where(mask, self.std.to(motion), torch.zeros((), dtype=motion.dtype))
        was_training = self.training
        flags = [p.requires_grad for p in self.parameters()]
        self.eval().requires_grad_(False)
        try:
            u = nn.Parameter(torch.zeros_like(start))
            # one fused kernel per step over the (B, T, J, 3) inputs (CPU and CUDA)
            optimiser = torch.optim.Adam([u], lr=lr, fused=u.device.type in ("cpu", "cuda"))
            best_x = start.clone()
            best = torch.full(motion.shape[:1], -torch.inf, device=motion.device)
            with torch.enable_grad():
                for step in range(steps + 1):
                    x = torch.addcmul(start, unit, u)
                    objective = self._objective(x, action, name)
                    value = objective.detach()
                    better = value > best
                    best = torch.where(better, value, best)
                    best_x = torch.where(better[:, None, None, None], x.detach(), best_x)
                    if step == steps:
                        break
                    optimiser.zero_grad(set_to_none=True)
                    (-objective.sum()).backward()
                    optimiser.step()
        finally:
            for p, flag in zip(self.parameters(), flags):
                p.requires_grad_(flag)
            self.train(was_training)
        return (best_x, best) if return_objective else best_x

    # --- out of distribution -------------------------------------------------------------------
    @torch.no_grad()
    def fit_ood_threshold(
        self, data: torch.Tensor | Iterable, quantile: float | None = None
    ) -> float:
        """Set ``ood_threshold`` to the ``quantile`` of :meth:`log_posterior` over ``data`` (a
        motion tensor or an iterable of batches with ``motion``) and return it."""
        batches = [data] if isinstance(data, torch.Tensor) else data
        scores = []
        for batch in batches:
            motion = batch if isinstance(batch, torch.Tensor) else batch["motion"]
            action = None if isinstance(batch, torch.Tensor) else batch.get("action")
            scores.append(
                self.log_posterior(
                    motion.to(self.device), action if self.hparams.num_actions else None
                )
            )
        q = self.hparams.ood_quantile if quantile is None else quantile
        self.ood_threshold.fill_(torch.quantile(torch.cat(scores).float(), q))
        return float(self.ood_threshold)

    @torch.no_grad()
    def is_out_of_distribution(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) bool: log posterior below the threshold fitted by :meth:`fit_ood_threshold`."""
        if torch.isnan(self.ood_threshold):
            raise RuntimeError(
                f"{type(self).__name__}.is_out_of_distribution: no threshold yet; call "
                "fit_ood_threshold(train_motion) first (or load a checkpoint that has one)"
            )
        return self.log_posterior(motion, action) < self.ood_threshold

    # --- TensorBoard: UMAP of the top latent (motionzoo.viz.latents.LatentUMAPCallback) --------
    def umap_label_names(self, name: str) -> list[str] | None:
        """Action names of the DataModule being fitted, for the UMAP legend."""
        names = getattr(getattr(self._trainer, "datamodule", None), "action_names", ())
        return list(names) if name == "action" and names else None
