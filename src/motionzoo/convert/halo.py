"""MdAsifKhan/HALO's ``SubspaceVAE`` -> HamiltonianVAE.

- ``halo``: ``model.py`` ``SubspaceVAE`` with the conv networks and Hamiltonian dynamics of its
  ``configs/sprites.yaml`` (``network: conv``, ``dynamics: Hamiltonian``, ``uselstmZ``,
  ``condnSonU: False``), its whole ``state_dict()`` (``vae.state_dict()``).

HALO's training script does not save that: its ``save_model`` writes only ``encoder``, ``decoder``
and ``lds`` (with the optimisers), because it trains only those; ``ContentMotion`` (content
bi-LSTM, motion MLP and its BatchNorm statistics), the momentum conv ``W_p`` and the posterior
heads stay at their initial values, and HALO's ``test.py`` draws them again from the seed (on the
GPU, whose random numbers depend on the device). The function its evaluation computed is that of
the whole ``trainer.vae`` after ``test.py`` loads the file: save ``trainer.vae.state_dict()`` there
and convert that.

The converted model is HALO's function, with the options that reproduce its behaviour
(docs/models/hamiltonian_vae.md): ``action_subspace=False`` (every subspace active, the labels
unused: ``condnSonU: False``), ``normalize_means=False`` (its test-time verbs decode the raw
posterior means), ``alpha=1/sqrt(2)`` (its summed squared error is the ELBO's Gaussian term at
that alpha), ``norm_bias=True``, no action head. Its strides (1, 2, 2, 2, 1) and the decoder's
three stride-2 layers are HALO's, fixed in its code; the widths and the frame size are read from
the weights. Fixtures: ``scripts/fixtures_halo.py``; tests: ``tests/convert/test_halo.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import torch

from motionzoo.convert._core import SAME, Source, Transform, need
from motionzoo.models.hamiltonian_vae import HamiltonianVAE

_HEADS = {"q_mu": "mu_q", "q_logvar": "sigma_q", "p_mu": "mu_p", "p_logvar": "sigma_p"}
_MOMENTUM = {"parametrizations.weight.original0": "weight_g",
             "parametrizations.weight.original1": "weight_v", "bias": "bias"}  # fmt: skip
_ENCODER_FC = 16  # EncoderConv.enc: 5 x (conv, BN, LeakyReLU), Rearrange, then the FC layers
_DECODER_CONV = 7  # DecoderConv.dec: 2 x (Linear, BN, LeakyReLU), Rearrange, then the convs
_STRIDES = (1, 2, 2, 2, 1)


def halo_key(key: str) -> tuple[str, Transform]:
    """Our HamiltonianVAE key -> SubspaceVAE's key (tensors as they are)."""
    head, *rest = key.split(".")
    leaf = ".".join(rest)
    if head == "encoder":
        index = int(rest[1]) + (_ENCODER_FC if rest[0] == "fc" else 0)
        return f"encoder.enc.{index}.{rest[2]}", SAME
    if head == "decoder":
        index = int(rest[1]) + (_DECODER_CONV if rest[0] == "conv" else 0)
        return f"decoder.dec.{index}.{rest[2]}", SAME
    if head == "content":
        if rest[0] == "lstm":
            return f"contentMotion.{leaf}", SAME
        return f"{dict(mu='mu_z', logvar='sigma_z')[rest[0]]}.{rest[1]}", SAME
    if head == "motion":
        return f"contentMotion.spaceV.{leaf}", SAME
    if head == "momentum":
        return f"W_p.{rest[0]}.{_MOMENTUM['.'.join(rest[1:])]}", SAME
    if head == "operator":
        return "lds.H", SAME
    return f"{_HEADS[head]}.{leaf}", SAME


def prepare_halo(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop ``W_p.net.0`` / ``W_p.net.4``: HALO's TemporalBlock registers its two convs twice
    (``conv1`` and ``net.0``), so its state_dict lists each tensor under both names."""
    if "subspaceV" in " ".join(state) or "contentMotion.fc_layer.0.weight" in state:
        raise ValueError(
            "halo: this SubspaceVAE has condnSonU: True (contentMotion.subspaceV) or "
            "uselstmZ: False (contentMotion.fc_layer); the converter reads configs/sprites.yaml's "
            "network (condnSonU: False, uselstmZ: True)"
        )
    aliases = {"net.0": "conv1", "net.4": "conv2"}
    out = {}
    for key, tensor in state.items():
        m = re.fullmatch(r"W_p\.(net\.[04])\.(\w+)", key)
        if m is None:
            out[key] = tensor
            continue
        twin = f"W_p.{aliases[m[1]]}.{m[2]}"
        if twin in state and not torch.equal(state[twin], tensor):
            raise ValueError(
                f"halo keys {key!r} and {twin!r}: one tensor in HALO, here they differ"
            )
    return out


def _square_side(flat: int, channels: int, key: str) -> int:
    side = math.isqrt(flat // channels)
    if side * side * channels != flat:
        raise ValueError(
            f"halo key {key!r}: {flat} features are not {channels} channels x side x side"
        )
    return side


def build_halo(state: Mapping[str, torch.Tensor]) -> tuple[HamiltonianVAE, dict[str, Any]]:
    """The HamiltonianVAE that ``state`` fits: widths, frame size, K and d from the shapes."""
    h = need(state, "lds.H", "halo", "(K, 2d, 2d)")
    mu_q = need(state, "mu_q.weight", "halo", "(K d, K d)")
    motion = mu_q.shape[0]
    k = h.shape[0]
    if h.dim() != 3 or h.shape[1] != h.shape[2] or h.shape[1] * k not in (motion, 2 * motion):
        raise ValueError(
            f"halo key 'lds.H': shape {tuple(h.shape)}, expected (K, 2d, 2d) (Hamiltonian) or "
            f"(K, d, d) (skew) with K d = {motion} (mu_q.weight {tuple(mu_q.shape)})"
        )
    variant = "H" if h.shape[1] * k == 2 * motion else "skew"
    convs = sorted({int(m[1]) for key in state if (m := re.match(r"encoder\.enc\.(\d+)\.weight$", key)) and state[key].dim() == 4})  # fmt: skip
    if len(convs) != len(_STRIDES):
        raise ValueError(
            f"halo: {len(convs)} encoder convs (encoder.enc.<i>.weight), expected HALO's "
            f"EncoderConv's {len(_STRIDES)}"
        )
    channels = [int(state[f"encoder.enc.{i}.weight"].shape[0]) for i in convs]
    fc = need(state, f"encoder.enc.{_ENCODER_FC}.weight", "halo", "(hidden, C side^2)")
    h_dim = int(need(state, f"encoder.enc.{_ENCODER_FC + 3}.weight", "halo", "(h, hidden)").shape[0])  # fmt: skip
    side = _square_side(fc.shape[1], channels[-1], f"encoder.enc.{_ENCODER_FC}.weight")
    dec_in = need(state, "decoder.dec.0.weight", "halo", "(2 h, z + K d)")
    dec_fc = need(state, "decoder.dec.3.weight", "halo", "(C side^2, 2 h)")
    convt = [key for key in state if re.match(r"decoder\.dec\.\d+\.weight$", key) and state[key].dim() == 4]  # fmt: skip
    dec_channels = [int(state[key].shape[1]) for key in convt[:-1]]
    start = int(state[convt[0]].shape[0])
    _square_side(dec_fc.shape[0], start, "decoder.dec.3.weight")
    z_dim = int(need(state, "mu_z.weight", "halo", "(z, z)").shape[0])
    config = {
        "num_actions": int(k),
        "subspace_dim": motion // k,
        "variant": variant,
        "z_dim": z_dim,
        "h_dim": h_dim,
        "encoder_channels": channels,
        "encoder_strides": list(_STRIDES),
        "encoder_hidden": int(fc.shape[0]),
        "decoder_channels": dec_channels,
        "decoder_start_channels": start,
        "decoder_hidden": int(dec_in.shape[0]),
        "content_layers": len(
            [key for key in state if re.match(r"contentMotion\.lstm\.weight_ih_l\d+$", key)]
        ),  # fmt: skip
        "content_hidden": int(
            need(state, "contentMotion.lstm.weight_hh_l0", "halo", "(4 hidden, hidden)").shape[1]
        ),  # fmt: skip
        "momentum_window": int(
            need(state, "W_p.conv1.weight_v", "halo", "(K d, K d, w)").shape[-1]
        ),  # fmt: skip
        "alpha": math.sqrt(0.5),  # F.mse_loss(reduction="sum") = 0.5 |x - mu|^2 / alpha^2
        "action_head": False,
        "norm_bias": True,
        "action_subspace": False,
        "normalize_means": False,
        "image_size": side * 8,
        "action_key": "action3" if k == 3 else "action",
        "lr": 2e-4,
        "betas": [0.5, 0.999],
    }
    if dec_in.shape[1] != z_dim + motion:
        raise ValueError(
            f"halo key 'decoder.dec.0.weight': shape {tuple(dec_in.shape)}, expected "
            f"({dec_in.shape[0]}, {z_dim + motion}): the decoder reads z ({z_dim}) and q ({motion})"
        )
    return HamiltonianVAE(**config), config


SOURCES = {
    "halo": Source(
        "MdAsifKhan/HALO model.py SubspaceVAE",
        build_halo,
        halo_key,
        root="",
        prepare=prepare_halo,
        derived=("prior_mu", "prior_logvar"),
    ),
}
