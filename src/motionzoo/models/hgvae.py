"""HG-VAE: hierarchical graph-convolutional VAE of motion (Bourached et al.).

Input ``motion`` (B, T, J, 3) mm. Nodes are the J*3 coordinate trajectories (a proper transpose
``b t j c -> b (j c) t``, not the reference's raw reshape), features the orthonormal DCT-II
coefficients over time (eq. 6; ``dct_coefficients`` truncates). Before the DCT the motion is
centred on a per-(joint, axis) ``offset`` and divided by a fixed ``scale_mm``; both are buffers
(``offset`` is copied from the DataModule's ``mean`` when training starts, with ``train_mean``
for imputation) so a checkpoint carries them.

Hierarchy: ``levels`` lists (nodes, features) of the latent levels from the bottom (next to the
data) to the top z0; ``None`` nodes means N = J*3. The default is the reference's 4 stochastic
layers [[N,128],[24,128],[8,128],[1,256]]; 1..16 layers are configs. The encoder reduces level by
level (GCL -> GCB, ReZero residual); the top-down decoder keeps a deterministic (N, R) stream:
z0 enters by a GCL, then per lower level ``stream += ReZero(GCB(stream))``, a posterior from
[GCL(stream); encoder activation] -> GCB -> Gaussian head, a prior GCB(stream) -> Gaussian head,
``stream += ReZero(prior features)`` and ``stream += ReZero(GCL(z))``. KL is analytic per level.

Likelihood: p(x|z) is a diagonal Gaussian with learned variance on the DCT coefficients. The
DCT is orthonormal (|det| = 1), so this is exactly the time-domain density with covariance
D^T diag(var) D; the reference instead used the DCT-domain variance as a time-domain variance
(a mismatch we do not copy). Log-likelihoods are in the normalised units (subtract
``J*3*T*log(scale_mm)`` for mm).

"Turned off" levels (``stochastic_levels = k``): only the top k levels are stochastic; below
them z is the mean (posterior when encoding, prior when generating) and contributes no KL.
``action`` one-hot (``num_actions > 0``) is appended to z0 for conditional models.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn
from torchmetrics import MeanMetric

from motionzoo.geometry.dct import DCT
from motionzoo.models.base import ZooModule
from motionzoo.nn.graph_vae import (
    GraphConvBlock,
    GraphConvLayer,
    GraphGaussianHead,
    ReZero,
    gaussian_kl,
    gaussian_log_prob,
)

DEFAULT_LEVELS = ((None, 128), (24, 128), (8, 128), (1, 256))


class TopDownLevel(nn.Module):
    """One lower level of the top-down decoder (stream (B, N, R) -> stream, z (B, n, f))."""

    def __init__(self, n: int, f: int, nodes: int, residual: int, dropout: float):
        super().__init__()
        self.stream_block, self.stream_gate = GraphConvBlock(nodes, residual, dropout), ReZero()
        self.posterior_in = GraphConvLayer(nodes, n, residual, f)
        self.posterior_block = GraphConvBlock(n, 2 * f, dropout)
        self.posterior = GraphGaussianHead(n, n, 2 * f, f)
        self.prior_block, self.prior_gate = GraphConvBlock(nodes, residual, dropout), ReZero()
        self.prior = GraphGaussianHead(nodes, n, residual, f)
        self.z_in, self.z_gate = GraphConvLayer(n, nodes, f, residual), ReZero()


class MotionVAEMixin:
    """What the motion VAEs of the zoo share (HGVAE, FCVAE, HMVAE): normalisation statistics
    from the DataModule, batched MAP imputation and out-of-distribution scoring on top of the
    model's ``_log_posterior(motion, action) -> (B,)``. Needs buffers ``offset`` (J, 3),
    ``train_mean`` (T, J, 3) and ``ood_threshold`` () and hparams ``num_actions``,
    ``ood_quantile``."""

    # Training: `_step(batch, stage)` returns the loss (subclasses define it).
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

    def on_fit_start(self) -> None:
        # The normalisation comes from the training data unless a checkpoint already set it.
        dm = getattr(self.trainer, "datamodule", None)
        if dm is not None and not self.offset.any() and getattr(dm, "mean", None) is not None:
            self.set_statistics(dm.mean, getattr(dm, "train_mean", None))

    def set_statistics(self, mean: torch.Tensor, train_mean: torch.Tensor | None = None) -> None:
        """Set the centring offset (J, 3) mm and the imputation start ``train_mean`` (T, J, 3)."""
        self.offset.copy_(torch.as_tensor(mean, dtype=self.offset.dtype))
        if train_mean is not None:
            self.train_mean.copy_(torch.as_tensor(train_mean, dtype=self.train_mean.dtype))

    def impute(
        self,
        motion: torch.Tensor,
        mask: torch.Tensor,
        steps: int = 10,
        lr: float = 1.0,
        init: torch.Tensor | None = None,
        action=None,
        return_objective: bool = False,
    ):
        """Batched MAP imputation by gradient ascent on :meth:`log_posterior`.

        motion (B, T, J, 3) mm; mask (B, T, J, 3) bool, True = occluded. Occluded entries start
        at ``init`` (default: the train mean, (T, J, 3) or (B, T, J, 3)) and are the only
        parameters of a fresh Adam (lr in mm, the reference's 1.0), model frozen in eval mode.
        Per sample the step (0..steps) with the highest objective is returned, so the result is
        never worse than the mean imputation under that objective.
        Returns imputed motion (and the objective (B,) if ``return_objective``).
        """
        mask = mask.bool()
        start = (self.train_mean if init is None else init).to(motion).expand_as(motion)
        was_training = self.training
        flags = [p.requires_grad for p in self.parameters()]
        self.eval().requires_grad_(False)
        try:
            values = nn.Parameter(torch.where(mask, start, motion).detach().clone())
            optimiser = torch.optim.Adam([values], lr=lr)
            best_x = values.detach().clone()
            best = torch.full(motion.shape[:1], -torch.inf, device=motion.device)
            with torch.enable_grad():
                for step in range(steps + 1):
                    x = torch.where(mask, values, motion)
                    objective = self._log_posterior(x, action)
                    better = objective.detach() > best
                    best = torch.where(better, objective.detach(), best)
                    best_x[better] = x.detach()[better]
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


class HGVAE(MotionVAEMixin, ZooModule):
    """Hierarchical graph-convolutional VAE over (B, T, J, 3) mm motion windows.

    Args:
        num_joints, num_frames: J (18 AMASS, 22 H3.6M) and T (50).
        dct_coefficients: DCT coefficients kept per node (None: all T).
        levels: latent (nodes, features) from bottom to top; None nodes = J*3.
        residual_features: width R of the decoder's (N, R) stream (256).
        dropout: dropout inside every GCB.
        stochastic_levels: number of top levels that are stochastic (None: all).
        num_actions: > 0 appends an action one-hot to z0 (15 for H3.6M).
        posterior_levels: top levels summed in :meth:`log_posterior` (None: all). The
            reference sums all but the bottom level (``L - 1``); on our synthetic checkpoint the
            sum over all levels is the one whose MAP imputation lowers the MSE for small k.
        scale_mm: millimetres per model unit after centring.
        lr, weight_decay: Adam (paper lr 1e-3; reference 1e-4 with weight decay 1e-4).
        kl_weight_start, kl_weight_end, kl_warmup_epochs: linear KL warm-up 0.001 -> 1 over 200.
        ood_quantile: quantile of the training log posterior used as the OoD threshold.
        output_logvar_min: floor of the output log-variance (model units). The reference's -20
            lets near-constant coordinates dominate the likelihood; a floor such as
            2 log(1 mm / scale_mm) keeps the gradient on the moving ones.
        fixed_variance_epochs: for the first epochs the output log-variance is 0 (unit variance
            in model units, the reference's ``--output_variance`` off): with a learned variance
            from the start a short run fits the variance and leaves the mean at the data mean.
    """

    def __init__(
        self,
        num_joints: int = 18,
        num_frames: int = 50,
        dct_coefficients: int | None = None,
        levels: list[tuple[int | None, int]] = DEFAULT_LEVELS,
        residual_features: int = 256,
        dropout: float = 0.0,
        stochastic_levels: int | None = None,
        num_actions: int = 0,
        posterior_levels: int | None = None,
        scale_mm: float = 100.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kl_weight_start: float = 1e-3,
        kl_weight_end: float = 1.0,
        kl_warmup_epochs: int = 200,
        ood_quantile: float = 0.01,
        output_logvar_min: float = -20.0,
        fixed_variance_epochs: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if not levels:
            raise ValueError("HGVAE needs at least one latent level, e.g. levels=[[1, 256]]")
        self.nodes = nodes = num_joints * 3
        self.features = features = dct_coefficients or num_frames
        self.dct = DCT(num_frames, dct_coefficients)
        sizes = [(nodes, features)] + [(n or nodes, f) for n, f in levels]
        self.latent_sizes = sizes[1:][::-1]  # top-down: z0 first
        self.num_levels = len(self.latent_sizes)
        self.register_buffer("offset", torch.zeros(num_joints, 3))
        self.register_buffer("train_mean", torch.zeros(num_frames, num_joints, 3))
        self.register_buffer("ood_threshold", torch.tensor(float("nan")))
        # encoder (bottom-up)
        self.enc_reduce = nn.ModuleList(
            GraphConvLayer(a[0], b[0], a[1], b[1]) for a, b in _pairs(sizes)
        )
        self.enc_block = nn.ModuleList(GraphConvBlock(*b, dropout) for _, b in _pairs(sizes))
        self.enc_residual = nn.ModuleList(
            GraphConvLayer(a[0], b[0], a[1], b[1], activation=False) for a, b in _pairs(sizes)[:-1]
        )  # the top level's activation goes to the posterior only: no residual above it
        self.enc_gate = nn.ModuleList(ReZero() for _ in levels[:-1])
        # top level z0
        n0, f0 = self.latent_sizes[0]
        self.top_posterior = nn.Sequential(
            GraphConvBlock(n0, f0, dropout), GraphGaussianHead(n0, n0, f0, f0)
        )
        self.top_in = GraphConvLayer(n0, nodes, f0 + num_actions, residual_features)
        self.top_down = nn.ModuleList(
            TopDownLevel(n, f, nodes, residual_features, dropout) for n, f in self.latent_sizes[1:]
        )
        self.out_block = GraphConvBlock(nodes, residual_features, dropout)
        self.out_head = GraphGaussianHead(nodes, nodes, residual_features, features)
        self.metrics = nn.ModuleDict(
            {
                f"{s}_{k}": MeanMetric()
                for s in ("val", "test")
                for k in ("elbo", "nll", "kl", "mse_mm")
            }
        )

    # --- data <-> model space -------------------------------------------------------------------
    def to_features(self, motion: torch.Tensor) -> torch.Tensor:
        """motion (B, T, J, 3) mm -> DCT features (B, N = J*3, K)."""
        x = (motion - self.offset) / self.hparams.scale_mm
        return self.dct(rearrange(x, "b t j c -> b (j c) t"))

    def to_motion(self, features: torch.Tensor) -> torch.Tensor:
        """DCT features (B, N, K) -> motion (B, T, J, 3) mm."""
        x = rearrange(self.dct.inverse(features), "b (j c) t -> b t j c", c=3)
        return x * self.hparams.scale_mm + self.offset

    def _condition(self, z0: torch.Tensor, action) -> torch.Tensor:
        k = self.hparams.num_actions
        if not k:
            return z0
        b = z0.shape[0]
        if action is None:
            onehot = z0.new_zeros(b, k)
        else:
            action = torch.as_tensor(action, device=z0.device).long().expand(b)
            onehot = F.one_hot(action.clamp(min=0), k).to(z0.dtype) * (action >= 0)[:, None]
        return torch.cat([z0, onehot[:, None, :].expand(b, z0.shape[1], k)], -1)

    # --- the model --------------------------------------------------------------------------------
    def encode(self, h: torch.Tensor) -> list[torch.Tensor]:
        """Features (B, N, K) -> encoder activations per latent level, top-down order."""
        acts = []
        for i, (reduce, block) in enumerate(zip(self.enc_reduce, self.enc_block)):
            acts.append(block(reduce(h)))
            if i < len(self.enc_residual):
                h = self.enc_residual[i](h) + self.enc_gate[i](acts[-1])
        return acts[::-1]

    def top_down_pass(
        self,
        acts: list[torch.Tensor] | None,
        action=None,
        sample: bool = True,
        batch_size: int | None = None,
        stochastic_levels: int | None = None,
    ) -> dict:
        """Run the decoder. ``acts`` None generates from the prior. Returns ``mu``/``logvar``
        (B, N, K), per-level ``kl`` (B,) and ``log_prior`` (B,) = log p(z_l | z_<l) at the
        latents used, ``z`` per level."""
        active = self.hparams.stochastic_levels if stochastic_levels is None else stochastic_levels
        active = self.num_levels if active is None else active
        use_posterior = acts is not None
        kls, log_priors, zs = [], [], []

        def choose(mu_q, logvar_q, mu_p, logvar_p, level):
            mu, logvar = (mu_q, logvar_q) if use_posterior else (mu_p, logvar_p)
            z = (
                mu + torch.randn_like(mu) * (0.5 * logvar).exp()
                if sample and level < active
                else mu
            )
            if use_posterior and level < active:
                kls.append(gaussian_kl(mu_q, logvar_q, mu_p, logvar_p).flatten(1).sum(1))
            else:
                kls.append(mu.new_zeros(mu.shape[0], dtype=torch.float32))
            log_priors.append(gaussian_log_prob(z, mu_p, logvar_p).flatten(1).sum(1))
            zs.append(z)
            return z

        if use_posterior:
            mu_q, logvar_q = self.top_posterior(acts[0])
            ref = mu_q
        else:
            n0, f0 = self.latent_sizes[0]
            ref = self.offset.new_zeros(batch_size, n0, f0)
            mu_q = logvar_q = None
        z = choose(mu_q, logvar_q, torch.zeros_like(ref), torch.zeros_like(ref), 0)
        stream = self.top_in(self._condition(z, action))
        for i, level in enumerate(self.top_down):
            stream = stream + level.stream_gate(level.stream_block(stream))
            p = level.prior_block(stream)
            mu_p, logvar_p = level.prior(p)
            mu_q = logvar_q = None
            if use_posterior:
                q = torch.cat([level.posterior_in(stream), acts[i + 1]], -1)
                mu_q, logvar_q = level.posterior(level.posterior_block(q))
            stream = stream + level.prior_gate(p)
            z = choose(mu_q, logvar_q, mu_p, logvar_p, i + 1)
            stream = stream + level.z_gate(level.z_in(z))
        mu, logvar = self.out_head(self.out_block(stream))
        logvar = logvar.clamp(min=self.hparams.output_logvar_min)
        if self.training and self.current_epoch < self.hparams.fixed_variance_epochs:
            logvar = torch.zeros_like(logvar)
        return {"mu": mu, "logvar": logvar, "kl": kls, "log_prior": log_priors, "z": zs}

    def forward(self, motion: torch.Tensor, action=None, sample: bool = True) -> dict:
        """motion (B, T, J, 3) mm -> top-down outputs plus ``nll`` (B,) in model units."""
        h = self.to_features(motion)
        out = self.top_down_pass(self.encode(h), action, sample=sample)
        out["nll"] = -gaussian_log_prob(h, out["mu"], out["logvar"]).flatten(1).sum(1)
        return out

    # --- training ---------------------------------------------------------------------------------
    def kl_weight(self) -> float:
        h = self.hparams
        progress = (
            1.0 if h.kl_warmup_epochs <= 0 else min(1.0, self.current_epoch / h.kl_warmup_epochs)
        )
        return h.kl_weight_start + (h.kl_weight_end - h.kl_weight_start) * progress

    def _step(self, batch: dict, stage: str) -> torch.Tensor:
        motion = batch["motion"]
        out = self(motion, batch.get("action") if self.hparams.num_actions else None)
        kl = torch.stack(out["kl"], 1)  # (B, L)
        nll, kl_total = out["nll"].mean(), kl.sum(1).mean()
        loss = nll + self.kl_weight() * kl_total if stage == "train" else nll + kl_total
        # val/test nll and kl go through the torchmetrics below
        terms = {"loss": loss, "nll": nll, "kl": kl_total} if stage == "train" else {"loss": loss}
        terms |= {f"kl_{level}": kl[:, level].mean() for level in range(self.num_levels)}
        if stage == "train":
            terms["kl_weight"] = torch.tensor(self.kl_weight())
        self.log_terms(stage, terms, batch_size=motion.shape[0])
        if stage != "train":
            with torch.no_grad():
                mse = (self.to_motion(out["mu"]) - motion).square().flatten(1).mean(1)
            for key, value in (
                ("elbo", -(out["nll"] + kl.sum(1))),
                ("nll", out["nll"]),
                ("kl", kl.sum(1)),
                ("mse_mm", mse),
            ):
                metric = self.metrics[f"{stage}_{key}"]
                metric.update(value)
                self.log(f"{stage}/{key}", metric, on_epoch=True, batch_size=motion.shape[0])
        return loss

    # --- tasks ------------------------------------------------------------------------------------
    def _log_posterior(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """Sum over the top ``posterior_levels`` of log p(z_l | z_<l) at the posterior means."""
        out = self.top_down_pass(self.encode(self.to_features(motion)), action, sample=False)
        k = self.hparams.posterior_levels
        k = self.num_levels if k is None else k
        return torch.stack(out["log_prior"][:k], 1).sum(1)

    @torch.no_grad()
    def log_posterior(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """Per-sample score (B,): the imputation objective; higher = more in-distribution."""
        return self._log_posterior(motion, action)

    @torch.no_grad()
    def reconstruct(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """motion (B, T, J, 3) mm -> decoder mean at the posterior means, (B, T, J, 3) mm."""
        return self.to_motion(self(motion, action, sample=False)["mu"])

    @torch.no_grad()
    def generate(self, n: int, action=None, level: int | None = None) -> torch.Tensor:
        """n samples (n, T, J, 3) mm from the prior; only the top ``level`` levels are sampled
        (below them the prior means). ``action``: int or (n,) for a conditional model."""
        out = self.top_down_pass(None, action, sample=True, batch_size=n, stochastic_levels=level)
        return self.to_motion(out["mu"])


def _pairs(sizes):
    return list(zip(sizes[:-1], sizes[1:]))
