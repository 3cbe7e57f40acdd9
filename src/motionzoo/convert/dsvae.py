"""yatindandi/Disentangled-Sequential-Autoencoder's network -> DSVAE.

- ``dsvae``: ``model.py`` ``DisentangledVAE`` (the ``state_dict`` of the checkpoint its
  ``trainer.py`` saves: ``{"epoch", "state_dict", "optimizer", "losses"}``) -> ``DSVAE`` with the
  reference's layout (``norm_bias``, no BatchNorm in the decoder's FC layers, BatchNorm before
  its tanh) and both reference defects reproduced (``leaky_content_heads``,
  ``free_running_prior``: docs/models/dsvae.md), so that the weights compute what they computed
  there, the loss included. ``factorised`` when the weights hold ``z_inter`` (q(z_t | x_t), what
  ``trainer.py`` trains), else the full q.

Widths (f, z, hidden, conv_dim, step, frame size) come from the tensors' shapes. Not one-to-one,
so rewritten first (``prepare``): the reference's separate mean / log-variance Linears of q(z)
and of the prior become our fused heads (key ``"<mean key>+<logvar key>"``), and its decoder reads
[z_t, f] where ours reads [f, z_t] (the first decoder Linear's columns are reordered). Fixtures:
``scripts/fixtures_dsvae.py``; tests: ``tests/convert/test_dsvae.py``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from motionzoo.convert._core import SAME, Source, Transform, need
from motionzoo.models.baselines.dsvae import DSVAE

# our module -> the reference's nn.Sequential of ConvUnit / LinearUnit blocks, each ``.model`` a
# (layer, BatchNorm, nonlinearity) Sequential: our index k is its block k // 3, part k % 3
_BLOCKS = {
    "encoder.conv": "conv",
    "encoder.fc": "conv_fc",
    "decoder.fc": "deconv_fc",
    "decoder.conv": "deconv",
}
_RENAMED = {  # our module -> the reference's (same leaves)
    "content.lstm": "f_lstm",
    "content.mu": "f_mean.model.0",
    "content.logvar": "f_logvar.model.0",
    "z_lstm": "z_lstm",
    "z_rnn": "z_rnn",
    "z_net.0": "z_inter.model.0",
}
_FUSED = {"z_head": ("z_mean", "z_logvar"), "prior_head": ("z_prior_mean", "z_prior_logvar")}
_DECODER_INPUT = "deconv_fc.0.model.0.weight"


def fused_key(mean: str, logvar: str, leaf: str) -> str:
    return f"{mean}.{leaf}+{logvar}.{leaf}"


def prepare(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The reference state_dict in one-to-one form (module docstring)."""
    state = dict(state)
    for mean, logvar in _FUSED.values():
        for leaf in ("weight", "bias"):
            a, b = f"{mean}.{leaf}", f"{logvar}.{leaf}"
            if a not in state and b not in state:
                continue  # the key check names the fused key
            for present, absent in ((a, b), (b, a)):
                if absent not in state:
                    raise ValueError(
                        f"dsvae state_dict: key {absent!r} missing (its pair {present!r} is "
                        f"there: mean and log-variance Linears come together)"
                    )
            if state[a].shape != state[b].shape:
                raise ValueError(
                    f"dsvae keys {a!r} {tuple(state[a].shape)} and {b!r} "
                    f"{tuple(state[b].shape)}: expected the same shape"
                )
            state[fused_key(mean, logvar, leaf)] = torch.cat([state.pop(a), state.pop(b)])
    if _DECODER_INPUT in state and "z_prior_lstm.weight_ih" in state:
        z_dim = state["z_prior_lstm.weight_ih"].shape[1]
        w = state[_DECODER_INPUT]  # columns [z_t, f] -> ours [f, z_t]
        state[_DECODER_INPUT] = torch.cat([w[:, z_dim:], w[:, :z_dim]], 1)
    return state


def dsvae_key(key: str) -> tuple[str, Transform]:
    """Our ``DSVAE`` key -> the reference ``DisentangledVAE``'s key (after ``prepare``)."""
    module, leaf = key.rsplit(".", 1)
    if module in _FUSED:
        return fused_key(*_FUSED[module], leaf), SAME
    if module == "prior_lstm":  # nn.LSTM's weight_ih_l0 is nn.LSTMCell's weight_ih
        return f"z_prior_lstm.{leaf.removesuffix('_l0')}", SAME
    if module in _RENAMED:
        return f"{_RENAMED[module]}.{leaf}", SAME
    block, index = module.rsplit(".", 1)
    k = int(index)
    return f"{_BLOCKS[block]}.{k // 3}.model.{k % 3}.{leaf}", SAME


def build_dsvae(state: Mapping[str, torch.Tensor]) -> tuple[DSVAE, dict[str, Any]]:
    """The DSVAE that ``state`` fits: widths from the shapes, q(z) full or factorised."""
    prior = need(state, "z_prior_lstm.weight_ih", "dsvae", "(4 x hidden_dim, z_dim)")
    f_head = need(state, "f_mean.model.0.weight", "dsvae", "(f_dim, 2 x hidden_dim)")
    f_lstm = need(state, "f_lstm.weight_ih_l0", "dsvae", "(4 x hidden_dim, conv_dim)")
    conv = need(state, "conv.0.model.0.weight", "dsvae", "(step, 3, 5, 5)")
    fc = need(state, "conv_fc.0.model.0.weight", "dsvae", "(2 x conv_dim, step x (in_size/8)^2)")
    decoder = need(state, _DECODER_INPUT, "dsvae", "(2 x conv_dim, z_dim + f_dim)")
    step = int(conv.shape[0])
    side = math.isqrt(fc.shape[1] // step)
    if step * side * side != fc.shape[1]:
        raise ValueError(
            f"dsvae key 'conv_fc.0.model.0.weight': shape {tuple(fc.shape)}; expected "
            f"{step} x side^2 inputs (the last {step}-channel conv map, side = in_size / 8)"
        )
    config = {
        "f_dim": int(f_head.shape[0]),
        "z_dim": int(prior.shape[1]),
        "hidden_dim": int(prior.shape[0] // 4),
        "factorised": "z_inter.model.0.weight" in state,
        "encoder_channels": [step] * 4,
        "encoder_strides": [1, 2, 2, 2],
        "encoder_hidden": int(fc.shape[0]),
        "conv_dim": int(f_lstm.shape[1]),
        "decoder_hidden": int(decoder.shape[0]),
        "decoder_start_channels": step,
        "decoder_channels": [step] * 3,
        "image_size": 8 * side,
        "content_pooling": "lstm",
        "norm_bias": True,
        "decoder_fc_batchnorm": False,
        "decoder_output_batchnorm": True,
        "leaky_content_heads": True,  # reference defect, kept for its weights
        "free_running_prior": True,  # reference defect, kept for its loss
        # trainer.py: Adam 2e-4 (default betas), batch 25
        "lr": 2e-4,
        "betas": [0.9, 0.999],
    }
    return DSVAE(**config), config


SOURCES = {
    "dsvae": Source(
        "yatindandi/Disentangled-Sequential-Autoencoder model.py",
        build_dsvae,
        dsvae_key,
        root="",
        prepare=prepare,
    ),
}
