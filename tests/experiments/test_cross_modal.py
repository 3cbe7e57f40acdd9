"""The latent cross-modal ratio: against a brute-force double loop, and its two limits
(identical encoders -> 0, unrelated encoders -> about 1)."""

from __future__ import annotations

import pytest
import torch

from motionzoo.experiments.cross_modal import cross_modal_ratio, latent_ratio


def brute_force(z_a: torch.Tensor, z_b: torch.Tensor) -> tuple[float, float]:
    n = len(z_a)
    same = sum(float((z_a[i] - z_b[i]).norm()) for i in range(n)) / n
    other = [float((z_a[i] - z_b[j]).norm()) for i in range(n) for j in range(n) if i != j]
    return same, sum(other) / len(other)


def test_ratio_matches_a_double_loop_in_small_chunks():
    g = torch.Generator().manual_seed(0)
    z_a = torch.randn(9, 4, generator=g)
    z_b = z_a + 0.3 * torch.randn(9, 4, generator=g)
    result = cross_modal_ratio(z_a, z_b, chunk=4)
    same, other = brute_force(z_a, z_b)
    assert result["same"] == pytest.approx(same) and result["other"] == pytest.approx(other)
    assert result["ratio"] == pytest.approx(same / other) and result["ratio"] < 1


def test_ratio_limits():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(300, 8, generator=g)
    assert cross_modal_ratio(z, z)["ratio"] == 0
    unrelated = cross_modal_ratio(z, torch.randn(300, 8, generator=g))["ratio"]
    assert unrelated == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="N >= 2"):
        cross_modal_ratio(z[:1], z[:1])


class TwoEncoders(torch.nn.Module):
    """Stands in for CrossModalVAE: ``encode`` and ``batch_keys`` are all latent_ratio uses."""

    batch_keys = {"rgb": "image", "2d": "pose2d"}
    device = torch.device("cpu")

    def encode(self, x, modality):
        return x.flatten(1)[:, :3] if modality == "2d" else x.flatten(1)[:, :3] + 0.01


def test_latent_ratio_collects_the_encoders_means_over_a_loader():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(10, 17, 2, generator=g)
    loader = [{"image": x[:6], "pose2d": x[:6]}, {"image": x[6:], "pose2d": x[6:]}]
    model = TwoEncoders().train()
    result = latent_ratio(model, loader)
    expected = cross_modal_ratio(x.flatten(1)[:, :3] + 0.01, x.flatten(1)[:, :3])
    assert result == pytest.approx(expected) and model.training
    assert latent_ratio(model, loader, max_batches=1)["same"] == pytest.approx(0.01 * 3**0.5)
