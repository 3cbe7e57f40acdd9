"""The motion-VAE family: VAEs of motion windows with the HG-VAE paper's tasks (Bourached et al.;
HGVAE and its baselines HMVAE, FCVAE): MAP imputation, the log posterior, out-of-distribution
scores (paper section "imputation"; reference ``gradient_ascent_on_posterior``).

Model units are ``(motion - offset) / scale_mm``, ``offset`` the train mean pose (J, 3) (the
reference feeds raw mm); log-likelihoods are in model units (add ``-T J 3 log(scale_mm)`` for mm).
Scores are taken at the amortised latent mode z* (the posterior means). ``log_posterior``: the
sum of log p(z*_l | z*_<l) over every level but the bottom one (the reference's
``cal_posterior``; a one-level model keeps its level). ``log_joint``: log p(x | z*) + every level
= log p(x_m, z* | x_o) + const, the default imputation objective (the reference ascends
``log_posterior``). Deviations from the reference's imputation: the occluded entries start at the
train mean (not ``torch.randn``), Adam steps are in train standard deviations per coordinate (not
raw mm) and the input optimiser is the one zeroed each step. Studies behind these choices:
docs/models/hgvae.md.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric

from motionzoo.allocator import retained_cpu_memory
from motionzoo.models.base import ZooModule
from motionzoo.nn.distributions import kl_weight_at
from motionzoo.nn.modes import eval_mode, evaluating

OBJECTIVES = ("joint", "posterior")
MIN_STEP_MM = 1.0  # floor of the per-coordinate imputation step unit (static coordinates)
METRICS = ("elbo", "nll", "kl", "mse_mm")


class MotionVAE(ZooModule):
    """Base of the motion VAEs. ``motion`` (B, T, J, 3) mm; ``action`` (B,) long (-1: unknown,
    the zero one-hot) or None (unknown for all); log-densities in model units.

    Verbs:

    - ``forward(motion, action=None, sample=True) -> dict``: ``"mu"``, ``"logvar"`` of p(x | z)
      in model features, ``"nll"`` (B,) = -log p(x | z), ``"kl"`` a list of (B,), one per latent
      level, top first (zeros for a deterministic level). ``sample=False``: posterior means.
    - ``encode(motion, action=None) -> (B, D)``: the posterior mean of the top latent, flattened.
    - ``reconstruct(motion, action=None) -> (B, T, J, 3)`` mm: decoder mean at the posterior means.
    - ``generate(n, action=None, level=None) -> (n, T, J, 3)`` mm: decoder means of prior samples,
      only the top ``level`` levels sampled (below them the prior means; None: all). ``action``:
      an index, an action name (:attr:`action_names`), -1 (unknown) or (n,) of those; a
      conditional model (``num_actions > 0``) without one raises ValueError, an unconditional one
      with one too.
    - ``impute(motion, mask, steps=10, lr=0.3, init=None, action=None, return_objective=False)``
      -> (B, T, J, 3) mm (and the objective (B,)): batched MAP imputation.
    - ``log_posterior(motion, action=None)``, ``log_joint(motion, action=None)`` -> (B,).
    - ``fit_ood_threshold(data, quantile=None) -> float``; ``is_out_of_distribution(motion,
      action=None) -> (B,) bool``.
    - ``_common_step(batch, stage)``: loss = mean nll + beta * mean summed kl, beta warmed linearly
      ``kl_weight_start`` -> ``kl_weight_end`` over ``kl_warmup_epochs`` in training, 1 otherwise;
      logs ``<stage>/loss``, ``<stage>/kl_<level>``, ``train/nll``, ``train/kl``,
      ``train/kl_weight`` and the val/test metrics ``elbo``, ``nll``, ``kl``, ``mse_mm`` (mm^2 per
      entry).
    - ``umap_latents(batch)``: ``encode`` labelled by action, for
      :class:`motionzoo.viz.latents.LatentUMAPCallback`.

    ``encode``, ``reconstruct``, ``generate``, the scores and ``umap_latents`` run in eval mode
    without gradients (``@evaluating``); ``impute`` in eval mode with the parameters frozen. The
    model's mode and ``requires_grad`` flags are restored afterwards.

    A model calls ``save_hyperparameters()`` (with ``num_actions``, ``scale_mm``, ``lr``,
    ``weight_decay``, ``imputation_objective``, ``ood_quantile``, ``kl_weight_start``,
    ``kl_weight_end``, ``kl_warmup_epochs``, ``action_names``) and :meth:`register_statistics`,
    and defines ``to_features(motion)`` / ``to_motion(features)``, ``forward``, ``encode``,
    ``log_joint_terms(motion, action) -> (log p(x | z*) (B,), log p(z*_l | z*_<l) (B, L))`` (top
    level first) and ``sample_prior(n, action, level)`` -> decoder mean features (n, ...).
    """

    def __init__(self) -> None:
        super().__init__()
        self.add_metrics(lambda: {name: MeanMetric() for name in METRICS})

    # --- statistics and units ------------------------------------------------------------------
    def register_statistics(self, num_frames: int, num_joints: int, scale_mm: float) -> None:
        """Buffers carried by a checkpoint: the centring ``offset`` (J, 3) mm, the per-coordinate
        ``std`` (J, 3) mm (imputation step unit; ``scale_mm`` until statistics are set), the
        imputation start ``train_mean`` (T, J, 3) mm and ``ood_threshold`` (NaN until fitted)."""
        if self.hparams.imputation_objective not in OBJECTIVES:
            raise ValueError(
                f"imputation_objective must be one of {OBJECTIVES}, "
                f"got {self.hparams.imputation_objective!r}"
            )
        self.register_buffer("offset", torch.zeros(num_joints, 3))
        self.register_buffer("std", torch.full((num_joints, 3), float(scale_mm)))
        self.register_buffer("train_mean", torch.zeros(num_frames, num_joints, 3))
        self.register_buffer("ood_threshold", torch.tensor(float("nan")))

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

    def on_fit_start(self) -> None:
        self.adopt_action_names()
        # The statistics come from the training data unless a checkpoint already set them; a
        # model with ``centre=False`` (HGVAE's reference units) keeps offset 0.
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and not self.offset.any() and getattr(dm, "mean", None) is not None:
            mean = dm.mean if self.hparams.get("centre", True) else torch.zeros_like(self.offset)
            self.set_statistics(mean, getattr(dm, "train_mean", None), getattr(dm, "std", None))

    def normalise(self, motion: torch.Tensor) -> torch.Tensor:
        """(..., J, 3) mm -> model units."""
        return (motion - self.offset) / self.hparams.scale_mm

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        """(..., J, 3) model units -> mm."""
        return x * self.hparams.scale_mm + self.offset

    # --- actions and shapes --------------------------------------------------------------------
    @property
    def action_names(self) -> list[str] | None:
        """Names of the action indices: the ``action_names`` hyper-parameter (set from the
        fitted DataModule's at fit start when None), else None."""
        names = self.hparams.get("action_names")
        return list(names) if names else None

    def action_onehot(self, action, like: torch.Tensor) -> torch.Tensor | None:
        """(B, num_actions) one-hot of ``action`` (an index, a name, (B,) of them; None or -1:
        zeros, the unknown action) in the dtype and device of ``like`` (B, ...); None for an
        unconditional model."""
        k = self.hparams.num_actions
        if not k:
            return None
        b = like.shape[0]
        if action is None:
            return like.new_zeros(b, k)
        action = self.action_indices(action, b, "forward", unknown=True).to(like.device)
        return F.one_hot(action.clamp(min=0), k).to(like.dtype) * (action >= 0)[:, None]

    def _generation_action(self, n: int, action) -> torch.Tensor | None:
        """``generate``'s ``action`` as (n,) long indices, checked."""
        name, k = type(self).__name__, self.hparams.num_actions
        if not k:
            if action is not None:
                raise ValueError(
                    f"{name} is unconditional (num_actions=0): generate takes no action"
                )
            return None
        if action is None:
            raise ValueError(
                f"{name} is conditional on {k} actions: pass generate(n, action=...) an index in "
                f"0..{k - 1}, an action name, -1 for the unknown action, or (n,) of them"
            )
        return self.action_indices(action, n, "generate", unknown=True)

    def check_motion(self, verb: str, motion: torch.Tensor, name: str = "motion") -> None:
        """``motion`` must be (B, T, J, 3) with the model's T and J (:meth:`check_shape`)."""
        T, J = self.train_mean.shape[:2]
        self.check_shape(verb, motion, name, "B T J 3", T=T, J=J)

    # --- training ------------------------------------------------------------------------------
    def configure_optimizers(self):
        """Adam (lr, weight decay), fused where allowed (``ZooModule.fused_adam``): HGVAE's paper
        config trains 2-3% faster at batch 64 on 2 CPU threads."""
        h = self.hparams
        return torch.optim.Adam(
            self.parameters(), lr=h.lr, weight_decay=h.weight_decay, fused=self.fused_adam()
        )

    def kl_weight(self) -> float:
        """KL weight of the current epoch: linear warm-up ``kl_weight_start`` -> ``kl_weight_end``
        over ``kl_warmup_epochs`` (paper: 0.001 -> 1 over 200 epochs)."""
        h = self.hparams
        return kl_weight_at(
            self.current_epoch,
            h.kl_weight_end,
            "linear",
            start=h.kl_weight_start,
            warmup_epochs=h.kl_warmup_epochs,
        )

    def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        motion = batch["motion"]
        out = self(motion, batch.get("action") if self.hparams.num_actions else None)
        kl = torch.stack(out["kl"], 1)  # (B, L)
        nll, kl_total = out["nll"].mean(), kl.sum(1).mean()
        weight = self.kl_weight() if stage == "train" else 1.0
        loss = nll + weight * kl_total
        # val/test nll and kl go through the metrics below
        terms = {"loss": loss, "nll": nll, "kl": kl_total} if stage == "train" else {"loss": loss}
        terms |= {f"kl_{level}": kl[:, level].mean() for level in range(kl.shape[1])}
        if stage == "train":
            terms["kl_weight"] = torch.tensor(weight)
        self.log_terms(stage, terms, batch_size=len(motion))
        if stage != "train":
            with torch.no_grad():
                values = {
                    "elbo": -(out["nll"] + kl.sum(1)),
                    "nll": out["nll"],
                    "kl": kl.sum(1),
                    "mse_mm": (self.to_motion(out["mu"]) - motion).square().flatten(1).mean(1),
                }
            for key, metric in self.stage_metrics(stage).items():
                metric.update(values[key].detach())
                self.log(f"{stage}/{key}", metric, on_epoch=True, batch_size=len(motion))
        return loss

    # --- inference -----------------------------------------------------------------------------
    @evaluating
    def reconstruct(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """motion (B, T, J, 3) mm -> decoder mean at the posterior means, (B, T, J, 3) mm."""
        self.check_motion("reconstruct", motion)
        return self.to_motion(self(motion, action, sample=False)["mu"])

    @evaluating
    def generate(self, n: int, action=None, level: int | None = None) -> torch.Tensor:
        """n samples (n, T, J, 3) mm from the prior (class docstring)."""
        return self.to_motion(self.sample_prior(n, self._generation_action(n, action), level))

    @evaluating
    def umap_latents(self, batch: dict) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Top-latent posterior means (B, D) labelled by action, for ``LatentUMAPCallback``."""
        motion = batch["motion"].to(self.device)
        action = batch.get("action", torch.full(motion.shape[:1], -1))
        return [(self.encode(motion), {"action": action.to(self.device)})]

    def umap_label_names(self, name: str) -> list[str] | None:
        """Action names for the UMAP legend."""
        return self.action_names if name == "action" else None

    # --- scores and imputation -----------------------------------------------------------------
    @evaluating
    def log_posterior(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) sum of log p(z*_l | z*_<l) over all levels but the bottom one: the OoD score."""
        self.check_motion("log_posterior", motion)
        return self._objective(motion, action, "posterior")

    @evaluating
    def log_joint(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) log p(x | z*) + sum_l log p(z*_l | z*_<l): the default imputation objective."""
        self.check_motion("log_joint", motion)
        return self._objective(motion, action, "joint")

    def _objective(self, motion: torch.Tensor, action, objective: str) -> torch.Tensor:
        if objective == "posterior":
            return self.log_upper_priors(motion, action)
        log_lik, log_priors = self.log_joint_terms(motion, action)
        return log_lik + log_priors.sum(1)

    def log_upper_priors(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) sum of log p(z*_l | z*_<l) over all levels but the bottom one (a one-level
        model: that level), model units. A hierarchy overrides it to skip what the sum does not
        depend on."""
        _, log_priors = self.log_joint_terms(motion, action)
        return log_priors[:, : max(log_priors.shape[1] - 1, 1)].sum(1)

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
        """Batched MAP imputation by Adam ascent on the ``imputation_objective`` (module
        docstring).

        motion (B, T, J, 3) mm; mask (B, T, J, 3) bool, True = occluded. Occluded entries start
        at ``init`` (default: the train mean, (T, J, 3) or (B, T, J, 3)) and move by steps of
        ``lr`` train standard deviations per coordinate; the model is frozen in eval mode (mode
        and ``requires_grad`` restored). Per sample the step (0..steps) with the highest
        objective is returned, never worse than the start. Returns imputed motion (and the
        objective (B,) if ``return_objective``).
        """
        self.check_motion("impute", motion)
        b, t, j, _ = motion.shape
        self.check_shape("impute", mask, "mask", "B T J 3", B=b, T=t, J=j)
        if action is not None and self.hparams.num_actions:  # once, not at every step
            action = self.action_indices(action, len(motion), "impute", unknown=True)
        mask, name = mask.bool(), self.hparams.imputation_objective
        start = torch.where(
            mask, (self.train_mean if init is None else init).to(motion), motion
        ).detach()
        unit = torch.where(mask, self.std.to(motion), torch.zeros((), dtype=motion.dtype))
        flags = [p.requires_grad for p in self.parameters()]
        # the steps free and take the same large blocks: keep them (motionzoo.allocator)
        with (
            eval_mode(self, no_grad=False),
            torch.enable_grad(),
            retained_cpu_memory(motion.device.type == "cpu"),
        ):
            self.requires_grad_(False)
            try:
                u = nn.Parameter(torch.zeros_like(start))
                # one fused kernel per step over the (B, T, J, 3) inputs (CPU and CUDA)
                optimiser = torch.optim.Adam([u], lr=lr, fused=u.device.type in ("cpu", "cuda"))
                best_x = start.clone()
                best = torch.full(motion.shape[:1], -torch.inf, device=motion.device)
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
        return (best_x, best) if return_objective else best_x

    # --- out of distribution -------------------------------------------------------------------
    @evaluating
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

    @evaluating
    def is_out_of_distribution(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) bool: log posterior below the threshold fitted by :meth:`fit_ood_threshold`."""
        if torch.isnan(self.ood_threshold):
            raise RuntimeError(
                f"{type(self).__name__}.is_out_of_distribution: no threshold yet; call "
                "fit_ood_threshold(train_motion) first (or load a checkpoint that has one)"
            )
        return self.log_posterior(motion, action) < self.ood_threshold
