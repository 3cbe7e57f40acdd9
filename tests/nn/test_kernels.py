"""The fused CPU kernels of ``motionzoo.nn.kernels`` against the plain PyTorch path they replace
(``fused_kernels=False``): equal values, parameter gradients and BatchNorm running statistics
(float64, one shared dropout mask), the pair pooling's gradient at ties, whole networks with the
switch on and off, and the dropped fraction of both dropout paths."""

from __future__ import annotations

import pytest
import torch

from motionzoo.models.graphsh import GraphSH, GraphSHNet
from motionzoo.models.seqres import SeqRes
from motionzoo.nn.graph import GRAPH_CONVS, GraphConvBNReLUDropout
from motionzoo.nn.hourglass import SkeletalPool
from motionzoo.nn.kernels import batch_norm_relu_dropout, dropout_keep
from motionzoo.skeleton import H36M_16

A = H36M_16.adjacency()  # (16, 16) row-normalised D^-1 (A + I)
J, C_IN = 16, 5
FINE_TO_MID, MID_TO_LOW = H36M_16.pool_groups


def fused_and_plain_units(kind: str, width: int, p: float):
    """Two float64 GConv units with the same weights (BatchNorm affine away from its init), the
    first on the fused kernel, the second on nn.BatchNorm1d -> nn.ReLU -> nn.Dropout."""
    fused = GraphConvBNReLUDropout(kind, C_IN, width, A, dropout=p).double()
    with torch.no_grad():
        fused.norm.weight.uniform_(0.5, 1.5)
        fused.norm.bias.uniform_(-0.5, 0.5)
    plain = GraphConvBNReLUDropout(kind, C_IN, width, A, dropout=p, fused_kernels=False)
    plain.double().load_state_dict(fused.state_dict())
    return fused, plain


def assert_same_backward_and_state(out, expected, inputs, ref_inputs, module, ref_module):
    """Equal gradients of a random upstream gradient w.r.t. ``inputs`` / ``ref_inputs``, and
    equal state (BatchNorm running statistics and batch counters included)."""
    grad = torch.randn_like(out)
    for got, want in zip(
        torch.autograd.grad(out, inputs, grad), torch.autograd.grad(expected, ref_inputs, grad)
    ):
        torch.testing.assert_close(got, want)
    state, ref_state = module.state_dict(), ref_module.state_dict()
    assert list(state) == list(ref_state)
    for name in state:
        torch.testing.assert_close(state[name], ref_state[name], msg=name)


@pytest.mark.parametrize("norm_training", [True, False])
@pytest.mark.parametrize("kind", sorted(GRAPH_CONVS))
def test_fused_unit_equals_batchnorm_relu_dropout_with_the_same_mask(kind, norm_training):
    """The fused path (BN affine scaled by 1 / (1 - p), mask applied in place with the ReLU)
    equals the plain relu(BN(x)) * mask / (1 - p) in value, gradient and running statistics."""
    torch.manual_seed(3)
    fused, plain = fused_and_plain_units(kind, 16, p=0.25)
    for module in (fused, plain):
        module.train()
        module.norm.train(norm_training)
    plain.dropout.eval()  # the plain path's own mask is replaced by the fused kernel's, below
    x = torch.randn(J, 64, C_IN, dtype=torch.float64)

    torch.manual_seed(5)
    out = fused(x)
    torch.manual_seed(5)
    keep = dropout_keep(out, 0.25)  # the same draw
    expected = plain(x) * keep / 0.75
    torch.testing.assert_close(out, expected)
    params, ref_params = list(fused.parameters()), list(plain.parameters())
    assert_same_backward_and_state(out, expected, params, ref_params, fused, plain)
    assert 0.7 < keep.double().mean() < 0.8


@pytest.mark.parametrize("norm_training", [True, False])
def test_fused_kernel_without_dropout_is_batchnorm_relu(norm_training):
    """p = 0: the kernel is relu(BN(x)), with batch statistics in training and the running ones
    in eval; the same gradients for the input and the affine parameters."""
    torch.manual_seed(4)
    fused, plain = fused_and_plain_units("vanilla", 8, p=0.0)
    for module in (fused, plain):
        module.norm.train(norm_training)
    h = torch.randn(J * 32, 8, dtype=torch.float64, requires_grad=True)
    out = batch_norm_relu_dropout(fused.norm, h, 0.0)
    expected = torch.relu(plain.norm(h))
    torch.testing.assert_close(out, expected)
    inputs, ref_inputs = [h, *fused.norm.parameters()], [h, *plain.norm.parameters()]
    assert_same_backward_and_state(out, expected, inputs, ref_inputs, fused, plain)


@pytest.mark.parametrize("fused_kernels", [True, False])
def test_unit_dropout_is_inverted_and_only_in_training(fused_kernels):
    torch.manual_seed(2)
    unit = GraphConvBNReLUDropout("vanilla", C_IN, 64, A, dropout=0.25, fused_kernels=fused_kernels)
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


def test_dropout_keep_the_requested_fraction():
    torch.manual_seed(0)
    x = torch.empty(200_000)
    for p in (0.25, 0.5, 0.0625, 0.75, 0.1, 0.0):  # 1, 2, 4, 8 bits; 0.1: the 16-bit path
        keep = dropout_keep(x, p)
        assert set(keep.unique().tolist()) <= {0, 1}
        assert abs(1 - keep.double().mean().item() - p) < 0.005


@pytest.mark.parametrize("groups", [FINE_TO_MID, MID_TO_LOW], ids=["16->8", "8->4"])
def test_pair_pool_equals_gather_amax_including_ties(groups):
    fused, plain = SkeletalPool(groups), SkeletalPool(groups, fused_kernels=False)
    assert fused.pairs and not plain.pairs  # the two paths really differ
    torch.manual_seed(1)
    n = 2 * len(groups)
    x = torch.randn(n, 4, 6, dtype=torch.float64).clamp_min(0.0)  # ReLU zeros: many ties
    x.requires_grad_(True)
    upstream = torch.randn(len(groups), 4, 6, dtype=torch.float64)
    expected = torch.stack([x[list(g)].amax(dim=0) for g in groups])
    (want,) = torch.autograd.grad(expected, x, upstream)
    for pool in (fused, plain):
        out = pool(x)
        torch.testing.assert_close(out, expected)
        (got,) = torch.autograd.grad(out, x, upstream)
        torch.testing.assert_close(got, want)


def net_pair(conv: str, dropout: float = 0.25):
    """Two tiny float64 GraphSH networks with the same weights, fused and plain."""
    torch.manual_seed(0)
    args = dict(hidden=16, num_stacks=2, dropout=dropout, se_reduction=8, decouple=None)
    fused = GraphSHNet(H36M_16, conv, **args).double()
    plain = GraphSHNet(H36M_16, conv, **args, fused_kernels=False)
    plain.double().load_state_dict(fused.state_dict())
    return fused, plain


@pytest.mark.parametrize("conv", sorted(GRAPH_CONVS))
def test_graphsh_net_in_eval_is_the_same_function_with_the_switch_on_and_off(conv):
    fused, plain = net_pair(conv)
    torch.manual_seed(1)
    for module in (fused, plain):  # move the running statistics away from (0, 1)
        module.train()(torch.rand(32, J, 2, dtype=torch.float64) * 2 - 1)
    plain.load_state_dict(fused.state_dict())
    x = torch.rand(8, J, 2, dtype=torch.float64) * 2 - 1
    torch.testing.assert_close(fused.eval()(x), plain.eval()(x))


def test_graphsh_net_without_dropout_trains_the_same_with_the_switch_on_and_off():
    """Training mode, dropout 0: batch statistics and the pooling's backward (pair_max vs amax)
    give the same outputs, parameter gradients and running statistics."""
    fused, plain = net_pair("semantic", dropout=0.0)
    x = torch.rand(8, J, 2, dtype=torch.float64) * 2 - 1
    out, expected = fused.train()(x), plain.train()(x)
    torch.testing.assert_close(out, expected)
    params, ref_params = list(fused.parameters()), list(plain.parameters())
    assert_same_backward_and_state(out, expected, params, ref_params, fused, plain)


@pytest.mark.parametrize("model", [GraphSH, SeqRes])
def test_the_switch_is_a_hyperparameter_that_changes_no_weight(model):
    fused, plain = model(conv="semantic"), model(conv="semantic", fused_kernels=False)
    assert fused.hparams.fused_kernels and not plain.hparams.fused_kernels
    assert {k: v.shape for k, v in fused.state_dict().items()} == {
        k: v.shape for k, v in plain.state_dict().items()
    }
    units = [m for m in plain.modules() if isinstance(m, GraphConvBNReLUDropout)]
    pools = [m for m in plain.modules() if isinstance(m, SkeletalPool)]
    assert units and not any(m.fused_kernels for m in units)
    assert not any(m.pairs for m in pools)  # GraphSH's pools run gather + amax; SeqRes has none
