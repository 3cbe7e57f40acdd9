import math

import pytest
import torch

from motionzoo.nn.graph_vae import (
    GraphConvBlock,
    GraphConvLayer,
    GraphGaussianHead,
    ReZero,
    gaussian_kl,
    gaussian_log_prob,
)


def test_gcl_is_s_a_w_plus_b():
    torch.manual_seed(0)
    layer = GraphConvLayer(5, 3, 4, 6, activation=False)
    x = torch.randn(2, 5, 4)
    expected = torch.einsum("mn,bnf,fg->bmg", layer.S, x, layer.W) + layer.b
    torch.testing.assert_close(layer(x), expected)
    assert GraphConvLayer(5, 3, 4, 6)(x).shape == (2, 3, 6)


def test_gcb_starts_as_identity_and_rezero_learns():
    torch.manual_seed(0)
    block = GraphConvBlock(7, 8, dropout=0.1).eval()
    x = torch.randn(3, 7, 8)
    torch.testing.assert_close(block(x), x)
    block(x).sum().backward()
    assert block.rezero.alpha.grad is not None and block.rezero.alpha.grad.abs() > 0
    assert ReZero()(x).abs().sum() == 0


def test_gaussian_head_clamps_logvar():
    head = GraphGaussianHead(4, 2, 3, 5)
    with torch.no_grad():
        head.logvar.b.fill_(100.0)
    mu, logvar = head(torch.randn(2, 4, 3))
    assert mu.shape == logvar.shape == (2, 2, 5)
    assert logvar.max() <= 3.0


def test_log_prob_matches_torch_normal():
    x, mu, logvar = torch.randn(3, 10), torch.randn(3, 10), torch.randn(3, 10)
    expected = torch.distributions.Normal(mu, (0.5 * logvar).exp()).log_prob(x)
    torch.testing.assert_close(gaussian_log_prob(x, mu, logvar), expected)


def test_kl_matches_monte_carlo():
    torch.manual_seed(0)
    mu_q, logvar_q = torch.randn(6), torch.randn(6) * 0.5
    mu_p, logvar_p = torch.randn(6), torch.randn(6) * 0.5
    z = mu_q + (0.5 * logvar_q).exp() * torch.randn(400_000, 6)
    mc = (gaussian_log_prob(z, mu_q, logvar_q) - gaussian_log_prob(z, mu_p, logvar_p)).mean(0)
    analytic = gaussian_kl(mu_q, logvar_q, mu_p, logvar_p)
    assert torch.allclose(analytic, mc, atol=0.03), (analytic, mc)
    # default prior N(0, 1) and KL(q || q) = 0
    torch.testing.assert_close(
        gaussian_kl(mu_q, logvar_q), gaussian_kl(mu_q, logvar_q, 0 * mu_q, 0 * logvar_q)
    )
    assert gaussian_kl(mu_q, logvar_q, mu_q, logvar_q).abs().max() < 1e-6
    assert math.isclose(float(gaussian_kl(torch.zeros(1), torch.zeros(1))), 0.0)


@pytest.mark.parametrize("dtype", [torch.bfloat16])
def test_losses_are_float32(dtype):
    x = torch.randn(4, dtype=dtype)
    assert gaussian_log_prob(x, x, x).dtype == torch.float32
    assert gaussian_kl(x, x).dtype == torch.float32
