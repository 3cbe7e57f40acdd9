"""The graph layers' node-major path (N, B, F), the one HG-VAE stacks, is the same map as their
batch-first ``forward`` (B, N, F), in either multiplication order and with either bias layout."""

import pytest
import torch

from motionzoo.nn.graph_vae import GraphConvBlock, GraphConvLayer, GraphGaussianHead


def node_major(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(0, 1).contiguous()


@pytest.mark.parametrize("node_bias", [True, False])
@pytest.mark.parametrize("shape", [(54, 24, 128, 16), (1, 6, 8, 8), (5, 3, 4, 6)])
def test_gcl_node_major_is_forward_transposed(shape, node_bias):
    torch.manual_seed(0)
    layer = GraphConvLayer(*shape, node_bias=node_bias)
    x = torch.randn(4, shape[0], shape[2])
    expected = torch.nn.functional.gelu(
        torch.einsum("mn,bnf,fg->bmg", layer.S, x, layer.W)
        + (layer.b if node_bias else layer.b[None])
    )
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-4)
    out = layer.node_major(node_major(x))
    assert out.shape == (shape[1], 4, shape[3]) and out.is_contiguous()
    torch.testing.assert_close(out, node_major(expected), atol=1e-5, rtol=1e-4)


def test_block_and_head_node_major_are_forward_transposed():
    torch.manual_seed(0)
    block, head = GraphConvBlock(7, 8), GraphGaussianHead(7, 3, 8, 5, node_bias=False)
    with torch.no_grad():
        block.rezero.alpha.fill_(0.7)
    x = torch.randn(2, 7, 8)
    torch.testing.assert_close(block.node_major(node_major(x)), node_major(block(x)))
    (mu, logvar), (mu_nm, logvar_nm) = head(x), head.node_major(node_major(x))
    torch.testing.assert_close(mu_nm, node_major(mu))
    torch.testing.assert_close(logvar_nm, node_major(logvar))
    assert head.node_major(node_major(x), logvar=False)[1] is None


def test_gradients_agree_between_layouts():
    torch.manual_seed(0)
    layer = GraphConvLayer(6, 4, 5, 3)
    x = torch.randn(3, 6, 5)
    grads = []
    for out in (lambda: layer(x), lambda: layer.node_major(node_major(x)).transpose(0, 1)):
        layer.zero_grad()
        (out() * torch.arange(12.0).reshape(1, 4, 3)).sum().backward()
        grads.append([p.grad.clone() for p in (layer.S, layer.W, layer.b)])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)
