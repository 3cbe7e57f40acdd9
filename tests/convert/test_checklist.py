"""The checklist every converter passes (DESIGN.md section 8), one row per converter: a reference
checkpoint with a key missing, an extra key or a tensor of the wrong shape gets an error naming
the key (and both shapes), and another model's checkpoint is refused. Each row edits one of the
reference's own fixtures (``scripts/fixtures_<ref>.py``); checks that only one converter has
stay in its ``test_<ref>.py``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from motionzoo.convert import convert

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

MISSING_KEY = [  # (source, fixture, a reference key deleted from it)
    ("semgcn", "semgcn_small.pt", "gconv_layers.1.gconv2.bn.running_var"),
    ("graphsh-dc_preagg", "graphsh_dc_preagg_small.pt", "gconv_layers.1.gconv4.bn.running_var"),
    ("dsvae", "dsvae_small.pt", "deconv.3.model.1.running_var"),
    ("hgvae", "generative_imputation_small.pt", "decoder.decoder_units.1.rezero2.resweight"),
    ("halo", "halo_small.pt", "contentMotion.spaceV.4.running_var"),
    ("hpe3d", "hpe3d_small.pt", "Decoder3D.LBAD_2.bn1.running_var"),
    ("vaegan_pytorch", "vaegan_pytorch_small.pt", "discriminator.conv.2.bn.running_var"),
]
EXTRA_KEY = [  # (source, fixture, a key added to it, the added tensor's shape)
    ("martinez", "martinez_small.pt", "linear_stages.0.w3.weight", (32, 32)),
    ("graphsh-semantic", "graphsh_semantic_small.pt", "gconv_layers.0.gconv6.gconv.W", (2, 16, 16)),
    # a full-q tensor in a factorised network
    ("dsvae", "dsvae_factorised_small.pt", "z_rnn.weight_ih_l0", (8, 16)),
    ("hgvae", "generative_imputation_small.pt", "encoder.rezeros.4.resweight", (1,)),
    ("halo", "halo_small.pt", "latent_layer.0.weight", (8, 16)),
    # its commented-out BatchNorm
    ("hpe3d", "hpe3d_small.pt", "Decoder3D.dec_out_block.1.weight", (48,)),
    ("vaegan_pytorch", "vaegan_pytorch_small.pt", "encoder.conv.3.conv.weight", (8, 8, 5, 5)),
]
WRONG_SHAPE = [  # (source, fixture, key, the shape put there, the expected one as the error says)
    ("semgcn", "semgcn_nonlocal_small.pt", "gconv_layers.1.nonlocal.theta.weight", (8, 12, 1),
     "(8, 16, 1)"),
    ("graphsh-modulated", "graphsh_modulated_small.pt", "gconv_layers.0.gconv3.gconv.M", (8, 32),
     "(4, 32)"),
    ("dsvae", "dsvae_small.pt", "z_lstm.weight_hh_l0_reverse", (32, 4), "(32, 8)"),
    # a per-node bias (motionzoo's own layout) is not the reference's per-feature one
    ("hgvae", "generative_imputation_small.pt", "decoder.resize_conv_0.bias", (54, 8),
     "expected (8,)"),
    ("halo", "halo_small.pt", "mu_p.weight", (12, 11), "(12, 12)"),
    ("hpe3d", "hpe3d_small.pt", "EncoderRGB.backbone.4.1.conv2.weight", (4, 4, 5, 5),
     "(4, 4, 3, 3)"),
    ("vaegan_pytorch", "vaegan_pytorch_small.pt", "decoder.conv.3.0.weight", (3, 2, 5, 5),
     "(3, 1, 5, 5)"),
]  # fmt: skip
ANOTHER_MODEL = [  # (source, the fixture of another model, the start of the error)
    ("semgcn", "martinez_small.pt", "not a semgcn state_dict: key 'gconv_input.0.gconv.W'"),
    ("semgcn", "dsvae_small.pt", "not a semgcn state_dict"),
    ("graphsh-dc_preagg", "semgcn_small.pt",
     "not a graphsh-dc_preagg state_dict: key 'gconv_input"),
    ("dsvae", "semgcn_small.pt", "not a dsvae state_dict: key 'z_prior_lstm.weight_ih'"),
    ("hgvae", "semgcn_small.pt",
     "not a hgvae state_dict: key 'encoder.graphconv_reductions.0.att'"),
    ("halo", "semgcn_small.pt", "not a halo state_dict"),
    ("hpe3d", "semgcn_small.pt", "not an hpe3d state_dict"),
    ("vaegan_pytorch", "semgcn_small.pt", "not a vaegan_pytorch state_dict: key 'encoder.l_mu"),
]  # fmt: skip


def state_dict(fixture: str) -> dict[str, torch.Tensor]:
    """A fresh copy of the fixture's reference state_dict, for a test to edit."""
    return dict(torch.load(FIXTURES / fixture, weights_only=True)["state_dict"])


@pytest.mark.parametrize(("source", "fixture", "key"), MISSING_KEY)
def test_a_missing_key_is_named(source, fixture, key):
    state = state_dict(fixture)
    del state[key]
    with pytest.raises(ValueError, match=rf"missing keys \[{re.escape(repr(key))}\]"):
        convert(state, source)


@pytest.mark.parametrize(("source", "fixture", "key", "shape"), EXTRA_KEY)
def test_an_extra_key_is_named(source, fixture, key, shape):
    state = {**state_dict(fixture), key: torch.zeros(shape)}
    with pytest.raises(ValueError, match=rf"unexpected keys \[{re.escape(repr(key))}\]"):
        convert(state, source)


@pytest.mark.parametrize(("source", "fixture", "key", "shape", "expected"), WRONG_SHAPE)
def test_a_wrong_shape_names_the_key_and_both_shapes(source, fixture, key, shape, expected):
    state = {**state_dict(fixture), key: torch.zeros(shape)}
    with pytest.raises(ValueError) as error:
        convert(state, source)
    message = str(error.value)
    assert f"'{key}'" in message
    assert str(shape) in message and expected in message


@pytest.mark.parametrize(("source", "fixture", "message"), ANOTHER_MODEL)
def test_a_checkpoint_of_another_model_is_refused(source, fixture, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        convert(state_dict(fixture), source)
