"""HamiltonianVAE (Khan & Storkey, "Hamiltonian prior to disentangle content and motion in image
sequences", section 3; reference code HALO). Frames (B, T, 3, 64, 64) in [-1, 1], action (B,) in
0..K-1, the subspace of the motion.

- p: content z ~ N(0, I); motion in K subspaces of phase dimension 2d, zero outside subspace
  k = action, s_{t+n} = exp(n H_k) s_t (:class:`~motionzoo.nn.symplectic.HamiltonianOperator`,
  H or skew-H); x_t ~ N(phi(z, q_t), alpha^2 I): the decoder sees positions q, never momenta p.
- q (HALO ``SubspaceVAE.encode``): z from the frame features h_1..T (bi-LSTM or mean), q_t from
  h_t, p_t from a causal conv over the w latest frames; samples L2-normalised per subspace and
  masked to k; the trajectory runs forward and backward from a random reference frame.
- Loss (eq. 17, per sequence, batch mean): recon_gen + recon_enc (squared error / 2 alpha^2, no
  constant) + state ||s^gen - s||^2 + KL of z and of subspace k's q, p (before normalisation).
- ``encode``: content z (B, z_dim); motion (B, T, D = 2Kd), s_t at the posterior means, "(k 2d)".
- Not in the paper: ``action_ce`` of an action head q(k | x) (subspace of unlabelled sequences;
  ``action_head=False`` removes it: the paper's / HALO's network, 158,320,653 parameters at
  ``configs/hamiltonian_vae/sprites.yaml``), one Adam over all parameters, ``learn_prior``,
  ``pretrain_frames`` (docs/models/hamiltonian_vae.md).
- HALO's behaviour, off in the paper configs (``motionzoo convert --from halo`` sets them):
  ``action_subspace=False`` (every subspace active, its ``condnSonU: False``),
  ``normalize_means=False`` (its test-time verbs decode the raw means), alpha = 1/sqrt(2) (its
  summed squared error).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from motionzoo.data.synthetic.sprites import ACTIONS as SPRITES_ACTIONS
from motionzoo.metrics.image import FrameSSIM
from motionzoo.models.families.sequence_vae import SequenceVAE, squared_error
from motionzoo.nn.distributions import gaussian_kl, reparameterize
from motionzoo.nn.modes import evaluating
from motionzoo.nn.sequence_vae import (
    CausalTemporalBlock,
    ContentEncoder,
    SequenceConvDecoder,
    SequenceConvEncoder,
)
from motionzoo.nn.symplectic import HamiltonianOperator


def _mlp(dims: list[int], bias: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b, bias=bias), nn.BatchNorm1d(b), nn.LeakyReLU(0.2, inplace=True)]
    return nn.Sequential(*layers)


def _flat(s: torch.Tensor) -> torch.Tensor:
    """Phase states (B, T, K, 2d) -> the motion code (B, T, 2Kd)."""
    return rearrange(s, "b t k s -> b t (k s)")


class HamiltonianVAE(SequenceVAE):
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
            tanh (HALO).
        content_layers, content_hidden: bi-LSTM layers and hidden size per direction of the
            content encoder (2; None = z_dim / 2 as HALO).
        content_pooling: ``"lstm"`` (HALO's bi-LSTM) or ``"mean"`` (frame codes averaged over
            time, :class:`~motionzoo.nn.sequence_vae.ContentEncoder`).
        momentum_window: w, frames seen by the causal momentum conv (4).
        alpha: emission standard deviation (1).
        recon_weight, beta_state, beta_z, beta_v, action_weight: loss weights of both
            reconstructions, the state term, KL_z, KL_q + KL_p and action_ce (HALO: all 1).
        action_head: the action head q(k | x) (an MLP on the time-averaged frame features,
            trained by ``action_ce``, scored by the ``action_acc`` metric), which infers the
            subspace of unlabelled sequences. Not in the paper: ``False`` is HALO's network (the
            paper configs); the published synthetic checkpoints have it (default ``True``).
        norm_bias: biases in the linear / conv layers that a BatchNorm follows (frame encoder,
            decoder, motion MLP), as HALO. Redundant under BN (28,780 parameters at the paper
            size); the paper configs set it, so that the network is HALO's to the parameter.
        action_subspace: the label selects subspace k and the others are zero (the paper).
            ``False`` is HALO's ``configs/sprites.yaml`` (``condnSonU: False``): all K subspaces
            are active in every sequence (states, trajectory, decoder input, KL) and the labels
            are unused, except by the verbs given an ``action`` (HALO's image-to-sequence).
        normalize_means: the verbs decode the posterior means normalised per subspace, as the
            samples are in training. ``False`` is HALO's ``test.py`` (reconstruct, generate,
            style transfer), which decodes the raw means mu_q, mu_p: the weights HALO trains are
            evaluated there on states that training never gave the decoder.
        learn_prior: learn the mean and variance of the Gaussian prior of q and p per subspace
            instead of the paper's N(0, I); generation draws initial states from it.
        pretrain_epochs: epochs of frame-VAE training before the dynamics terms (HALO 80): every
            frame a one-frame clip with its own content; recon_enc, KL and action_ce only.
        pretrain_frames: frames per sequence, drawn at random, that the frame-VAE pretraining
            uses (None: all T, as HALO).
        lr, betas: Adam (2e-4, (0.5, 0.999)).
        action_key: batch key of the action label (Sprites ``action3``, MUG ``action``).
        sequence_length: training clip length T, the length a single frame is repeated to for
            the content encoder (image-to-sequence).
        image_size: frame side (64).
        action_names: names of the K labels, so that verbs take ``action="walk"``; None: the
            fitted DataModule's ``<action_key>_names`` (stored at fit start), or Sprites'
            (walk, spellcard, slash) for its label ``action3``.

    Actions (an index, a name or (B,) of them) of the verbs. Training, validation and testing
    always use the batch's label ``action_key``. ``forward``, ``reconstruct``, ``encode`` take
    ``action``, ``swap_motion`` takes ``action_a`` / ``action_b``: None infers the subspace with
    the action head (:meth:`infer_action`); a model without the head (``action_head=False``)
    raises ValueError asking for ``action=``. ``image_to_sequence`` always takes its action,
    ``generate`` draws None uniformly at random, ``encode_content`` needs none; none of these
    three needs the head.
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
        action_head: bool = True,
        norm_bias: bool = False,
        action_subspace: bool = True,
        normalize_means: bool = True,
        learn_prior: bool = False,
        pretrain_epochs: int = 80,
        pretrain_frames: int | None = None,
        lr: float = 2e-4,
        betas: tuple[float, float] | list[float] = (0.5, 0.999),
        action_key: str = "action3",
        sequence_length: int = 8,
        image_size: int = 64,
        action_names: list[str] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        if pretrain_frames is not None and pretrain_frames < 1:
            raise ValueError(f"pretrain_frames must be >= 1 or None (all), got {pretrain_frames}")
        k, d = num_actions, subspace_dim
        motion = k * d
        self.encoder = SequenceConvEncoder(
            h_dim,
            tuple(encoder_channels),
            tuple(encoder_strides),
            encoder_hidden,
            image_size,
            norm_bias=norm_bias,
        )
        self.content = ContentEncoder(h_dim, z_dim, content_hidden, content_layers, content_pooling)
        self.motion = _mlp([h_dim, 2 * motion, motion], norm_bias)  # HALO's spaceV
        self.momentum = CausalTemporalBlock(motion, motion, momentum_window)
        self.q_mu, self.q_logvar = nn.Linear(motion, motion), nn.Linear(motion, motion)
        self.p_mu, self.p_logvar = nn.Linear(motion, motion), nn.Linear(motion, motion)
        self.action_head = (
            nn.Sequential(
                nn.Linear(h_dim, h_dim), nn.LeakyReLU(0.2, inplace=True), nn.Linear(h_dim, k)
            )
            if action_head
            else None
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
            norm_bias=norm_bias,
        )
        self.add_metrics(
            lambda: {
                **self.frame_metrics(),
                "ssim_rollout": FrameSSIM(),
                **({"action_acc": MulticlassAccuracy(k, average="micro")} if action_head else {}),
            }
        )

    @property
    def num_actions(self) -> int:
        """K, the number of action subspaces (and of the labels ``generate`` takes)."""
        return self.hparams.num_actions

    @property
    def has_action_head(self) -> bool:
        """Whether the model infers actions (``action_head`` in the class docstring)."""
        return self.action_head is not None

    def _require_head(self, verb: str, argument: str = "action") -> None:
        if self.action_head is None:
            raise ValueError(
                f"{type(self).__name__}.{verb}: this model has no action head "
                f"(action_head=False, the paper's network), so it cannot infer the action "
                f"subspace; pass {argument}= (an index, a name or (B,) of them)"
            )

    @property
    def action_names(self) -> list[str] | None:
        """Names of the K labels (``action_names`` in the class docstring), or None."""
        h = self.hparams
        names = h.get("action_names") or (SPRITES_ACTIONS if h.action_key == "action3" else None)
        return list(names) if names and len(names) == h.num_actions else None

    def on_fit_start(self) -> None:
        self.adopt_action_names(self.hparams.action_key)

    @property
    def content_dim(self) -> int:
        return self.hparams.z_dim

    # ----------------------------------------------------------------------------- inference
    def _subspaces(self, x: torch.Tensor) -> torch.Tensor:
        return rearrange(x, "... (k d) -> ... k d", k=self.num_actions)

    def _mask(self, action: torch.Tensor, check: bool = True) -> torch.Tensor:
        """(B,) -> (B, 1, K, 1) one-hot over the subspaces."""
        if check and (action.min() < 0 or action.max() >= self.num_actions):
            raise ValueError(
                f"action labels {action.unique().tolist()} outside 0..{self.num_actions - 1}; "
                f"check action_key {self.hparams.action_key!r} and num_actions"
            )
        return F.one_hot(action.long(), self.num_actions).float()[:, None, :, None]

    def posterior(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Posterior parameters of frames (B, T, 3, H, W): ``z_mu``, ``z_logvar`` (B, Z);
        ``q_mu``, ``q_logvar``, ``p_mu``, ``p_logvar`` (B, T, K, d) (unnormalised, unmasked);
        ``action_logits`` (B, K) (only with the action head)."""
        self.check_frames("posterior", frames)
        h = self.encoder(frames)
        z_mu, z_logvar = self.content(h)
        v = rearrange(self.motion(rearrange(h, "b t f -> (b t) f")), "(b t) m -> b t m", b=len(h))
        u = self.momentum(v)
        out = {"z_mu": z_mu, "z_logvar": z_logvar}
        for name, feat, heads in (("q", v, (self.q_mu, self.q_logvar)), ("p", u, (self.p_mu, self.p_logvar))):  # fmt: skip
            out[f"{name}_mu"] = self._subspaces(heads[0](feat))
            out[f"{name}_logvar"] = self._subspaces(heads[1](feat))
        if self.action_head is not None:
            out["action_logits"] = self.action_head(h.mean(1))
        return out

    def phase_state(
        self,
        q: torch.Tensor,
        p: torch.Tensor,
        action: torch.Tensor | None,
        check: bool = True,
        normalize: bool = True,
    ) -> torch.Tensor:
        """q, p (B, T, K, d) -> s = [q/|q|; p/|p|] per subspace, zero outside ``action`` (None:
        every subspace, ``action_subspace=False``): (B, T, K, 2d). ``check=False`` skips the
        range check of labels valid by construction (the action head's, or checked by
        ``action_indices``), which keeps ``forward`` free of data-dependent branches (export).
        ``normalize=False`` keeps q and p as they are (HALO's test-time means)."""
        if normalize:
            q, p = F.normalize(q, dim=-1, eps=1e-8), F.normalize(p, dim=-1, eps=1e-8)
        s = torch.cat([q, p], -1)
        return s if action is None else s * self._mask(action, check)

    def _mean_state(self, post: dict, action: torch.Tensor | None, check: bool = True):
        """The phase states (B, T, K, 2d) at the posterior means (``normalize_means``)."""
        normalize = self.hparams.normalize_means
        return self.phase_state(post["q_mu"], post["p_mu"], action, check, normalize)

    def _subspace_label(self, action: torch.Tensor) -> torch.Tensor | None:
        """The label that selects the subspace in training, None with ``action_subspace=False``."""
        return action if self.hparams.action_subspace else None

    def decode(self, z: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        """phi(z, q_t): z (B, Z), motion = phase states (B, T, 2Kd) -> frames (B, T, 3, H, W);
        only the q half of each subspace's state reaches the decoder."""
        s = rearrange(motion, "b t (k s) -> b t k s", k=self.num_actions)
        q = rearrange(s[..., : self.hparams.subspace_dim], "b t k d -> b t (k d)")
        return self.decoder(torch.cat([repeat(z, "b z -> b t z", t=q.shape[1]), q.to(z.dtype)], -1))

    def _posterior_means(
        self, frames: torch.Tensor, action=None, verb: str = "forward", argument: str = "action"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, Z) and the phase states (B, T, 2Kd) at the posterior means in subspace
        ``action`` (an index, a name or (B,) of them; None: inferred by the action head, a
        ValueError naming ``argument`` without it)."""
        self.check_frames(verb, frames)
        all_subspaces = not self.hparams.action_subspace
        if action is None and not all_subspaces:
            self._require_head(verb, argument)
        post = self.posterior(frames)
        if action is not None:
            action = self.action_indices(action, len(frames), verb).to(frames.device)
        elif not all_subspaces:
            action = post["action_logits"].argmax(-1)
        return post["z_mu"], _flat(self._mean_state(post, action, check=False))

    def _rollout(self, s0: torch.Tensor, length: int) -> torch.Tensor:
        """Phase states (B, K, 2d) at t = 0 -> motion (B, length, 2Kd) under H_k."""
        t_ref = torch.zeros(len(s0), dtype=torch.long, device=s0.device)
        return _flat(self.operator.rollout(s0, t_ref, length))

    # -------------------------------------------------------------------------------- loss
    def loss_terms(
        self,
        frames: torch.Tensor,
        action: torch.Tensor,
        pretrain: bool = False,
        t_ref: torch.Tensor | int | None = None,
    ) -> dict[str, torch.Tensor]:
        """The negative ELBO's terms (per sequence, batch mean) and ``loss``, their weighted sum.

        ``pretrain``: the frame VAE of HALO's first epochs. Every frame is a one-frame clip with its
        own content z, q and p, reconstructed from its encoding (no trajectory); the terms are
        summed over the frames of a sequence, so that both phases log per-sequence values.
        ``t_ref``: the reference frame of the trajectory, (B,) or one for all (None: uniform at
        random per sequence; HALO draws one per batch from 0..T-2)."""
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
        label = self._subspace_label(action)
        s = self.phase_state(q, p, label)  # (B, T, K, 2d)
        if t_ref is None:
            t_ref = torch.randint(0, t, (b,), device=frames.device)
        t_ref = torch.as_tensor(t_ref, device=frames.device).long().expand(b)
        s_gen = self.operator.rollout(s[torch.arange(b, device=s.device), t_ref], t_ref, t)
        mask = 1.0 if label is None else self._mask(label)[..., 0]  # (B, 1, K)
        recon = {"recon_enc": self.decode(z, _flat(s))}
        if not pretrain:
            recon["recon_gen"] = self.decode(z, _flat(s_gen))
        with torch.autocast(device_type=frames.device.type, enabled=False):
            terms = {k: 0.5 * squared_error(frames, x) / h.alpha**2 for k, x in recon.items()}
            terms["state"] = (s_gen - s.float()).pow(2).sum((1, 2, 3)).mean()
            terms["kl_z"] = gaussian_kl(post["z_mu"], post["z_logvar"]).sum(-1).mean()
            for i, name in enumerate(("q", "p")):
                kl = gaussian_kl(
                    post[f"{name}_mu"],
                    post[f"{name}_logvar"],
                    self.prior_mu[i],
                    self.prior_logvar[i],
                ).sum(-1)  # (B, T, K)
                terms[f"kl_{name}"] = (kl * mask).sum((1, 2)).mean()
            kl = h.beta_z * terms["kl_z"] + h.beta_v * (terms["kl_q"] + terms["kl_p"])
            recon_sum = sum(terms[k] for k in recon)
            loss = h.recon_weight * recon_sum + kl
            if "action_logits" in post:  # the action head (not in the paper)
                terms["action_ce"] = F.cross_entropy(post["action_logits"].float(), action)
                loss = loss + h.action_weight * terms["action_ce"]
            # pretraining: the (one-frame) trajectory stays in the graph at weight 0 for DDP
            loss = loss + (0.0 if pretrain else h.beta_state) * terms["state"]
        terms = {"loss": loss, **terms}
        if pretrain:  # per frame -> per sequence (the cross-entropy stays a mean)
            terms = {k: v if k == "action_ce" else v * length for k, v in terms.items()}
            if "action_ce" in terms:
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

    def _loss_conditions(self, batch: dict[str, torch.Tensor], stage: str) -> dict:
        pretrain = stage == "train" and self.current_epoch < self.hparams.pretrain_epochs
        return {"action": self._label(batch), "pretrain": pretrain}

    def _metric_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, tuple]:
        """Reconstruction in the true subspace, the roll-out from frame 0, q(k | x) (with the
        action head)."""
        frames, action = batch[self.frames_key], self._label(batch)
        post = self.posterior(frames)
        z = post["z_mu"]
        s = self._mean_state(post, self._subspace_label(action))
        rollout = self.decode(z, self._rollout(s[:, 0], frames.shape[1])).float()
        x = frames.float()
        inputs = {
            **dict.fromkeys(("ssim", "psnr", "mse"), (self.decode(z, _flat(s)).float(), x)),
            "ssim_rollout": (rollout, x),
        }
        if "action_logits" in post:
            inputs["action_acc"] = (post["action_logits"], action)
        return inputs

    def predict_step(self, batch, batch_idx):
        return self.reconstruct(batch[self.frames_key], batch.get(self.hparams.action_key))

    # ------------------------------------------------------------------------------- tasks
    def forward(self, frames: torch.Tensor, action=None) -> torch.Tensor:
        """The decoder at the posterior means in subspace ``action`` (an index, a name or (B,)
        of them; None: inferred, needs the action head): frames (B, T, 3, H, W) -> same shape."""
        return self.decode(*self._posterior_means(frames, action))

    @evaluating
    def encode(self, frames: torch.Tensor, action=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means: content z (B, Z) and motion, the phase states (B, T, 2Kd) in
        subspace ``action`` (as :meth:`forward`; None: inferred, needs the action head)."""
        return self._posterior_means(frames.to(self.device), action, "encode")

    @evaluating
    def encode_content(self, frames: torch.Tensor) -> torch.Tensor:
        """The content code z (B, Z) of frames (B, T, 3, H, W); needs no action."""
        self.check_frames("encode_content", frames)
        return self.posterior(frames.to(self.device))["z_mu"]

    @evaluating
    def reconstruct(self, frames: torch.Tensor, action=None) -> torch.Tensor:
        """phi(z, q_t) at the posterior means: frames (B, T, 3, H, W) -> same shape. ``action``
        (an index, a name or (B,) of them) selects the subspace; None infers it
        (:meth:`infer_action`; a model without the action head raises ValueError)."""
        return self.decode(*self._posterior_means(frames.to(self.device), action, "reconstruct"))

    @evaluating
    def swap_motion(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        action_a=None,
        action_b=None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(a's content with b's motion, b's content with a's motion), each (B, T, 3, H, W):
        phi(z_a, q^b_t) and phi(z_b, q^a_t) at the posterior means. Actions as in
        :meth:`forward`; None are inferred (needs the action head)."""
        self.check_frames("swap_motion", a, "a")
        self.check_frames("swap_motion", b, "b")
        pa = self._posterior_means(a.to(self.device), action_a, "swap_motion", "action_a")
        pb = self._posterior_means(b.to(self.device), action_b, "swap_motion", "action_b")
        return self._swap(pa, pb)

    @evaluating
    def infer_action(self, frames: torch.Tensor) -> torch.Tensor:
        """The most probable action subspace (B,) of frames (B, T, 3, H, W), from q(k | x);
        a model without the action head raises ValueError."""
        self._require_head("infer_action")
        return self.posterior(frames.to(self.device))["action_logits"].argmax(-1)

    @evaluating
    def image_to_sequence(
        self, frame: torch.Tensor, action: int | str | torch.Tensor, length: int
    ) -> torch.Tensor:
        """Sequences (B, length, 3, H, W) from single frames (B, 3, H, W): content and initial
        phase state from the frame (as the first frame of a clip: repeated ``sequence_length``
        times for the content encoder; its momentum sees zero padding before it), evolved by the
        operator of ``action`` (an index, a name or (B,) of them) from t = 0."""
        size = self.hparams.image_size
        self.check_shape("image_to_sequence", frame, "frame", "B 3 H W", H=size, W=size)
        action = self.action_indices(action, len(frame), "image_to_sequence")
        clip = repeat(frame.to(self.device), "b c h w -> b t c h w", t=self.hparams.sequence_length)
        post = self.posterior(clip)
        s0 = self._mean_state({k: v[:, :1] for k, v in post.items() if k[0] in "qp"}, action)
        return self.decode(post["z_mu"], self._rollout(s0[:, 0], length))

    def _generation_actions(self, n: int, action) -> torch.Tensor:
        """(n,) labels from None (uniform at random), an index, a name or (n,) of them."""
        if action is None:
            return torch.randint(0, self.num_actions, (n,), device=self.device)
        return self.action_indices(action, n, "generate")

    def _sample_motion(self, n: int, length: int, action: torch.Tensor) -> torch.Tensor:
        """Initial phase states from the prior (N(0, I) or learned) in subspace ``action``,
        normalised as the posterior's, rolled out by H_action: (n, length, 2Kd)."""
        shape = (2, n, 1, self.num_actions, self.hparams.subspace_dim)  # (q / p, n, t, K, d)
        prior_mu, prior_logvar = self.prior_mu[:, None, None], self.prior_logvar[:, None, None]
        qp = reparameterize(prior_mu.expand(shape), prior_logvar)
        return self._rollout(self.phase_state(qp[0], qp[1], action)[:, 0], length)
