"""Building blocks of sequence VAEs on 64x64 frames (HamiltonianVAE / HALO, DSVAE).

Shapes at the boundaries: frames (B, T, 3, H, W) in [-1, 1], per-frame features (B, T, F).

- :class:`SequenceConvEncoder`: every frame through conv5 (pad 2) + BN + LeakyReLU(0.2) layers
  with the given channels and strides, then FC ``hidden`` and FC ``out_dim`` (each BN + LeakyReLU).
  HALO's ``EncoderConv`` (and DSVAE's, without the last stride-1 conv) is 256 channels, strides
  1, 2, 2, 2, 1, FC 4096 -> h 2048: the defaults. (B, T, 3, H, W) -> (B, T, out_dim).
- :class:`SequenceConvDecoder`: FC ``hidden`` and FC ``start_channels x 8 x 8`` (BN + LeakyReLU),
  transposed conv5 stride 2 (BN + LeakyReLU) per entry of ``channels``, a transposed conv5
  stride 1 to 3 channels, BN (optional) and tanh (HALO's ``DecoderConv``). (B, T, in_dim) ->
  frames.
- :class:`ContentEncoder`: a bidirectional LSTM over the frame features; the forward output at the
  last step and the backward output at the first step, concatenated, give Linear mu and logvar
  heads of the content code (HALO's ``ContentMotion`` with ``uselstmZ``; DSVAE's f encoder), or
  (``pooling="mean"``) per-frame codes averaged over time. (B, T, F) -> mu, logvar (B, Z).
- :class:`CausalTemporalBlock`: the TCN block of Bai et al. (2018) that HALO uses for the momentum
  p_t: two weight-normalised causal Conv1d of kernel w (output t sees inputs t-w+1..t, zero
  padding before the first frame) with LeakyReLU, plus a residual. (B, T, C) -> (B, T, C').
- :func:`run_rnn`: an ``nn.LSTM`` / ``nn.RNN`` call on ATen's own CPU kernels (every recurrent
  layer of these models goes through it).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Literal

import torch
from einops import rearrange
from torch import nn
from torch.nn.utils.parametrizations import weight_norm


class _NativeRNNKernels:
    """Within: oneDNN off, so that a CPU LSTM runs ATen's kernels (chosen at the forward, also
    for its backward). Only the enabled flag changes (``mkldnn.flags`` also resets TF32 / fp32
    precision settings)."""

    def __enter__(self) -> None:
        self.enabled = torch.backends.mkldnn.set_flags(False, _fp32_precision=None)[0]

    def __exit__(self, *exc) -> None:
        torch.backends.mkldnn.set_flags(self.enabled, _fp32_precision=None)


def run_rnn(rnn: nn.RNNBase, x: torch.Tensor, state=None):
    """``rnn(x, state)``; on CPU with ATen's LSTM kernels instead of oneDNN's, PyTorch's CPU
    default, which take ~3x longer forward + backward on these models' short wide sequences (T 8,
    2048-d frame features; scripts/versus_sequence.py). The same function up to float rounding."""
    cpu = x.device.type == "cpu" and not torch.compiler.is_compiling()
    with _NativeRNNKernels() if cpu else nullcontext():
        return rnn(x, state)


def _act() -> nn.LeakyReLU:
    return nn.LeakyReLU(0.2, inplace=True)


class SequenceConvEncoder(nn.Module):
    """Per-frame conv encoder: (B, T, C, H, W) -> (B, T, out_dim) (also (N, C, H, W) -> (N, out_dim)).

    Args:
        out_dim: h, the frame feature size (HALO h_dim 2048).
        channels, strides: one conv5 layer per entry (HALO: 256 x 5, strides 1, 2, 2, 2, 1).
        hidden: the first FC layer (HALO 4096).
        size: input height = width; in_channels: input channels.
        norm_bias: biases in the layers that a BatchNorm follows, as HALO (redundant under BN).
    """

    def __init__(
        self,
        out_dim: int = 2048,
        channels: Sequence[int] = (256, 256, 256, 256, 256),
        strides: Sequence[int] = (1, 2, 2, 2, 1),
        hidden: int = 4096,
        size: int = 64,
        in_channels: int = 3,
        norm_bias: bool = False,
    ):
        super().__init__()
        if len(channels) != len(strides):
            raise ValueError(
                f"encoder channels {list(channels)} and strides {list(strides)} differ in length"
            )
        layers: list[nn.Module] = []
        side = size
        for c_in, c_out, s in zip((in_channels, *channels[:-1]), channels, strides):
            layers += [
                nn.Conv2d(c_in, c_out, 5, s, 2, bias=norm_bias),
                nn.BatchNorm2d(c_out),
                _act(),
            ]
            side = (side - 1) // s + 1
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Sequential(
            nn.Linear(channels[-1] * side * side, hidden, bias=norm_bias),
            nn.BatchNorm1d(hidden),
            _act(),
            nn.Linear(hidden, out_dim, bias=norm_bias),
            nn.BatchNorm1d(out_dim),
            _act(),
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = frames if frames.ndim == 4 else rearrange(frames, "b t c h w -> (b t) c h w")
        # channels-last runs the convolutions 2-3x faster on CPU (oneDNN) and suits tensor cores
        h = self.fc(self.conv(x.contiguous(memory_format=torch.channels_last)).flatten(1))
        return h if frames.ndim == 4 else rearrange(h, "(b t) f -> b t f", b=frames.shape[0])


class SequenceConvDecoder(nn.Module):
    """Per-frame conv decoder: (B, T, in_dim) -> (B, T, C, size, size) in [-1, 1]
    (also (N, in_dim) -> (N, C, size, size)).

    Args:
        in_dim: latent size per frame (HALO: content z 256 + motion q 36).
        hidden: first FC layer (HALO 2 h_dim = 4096).
        channels: one transposed conv5 stride 2 per entry, from 8 x 8 up (HALO 256 x 3).
        start_channels: channels of the 8 x 8 map after the FC layers (HALO 256).
        size: output side (size / 2^len(channels) must be the start side 8 for 64 px).
        out_channels: 3 (RGB).
        output_batchnorm: BatchNorm before the tanh, as HALO. Off, a small decoder learns the
            black Sprites backgrounds (tanh near -1) several times faster
            (docs/models/hamiltonian_vae.md).
        norm_bias: biases in the layers that a BatchNorm follows, as HALO (redundant under BN).
        fc_batchnorm: BatchNorm after the two FC layers (HALO). Off: each FC layer is Linear
            (with bias) + LeakyReLU, as DSVAE's ``deconv_fc``.
    """

    def __init__(
        self,
        in_dim: int = 292,
        hidden: int = 4096,
        channels: Sequence[int] = (256, 256, 256),
        start_channels: int = 256,
        size: int = 64,
        out_channels: int = 3,
        output_batchnorm: bool = True,
        norm_bias: bool = False,
        fc_batchnorm: bool = True,
    ):
        super().__init__()
        if size % 2 ** len(channels):
            raise ValueError(
                f"size {size} is not divisible by 2^{len(channels)} (channels {channels})"
            )
        self.side, self.start_channels = size // 2 ** len(channels), start_channels
        fc_bias = norm_bias or not fc_batchnorm

        def fc_norm(width: int) -> nn.Module:
            return nn.BatchNorm1d(width) if fc_batchnorm else nn.Identity()

        self.fc = nn.Sequential(
            nn.Linear(in_dim, hidden, bias=fc_bias),
            fc_norm(hidden),
            _act(),
            nn.Linear(hidden, start_channels * self.side**2, bias=fc_bias),
            fc_norm(start_channels * self.side**2),
            _act(),
        )
        layers: list[nn.Module] = []
        for c_in, c_out in zip((start_channels, *channels[:-1]), channels):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 5, 2, 2, output_padding=1, bias=norm_bias),
                nn.BatchNorm2d(c_out),
                _act(),
            ]
        layers += [
            nn.ConvTranspose2d(channels[-1], out_channels, 5, 1, 2),
            nn.BatchNorm2d(out_channels) if output_batchnorm else nn.Identity(),
            nn.Tanh(),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        flat = latent.ndim == 2
        x = latent if flat else rearrange(latent, "b t f -> (b t) f")
        h = rearrange(self.fc(x), "n (c h w) -> n c h w", c=self.start_channels, h=self.side)
        out = self.conv(h.contiguous(memory_format=torch.channels_last))  # see the encoder
        return out if flat else rearrange(out, "(b t) c h w -> b t c h w", b=latent.shape[0])


class ContentEncoder(nn.Module):
    """Sequence-level Gaussian code: (B, T, F) -> mu, logvar (B, z_dim).

    ``pooling="lstm"`` (HALO, DSVAE): a bidirectional LSTM; the forward output at the last step
    and the backward output at the first step, concatenated, give Linear mu and logvar.
    ``pooling="mean"``: a per-frame Linear + LeakyReLU(0.2) of width 2 * hidden, averaged over
    the frames, then the same heads. The mean of a one-frame clip is that frame's code, so the
    content path learned by frame-VAE pretraining (one-frame clips) carries over unchanged to
    whole sequences, which an LSTM summary does not (docs/models/hamiltonian_vae.md).

    Args:
        in_dim: frame feature size F; z_dim: code size.
        hidden: LSTM hidden size per direction (HALO: z_dim / 2; DSVAE: 512).
        num_layers: stacked LSTM layers (HALO 2, DSVAE 1); unused by ``"mean"``.
        pooling: ``"lstm"`` or ``"mean"``.
    """

    def __init__(
        self,
        in_dim: int,
        z_dim: int = 256,
        hidden: int | None = None,
        num_layers: int = 2,
        pooling: Literal["lstm", "mean"] = "lstm",
    ):
        super().__init__()
        if pooling not in ("lstm", "mean"):
            raise ValueError(f"content pooling must be 'lstm' or 'mean', got {pooling!r}")
        hidden = hidden or z_dim // 2
        self.pooling = pooling
        if pooling == "lstm":
            self.lstm = nn.LSTM(in_dim, hidden, num_layers, batch_first=True, bidirectional=True)
        else:
            self.frame = nn.Sequential(nn.Linear(in_dim, 2 * hidden), nn.LeakyReLU(0.2))
        self.mu = nn.Linear(2 * hidden, z_dim)
        self.logvar = nn.Linear(2 * hidden, z_dim)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pooling == "mean":
            summary = self.frame(features).mean(1)
        else:
            # (B, T, 2 * hidden): forward half, then backward half
            out, _ = run_rnn(self.lstm, features)
            half = out.shape[-1] // 2
            summary = torch.cat([out[:, -1, :half], out[:, 0, half:]], -1)
        return self.mu(summary), self.logvar(summary)


class CausalTemporalBlock(nn.Module):
    """Causal TCN residual block over time: (B, T, in_dim) -> (B, T, out_dim); output t depends
    on inputs t - window + 1 .. t only (zero padding before the sequence)."""

    def __init__(self, in_dim: int, out_dim: int, window: int = 4):
        super().__init__()
        if window < 1:
            raise ValueError(f"window {window}: expected at least 1 frame")
        self.pad = window - 1
        self.conv1 = weight_norm(nn.Conv1d(in_dim, out_dim, window))
        self.conv2 = weight_norm(nn.Conv1d(out_dim, out_dim, window))
        self.residual = nn.Conv1d(in_dim, out_dim, 1) if in_dim != out_dim else nn.Identity()
        self.act = nn.LeakyReLU(0.2)

    def _causal(self, conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
        return conv(nn.functional.pad(x, (self.pad, 0)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = rearrange(x, "b t c -> b c t")
        out = self.act(self._causal(self.conv2, self.act(self._causal(self.conv1, x))))
        return rearrange(self.act(out + self.residual(x)), "b c t -> b t c")
