import pytest
import torch

from motionzoo.nn.graph_vae import (
    GraphConvBlock,
    GraphConvLayer,
    GraphGaussianHead,
    ReZero,
    part_pooling,
)


def test_gcl_is_s_a_w_plus_b():
    torch.manual_seed(0)
    layer = GraphConvLayer(5, 3, 4, 6, activation=False)
    x = torch.randn(2, 5, 4)
    expected = torch.einsum("mn,bnf,fg->bmg", layer.S, x, layer.W) + layer.b
    torch.testing.assert_close(layer(x), expected)
    assert GraphConvLayer(5, 3, 4, 6)(x).shape == (2, 3, 6)


@pytest.mark.parametrize("shape", [(54, 24, 128, 128), (1, 54, 256, 256), (8, 8, 4, 16)])
def test_gcl_either_multiplication_order_is_the_same_map(shape):
    torch.manual_seed(0)
    layer = GraphConvLayer(*shape)
    x = torch.randn(3, shape[0], shape[2])
    expected = torch.nn.functional.gelu(layer.S @ (x @ layer.W) + layer.b)
    torch.testing.assert_close(layer(x), expected, atol=1e-5, rtol=1e-4)
    # (S A) W is chosen when it takes fewer multiply-adds than S (A W)
    n_in, n_out, f_in, f_out = shape
    first = n_out * n_in * f_in + n_out * f_in * f_out
    last = n_in * f_in * f_out + n_out * n_in * f_out
    assert layer.nodes_first == (first < last)
    assert [GraphConvLayer(*s).nodes_first for s in ((54, 24, 128, 128), (1, 54, 256, 256))] == [
        True,
        False,
    ]


def test_fixed_node_map_is_a_buffer_and_checked():
    pool = part_pooling(((0, 1), (2,)), num_joints=3)
    assert pool.shape == (6, 9)
    # node (part, coordinate) averages that coordinate over the part's joints
    torch.testing.assert_close(pool[0], torch.tensor([0.5, 0, 0, 0.5, 0, 0, 0, 0, 0]))
    torch.testing.assert_close(pool[5], torch.tensor([0, 0, 0, 0, 0, 0, 0, 0, 1.0]))
    layer = GraphConvLayer(9, 6, 4, 4, node_map=pool)
    assert "S" not in dict(layer.named_parameters()) and "S" not in layer.state_dict()
    torch.testing.assert_close(layer.S, pool)
    with pytest.raises(ValueError, match=r"\(out_nodes, in_nodes\) = \(5, 9\)"):
        GraphConvLayer(9, 5, 4, 4, node_map=pool)
    with pytest.raises(ValueError, match="exactly once"):
        part_pooling(((0, 1), (1, 2)), num_joints=3)


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
