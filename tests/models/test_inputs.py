"""One input language for every family (models/base.py): shape errors name the expected shape at
the entry of each verb, and an action is an index, a name or a tensor wherever a model takes one."""

from __future__ import annotations

import pytest
import torch

from motionzoo.models import DSVAE, HGVAE, ConvVAE, HamiltonianVAE, LinearLifter

SPRITES = ["walk", "spellcard", "slash"]


def hgvae(**kwargs) -> HGVAE:
    torch.manual_seed(0)
    return HGVAE(num_joints=4, num_frames=8, levels=[[1, 8]], residual_features=8, **kwargs)


def hamiltonian() -> HamiltonianVAE:
    torch.manual_seed(0)
    return HamiltonianVAE(
        subspace_dim=2, z_dim=8, h_dim=16, encoder_channels=[4, 4], encoder_strides=[2, 2],
        encoder_hidden=16, decoder_channels=[4, 4], decoder_start_channels=4, decoder_hidden=16,
        content_layers=1, image_size=16, pretrain_epochs=0,
    ).eval()  # fmt: skip


def test_shape_errors_name_the_expected_shape():
    model = hgvae()
    short = torch.zeros(4, 5, 4, 3)
    expected = r"HGVAE.impute: motion \(B, T, J, 3\) = \(B, 8, 4, 3\) expected, got \(4, 5, 4, 3\)"
    with pytest.raises(ValueError, match=expected):
        model.impute(short, torch.ones_like(short, dtype=torch.bool))
    for verb in ("reconstruct", "encode", "log_posterior", "log_joint"):
        with pytest.raises(ValueError, match=rf"HGVAE.{verb}: motion"):
            getattr(model, verb)(short)
    with pytest.raises(ValueError, match=r"mask \(B, T, J, 3\) = \(4, 8, 4, 3\) expected"):
        model.impute(torch.zeros(4, 8, 4, 3), torch.ones(4, 8, 4, dtype=torch.bool))
    with pytest.raises(
        ValueError, match=r"LinearLifter.forward: pose2d \(B, J, 2\) = \(B, 17, 2\)"
    ):
        LinearLifter(width=8)(torch.zeros(2, 16, 2))
    with pytest.raises(ValueError, match=r"LinearLifter.lift: pixels \(\.\.\., J, 2\)"):
        LinearLifter(width=8).lift(torch.zeros(3, 2), res_w=10, res_h=10)
    conv = ConvVAE(z_dim=4, encoder_channels=[4], encoder_hidden=8, decoder_channels=[4],
                   decoder_start_channels=4, image_size=16)  # fmt: skip
    with pytest.raises(
        ValueError, match=r"ConvVAE.forward: images \(B, 3, H, W\) = \(B, 3, 16, 16\)"
    ):
        conv(torch.zeros(2, 3, 32, 32))
    with pytest.raises(ValueError, match=r"HamiltonianVAE.swap_motion: b \(B, T, 3, H, W\)"):
        hamiltonian().swap_motion(torch.zeros(2, 4, 3, 16, 16), torch.zeros(2, 4, 16, 16))


def test_actions_are_indices_names_or_tensors_everywhere():
    model = hamiltonian()
    assert model.action_names == SPRITES  # Sprites' label action3 (the default action_key)
    frames = torch.rand(2, 4, 3, 16, 16) * 2 - 1
    by_index = model.reconstruct(frames, 1)
    torch.testing.assert_close(model.reconstruct(frames, "spellcard"), by_index)
    torch.testing.assert_close(model.reconstruct(frames, torch.tensor([1, 1])), by_index)
    torch.testing.assert_close(model(frames, ["spellcard", 1]), by_index)
    torch.testing.assert_close(
        model.swap_motion(frames, frames, "slash", 2)[0], model.swap_motion(frames, frames, 2, 2)[0]
    )
    torch.testing.assert_close(
        model.image_to_sequence(frames[:, 0], "walk", 3),
        model.image_to_sequence(frames[:, 0], 0, 3),
    )
    with pytest.raises(ValueError, match=r"unknown action name\(s\) \['jump'\]; known: \['walk'"):
        model.generate(2, action="jump")
    with pytest.raises(ValueError, match=r"0\.\.2 \(0 walk, 1 spellcard, 2 slash\)"):
        model.reconstruct(frames, 3)


def test_a_motion_vae_takes_names_in_every_verb_and_keeps_the_datamodules():
    model = hgvae(num_actions=3, action_names=["walk", "run", "jump"]).eval()
    x = torch.randn(2, 8, 4, 3) * 100
    torch.testing.assert_close(model.log_joint(x, "run"), model.log_joint(x, torch.tensor([1, 1])))
    torch.testing.assert_close(model.reconstruct(x, "jump"), model.reconstruct(x, 2))
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, 3:] = True
    torch.testing.assert_close(model.impute(x, mask, steps=1, action="run"),
                               model.impute(x, mask, steps=1, action=1))  # fmt: skip
    with pytest.raises(ValueError, match="HGVAE.forward: unknown action name"):
        model(x, "swim")
    unnamed = hgvae(num_actions=3)

    class DataModule:
        action_names = ("a", "b", "c")

    unnamed._trainer = type("Trainer", (), {"datamodule": DataModule()})()
    unnamed.adopt_action_names()  # what on_fit_start does: the checkpoint then carries them
    assert unnamed.hparams.action_names == ["a", "b", "c"] and unnamed.action_names[1] == "b"


def test_an_unconditional_sequence_model_still_refuses_an_action():
    model = DSVAE(f_dim=4, z_dim=2, hidden_dim=4, encoder_channels=[4], encoder_strides=[2],
                  encoder_hidden=8, conv_dim=8, decoder_hidden=8, decoder_start_channels=4,
                  decoder_channels=[4], image_size=16)  # fmt: skip
    with pytest.raises(ValueError, match="unconditional"):
        model.generate(2, action="walk")
