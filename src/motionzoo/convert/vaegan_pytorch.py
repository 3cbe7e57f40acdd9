"""lucabergamini/VAEGAN-PYTORCH's ``network.VaeGan`` -> :class:`~motionzoo.models.vaegan.VAEGAN`.

- ``vaegan_pytorch``: the state_dict of ``VaeGan`` (keys ``encoder.*``, ``decoder.*``,
  ``discriminator.*``; its ``main.py`` saves none, so ``torch.save(net.state_dict(), path)``
  or a ``{"state_dict": ...}`` dict) -> ``VAEGAN`` with the widths read from the shapes,
  ``feature_layer=3`` (``recon_level=3``) and the reference's training options:
  ``gamma = lambda_mse / (1 - lambda_mse)`` with ``lambda_mse = 1e-6`` (its decoder descends
  ``lambda_mse * mse - (1 - lambda_mse) * L_GAN``), ``equilibrium`` 0.68 / ``margin`` 0.35,
  the minimax generator loss, and its two defects reproduced (``bn_momentum=0.9``,
  ``gan_recon_term=False``; docs/models/vaegan.md).

The modules are one-to-one: its ``EncoderBlock`` / ``DecoderBlock`` (``conv``, ``bn``) are our
``Sequential`` blocks (``0``, ``1``); its discriminator's ``conv.0.0`` is our stem and
``conv.1-3`` our strided blocks; ``l_mu`` / ``l_var`` our ``mu`` / ``logvar``. Its discriminator
ends in a sigmoid, ours in the logit (the sigmoid lives in the loss). Old PyTorch (0.2, the
reference's) stores no ``num_batches_tracked``: when a checkpoint has none they are set to 0.
Fixture: ``scripts/fixtures_vaegan_pytorch.py``; tests: ``tests/convert/test_vaegan_pytorch.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from motionzoo.convert._core import SAME, Source, Transform, need
from motionzoo.models.vaegan import VAEGAN

LAMBDA_MSE = 1e-6  # main.py's default --lambda_mse
_BLOCK = {"0": "conv", "1": "bn"}  # our (conv, BatchNorm, ReLU) Sequential -> its block


def vaegan_key(key: str) -> tuple[str, Transform]:
    """Our ``VAEGAN`` key -> the reference ``VaeGan``'s key (tensors as they are)."""
    net, part, *rest = key.split(".")
    if part == "blocks":  # encoder / decoder / discriminator strided blocks
        index, layer, leaf = rest
        shift = 1 if net == "discriminator" else 0  # its conv.0 is the stem
        return f"{net}.conv.{int(index) + shift}.{_BLOCK[layer]}.{leaf}", SAME
    renamed = {
        ("encoder", "mu"): "l_mu",
        ("encoder", "logvar"): "l_var",
        ("decoder", "out"): "conv.3",
        ("discriminator", "stem"): "conv.0",
        ("discriminator", "head"): "fc",
    }
    return ".".join([net, renamed.get((net, part), part), *rest]), SAME


def _channels(state: Mapping[str, torch.Tensor], prefix: str, axis: int) -> list[int]:
    return [
        int(need(state, f"{prefix}.{i}.conv.weight", "vaegan_pytorch", "(conv 5x5)").shape[axis])
        for i in range(3)
    ]


def build_vaegan(state: Mapping[str, torch.Tensor]) -> tuple[VAEGAN, dict[str, Any]]:
    """The VAEGAN that ``state`` fits: widths from the conv / linear weights' shapes."""
    mu = need(state, "encoder.l_mu.weight", "vaegan_pytorch", "(z_size, 1024)")
    stem = need(state, "discriminator.conv.0.0.weight", "vaegan_pytorch", "(32, 3, 5, 5)")
    head = need(state, "discriminator.fc.0.weight", "vaegan_pytorch", "(512, 8 x 8 x 256)")
    decoder = _channels(state, "decoder.conv", 1)
    config = {
        "z_dim": int(mu.shape[0]),
        "encoder_channels": _channels(state, "encoder.conv", 0),
        "encoder_hidden": int(mu.shape[1]),
        "decoder_channels": decoder,
        "decoder_start_channels": int(state["decoder.conv.0.conv.weight"].shape[0]),
        "discriminator_channels": [
            int(need(state, f"discriminator.conv.{i}.conv.weight", "vaegan_pytorch", "").shape[0])
            for i in (1, 2, 3)
        ],
        "discriminator_stem": int(stem.shape[0]),
        "discriminator_hidden": int(head.shape[0]),
        "feature_layer": 3,
        "gamma": LAMBDA_MSE / (1 - LAMBDA_MSE),
        "generator_loss": "minimax",
        "equilibrium": 0.68,
        "margin": 0.35,
        "bn_momentum": 0.9,
        "gan_recon_term": False,
        "lr": 3e-4,
    }
    return VAEGAN(**config), config


def add_batch_counters(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A PyTorch 0.2 state_dict (no ``num_batches_tracked``) gets them, as 0, beside every
    BatchNorm's ``running_mean``; a newer one is returned as it is."""
    counters = {
        k.removesuffix("running_mean") + "num_batches_tracked": torch.tensor(0)
        for k in state
        if k.endswith("running_mean")
    }
    return state if any(k in state for k in counters) else {**state, **counters}


SOURCES = {
    "vaegan_pytorch": Source(
        "lucabergamini/VAEGAN-PYTORCH network.py",
        build_vaegan,
        vaegan_key,
        root="",
        prepare=add_batch_counters,
    ),
}
