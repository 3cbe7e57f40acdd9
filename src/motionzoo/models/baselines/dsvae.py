"""DSVAE: the disentangled sequential autoencoder of Li & Mandt (ICML 2018), the HamiltonianVAE's
baseline (``reference/papers.md`` section 5, "Baselines"; reference code
yatindandi/Disentangled-Sequential-Autoencoder ``model.py``).

A sequence x_{1:T} (B, T, 3, 64, 64) in [-1, 1] has one content code f (f_dim 256) and one
dynamics code z_t (z_dim 32) per frame; the generative model (paper eq. 1) is

    p(x, f, z) = p(f) prod_t p(z_t | z_<t) p(x_t | f, z_t),   p(f) = N(0, I),

with the learned prior p(z_t | z_<t) = N(mu_t, sigma_t^2) from an LSTM over z_0 = 0, z_1, ...,
z_{t-1} (hidden 512), and p(x_t | f, z_t) Gaussian with mean Dec([f, z_t]); the likelihood term is
the sum of squared errors over pixels, as the reference. The posterior (eq. 4, "full q"):

- q(f | x_{1:T}): a bidirectional LSTM (hidden 512) over the per-frame conv features; its last
  forward and first backward states -> affine mu, logvar;
- q(z_t | x_{1:T}, f): a bidirectional LSTM over [h_t, f] -> a forward RNN (hidden 512) ->
  affine mu, logvar per step; ``factorised=True`` uses q(z_t | x_t): an MLP of h_t (eq. 5).

The negative ELBO per sequence (batch mean), each term logged:
``loss = mse + kl_f_weight * kl_f + kl_z_weight * kl_z`` with ``kl_f = KL(q(f) || N(0, I))`` and
``kl_z = sum_t KL(q(z_t) || p(z_t | z_<t))`` at the posterior samples z_<t (analytic per step).

Differences from the reference code, all to follow the paper: the prior LSTM is fed the
posterior samples z_<t (teacher forcing, one batched ``nn.LSTM`` call) where the reference runs
an independent chain on its own prior samples, so its KL_z compares unrelated sequences; the
mean / log-variance heads are affine (the reference appends a LeakyReLU to the f heads, against
its own docstring). Generation samples the prior one step at a time (inherently sequential), for
any length: sequences longer than training come from the same LSTM.

Paper architecture (defaults): conv 5x5, 256 channels, strides 1, 2, 2, 2 (BN, LeakyReLU 0.2)
-> FC 4096 -> 2048; decoder FC [f, z_t] -> 4096 -> 256x8x8 -> transposed conv 5x5 stride 2 x 3
-> transposed conv stride 1 -> tanh. Adam lr 2e-4, betas (0.9, 0.999), batch 25. Widths are
arguments so that the synthetic configs train in CPU minutes. The frame encoder / decoder and
the f posterior are the HamiltonianVAE's modules (:mod:`motionzoo.nn.sequence_vae`, HALO's
copies of DSVAE's networks); their decoder also batch-normalises its FC layers, where DSVAE's
does not, and is used without its BatchNorm before the tanh, as DSVAE has none.

Interface shared with :class:`~motionzoo.models.hamiltonian_vae.HamiltonianVAE` where it
applies: ``encode_content``, ``reconstruct``, ``swap_motion``, ``generate`` (unconditional:
``action`` must be None), plus ``resample_content`` (real motion, content from the prior: the
S3VAE evaluation protocol). DSVAE has no action-conditional dynamics, so it has no
``image_to_sequence``.
"""

from __future__ import annotations

import functools

import torch
from einops import repeat
from torch import nn

from motionzoo.metrics.image import FrameMSE, FramePSNR, FrameSSIM
from motionzoo.models.base import ZooModule
from motionzoo.models.conv_vae import gaussian_kl, reparameterize
from motionzoo.nn.sequence_vae import ContentEncoder, SequenceConvDecoder, SequenceConvEncoder


def gaussian_kl_to(
    mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor, logvar_p: torch.Tensor
) -> torch.Tensor:
    """KL(N(mu, e^logvar) || N(mu_p, e^logvar_p)) element-wise, in float32."""
    mu, logvar, mu_p, logvar_p = (v.float() for v in (mu, logvar, mu_p, logvar_p))
    return 0.5 * (logvar_p - logvar + (logvar.exp() + (mu - mu_p).pow(2)) / logvar_p.exp() - 1)


def _evaluating(method):
    """Run a model method in eval mode without gradients, restoring the mode afterwards."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        was_training = self.training
        self.eval()
        try:
            with torch.no_grad():
                return method(self, *args, **kwargs)
        finally:
            self.train(was_training)

    return wrapper


class DSVAE(ZooModule):
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
        lr, betas: Adam.
        image_size: frame side (64). frames_key: batch key of the frames.
        content_pooling: q(f | x_{1:T}) from DSVAE's bi-LSTM (``"lstm"``) or the mean of
            per-frame codes (``"mean"``, :class:`~motionzoo.nn.sequence_vae.ContentEncoder`).
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
    ):
        super().__init__()
        self.save_hyperparameters()
        self.encoder = SequenceConvEncoder(
            conv_dim, tuple(encoder_channels), tuple(encoder_strides), encoder_hidden, image_size
        )
        # DSVAE's last transposed conv goes straight into tanh (no BatchNorm: that would pin
        # each output channel's batch mean to a bias that Adam moves by ~lr per step, far from
        # the mostly black (-1) Sprites frames)
        self.decoder = SequenceConvDecoder(
            f_dim + z_dim, decoder_hidden, tuple(decoder_channels), decoder_start_channels,
            image_size, output_batchnorm=False,
        )  # fmt: skip
        # q(f | x_{1:T}): one bidirectional LSTM layer (or the mean of per-frame codes)
        self.content = ContentEncoder(
            conv_dim, f_dim, hidden_dim, num_layers=1, pooling=content_pooling
        )
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
        self.image_metrics = nn.ModuleDict(
            {
                f"{stage}_{name}": metric()
                for stage in ("val", "test")
                for name, metric in (("ssim", FrameSSIM), ("psnr", FramePSNR), ("mse", FrameMSE))
            }
        )

    # ----------------------------------------------------------------------------- inference
    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (B, T, 3, H, W) -> per-frame conv features (B, T, conv_dim)."""
        return self.encoder(frames)

    def content_posterior(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(f | x_{1:T}): features (B, T, D) -> mu, logvar (B, f_dim)."""
        return self.content(h)

    def motion_posterior(
        self, h: torch.Tensor, f: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z_t | x_{1:T}, f) (or q(z_t | x_t)): features (B, T, D), f (B, f_dim) -> mu, logvar
        (B, T, z_dim)."""
        if self.hparams.factorised:
            return self.z_head(self.z_net(h)).chunk(2, -1)
        g, _ = self.z_lstm(torch.cat([h, repeat(f, "b f -> b t f", t=h.shape[1])], -1))
        return self.z_head(self.z_rnn(g)[0]).chunk(2, -1)

    def prior(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """p(z_t | z_<t) for all t at once: z (B, T, z_dim) -> mu, logvar (B, T, z_dim)."""
        previous = torch.cat([torch.zeros_like(z[:, :1]), z[:, :-1]], 1)  # z_0 = 0
        return self.prior_head(self.prior_lstm(previous)[0]).chunk(2, -1)

    def decode(self, f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """f (B, f_dim), z (B, T, z_dim) -> frames (B, T, 3, H, W) in [-1, 1]."""
        return self.decoder(torch.cat([repeat(f, "b f -> b t f", t=z.shape[1]), z], -1))

    # ----------------------------------------------------------------------------- training
    def loss_terms(self, frames: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative ELBO per sequence (batch mean) and its terms ``recon`` (sum of squared
        errors over frames and pixels), ``kl_f``, ``kl_z``."""
        h = self.features(frames)
        f_mu, f_logvar = self.content_posterior(h)
        f = reparameterize(f_mu, f_logvar)
        z_mu, z_logvar = self.motion_posterior(h, f)
        z = reparameterize(z_mu, z_logvar)
        p_mu, p_logvar = self.prior(z)
        recon = self.decode(f, z)
        with torch.autocast(device_type=frames.device.type, enabled=False):
            sse = (recon.float() - frames.float()).pow(2).flatten(1).sum(1).mean()
            kl_f = gaussian_kl(f_mu, f_logvar).mean()
            kl_z = gaussian_kl_to(z_mu, z_logvar, p_mu, p_logvar).flatten(1).sum(1).mean()
        hp = self.hparams
        loss = sse + hp.kl_f_weight * kl_f + hp.kl_z_weight * kl_z
        return {"loss": loss, "recon": sse, "kl_f": kl_f, "kl_z": kl_z}

    def training_step(self, batch, batch_idx):
        frames = batch[self.hparams.frames_key]
        terms = self.loss_terms(frames)
        self.log_terms("train", terms, batch_size=frames.shape[0])
        return terms["loss"]

    def _eval_step(self, batch, stage: str) -> None:
        frames = batch[self.hparams.frames_key]
        self.log_terms(stage, self.loss_terms(frames), batch_size=frames.shape[0])
        recon = self.decode(*self._posterior_means(frames)).float()
        for name in ("ssim", "psnr", "mse"):
            metric = self.image_metrics[f"{stage}_{name}"]
            metric.update(recon, frames.float())
            self.log(f"{stage}/{name}", metric, on_epoch=True, batch_size=frames.shape[0])

    def validation_step(self, batch, batch_idx):
        self._eval_step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._eval_step(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self.reconstruct(batch[self.hparams.frames_key])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr, betas=self.hparams.betas)

    # ----------------------------------------------------------------------------- tasks
    def _posterior_means(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.features(frames)
        f = self.content_posterior(h)[0]
        return f, self.motion_posterior(h, f)[0]

    @_evaluating
    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means: f (B, f_dim) and z (B, T, z_dim) of frames (B, T, 3, H, W)."""
        return self._posterior_means(frames)

    def encode_content(self, frames: torch.Tensor) -> torch.Tensor:
        """The content code f (posterior mean), (B, f_dim)."""
        return self.encode(frames)[0]

    @_evaluating
    def reconstruct(self, frames: torch.Tensor) -> torch.Tensor:
        """Dec(f, z_t) at the posterior means: (B, T, 3, H, W)."""
        return self.decode(*self._posterior_means(frames))

    @_evaluating
    def swap_motion(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a's content with b's motion, b's content with a's motion), each (B, T, 3, H, W).
        Each sequence's z is inferred with its own f, as the reference's style transfer."""
        fa, za = self._posterior_means(a)
        fb, zb = self._posterior_means(b)
        return self.decode(fa, zb), self.decode(fb, za)

    @_evaluating
    def sample_motion(self, n: int, length: int) -> torch.Tensor:
        """z_{1:length} (n, length, z_dim) sampled from the LSTM prior, one step at a time."""
        z = torch.zeros(n, 1, self.hparams.z_dim, device=self.device)
        state, steps = None, []
        for _ in range(length):
            out, state = self.prior_lstm(z, state)
            z = reparameterize(*self.prior_head(out).chunk(2, -1))
            steps.append(z)
        return torch.cat(steps, 1)

    @_evaluating
    def generate(
        self,
        n: int,
        action: torch.Tensor | None = None,
        length: int = 8,
        content_frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n sequences (n, length, 3, H, W): motion from the prior, content f from
        ``content_frames`` (n, T, 3, H, W) (posterior mean) if given, else from N(0, I)."""
        if action is not None:
            raise ValueError(
                "DSVAE is unconditional: its motion prior has no action, so generate() takes "
                "action=None (use HamiltonianVAE for action-conditional generation)"
            )
        if content_frames is not None and len(content_frames) != n:
            raise ValueError(f"content_frames has {len(content_frames)} sequences; expected n={n}")
        if content_frames is None:
            f = torch.randn(n, self.hparams.f_dim, device=self.device)
        else:
            f = self.content_posterior(self.features(content_frames))[0]
        return self.decode(f, self.sample_motion(n, length))

    @_evaluating
    def resample_content(self, frames: torch.Tensor) -> torch.Tensor:
        """The motion of ``frames`` (B, T, 3, H, W) (posterior mean z, inferred with their own
        f) with a content f ~ N(0, I): the S3VAE protocol's "fix motion, sample content"."""
        z = self._posterior_means(frames)[1]
        return self.decode(torch.randn(len(frames), self.hparams.f_dim, device=self.device), z)
