"""HamiltonianVAE: content / motion disentanglement with a Hamiltonian latent prior (Khan & Storkey,
"Hamiltonian prior to disentangle content and motion in image sequences"; HALO code).

Generative model (paper section 3), per sequence of T frames x_1..T (B, T, 3, 64, 64):

- content z ~ N(0, I) (z_dim 256), one per sequence;
- motion in K action subspaces of phase dimension 2d (Sprites: K = 3, d = 12). The action label
  selects subspace k; the other subspaces are zero. The phase state s_t = [q_t; p_t] of subspace
  k evolves as ``s_{t+n} = exp(n H_k) s_t`` (:class:`~motionzoo.nn.symplectic.HamiltonianOperator`,
  the ``H`` or skew-``H`` variant);
- emission x_t ~ N(phi(z, q_t), alpha^2 I), alpha = 1: the decoder phi sees the positions q of the
  K subspaces (K d values, zero outside subspace k), never the momenta.

Inference (HALO ``SubspaceVAE.encode``): a per-frame conv encoder gives h_t; the content posterior
q(z | x_1..T) from a 2-layer bi-LSTM over h_1..T (or, ``content_pooling="mean"``, from per-frame
codes averaged over time); a per-frame MLP (h -> 2Kd -> Kd, BN + LeakyReLU)
gives the motion features v_t, and Linear heads the posterior q(q_t | x_t); the momentum posterior
q(p_t | x_{t-w+1..t}) comes from a causal temporal conv over the w = 4 latest v's. Samples are
split into the K subspaces and L2-normalised per subspace (q and p separately), then masked to
subspace k. A random reference frame t_ref per sequence gives the trajectory
``s^gen_t = exp((t - t_ref) H_k) s_{t_ref}`` forward and backward in time.

Loss (negative ELBO of eq. 17, per sequence, batch mean; each term logged):

- ``recon_gen``: -log N(x_t | phi(z, q^gen_t), alpha^2) summed over frames and pixels (without the
  constant 0.5 log(2 pi alpha^2) per pixel), the frames decoded from the generated trajectory;
- ``recon_enc``: the same for the frames decoded from the encoded q_t;
- ``state``: sum_t ||s^gen_t - s_t||^2, the trajectory against the encoded states;
- ``kl_z``, ``kl_q``, ``kl_p``: analytic KL to N(0, I) of the content and of the selected
  subspace's q_t and p_t posteriors (before normalisation, as HALO), summed over frames
  (``learn_prior``: to a learned Gaussian per subspace instead, see the argument);
- ``action_ce``: cross-entropy of q(k | x) (an MLP on the time-averaged frame features). Not in
  the paper, whose methods always know the action: it lets :meth:`reconstruct` and
  :meth:`swap_motion` infer the subspace of unlabelled sequences.

Weights ``recon_weight`` (both reconstructions), ``beta_state`` (BetaV1), ``beta_z`` (BetaZ),
``beta_v`` (BetaV, for KL_q + KL_p), ``action_weight``: HALO's defaults are all 1. HALO optimises
only the conv encoder / decoder and the operators (its ContentMotion, momentum conv and posterior
heads never change); here one Adam (lr 2e-4, betas 0.5, 0.999) optimises every parameter. The
first ``pretrain_epochs`` train a frame VAE (HALO pretrains its encoder and decoder for 80 of 800
epochs): every frame is a one-frame clip with its own content, only ``recon_enc``, the KL terms
and ``action_ce`` count (``pretrain_frames``: only that many random frames per sequence).

The synthetic Sprites configs deviate on purpose (CPU budget): mean content pooling and one
random frame per sequence in pretraining. With HALO's bi-LSTM at batch 8 the reconstructions of
a 14-minute run were an average character (attributes 0.30 by the classifier, identity retrieval
among same-motion test sequences 0.05); what limits identity is the number of characters per step
(a frame VAE: retrieval 0.82 after 400 steps of 64 frames from 64 sequences, 0.28 from 8
sequences of 8 frames, 0.63 from 24 of 8), and a one-frame clip's mean-pooled code is the
sequence model's content code, so the cheap frame-level pretraining carries over.

Networks: :mod:`motionzoo.nn.sequence_vae` (widths configurable; the defaults are HALO's).
Batches: ``frames`` (B, T, 3, 64, 64) in [-1, 1] and the label ``action_key`` (B,) long in 0..K-1
(Sprites: ``action3``, K = 3; MUG: ``action``, K = 6).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from motionzoo.metrics.image import FrameMSE, FramePSNR, FrameSSIM
from motionzoo.models.base import ZooModule
from motionzoo.models.conv_vae import gaussian_kl, reparameterize
from motionzoo.nn.sequence_vae import (
    CausalTemporalBlock,
    ContentEncoder,
    SequenceConvDecoder,
    SequenceConvEncoder,
)
from motionzoo.nn.symplectic import HamiltonianOperator


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers)


def gaussian_kl_to(
    mu: torch.Tensor, logvar: torch.Tensor, prior_mu: torch.Tensor, prior_logvar: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(prior_mu, exp(prior_logvar))) summed over the last axis, in
    float32 (the prior broadcasts against the posterior)."""
    mu, logvar = mu.float(), logvar.float()
    prior_mu, prior_logvar = prior_mu.float(), prior_logvar.float()
    ratio = (logvar - prior_logvar).exp() + (mu - prior_mu).pow(2) / prior_logvar.exp()
    return 0.5 * (ratio - 1 - logvar + prior_logvar).sum(-1)


def gaussian_nll(frames: torch.Tensor, recon: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """-log N(frames | recon, alpha^2 I) per sequence without its constant, batch mean: frames,
    recon (B, T, C, H, W) -> scalar, in float32."""
    return 0.5 * (frames.float() - recon.float()).pow(2).sum((1, 2, 3, 4)).mean() / alpha**2


class HamiltonianVAE(ZooModule):
    """Sequence VAE with K Hamiltonian motion subspaces (see the module docstring).

    Args:
        num_actions: K subspaces / operators (Sprites 3, MUG 6).
        subspace_dim: d; a subspace's phase state [q; p] has 2d entries (Sprites 12).
        variant: ``"H"`` (H_k = J M_k) or ``"skew"`` (symplectic and orthogonal flow).
        z_dim: content code size (256). h_dim: frame feature size (2048).
        encoder_channels, encoder_strides, encoder_hidden: the frame encoder (HALO 256 x 5,
            strides 1, 2, 2, 2, 1, FC 4096).
        decoder_channels, decoder_start_channels, decoder_hidden: the frame decoder (HALO 256 x 3,
            256, FC 2 h_dim; None = 2 h_dim). decoder_output_batchnorm: BN before the output
            tanh (HALO; off trains small decoders much faster, see :mod:`~motionzoo.nn.sequence_vae`).
        content_layers, content_hidden: bi-LSTM layers and hidden size per direction of the
            content encoder (2; None = z_dim / 2 as HALO).
        content_pooling: ``"lstm"`` (HALO's bi-LSTM) or ``"mean"`` (frame codes averaged over
            time, :class:`~motionzoo.nn.sequence_vae.ContentEncoder`): the synthetic configs use
            "mean", with which frame-VAE pretraining carries over to sequences (identity kept
            after a CPU budget; the bi-LSTM's reconstructions were an average character).
        momentum_window: w, frames seen by the causal momentum conv (4).
        alpha: emission standard deviation (1).
        recon_weight, beta_state, beta_z, beta_v, action_weight: loss weights (all 1).
        learn_prior: learn the mean and variance of the Gaussian prior of q and p per subspace
            instead of the paper's N(0, I). Generation draws initial states from it; a short
            training leaves the normalised posterior states far from the uniform directions that
            N(0, I) gives, and the decoder has never seen most of those.
        pretrain_epochs: epochs of frame-VAE training before the dynamics terms (HALO 80).
        pretrain_frames: frames per sequence, drawn at random, that the frame-VAE pretraining
            uses (None: all T, as HALO). A batch holds few characters (B sequences of one
            character each); with 1 frame per sequence a pretraining step costs 1/T and the
            identity is learned per character seen, not per frame (a frame VAE reached
            identity retrieval 0.82 after 400 steps of 64 frames from 64 sequences, 0.28 from
            8 sequences of 8 frames).
        lr, betas: Adam (2e-4, (0.5, 0.999)).
        action_key: batch key of the action label. sequence_length: training clip length T, the
            length a single frame is repeated to for the content encoder (image-to-sequence).
        image_size: frame side (64).
    """

    def __init__(
        self,
        num_actions: int = 3,
        subspace_dim: int = 12,
        variant: Literal["H", "skew"] = "H",
        z_dim: int = 256,
        h_dim: int = 2048,
        encoder_channels: list[int] | tuple[int, ...] = (256, 256, 256, 256, 256),
        encoder_strides: list[int] | tuple[int, ...] = (1, 2, 2, 2, 1),
        encoder_hidden: int = 4096,
        decoder_channels: list[int] | tuple[int, ...] = (256, 256, 256),
        decoder_start_channels: int = 256,
        decoder_hidden: int | None = None,
        decoder_output_batchnorm: bool = True,
        content_layers: int = 2,
        content_hidden: int | None = None,
        content_pooling: Literal["lstm", "mean"] = "lstm",
        momentum_window: int = 4,
        alpha: float = 1.0,
        recon_weight: float = 1.0,
        beta_state: float = 1.0,
        beta_z: float = 1.0,
        beta_v: float = 1.0,
        action_weight: float = 1.0,
        learn_prior: bool = False,
        pretrain_epochs: int = 80,
        pretrain_frames: int | None = None,
        lr: float = 2e-4,
        betas: tuple[float, float] | list[float] = (0.5, 0.999),
        action_key: str = "action3",
        sequence_length: int = 8,
        image_size: int = 64,
    ):
        super().__init__()
        self.save_hyperparameters()
        if pretrain_frames is not None and pretrain_frames < 1:
            raise ValueError(f"pretrain_frames must be >= 1 or None (all), got {pretrain_frames}")
        k, d = num_actions, subspace_dim
        motion = k * d
        self.encoder = SequenceConvEncoder(
            h_dim, tuple(encoder_channels), tuple(encoder_strides), encoder_hidden, image_size
        )
        self.content = ContentEncoder(h_dim, z_dim, content_hidden, content_layers, content_pooling)
        self.motion = _mlp([h_dim, 2 * motion, motion])  # HALO's spaceV
        self.momentum = CausalTemporalBlock(motion, motion, momentum_window)
        self.q_mu, self.q_logvar = nn.Linear(motion, motion), nn.Linear(motion, motion)
        self.p_mu, self.p_logvar = nn.Linear(motion, motion), nn.Linear(motion, motion)
        self.action_head = nn.Sequential(
            nn.Linear(h_dim, h_dim), nn.LeakyReLU(0.2, inplace=True), nn.Linear(h_dim, k)
        )
        self.operator = HamiltonianOperator(k, 2 * d, variant)
        # prior of the (unnormalised) q and p of each subspace: N(0, I) as the paper, or learned
        for name in ("prior_mu", "prior_logvar"):  # (q / p, K, d)
            if learn_prior:
                self.register_parameter(name, nn.Parameter(torch.zeros(2, k, d)))
            else:
                self.register_buffer(name, torch.zeros(2, k, d))
        self.decoder = SequenceConvDecoder(
            z_dim + motion,
            decoder_hidden or 2 * h_dim,
            tuple(decoder_channels),
            decoder_start_channels,
            image_size,
            output_batchnorm=decoder_output_batchnorm,
        )
        self.metrics = nn.ModuleDict(
            {
                f"{stage}_{name}": cls()
                for stage in ("val", "test")
                for name, cls in (
                    ("ssim", FrameSSIM),
                    ("psnr", FramePSNR),
                    ("mse", FrameMSE),
                    ("ssim_rollout", FrameSSIM),
                )
            }
        )
        self.action_acc = nn.ModuleDict(
            {s: MulticlassAccuracy(k, average="micro") for s in ("val", "test")}
        )

    @property
    def num_actions(self) -> int:
        """K, the number of action subspaces (and of the labels ``generate`` takes)."""
        return self.hparams.num_actions

    # ----------------------------------------------------------------------------- inference
    def _subspaces(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "... (k d) -> ... k d", k=self.num_actions)

    def _mask(self, action: torch.Tensor) -> torch.Tensor:
        """(B,) -> (B, 1, K, 1) one-hot over the subspaces."""
        if action.min() < 0 or action.max() >= self.num_actions:
            raise ValueError(
                f"action labels {action.unique().tolist()} outside 0..{self.num_actions - 1}; "
                f"check action_key {self.hparams.action_key!r} and num_actions"
            )
        return F.one_hot(action.long(), self.num_actions).float()[:, None, :, None]

    def posterior(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Posterior parameters of frames (B, T, 3, H, W): ``z_mu``, ``z_logvar`` (B, Z);
        ``q_mu``, ``q_logvar``, ``p_mu``, ``p_logvar`` (B, T, K, d) (unnormalised, unmasked);
        ``action_logits`` (B, K)."""
        if frames.ndim != 5 or frames.shape[2] != 3:
            raise ValueError(f"frames {tuple(frames.shape)}: expected (B, T, 3, H, W)")
        h = self.encoder(frames)
        z_mu, z_logvar = self.content(h)
        v = rearrange(self.motion(rearrange(h, "b t f -> (b t) f")), "(b t) m -> b t m", b=len(h))
        u = self.momentum(v)
        out = {"z_mu": z_mu, "z_logvar": z_logvar}
        for name, feat, heads in (("q", v, (self.q_mu, self.q_logvar)), ("p", u, (self.p_mu, self.p_logvar))):  # fmt: skip
            out[f"{name}_mu"] = self._subspaces(heads[0](feat))
            out[f"{name}_logvar"] = self._subspaces(heads[1](feat))
        out["action_logits"] = self.action_head(h.mean(1))
        return out

    def phase_state(self, q: torch.Tensor, p: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """q, p (B, T, K, d) -> s = [q/|q|; p/|p|] per subspace, zero outside ``action``:
        (B, T, K, 2d)."""
        s = torch.cat([F.normalize(q, dim=-1, eps=1e-8), F.normalize(p, dim=-1, eps=1e-8)], -1)
        return s * self._mask(action)

    def decode(self, z: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """phi(z, q_t): z (B, Z), s (B, T, K, 2d) -> frames (B, T, 3, H, W); only the q half of
        each subspace's state reaches the decoder."""
        q = rearrange(s[..., : self.hparams.subspace_dim], "b t k d -> b t (k d)")
        return self.decoder(torch.cat([repeat(z, "b z -> b t z", t=q.shape[1]), q.to(z.dtype)], -1))

    def _action(self, post: dict[str, torch.Tensor], action: torch.Tensor | None) -> torch.Tensor:
        return post["action_logits"].argmax(-1) if action is None else action.to(self.device).long()

    # -------------------------------------------------------------------------------- loss
    def loss_terms(
        self, frames: torch.Tensor, action: torch.Tensor, pretrain: bool = False
    ) -> dict[str, torch.Tensor]:
        """The negative ELBO's terms (per sequence, batch mean) and ``loss``, their weighted sum.

        ``pretrain``: the frame VAE of HALO's first epochs. Every frame is a one-frame clip with its
        own content z, q and p, reconstructed from its encoding (no trajectory); the terms are
        summed over the frames of a sequence, so that both phases log per-sequence values."""
        h = self.hparams
        length = frames.shape[1]
        if pretrain:
            if h.pretrain_frames and h.pretrain_frames < length:
                picks = torch.rand(frames.shape[:2], device=frames.device).argsort(1)
                rows = torch.arange(len(frames), device=frames.device)[:, None]
                frames = frames[rows, picks[:, : h.pretrain_frames]]
            per_sequence = frames.shape[1]
            frames = rearrange(frames, "b t c h w -> (b t) 1 c h w")
            action = repeat(action, "b -> (b t)", t=per_sequence)
        b, t = frames.shape[:2]
        post = self.posterior(frames)
        z = reparameterize(post["z_mu"], post["z_logvar"])
        q = reparameterize(post["q_mu"], post["q_logvar"])
        p = reparameterize(post["p_mu"], post["p_logvar"])
        s = self.phase_state(q, p, action)  # (B, T, K, 2d)
        t_ref = torch.randint(0, t, (b,), device=frames.device)
        s_gen = self.operator.rollout(s[torch.arange(b, device=s.device), t_ref], t_ref, t)
        mask = self._mask(action)
        recon = {"recon_enc": self.decode(z, s)}
        if not pretrain:
            recon["recon_gen"] = self.decode(z, s_gen)
        with torch.autocast(device_type=frames.device.type, enabled=False):
            terms = {k: gaussian_nll(frames, x, h.alpha) for k, x in recon.items()}
            terms["state"] = (s_gen - s.float()).pow(2).sum((1, 2, 3)).mean()
            terms["kl_z"] = gaussian_kl(post["z_mu"], post["z_logvar"]).mean()
            for i, name in enumerate(("q", "p")):
                kl = gaussian_kl_to(
                    post[f"{name}_mu"],
                    post[f"{name}_logvar"],
                    self.prior_mu[i],
                    self.prior_logvar[i],
                )  # (B, T, K)
                terms[f"kl_{name}"] = (kl * mask[..., 0]).sum((1, 2)).mean()
            terms["action_ce"] = F.cross_entropy(post["action_logits"].float(), action)
            kl = h.beta_z * terms["kl_z"] + h.beta_v * (terms["kl_q"] + terms["kl_p"])
            recon_sum = sum(terms[k] for k in recon)
            loss = h.recon_weight * recon_sum + kl + h.action_weight * terms["action_ce"]
            # pretraining: the (one-frame) trajectory stays in the graph at weight 0 for DDP
            loss = loss + (0.0 if pretrain else h.beta_state) * terms["state"]
        terms = {"loss": loss, **terms}
        if pretrain:  # per frame -> per sequence (the cross-entropy stays a mean)
            terms = {k: v if k == "action_ce" else v * length for k, v in terms.items()}
            terms["loss"] = terms["loss"] - (length - 1) * h.action_weight * terms["action_ce"]
        return terms

    def _label(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        key = self.hparams.action_key
        if key not in batch:
            raise KeyError(
                f"{type(self).__name__}: batch has no action label {key!r} (keys {list(batch)}); "
                f"set action_key (Sprites: action3 with num_actions 3; MUG: action with 6)"
            )
        return batch[key].long()

    def training_step(self, batch, batch_idx):
        frames = batch["frames"]
        pretrain = self.current_epoch < self.hparams.pretrain_epochs
        terms = self.loss_terms(frames, self._label(batch), pretrain=pretrain)
        self.log_terms("train", terms, batch_size=len(frames))
        return terms["loss"]

    def _eval_step(self, batch, stage: str) -> None:
        frames, action = batch["frames"], self._label(batch)
        self.log_terms(stage, self.loss_terms(frames, action), batch_size=len(frames))
        post = self.posterior(frames)
        self.action_acc[stage](post["action_logits"], action)
        z = post["z_mu"]
        s = self.phase_state(post["q_mu"], post["p_mu"], action)
        t_ref = torch.zeros(len(frames), dtype=torch.long, device=frames.device)
        rollout = self.decode(z, self.operator.rollout(s[:, 0], t_ref, frames.shape[1]))
        recon = self.decode(z, s).float()
        x = frames.float()
        for name in ("ssim", "psnr", "mse"):
            self.metrics[f"{stage}_{name}"](recon, x)
        self.metrics[f"{stage}_ssim_rollout"](rollout.float(), x)
        kw = dict(on_step=False, on_epoch=True, batch_size=len(frames))
        for name in ("ssim", "psnr", "mse", "ssim_rollout"):
            self.log(f"{stage}/{name}", self.metrics[f"{stage}_{name}"], **kw)
        self.log(f"{stage}/action_acc", self.action_acc[stage], **kw)

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self.reconstruct(batch["frames"], batch.get(self.hparams.action_key))

    def configure_optimizers(self):
        h = self.hparams
        return torch.optim.Adam(self.parameters(), lr=h.lr, betas=tuple(h.betas))

    # ------------------------------------------------------------------------------- tasks
    def _eval_mode(self):
        was = self.training
        self.eval()
        return was

    @torch.no_grad()
    def encode_content(self, frames: torch.Tensor) -> torch.Tensor:
        """Posterior mean of the content z (B, Z) of frames (B, T, 3, H, W)."""
        was = self._eval_mode()
        z = self.content(self.encoder(frames.to(self.device)))[0]
        self.train(was)
        return z

    @torch.no_grad()
    def infer_action(self, frames: torch.Tensor) -> torch.Tensor:
        """The most probable action subspace (B,) of frames (B, T, 3, H, W), from q(k | x)."""
        was = self._eval_mode()
        action = self.posterior(frames.to(self.device))["action_logits"].argmax(-1)
        self.train(was)
        return action

    @torch.no_grad()
    def reconstruct(self, frames: torch.Tensor, action: torch.Tensor | None = None) -> torch.Tensor:
        """phi(z, q_t) at the posterior means: frames (B, T, 3, H, W) -> same shape. ``action``
        (B,) selects the subspace; None infers it (:meth:`infer_action`)."""
        was = self._eval_mode()
        post = self.posterior(frames.to(self.device))
        s = self.phase_state(post["q_mu"], post["p_mu"], self._action(post, action))
        out = self.decode(post["z_mu"], s)
        self.train(was)
        return out

    @torch.no_grad()
    def image_to_sequence(
        self, frame: torch.Tensor, action: torch.Tensor, length: int
    ) -> torch.Tensor:
        """Sequences (B, length, 3, H, W) from single frames (B, 3, H, W): content and initial
        phase state from the frame (as the first frame of a clip: repeated ``sequence_length``
        times for the content LSTM; its momentum sees zero padding before it), evolved by the
        operator of ``action`` (B,) from t = 0."""
        was = self._eval_mode()
        clip = repeat(frame.to(self.device), "b c h w -> b t c h w", t=self.hparams.sequence_length)
        post = self.posterior(clip)
        s0 = self.phase_state(post["q_mu"][:, :1], post["p_mu"][:, :1], action.to(self.device))
        out = self._roll_and_decode(post["z_mu"], s0[:, 0], length)
        self.train(was)
        return out

    def _roll_and_decode(self, z: torch.Tensor, s0: torch.Tensor, length: int) -> torch.Tensor:
        t_ref = torch.zeros(len(z), dtype=torch.long, device=z.device)
        return self.decode(z, self.operator.rollout(s0, t_ref, length))

    @torch.no_grad()
    def swap_motion(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        action_a: torch.Tensor | None = None,
        action_b: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(a's content with b's motion, b's content with a's motion), each (B, T, 3, H, W):
        phi(z_a, q^b_t) and phi(z_b, q^a_t) at the posterior means. Actions None are inferred."""
        was = self._eval_mode()
        pa, pb = self.posterior(a.to(self.device)), self.posterior(b.to(self.device))
        sa = self.phase_state(pa["q_mu"], pa["p_mu"], self._action(pa, action_a))
        sb = self.phase_state(pb["q_mu"], pb["p_mu"], self._action(pb, action_b))
        out = self.decode(pa["z_mu"], sb), self.decode(pb["z_mu"], sa)
        self.train(was)
        return out

    @torch.no_grad()
    def generate(
        self,
        n: int,
        action: torch.Tensor | None = None,
        length: int = 8,
        content_frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n sequences (n, length, 3, H, W): the initial phase state from the prior (N(0, I), or
        the learned one) in subspace ``action`` (n,) (uniform random if None), normalised as the
        posterior's, rolled
        out by H_action; content z from ``content_frames`` (n, T, 3, H, W) if given (posterior
        mean), else from the prior N(0, I)."""
        was = self._eval_mode()
        h, dev = self.hparams, self.device
        if action is None:
            action = torch.randint(0, self.num_actions, (n,), device=dev)
        action = action.to(dev).long()
        if content_frames is not None:
            if len(content_frames) != n:
                raise ValueError(f"content_frames hold {len(content_frames)} sequences; n is {n}")
            z = self.encode_content(content_frames)
        else:
            z = torch.randn(n, h.z_dim, device=dev)
        noise = torch.randn(2, n, 1, self.num_actions, h.subspace_dim, device=dev)
        qp = self.prior_mu[:, None, None] + noise * (0.5 * self.prior_logvar[:, None, None]).exp()
        s0 = self.phase_state(qp[0], qp[1], action)[:, 0]
        out = self._roll_and_decode(z, s0, length)
        self.train(was)
        return out
