"""HG-VAE: hierarchical graph-convolutional VAE of motion (Bourached et al.).

Nodes are the J*3 coordinate trajectories of the normalised motion (``b t j c -> b (j c) t``, a
proper transpose, not the reference's raw reshape), features their orthonormal DCT-II
coefficients over time (eq. 6; ``dct_coefficients`` truncates). ``levels`` lists the latent
(nodes, features) from the bottom to the top z0 (default: the reference's 4 stochastic layers
[[N,128],[24,128],[8,128],[1,256]], N = J*3; 1..16 layers are configs). The encoder reduces level
by level (GCL -> GCB, ReZero residual); z0's posterior is a Gaussian head on the top activation;
the top-down decoder keeps an (N, R) stream: z0 enters by a GCL, then per lower level
``stream += ReZero(GCB(stream))``, posterior [GCL(stream); activation] -> GCB -> head, prior
GCB(stream) -> head, ``stream += ReZero(prior)``, ``stream += ReZero(GCL(z))``; KL analytic.
p(x|z): diagonal Gaussian on the DCT coefficients, learned variance; the DCT is orthonormal, so
this is the time-domain density with covariance D^T diag(var) D. Conditional models append the
action one-hot to z0. Parameter counts: docs/models/hgvae.md.

Between its layers the model keeps activations node-major, (N, B, F), where every graph
convolution is two plain matrix products (:mod:`motionzoo.nn.graph_vae`); its methods take and
return the zoo's batch-first (B, N, F), as transposed views of the node-major tensors.

The paper config (configs/hgvae/amass.yaml) is bouracha/generative_imputation's ``HGVAE`` to the
parameter: ``node_bias=False``, ``resize_activation=False``, ``unused_top_residual=True``, raw
millimetres (``scale_mm=1``, ``centre=False``). Three options reproduce the reference's defects
so that its published weights compute what they computed there (``motionzoo convert --from
generative_imputation``; off in the paper config): ``transposed_dct`` (its "DCT" is ``x @ D``,
the DCT-III), ``time_domain_likelihood`` (the IDCT of mu against the time-domain input, under the
DCT-domain variance), ``raw_reshape`` (its loader's raw ``(T, J, 3) -> (J*3, T)`` reshape).
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from motionzoo.geometry.dct import DCT
from motionzoo.models.families.motion_vae import MotionVAE
from motionzoo.nn.distributions import gaussian_kl, gaussian_log_prob, reparameterize
from motionzoo.nn.graph_vae import GraphConvBlock, GraphConvLayer, GraphGaussianHead, ReZero
from motionzoo.nn.modes import evaluating

DEFAULT_LEVELS = ((None, 128), (24, 128), (8, 128), (1, 256))


class TopDownLevel(nn.Module):
    """One lower level of the top-down decoder (stream (B, N, R) -> stream, z (B, n, f))."""

    def __init__(
        self,
        n: int,
        f: int,
        nodes: int,
        residual: int,
        dropout: float,
        node_map,
        node_bias: bool = True,
        activation: bool = True,  # of the GCLs resizing the stream to the level and back
    ):
        super().__init__()
        bias, gcl = node_bias, {"node_bias": node_bias, "activation": activation}
        self.stream_block = GraphConvBlock(nodes, residual, dropout, bias)
        self.stream_gate = ReZero()
        self.posterior_in = GraphConvLayer(
            nodes, n, residual, f, node_map=node_map(nodes, n), **gcl
        )
        self.posterior_block = GraphConvBlock(n, 2 * f, dropout, bias)
        self.posterior = GraphGaussianHead(n, n, 2 * f, f, node_bias=bias)
        self.prior_block, self.prior_gate = GraphConvBlock(nodes, residual, dropout, bias), ReZero()
        self.prior = GraphGaussianHead(nodes, n, residual, f, node_map(nodes, n), bias)
        self.z_in = GraphConvLayer(n, nodes, f, residual, node_map=node_map(n, nodes), **gcl)
        self.z_gate = ReZero()


class HGVAE(MotionVAE):
    """Hierarchical graph-convolutional VAE over (B, T, J, 3) mm motion windows; verbs as
    :class:`~motionzoo.models.families.motion_vae.MotionVAE`.

    Args:
        num_joints, num_frames: J (18 AMASS, 22 H3.6M) and T (50).
        dct_coefficients: DCT coefficients kept per node (None: all T).
        levels: latent (nodes, features) from bottom to top; None nodes = J*3.
        residual_features: width R of the decoder's (N, R) stream (256).
        dropout: dropout inside every GCB.
        stochastic_levels: number of top levels that are stochastic (None: all); below them z is
            the mean (posterior when encoding, prior when generating) and has no KL.
        num_actions: > 0 appends an action one-hot to z0 (15 for H3.6M).
        imputation_objective: ``"joint"`` log p(x | z*) + log p(z*) or the reference's
            ``"posterior"`` log p(z*) (see :mod:`motionzoo.models.families.motion_vae`).
        scale_mm: millimetres per model unit after centring on the train mean pose.
        lr, weight_decay: Adam (paper lr 1e-3; reference 1e-4 with weight decay 1e-4).
        kl_weight_start, kl_weight_end, kl_warmup_epochs: linear KL warm-up 0.001 -> 1 over 200.
        ood_quantile: quantile of the training log posterior used as the OoD threshold.
        output_logvar_min: floor of the output log-variance (model units; reference -20).
        fixed_variance_epochs: for the first epochs the output log-variance is 0 (unit variance
            in model units, the reference's ``--output_variance`` off).
        action_names: names of the action indices (None: the fitted DataModule's).
        node_bias: GCL bias per node and feature (ours, DESIGN.md) or per feature (reference).
        resize_activation: GELU after the GCLs that resize between levels (encoder reductions,
            posterior input, z0 and z inputs; ours) or linear ones (reference).
        unused_top_residual: also build the reference's residual GCL and ReZero above the top
            encoder level, whose output it never uses: parameters (and its checkpoint's keys)
            only, no function.
        centre: centre on the train mean pose at fit start (ours); False keeps offset 0, the
            reference's raw millimetres with ``scale_mm=1``.
        transposed_dct: reference defect, features ``x @ D`` (its ``dct``: the DCT-III) and back
            by ``@ D^T``, instead of the DCT-II ``x @ D^T``.
        time_domain_likelihood: reference defect, log N(x; IDCT(mu), exp(logvar)) over time with
            the DCT-domain log-variance, instead of the DCT-domain density.
        raw_reshape: reference defect, nodes are the raw reshape of the (T, J, 3) window into
            (J*3, T) rows (its AMASS loader), not the coordinate trajectories.
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
        imputation_objective: str = "joint",
        scale_mm: float = 100.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kl_weight_start: float = 1e-3,
        kl_weight_end: float = 1.0,
        kl_warmup_epochs: int = 200,
        ood_quantile: float = 0.01,
        output_logvar_min: float = -20.0,
        fixed_variance_epochs: int = 0,
        action_names: list[str] | None = None,
        node_bias: bool = True,
        resize_activation: bool = True,
        unused_top_residual: bool = False,
        centre: bool = True,
        transposed_dct: bool = False,
        time_domain_likelihood: bool = False,
        raw_reshape: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        if not levels:
            raise ValueError("HGVAE needs at least one latent level, e.g. levels=[[1, 256]]")
        if dct_coefficients not in (None, num_frames) and (
            transposed_dct or time_domain_likelihood
        ):
            raise ValueError(
                f"transposed_dct and time_domain_likelihood (the reference's) keep all "
                f"{num_frames} DCT coefficients; got dct_coefficients={dct_coefficients}"
            )
        self.nodes = nodes = num_joints * 3
        self.features = features = dct_coefficients or num_frames
        self.dct = DCT(num_frames, dct_coefficients)
        sizes = [(nodes, features)] + [(n or nodes, f) for n, f in levels]
        self.latent_sizes = sizes[1:][::-1]  # top-down: z0 first
        self.num_levels = len(self.latent_sizes)
        self.register_statistics(num_frames, num_joints, scale_mm)
        nmap, bias = self.node_map, node_bias
        gcl = {"node_bias": bias, "activation": resize_activation}  # of the resizing GCLs
        # encoder (bottom-up)
        self.enc_reduce = nn.ModuleList(
            GraphConvLayer(a[0], b[0], a[1], b[1], node_map=nmap(a[0], b[0]), **gcl)
            for a, b in _pairs(sizes)
        )
        self.enc_block = nn.ModuleList(GraphConvBlock(*b, dropout, bias) for _, b in _pairs(sizes))
        # the top level's activation goes to the posterior only: no residual is used above it
        residuals = _pairs(sizes) if unused_top_residual else _pairs(sizes)[:-1]
        self.enc_residual = nn.ModuleList(
            GraphConvLayer(a[0], b[0], a[1], b[1], False, nmap(a[0], b[0]), bias)
            for a, b in residuals
        )
        self.enc_gate = nn.ModuleList(ReZero() for _ in residuals)
        # top level z0: a Gaussian head on the top encoder activation (reference
        # ``reparametisation_latent_0``), entering the stream by a GCL (``resize_conv_0``)
        n0, f0 = self.latent_sizes[0]
        self.top_posterior = GraphGaussianHead(n0, n0, f0, f0, node_bias=bias)
        self.top_in = GraphConvLayer(
            n0, nodes, f0 + num_actions, residual_features, node_map=nmap(n0, nodes), **gcl
        )
        self.top_down = nn.ModuleList(
            TopDownLevel(n, f, nodes, residual_features, dropout, nmap, **gcl)
            for n, f in self.latent_sizes[1:]
        )
        self.out_block = GraphConvBlock(nodes, residual_features, dropout, bias)
        self.out_head = GraphGaussianHead(nodes, nodes, residual_features, features, node_bias=bias)

    def node_map(self, in_nodes: int, out_nodes: int) -> torch.Tensor | None:
        """Fixed (out_nodes, in_nodes) node map of a GCL between two levels, or None for the
        learned dense S of the paper (every GCL here). HMVAE overrides it with body-part pooling."""
        return None

    # --- data <-> model space -------------------------------------------------------------------
    def to_nodes(self, motion: torch.Tensor) -> torch.Tensor:
        """motion (B, T, J, 3) mm -> node signals over time (B, N = J*3, T), model units."""
        x = self.normalise(motion)
        if self.hparams.raw_reshape:
            return x.reshape(len(x), self.nodes, -1)
        return rearrange(x, "b t j c -> b (j c) t")

    def transform(self, x: torch.Tensor, inverse: bool = False) -> torch.Tensor:
        """Time (B, N, T) -> DCT features (B, N, K), or back with ``inverse``."""
        if inverse != self.hparams.transposed_dct:
            return self.dct.inverse(x)
        return self.dct(x)

    def to_features(self, motion: torch.Tensor) -> torch.Tensor:
        """motion (B, T, J, 3) mm -> DCT features (B, N = J*3, K), a view of node-major ones."""
        x = self.normalise(motion)
        if self.hparams.raw_reshape:
            x = x.reshape(len(x), self.nodes, -1).transpose(0, 1)
        else:
            x = rearrange(x, "b t j c -> (j c) b t")
        return self.transform(x).transpose(0, 1)  # one matrix product over the (N B, T) rows

    def to_motion(self, features: torch.Tensor) -> torch.Tensor:
        """DCT features (B, N, K) -> motion (B, T, J, 3) mm."""
        x = self.transform(features, inverse=True)
        if self.hparams.raw_reshape:
            return self.denormalise(x.reshape(len(x), *self.train_mean.shape))
        return self.denormalise(rearrange(x, "b (j c) t -> b t j c", c=3))

    def log_likelihood(self, nodes, features, mu, logvar) -> torch.Tensor:
        """(B,) log p(x | z): of the DCT features (B, N, K), or with ``time_domain_likelihood``
        of the node signals (B, N, T) around the IDCT of mu (the reference's)."""
        if self.hparams.time_domain_likelihood:
            return gaussian_log_prob(nodes, self.transform(mu, True), logvar).sum((1, 2))
        return gaussian_log_prob(features, mu, logvar).sum((1, 2))

    def _condition(self, z0: torch.Tensor, action) -> torch.Tensor:
        """z0 (n0, B, f0) node-major -> (n0, B, f0 + num_actions): the action one-hot on every
        node."""
        onehot = self.action_onehot(action, z0.transpose(0, 1))
        if onehot is None:
            return z0
        n0, b = z0.shape[:2]
        return torch.cat([z0, onehot[None].expand(n0, b, onehot.shape[1])], -1)

    # --- the model --------------------------------------------------------------------------------
    def bottom_up(self, h: torch.Tensor) -> list[torch.Tensor]:
        """Features (B, N, K) -> encoder activations (B, n_l, f_l) per latent level, top-down
        order."""
        h, acts = h.transpose(0, 1), []  # node-major
        for i, (reduce, block) in enumerate(zip(self.enc_reduce, self.enc_block)):
            acts.append(block.node_major(reduce.node_major(h)))
            if i + 1 < len(self.enc_block):
                h = self.enc_gate[i].residual(self.enc_residual[i].node_major(h), acts[-1])
        return [a.transpose(0, 1) for a in acts[::-1]]

    def top_down_pass(
        self,
        acts: list[torch.Tensor] | None,
        action=None,
        sample: bool = True,
        batch_size: int | None = None,
        stochastic_levels: int | None = None,
        kl: bool = True,
        log_prior: bool = True,
        levels: int | None = None,
    ) -> dict:
        """Run the decoder. ``acts`` None generates from the prior. Returns ``mu``/``logvar``
        (B, N, K), per-level ``kl`` (B,) (zeros unless ``kl``), ``z`` (B, n_l, f_l) per level
        and (if ``log_prior``) ``log_prior`` (B,) = log p(z_l | z_<l) at the latents used.
        ``levels`` < ``num_levels``: only the top ``levels`` levels, whose outputs do not
        depend on the rest (the decoder is top-down), and no ``mu``/``logvar``."""
        active = self.hparams.stochastic_levels if stochastic_levels is None else stochastic_levels
        active = self.num_levels if active is None else active
        levels = self.num_levels if levels is None else levels
        use_posterior = acts is not None
        kls, log_priors, zs = [], [], []

        def posterior_logvar(level: int) -> bool:  # used to sample z or for the KL
            return (sample or kl) and level < active

        def choose(mu_q, logvar_q, mu_p, logvar_p, level):  # node-major (n, B, f)
            mu, logvar = (mu_q, logvar_q) if use_posterior else (mu_p, logvar_p)
            z = mu
            if sample and level < active:  # the noise drawn batch-first, (B, n, f) in order
                z = reparameterize(*(t.transpose(0, 1).contiguous() for t in (mu, logvar)))
                z = z.transpose(0, 1)
            if kl and use_posterior and level < active:
                kls.append(gaussian_kl(mu_q, logvar_q, mu_p, logvar_p).sum((0, 2)))
            else:
                kls.append(mu.new_zeros(mu.shape[1], dtype=torch.float32))
            if log_prior:
                log_priors.append(gaussian_log_prob(z, mu_p, logvar_p).sum((0, 2)))
            zs.append(z.transpose(0, 1))
            return z

        if use_posterior:
            acts = [a.transpose(0, 1) for a in acts]  # node-major
            mu_q, logvar_q = self.top_posterior.node_major(acts[0], logvar=posterior_logvar(0))
            ref = mu_q
        else:
            n0, f0 = self.latent_sizes[0]
            ref = self.offset.new_zeros(n0, batch_size, f0)
            mu_q = logvar_q = None
        zero = torch.zeros((), dtype=ref.dtype, device=ref.device).expand(ref.shape)  # p(z0)
        z = choose(mu_q, logvar_q, zero, zero, 0)
        partial = {"kl": kls, "z": zs} | ({"log_prior": log_priors} if log_prior else {})
        if levels == 1 < self.num_levels:
            return partial
        stream = self.top_in.node_major(self._condition(z, action))
        for i, level in enumerate(self.top_down[: levels - 1]):
            stream = level.stream_gate.residual(stream, level.stream_block.node_major(stream))
            p = level.prior_block.node_major(stream)
            mu_p, logvar_p = level.prior.node_major(p)
            mu_q = logvar_q = None
            if use_posterior:
                q = torch.cat([level.posterior_in.node_major(stream), acts[i + 1]], -1)
                mu_q, logvar_q = level.posterior.node_major(
                    level.posterior_block.node_major(q), logvar=posterior_logvar(i + 1)
                )
            stream = level.prior_gate.residual(stream, p)
            z = choose(mu_q, logvar_q, mu_p, logvar_p, i + 1)
            if i + 2 == levels < self.num_levels:
                return partial
            stream = level.z_gate.residual(stream, level.z_in.node_major(z))
        mu, logvar = self.out_head.node_major(self.out_block.node_major(stream))
        logvar = logvar.clamp(min=self.hparams.output_logvar_min)
        if self.training and self.current_epoch < self.hparams.fixed_variance_epochs:
            logvar = torch.zeros_like(logvar)
        return {"mu": mu.transpose(0, 1), "logvar": logvar.transpose(0, 1)} | partial

    def forward(self, motion: torch.Tensor, action=None, sample: bool = True) -> dict:
        """motion (B, T, J, 3) mm -> top-down outputs plus ``nll`` (B,) in model units."""
        self.check_motion("forward", motion)
        h = self.to_features(motion)
        out = self.top_down_pass(self.bottom_up(h), action, sample=sample, log_prior=False)
        out["nll"] = -self.log_likelihood(self._time_nodes(motion), h, out["mu"], out["logvar"])
        return out

    def _time_nodes(self, motion: torch.Tensor) -> torch.Tensor | None:
        """The node signals over time where the likelihood needs them (the reference's)."""
        return self.to_nodes(motion) if self.hparams.time_domain_likelihood else None

    # --- the family's pieces ----------------------------------------------------------------------
    @evaluating
    def encode(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """motion (B, T, J, 3) mm -> z0's posterior mean, flattened (B, n0 f0)."""
        self.check_motion("encode", motion)
        mu_z0, _ = self.top_posterior(self.bottom_up(self.to_features(motion))[0], logvar=False)
        return mu_z0.flatten(1)

    def log_joint_terms(self, motion: torch.Tensor, action=None):
        """(log p(x | z*) (B,), log p(z*_l | z*_<l) (B, L), z0 first) at the posterior means z*,
        model units."""
        h = self.to_features(motion)
        out = self.top_down_pass(self.bottom_up(h), action, sample=False, kl=False)
        log_lik = self.log_likelihood(self._time_nodes(motion), h, out["mu"], out["logvar"])
        return log_lik, torch.stack(out["log_prior"], 1)

    def log_upper_priors(self, motion: torch.Tensor, action=None) -> torch.Tensor:
        """(B,) sum of log p(z*_l | z*_<l) over all levels but the bottom one, at the posterior
        means: the top-down pass stops above the bottom level (its posterior, prior and the
        output block are neither computed nor differentiated)."""
        upper = max(self.num_levels - 1, 1)
        out = self.top_down_pass(
            self.bottom_up(self.to_features(motion)), action, sample=False, kl=False, levels=upper
        )
        return torch.stack(out["log_prior"], 1).sum(1)

    def sample_prior(self, n: int, action, level: int | None) -> torch.Tensor:
        """Decoder mean (n, N, K) of n prior samples, the top ``level`` levels sampled."""
        out = self.top_down_pass(None, action, sample=True, batch_size=n, stochastic_levels=level)
        return out["mu"]


def _pairs(sizes):
    return list(zip(sizes[:-1], sizes[1:]))
