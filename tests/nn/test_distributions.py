"""The zoo's Gaussian helpers against torch.distributions, Monte Carlo and the closed forms of the
KL schedules; the eval-mode helper restores the mode also on an exception."""

from __future__ import annotations

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from motionzoo.nn.distributions import (
    gaussian_kl,
    gaussian_log_prob,
    kl_weight_at,
    reparameterize,
)
from motionzoo.nn.modes import eval_mode, evaluating


def normals(*shape: int, n: int = 4, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g) for _ in range(n)]


def test_log_prob_matches_torch_normal():
    x, mu, logvar = normals(3, 10, n=3)
    expected = Normal(mu, (0.5 * logvar).exp()).log_prob(x)
    torch.testing.assert_close(gaussian_log_prob(x, mu, logvar), expected)


def test_kl_to_standard_normal_matches_torch_distributions():
    mu, logvar = normals(4, 6, n=2)
    expected = kl_divergence(Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0))
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    torch.testing.assert_close(gaussian_kl(mu, logvar), gaussian_kl(mu, logvar, 0 * mu, 0 * logvar))


def test_kl_to_a_broadcast_prior_matches_torch_distributions():
    mu, logvar = normals(5, 3, 4, n=2)
    prior_mu, prior_logvar = normals(3, 4, n=2, seed=1)
    expected = kl_divergence(
        Normal(mu, (0.5 * logvar).exp()), Normal(prior_mu, (0.5 * prior_logvar).exp())
    )
    torch.testing.assert_close(gaussian_kl(mu, logvar, prior_mu, prior_logvar), expected)


def test_kl_matches_monte_carlo_and_vanishes_on_itself():
    torch.manual_seed(0)
    mu_q, logvar_q, mu_p, logvar_p = (v[0] * s for v, s in zip(normals(1, 6), (1, 0.5, 1, 0.5)))
    z = mu_q + (0.5 * logvar_q).exp() * torch.randn(400_000, 6)
    mc = (gaussian_log_prob(z, mu_q, logvar_q) - gaussian_log_prob(z, mu_p, logvar_p)).mean(0)
    assert torch.allclose(gaussian_kl(mu_q, logvar_q, mu_p, logvar_p), mc, atol=0.03)
    assert gaussian_kl(mu_q, logvar_q, mu_q, logvar_q).abs().max() < 1e-6
    assert math.isclose(float(gaussian_kl(torch.zeros(1), torch.zeros(1))), 0.0)


def test_half_precision_inputs_give_float32_under_autocast():
    x = torch.randn(4, dtype=torch.bfloat16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert gaussian_log_prob(x, x, x).dtype == torch.float32
        assert gaussian_kl(x, x).dtype == torch.float32
        assert gaussian_kl(x, x, x, x).dtype == torch.float32


def test_reparameterize_has_the_moments_and_gradients_of_the_gaussian():
    torch.manual_seed(0)
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = reparameterize(mu.expand(200_000, 2), logvar.expand(200_000, 2))
    torch.testing.assert_close(z.mean(0), mu.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(z.std(0), torch.tensor([1.0, 2.0]), atol=0.02, rtol=0)
    z.mean(0).sum().backward()  # dz/dmu = 1; dz/dlogvar = eps * sigma / 2, mean ~0
    torch.testing.assert_close(mu.grad, torch.ones(2))
    assert logvar.grad.abs().max() < 0.02


def test_constant_schedule():
    assert kl_weight_at(7, 0.001) == 0.001


def test_linear_warm_up_hgvae_reference():
    # HG-VAE reference `warmup`: start -> end linearly over the warm-up epochs, then end.
    got = [
        kl_weight_at(e, 1.0, "linear", start=1e-3, warmup_epochs=200) for e in (0, 100, 200, 500)
    ]
    assert got == pytest.approx([1e-3, 1e-3 + 0.999 / 2, 1.0, 1.0])
    assert kl_weight_at(0, 0.003, "linear", start=0.003, warmup_epochs=0) == 0.003


def test_linear_annealing_hpe3d_reference():
    # HPE3D `beta_annealing`: 0 for 10 epochs, then linearly to beta over 40.
    got = [
        kl_weight_at(e, 0.01, "linear", delay_epochs=10, warmup_epochs=40)
        for e in (5, 10, 30, 50, 90)
    ]
    assert got == pytest.approx([0, 0, 0.005, 0.01, 0.01])


def test_cyclical_hpe3d_reference():
    got = [
        kl_weight_at(e, 0.01, "cyclical", cycle_epochs=40, cycle_ratio=0.5)
        for e in (0, 10, 20, 39, 40, 50)
    ]
    assert got == pytest.approx([0, 0.005, 0.01, 0.01, 0, 0.005])


def test_unknown_schedule_names_the_choices():
    with pytest.raises(ValueError, match="'step'.*constant"):
        kl_weight_at(0, 1.0, "step")


class Dropper(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.drop = torch.nn.Dropout(0.5)

    @evaluating
    def infer(self, x: torch.Tensor, fail: bool = False) -> torch.Tensor:
        if fail:
            raise RuntimeError("boom")
        return self.drop(x * 2)


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_runs_in_eval_mode_without_grad_and_restores(training):
    model = Dropper().train(training)
    x = torch.ones(1000, requires_grad=True)
    y = model.infer(x)
    assert torch.equal(y, torch.full((1000,), 2.0)) and not y.requires_grad
    assert model.training is training
    with pytest.raises(RuntimeError, match="boom"):
        model.infer(x, fail=True)
    assert model.training is training


def test_eval_mode_can_keep_gradients():
    model = Dropper().train()
    x = torch.ones(3, requires_grad=True)
    with eval_mode(model, no_grad=False):
        assert not model.training
        model.drop(x).sum().backward()
    assert model.training and torch.equal(x.grad, torch.ones(3))
