"""DSVAE, the disentangled sequential autoencoder (Li & Mandt, ICML 2018; reference code
yatindandi/Disentangled-Sequential-Autoencoder), the HamiltonianVAE's baseline. Frames
(B, T, 3, 64, 64) in [-1, 1]; content f (B, f_dim), dynamics z_t (B, T, z_dim).

- p(x, f, z) = p(f) prod_t p(z_t | z_<t) p(x_t | f, z_t) (eq. 1): p(f) = N(0, I); p(z_t | z_<t)
  from an LSTM over z_0 = 0, z_1 .. z_{t-1}; p(x_t | f, z_t) Gaussian with mean Dec([f, z_t]).
- q (eq. 4, "full q"): q(f | x_1:T) from a bi-LSTM over frame features; q(z_t | x_1:T, f) from
  a bi-LSTM over [h_t, f] and a forward RNN; ``factorised``: q(z_t | x_t), an MLP (eq. 5).
- Loss per sequence, batch mean: ``recon`` (squared error summed over pixels, as the reference)
  + kl_f_weight KL(q(f) || N(0, I)) + kl_z_weight sum_t KL(q(z_t) || p(z_t | z_<t)).
- ``encode``: content f (B, f_dim); motion z (B, T, D = z_dim), posterior means.
- The reference network, to the parameter (178,231,689 at the paper's widths; ``configs/dsvae/
  sprites.yaml``): ``norm_bias=True, decoder_fc_batchnorm=False, decoder_output_batchnorm=True``
  (the class defaults are our variant: no redundant biases before BatchNorm, BatchNorm in the
  decoder's FC layers, none before the tanh). Two reference defects are fixed here and reproduced
  only on request, for its published weights (``motionzoo.convert.dsvae``): ``leaky_content_heads``
  (a LeakyReLU after q(f)'s affine heads) and ``free_running_prior`` (KL_z against a prior chain
  that ignores the posterior). docs/models/dsvae.md lists every difference.
- Unconditional: ``generate`` refuses an action; no ``image_to_sequence``. ``resample_content``
  is the S3VAE protocol (real motion, content from the prior).
"""

from __future__ import annotations

import torch
from einops import repeat
from torch import nn

from motionzoo.models.families.sequence_vae import SequenceVAE, squared_error
from motionzoo.nn.distributions import gaussian_kl, reparameterize
from motionzoo.nn.modes import evaluating
from motionzoo.nn.sequence_vae import (
    ContentEncoder,
    SequenceConvDecoder,
    SequenceConvEncoder,
    run_rnn,
)


class DSVAE(SequenceVAE):
    """Disentangled sequential VAE (Li & Mandt 2018); see the module docstring.

    Args:
        f_dim, z_dim: content and per-frame dynamics sizes (256, 32).
        hidden_dim: LSTM / RNN width of the posteriors and the prior (512).
        factorised: q(z_t | x_t) instead of the full q(z_t | x_{1:T}, f).
        encoder_channels, encoder_strides: per-frame conv encoder (5x5 convs, BN, LeakyReLU).
        encoder_hidden, conv_dim: FC widths after the convs; conv_dim is the frame feature size.
        decoder_hidden: FC width from [f, z_t] before the ``decoder_start_channels`` x 8 x 8 map.
        decoder_channels: widths of the stride-2 transposed convs (from 8x8 to 64x64).
        kl_f_weight, kl_z_weight: weights of the two KL terms (1, 1: the ELBO).
        lr, betas: Adam (paper 2e-4, (0.9, 0.999)).
        image_size: frame side (64). frames_key: batch key of the frames.
        content_pooling: q(f | x_{1:T}) from DSVAE's bi-LSTM (``"lstm"``) or the mean of
            per-frame codes (``"mean"``, :class:`~motionzoo.nn.sequence_vae.ContentEncoder`).
        norm_bias: biases in the conv / linear layers that a BatchNorm follows (the reference's;
            redundant under BatchNorm).
        decoder_fc_batchnorm: BatchNorm in the decoder's two FC layers (ours; the reference has
            Linear + LeakyReLU only).
        decoder_output_batchnorm: BatchNorm before the decoder's tanh (the reference's).
        leaky_content_heads: LeakyReLU(0.2) after q(f)'s mean and log-variance Linears. The
            reference's defect: its ``LinearUnit(2 * hidden, f_dim, False)`` turns off the
            BatchNorm but keeps the default nonlinearity, against its own docstring ("two affine
            layers (without any added nonlinearity)"). On only for the reference's weights.
        free_running_prior: KL_z against p(z_t | z_<t) unrolled on the prior's OWN draws (means
            in eval mode) instead of the posterior's z_<t. The reference's defect: its
            ``forward`` runs ``sample_z`` independently of q, so KL_z compares unrelated
            sequences (eq. 3 conditions on the posterior's samples). On only to reproduce the
            reference's loss (its published weights' test loss, or its training).
    """

    def __init__(
        self,
        f_dim: int = 256,
        z_dim: int = 32,
        hidden_dim: int = 512,
        factorised: bool = False,
        encoder_channels: list[int] | tuple[int, ...] = (256, 256, 256, 256),
        encoder_strides: list[int] | tuple[int, ...] = (1, 2, 2, 2),
        encoder_hidden: int = 4096,
        conv_dim: int = 2048,
        decoder_hidden: int = 4096,
        decoder_start_channels: int = 256,
        decoder_channels: list[int] | tuple[int, ...] = (256, 256, 256),
        kl_f_weight: float = 1.0,
        kl_z_weight: float = 1.0,
        lr: float = 2e-4,
        betas: list[float] | tuple[float, float] = (0.9, 0.999),
        image_size: int = 64,
        frames_key: str = "frames",
        content_pooling: str = "lstm",
        norm_bias: bool = False,
        decoder_fc_batchnorm: bool = True,
        decoder_output_batchnorm: bool = False,
        leaky_content_heads: bool = False,
        free_running_prior: bool = False,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.frames_key = frames_key
        self.encoder = SequenceConvEncoder(
            conv_dim, tuple(encoder_channels), tuple(encoder_strides), encoder_hidden, image_size,
            norm_bias=norm_bias,
        )  # fmt: skip
        # By default the last transposed conv goes straight into tanh (a BatchNorm there, as the
        # reference has, pins each output channel's batch mean to a bias that Adam moves by ~lr
        # per step, far from the mostly black (-1) Sprites frames)
        self.decoder = SequenceConvDecoder(
            f_dim + z_dim, decoder_hidden, tuple(decoder_channels), decoder_start_channels,
            image_size, output_batchnorm=decoder_output_batchnorm, norm_bias=norm_bias,
            fc_batchnorm=decoder_fc_batchnorm,
        )  # fmt: skip
        # q(f | x_{1:T}): one bidirectional LSTM layer (or the mean of per-frame codes)
        self.content = ContentEncoder(
            conv_dim, f_dim, hidden_dim, num_layers=1, pooling=content_pooling
        )
        self.content_heads_activation = nn.LeakyReLU(0.2) if leaky_content_heads else nn.Identity()
        # q(z_t | x_{1:T}, f), or q(z_t | x_t) when factorised
        if factorised:
            self.z_net = nn.Sequential(nn.Linear(conv_dim, hidden_dim), nn.LeakyReLU(0.2))
        else:
            self.z_lstm = nn.LSTM(
                conv_dim + f_dim, hidden_dim, batch_first=True, bidirectional=True
            )
            self.z_rnn = nn.RNN(2 * hidden_dim, hidden_dim, batch_first=True)
        self.z_head = nn.Linear(hidden_dim, 2 * z_dim)
        # p(z_t | z_<t): one LSTM layer (an LSTMCell unrolled), z_0 = 0
        self.prior_lstm = nn.LSTM(z_dim, hidden_dim, batch_first=True)
        self.prior_head = nn.Linear(hidden_dim, 2 * z_dim)
        self.add_metrics(self.frame_metrics)

    @property
    def content_dim(self) -> int:
        return self.hparams.f_dim

    # ----------------------------------------------------------------------------- inference
    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, H, W) -> per-frame conv features (B, T, conv_dim)."""
        return self.encoder(frames)

    def content_posterior(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(f | x_{1:T}): features (B, T, D) -> mu, logvar (B, f_dim)."""
        return tuple(map(self.content_heads_activation, self.content(h)))

    def motion_posterior(
        self, h: torch.Tensor, f: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_t | x_{1:T}, f) (or q(z_t | x_t)): features (B, T, D), f (B, f_dim) -> mu, logvar
        (B, T, z_dim)."""
        if self.hparams.factorised:
            return self.z_head(self.z_net(h)).chunk(2, -1)
        g, _ = run_rnn(self.z_lstm, torch.cat([h, repeat(f, "b f -> b t f", t=h.shape[1])], -1))
        return self.z_head(run_rnn(self.z_rnn, g)[0]).chunk(2, -1)

    def prior(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z_t | z_<t) for all t at once: z (B, T, z_dim) -> mu, logvar (B, T, z_dim)."""
        previous = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], 1)  # z_0 = 0
        return self.prior_head(run_rnn(self.prior_lstm, previous)[0]).chunk(2, -1)

    def unroll_prior(
        self, n: int, length: int, sample: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The prior LSTM run on its own output from z_0 = 0, one step at a time (inherently
        sequential): z_t drawn from p(z_t | z_<t) (``sample``) or its mean. Returns mu, logvar
        and z, each (n, length, z_dim)."""
        z = torch.zeros(n, 1, self.hparams.z_dim, device=self.device)
        state, steps = None, []
        for _ in range(length):
            out, state = run_rnn(self.prior_lstm, z, state)
            mu, logvar = self.prior_head(out).chunk(2, -1)
            z = reparameterize(mu, logvar) if sample else mu
            steps.append((mu, logvar, z))
        mu, logvar, z = (torch.cat(parts, 1) for parts in zip(*steps))
        return mu, logvar, z

    def decode(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """f (B, f_dim), z (B, T, z_dim) -> frames (B, T, 3, H, W) in [-1, 1]."""
        return self.decoder(torch.cat([repeat(f, "b f -> b t f", t=z.shape[1]), z], -1))

    def _posterior_means(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(frames)
        f = self.content_posterior(h)[0]
        return f, self.motion_posterior(h, f)[0]

    def _sample_motion(self, n: int, length: int, action: None = None) -> torch.Tensor:
        """z_{1:length} (n, length, z_dim) drawn from the LSTM prior."""
        return self.unroll_prior(n, length)[2]

    # ----------------------------------------------------------------------------- training
    def loss_terms(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO per sequence (batch mean) and its terms ``recon`` (sum of squared
        errors over frames and pixels), ``kl_f``, ``kl_z`` (``free_running_prior``: against the
        prior's own chain, as the reference)."""
        h = self.features(frames)
        f_mu, f_logvar = self.content_posterior(h)
        f = reparameterize(f_mu, f_logvar)
        z_mu, z_logvar = self.motion_posterior(h, f)
        z = reparameterize(z_mu, z_logvar)
        if self.hparams.free_running_prior:
            p_mu, p_logvar, _ = self.unroll_prior(len(z), z.shape[1], sample=self.training)
        else:
            p_mu, p_logvar = self.prior(z)
        sse = squared_error(frames, self.decode(f, z))
        kl_f = gaussian_kl(f_mu, f_logvar).sum(-1).mean()
        kl_z = gaussian_kl(z_mu, z_logvar, p_mu, p_logvar).sum((1, 2)).mean()
        hp = self.hparams
        loss = sse + hp.kl_f_weight * kl_f + hp.kl_z_weight * kl_z
        return {"loss": loss, "recon": sse, "kl_f": kl_f, "kl_z": kl_z}

    # ----------------------------------------------------------------------------- tasks
    @evaluating
    def resample_content(self, frames: torch.Tensor) -> torch.Tensor:
        """The motion of ``frames`` (B, T, 3, H, W) (posterior mean z, inferred with their own
        f) with a content f ~ N(0, I): the S3VAE protocol's "fix motion, sample content"."""
        z = self._posterior_means(frames)[1]
        return self.decode(torch.randn(len(frames), self.hparams.f_dim, device=self.device), z)
