"""Graph convolutions against a dense per-node reference written out here, SemGConv's softmax
over neighbours, parameter counts. (The GConv unit's dropout and fused kernel: test_kernels.py.)"""

from __future__ import annotations

import pytest
import torch

from motionzoo.nn.graph import GRAPH_CONVS, graph_conv
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
@pytest.mark.parametrize("kind", ["preagg", "semantic", "vanilla"])
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


def liu_weight(conv, kind: str, i: int, j: int) -> torch.Tensor:
    """The (C_in, C_out) weight that ``conv`` of Liu et al.'s / Zou & Tang's kinds puts on the
    message from node j to node i."""
    if kind == "convstyle":
        return conv.weight if i == j else conv.upper_weight if j > i else conv.lower_weight
    if kind == "nosharing":
        return conv.weight[j, i]
    w = conv.neighbour_weight if conv.decouple and i != j else conv.weight
    return w[i] if kind == "postagg" else w  # postagg: the receiving node's own weight


SHARING_VARIANTS = [("postagg", False), ("postagg", True), ("convstyle", None)]
SHARING_VARIANTS += [("nosharing", None), ("modulated", False), ("modulated", True)]


def test_every_graph_conv_has_a_dense_reference_test():
    assert set(GRAPH_CONVS) == {"preagg", "semantic", "vanilla"} | {k for k, _ in SHARING_VARIANTS}


@pytest.mark.parametrize(("kind", "decouple"), SHARING_VARIANTS)
def test_weight_sharing_variants_match_dense_reference(kind, decouple):
    """out_i = sum_j a_ij M_j (x_j W(i, j)) + b, node by node; a = Â except: Â^T for nosharing
    (its source-row convention), (Â + Q + (Â + Q)^T) / 2 for modulated, whose M is not 1."""
    torch.manual_seed(0)
    conv = graph_conv(kind, C_IN, C_OUT, A, decouple=decouple)
    adjacency, scale = A.double(), torch.ones(J, C_OUT, dtype=torch.float64)
    if kind == "modulated":
        with torch.no_grad():
            conv.weight_modulation.normal_()
            conv.affinity_modulation.normal_()
        adjacency = A.double() + conv.affinity_modulation.double()
        adjacency, scale = (adjacency + adjacency.T) / 2, conv.weight_modulation.double()
    if kind == "nosharing":
        adjacency = adjacency.T
    x = torch.randn(B, J, C_IN)
    out = torch.zeros(B, J, C_OUT, dtype=torch.float64) + conv.bias.double()
    for i in range(J):
        for j in range(J):
            message = x[:, j].double() @ liu_weight(conv, kind, i, j).double()
            out[:, i] += adjacency[i, j] * scale[j] * message
    ours = conv(x.transpose(0, 1).contiguous()).transpose(0, 1)
    torch.testing.assert_close(ours.double(), out, rtol=1e-5, atol=1e-5)
