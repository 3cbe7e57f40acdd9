"""bouracha/generative_imputation's HG-VAE -> motionzoo's HGVAE.

- ``hgvae``: ``models/HGVAE.py`` ``HGVAE`` (its training script's
  ``saved_models/<name>/checkpoints/ckpt_<epoch>_weights.path.tar``, ``{"epoch", "err",
  "state_dict"}``) -> ``HGVAE`` with the paper config's network (per-feature GCL biases, linear
  resizing GCLs, the unused top residual GCL; raw millimetres) plus the three options that
  reproduce the reference's defects, so that its weights compute what they computed there:
  ``transposed_dct`` (its ``dct`` is ``x @ D``), ``time_domain_likelihood`` (the IDCT of mu
  against the input under the DCT-domain variance) and ``raw_reshape`` (its AMASS loader's raw
  ``(T, J, 3) -> (J*3, T)`` reshape). The hierarchy and the stream width are read from the shapes.

Tensors are one-to-one: GCL ``att`` / ``weight`` / ``bias`` are our ``S`` / ``W`` / ``b``, a
ReZero's ``resweight`` (1,) our scalar ``alpha``. Our statistics buffers (``offset``, ``std``,
``train_mean``, ``ood_threshold``) are not the reference's: they keep their defaults (offset 0,
as the reference feeds raw millimetres). Fixtures: ``scripts/fixtures_generative_imputation.py``;
tests: ``tests/convert/test_generative_imputation.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from motionzoo.convert._core import ROW, SAME, Source, Transform, need
from motionzoo.models.hgvae import HGVAE

#: the reference network in our options (configs/hgvae/amass.yaml)
NETWORK = {
    "node_bias": False,
    "resize_activation": False,
    "unused_top_residual": True,
    "scale_mm": 1.0,
    "centre": False,
}
#: the reference's defects that change what its weights compute
DEFECTS = {"transposed_dct": True, "time_domain_likelihood": True, "raw_reshape": True}
#: its training command (run.sh): Adam 1e-4, weight decay 1e-4, beta 1e-4 -> 1 over 200 epochs;
#: its imputation ascends the log posterior
TRAINING = {
    "lr": 1e-4,
    "weight_decay": 1e-4,
    "kl_weight_start": 1e-4,
    "kl_weight_end": 1.0,
    "kl_warmup_epochs": 200,
    "imputation_objective": "posterior",
}

_MODULES = {  # our module names -> the reference's
    "enc_reduce": "encoder.graphconv_reductions",
    "enc_block": "encoder.graphconv_blocks",
    "enc_residual": "encoder.graphconv_residual_reductions",
    "enc_gate": "encoder.rezeros",
    "top_posterior": "decoder.reparametisation_latent_0",
    "top_in": "decoder.resize_conv_0",
    "top_down": "decoder.decoder_units",
    "out_block": "decoder.decoder_block_final",
    "out_head": "decoder.reparametisation_output",
    # a TopDownLevel's parts
    "stream_block": "decoder_block",
    "stream_gate": "rezero1",
    "posterior_in": "posterior_decoder_resize",
    "posterior_block": "posterior_decoder_block",
    "posterior": "reparametisation_posterior",
    "prior_block": "prior_decoder_block",
    "prior": "reparametisation_prior",
    "prior_gate": "rezero2",
    "z_in": "reshape_z",
    "z_gate": "rezero3",
    # a GraphGaussianHead's, a GraphConvBlock's
    "mean": "z_mu_graphconv",
    "logvar": "z_log_var_graphconv",
    "rezero": "rezero",
}
_LEAVES = {
    "S": ("att", SAME),
    "W": ("weight", SAME),
    "b": ("bias", SAME),
    "alpha": ("resweight", ROW),
}


def hgvae_key(key: str) -> tuple[str, Transform]:
    """Our HGVAE key -> the reference's key and the transform of its tensor."""
    *path, leaf = key.split(".")
    ref, tokens = [], iter(path)
    for token in tokens:
        if token == "layers":  # GCB: Sequential(GCL, Dropout, GCL, Dropout) -> gc1, gc2
            ref.append(f"gc{int(next(tokens)) // 2 + 1}")
        else:
            ref.append(token if token.isdigit() else _MODULES[token])
    name, transform = _LEAVES[leaf]
    return ".".join([*ref, name]), transform


def build_hgvae(state: Mapping[str, torch.Tensor]) -> tuple[HGVAE, dict[str, Any]]:
    """The HGVAE that the reference ``state`` fits: nodes and frames from the first encoder GCL,
    the (nodes, features) of each latent level from the encoder GCLs, the stream width from
    z0's input GCL."""
    att = need(state, "encoder.graphconv_reductions.0.att", "hgvae", "(nodes, nodes)")
    weight = need(state, "encoder.graphconv_reductions.0.weight", "hgvae", "(frames, features)")
    nodes, frames = int(att.shape[-1]), int(weight.shape[0])
    if att.dim() != 2 or weight.dim() != 2 or nodes % 3:
        raise ValueError(
            f"hgvae key 'encoder.graphconv_reductions.0.att': shape {tuple(att.shape)}, "
            f"'...weight': {tuple(weight.shape)}; expected (nodes, J*3) and (frames, features) "
            f"matrices, J*3 coordinate nodes (54 for AMASS-18)"
        )
    levels = []
    while f"encoder.graphconv_reductions.{len(levels)}.att" in state:
        reduction = f"encoder.graphconv_reductions.{len(levels)}"
        out_nodes = state[f"{reduction}.att"].shape[0]
        out_features = need(state, f"{reduction}.weight", "hgvae", "(features in, out)").shape[-1]
        levels.append([int(out_nodes), int(out_features)])
    resize = need(state, "decoder.resize_conv_0.weight", "hgvae", "(z0 features, residual)")
    config = {
        "num_joints": nodes // 3,
        "num_frames": frames,
        "levels": levels,
        "residual_features": int(resize.shape[-1]),
        **NETWORK,
        **DEFECTS,
        **TRAINING,
    }
    return HGVAE(**config), config


SOURCES = {
    "hgvae": Source(
        "bouracha/generative_imputation models/HGVAE.py",
        build_hgvae,
        hgvae_key,
        root="",
        derived=("offset", "std", "train_mean", "ood_threshold"),
    ),
}
