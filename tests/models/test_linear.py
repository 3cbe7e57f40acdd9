"""LinearLifter: the Martinez et al. baseline on the shared lifting base."""

from __future__ import annotations

import pytest
import torch

from motionzoo.geometry.camera import h36m_cameras, normalize_screen_coordinates
from motionzoo.models.linear import LinearLifter


def test_parameter_count_and_root_relative_output():
    model = LinearLifter(num_joints=16).eval()
    # input 32->1024, 4 residual linear layers 1024->1024, output 1024->48, BN 5 x 2 x 1024
    expected = (32 * 1024 + 1024) + 4 * (1024 * 1024 + 1024) + (1024 * 48 + 48) + 5 * 2 * 1024
    assert sum(p.numel() for p in model.parameters()) == expected
    out = model(torch.randn(7, 16, 2))
    assert out.shape == (7, 16, 3) and out[:, 0].abs().max() == 0


def test_lift_from_pixels_equals_normalise_then_forward():
    torch.manual_seed(0)
    model = LinearLifter(num_joints=17, width=64).eval()
    camera = h36m_cameras("S9")[0]
    pixels = torch.rand(2, 3, 17, 2) * 900 + 50
    lifted = model.lift(pixels, camera)
    manual = model(
        normalize_screen_coordinates(pixels, camera.res_w, camera.res_h).reshape(6, 17, 2)
    )
    # lift runs with BatchNorm folded (tests/models/test_lift_inference.py): equal to 1e-5 m
    torch.testing.assert_close(lifted, manual.reshape(2, 3, 17, 3), rtol=1e-5, atol=1e-2)


def test_learning_rate_decays_continuously_by_0_96_every_100k_steps():
    optimizers = LinearLifter(num_joints=16, width=16).configure_optimizers()
    schedule = optimizers["lr_scheduler"]["scheduler"]
    assert optimizers["optimizer"].defaults["lr"] == 1e-3
    factors = [schedule.lr_lambdas[0](step) for step in (0, 50_000, 100_000, 250_000)]
    assert factors == pytest.approx([1.0, 0.96**0.5, 0.96, 0.96**2.5])
