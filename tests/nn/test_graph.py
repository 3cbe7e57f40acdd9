"""Graph convolutions against a dense per-node reference written out here, SemGConv's softmax
over neighbours, parameter counts, and the GConv unit's dropout."""

from __future__ import annotations

import pytest
import torch

from motionzoo.nn.graph import GRAPH_CONVS, GraphConvBNReLU, graph_conv
from motionzoo.skeleton import H36M_16

A = H36M_16.adjacency()  # (16, 16) row-normalised D^-1 (A + I)
J, B, C_IN, C_OUT = 16, 3, 5, 4


def reference(conv, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
    """out_i = sum_j adjacency_ij x_j W(i, j) + b, node by node, with W(i, j) the weight that
    the layer's kind assigns to the edge (i, j); x: (B, J, C_in) batch-major."""
    per_node = conv.weight.dim() == 3  # preagg: (J, C_in, C_out)
    out = torch.zeros(x.shape[0], J, C_OUT, dtype=torch.float64)
    for i in range(J):
        for j in range(J):
            neighbour = conv.decouple and i != j
            w = conv.neighbour_weight if neighbour else conv.weight
            w = w[j] if per_node else w
            out[:, i] += adjacency[i, j] * (x[:, j].double() @ w.double())
    return out + conv.bias.double()


def semantic_adjacency(edge_weight: torch.Tensor) -> torch.Tensor:
    """softmax over each row's graph neighbours (self included) of the edge weights, 0 elsewhere."""
    mask = A > 0
    e = torch.zeros(J, J, dtype=torch.float64)
    e[mask] = edge_weight.double()
    num = torch.where(mask, e.exp(), torch.zeros_like(e))
    return num / num.sum(dim=1, keepdim=True)


@pytest.mark.parametrize("decouple", [False, True])
@pytest.mark.parametrize("kind", sorted(GRAPH_CONVS))
def test_graph_conv_matches_dense_reference(kind, decouple):
    torch.manual_seed(0)
    conv = graph_conv(kind, C_IN, C_OUT, A, decouple=decouple)
    adjacency = A.double()
    if kind == "semantic":
        with torch.no_grad():
            conv.edge_weight.normal_()  # away from the uniform init, so the softmax matters
        adjacency = semantic_adjacency(conv.edge_weight)
    x = torch.randn(B, J, C_IN)
    out = conv(x.transpose(0, 1).contiguous()).transpose(0, 1)  # layers are node-major
    torch.testing.assert_close(out.double(), reference(conv, x, adjacency), rtol=1e-5, atol=1e-5)


def test_semgconv_rows_are_a_softmax_over_the_neighbours():
    torch.manual_seed(1)
    conv = graph_conv("semantic", C_IN, C_OUT, A)
    with torch.no_grad():
        conv.edge_weight.normal_(std=2.0)
    weights = conv.weights_adjacency()
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(J))
    assert (weights[A == 0] == 0).all(), "weight outside the skeleton's edges"
    assert (weights[A > 0] > 0).all()
    # At the init e = 1 the softmax is the uniform row-normalised adjacency.
    torch.testing.assert_close(graph_conv("semantic", 2, 2, A).weights_adjacency(), A)
    # The edge weights learn: they receive a gradient.
    conv(torch.randn(J, B, C_IN)).square().sum().backward()
    assert conv.edge_weight.grad is not None and conv.edge_weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("kind", "decouple", "expected"),
    [
        ("vanilla", False, C_IN * C_OUT + C_OUT),
        ("vanilla", True, 2 * C_IN * C_OUT + C_OUT),
        ("semantic", True, 2 * C_IN * C_OUT + C_OUT + (16 + 2 * 15)),  # e on A + I: 46 entries
        ("preagg", True, 2 * J * C_IN * C_OUT + C_OUT),
        ("preagg", False, J * C_IN * C_OUT + C_OUT),
    ],
)
def test_parameter_count(kind, decouple, expected):
    conv = graph_conv(kind, C_IN, C_OUT, A, decouple=decouple)
    assert sum(p.numel() for p in conv.parameters()) == expected


def test_defaults_follow_the_papers():
    assert not graph_conv("vanilla", 2, 2, A).decouple  # Kipf: one shared weight
    assert graph_conv("semantic", 2, 2, A).decouple  # SemGCN: self / neighbour weights
    assert graph_conv("preagg", 2, 2, A).decouple  # Liu et al.'s decoupled pre-aggregation


def test_unknown_kind_names_the_choices():
    with pytest.raises(ValueError, match="preagg"):
        graph_conv("chebyshev", 2, 2, A)


def test_unit_dropout_is_inverted_and_only_in_training():
    torch.manual_seed(2)
    unit = GraphConvBNReLU("vanilla", C_IN, 64, A, dropout=0.25)
    x = torch.randn(J, 128, C_IN)
    unit.eval()
    torch.testing.assert_close(unit(x), unit(x))
    reference = unit(x)
    unit.train()
    unit.norm.eval()  # same normalisation as in eval, so only the dropout differs
    out = unit(x)
    kept = out != 0
    active = reference != 0
    assert abs((kept & active).sum() / active.sum() - 0.75) < 0.02
    torch.testing.assert_close(out[kept], reference[kept] / 0.75)


@pytest.mark.parametrize("norm_training", [True, False])
def test_cpu_dropout_path_matches_batchnorm_relu_then_inverted_mask(norm_training):
    """The unit's CPU dropout path (BN affine scaled by 1 / (1 - p), mask applied in place with
    the ReLU) equals relu(BN(x)) * mask / (1 - p) in value, gradient and running statistics."""
    from motionzoo.nn.graph import dropout_keep

    torch.manual_seed(3)
    unit = GraphConvBNReLU("preagg", C_IN, 16, A, dropout=0.25).double()
    with torch.no_grad():
        unit.norm.weight.uniform_(0.5, 1.5)
        unit.norm.bias.uniform_(-0.5, 0.5)
    reference = GraphConvBNReLU("preagg", C_IN, 16, A, dropout=0.0).double()
    reference.load_state_dict(unit.state_dict())
    for module in (unit, reference):
        module.train()
        module.norm.train(norm_training)
    x = torch.randn(J, 64, C_IN, dtype=torch.float64)
    grad = torch.randn(J, 64, 16, dtype=torch.float64)

    torch.manual_seed(5)
    out = unit(x)
    torch.manual_seed(5)
    keep = dropout_keep(out, 0.25)  # the same draw
    expected = reference(x) * keep / 0.75
    torch.testing.assert_close(out, expected)
    params, ref_params = list(unit.parameters()), list(reference.parameters())
    for got, want in zip(
        torch.autograd.grad(out, params, grad), torch.autograd.grad(expected, ref_params, grad)
    ):
        torch.testing.assert_close(got, want)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        torch.testing.assert_close(getattr(unit.norm, name), getattr(reference.norm, name))
    assert 0.7 < keep.double().mean() < 0.8


def test_dropout_keep_the_requested_fraction():
    from motionzoo.nn.graph import dropout_keep

    torch.manual_seed(0)
    x = torch.empty(200_000)
    for p in (0.25, 0.5, 0.0625, 0.75, 0.1, 0.0):  # 1, 2, 4, 8 bits; 0.1: the 16-bit path
        keep = dropout_keep(x, p)
        assert set(keep.unique().tolist()) <= {0, 1}
        assert abs(1 - keep.double().mean().item() - p) < 0.005
