"""``lift`` at inference speed (``motionzoo.nn.inference``): for every lifter, graph conv and
kernel switch, the folded inference copy computes the eval-mode forward to 1e-5, whatever the
model's mode and the chunk size; BatchNorm is folded away, learnt adjacencies are computed once
per copy, a copy never goes stale, and ``lift`` leaves the model, its mode and its state as they
were. (Speed: ``python -m benchmarks lifting``.)"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from motionzoo.geometry.camera import normalize_screen_coordinates
from motionzoo.models.graphsh import GraphSH
from motionzoo.models.linear import LinearLifter
from motionzoo.models.seqres import SeqRes
from motionzoo.nn.graph import GRAPH_CONVS
from motionzoo.nn.inference import batch_norm_affine, inference_copy
from motionzoo.nn.modes import eval_mode

RES_W, RES_H = 1000, 1002


def trained_batch_norms(model: nn.Module) -> nn.Module:
    """``model`` with every BatchNorm's statistics and affine parameters away from their init
    (as after training), so that folding them is not the identity."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for norm in model.modules():
            if isinstance(norm, nn.BatchNorm1d):
                for tensor, low, high in (
                    (norm.running_mean, -0.5, 0.5),
                    (norm.running_var, 0.3, 2.0),
                    (norm.weight, 0.5, 1.5),
                    (norm.bias, -0.5, 0.5),
                ):
                    tensor.copy_(torch.rand(tensor.shape, generator=g) * (high - low) + low)
    return model


def pixels(*batch: int, joints: int = 16) -> torch.Tensor:
    return torch.rand(*batch, joints, 2, generator=torch.Generator().manual_seed(2)) * RES_W


def eval_forward(model, x: torch.Tensor) -> torch.Tensor:
    """The reference: the eval-mode forward on screen-normalised (B, J, 2)."""
    with eval_mode(model):
        return model(normalize_screen_coordinates(x, RES_W, RES_H))


def assert_lift_is_eval_forward(model, x: torch.Tensor, **lift_kwargs) -> torch.Tensor:
    """``lift`` equals the eval forward to 1e-5 relative (mm), the network's output to 1e-5 in
    its own units; the model's mode is kept. Returns the lifted poses."""
    was_training = model.training
    lifted = model.lift(x, res_w=RES_W, res_h=RES_H, **lift_kwargs)
    assert model.training == was_training
    expected = eval_forward(model, x)
    torch.testing.assert_close(lifted, expected, rtol=1e-5, atol=1e-5 * model.pose_scale)
    screen = normalize_screen_coordinates(x, RES_W, RES_H)
    with torch.inference_mode():
        folded = inference_copy(model.net)(screen)
    with eval_mode(model):
        torch.testing.assert_close(folded, model.net(screen), rtol=1e-5, atol=1e-5)
    return lifted


@pytest.mark.parametrize("fused_kernels", [True, False])
@pytest.mark.parametrize("conv", sorted(GRAPH_CONVS))
def test_graphsh_lift_equals_eval_forward(conv, fused_kernels):
    torch.manual_seed(0)
    model = GraphSH(conv=conv, hidden=16, num_stacks=2, fused_kernels=fused_kernels)
    assert_lift_is_eval_forward(trained_batch_norms(model).train(), pixels(300))


@pytest.mark.parametrize("fused_kernels", [True, False])
@pytest.mark.parametrize("conv", sorted(GRAPH_CONVS))
def test_seqres_lift_equals_eval_forward(conv, fused_kernels):
    torch.manual_seed(0)
    model = SeqRes(conv=conv, hidden=16, num_blocks=2, dropout=0.25, fused_kernels=fused_kernels)
    assert_lift_is_eval_forward(trained_batch_norms(model).train(), pixels(300))


def test_semgcn_with_non_local_blocks_lift_equals_eval_forward():
    torch.manual_seed(0)
    model = SeqRes(conv="semantic", hidden=16, num_blocks=2, non_local=True)
    assert_lift_is_eval_forward(trained_batch_norms(model).train(), pixels(300))


@pytest.mark.parametrize("predict_root", [True, False])
def test_linear_lifter_lift_equals_eval_forward(predict_root):
    torch.manual_seed(0)
    model = trained_batch_norms(LinearLifter(width=32, predict_root=predict_root))
    assert_lift_is_eval_forward(model.train(), pixels(300, joints=17))


def test_chunking_does_not_change_the_result_and_any_batch_shape_works():
    torch.manual_seed(0)
    model = trained_batch_norms(GraphSH(conv="semantic", hidden=16, num_stacks=1)).eval()
    x = pixels(5, 61)
    whole = model.lift(x, res_w=RES_W, res_h=RES_H, chunk_size=10_000)
    assert whole.shape == (5, 61, 16, 3)
    # 305 poses in chunks of 7 (the last one short) and of 1: equal up to float rounding
    # (1e-5 of the network's units, as ``lift`` against the forward)
    for chunk_size in (7, 1):
        torch.testing.assert_close(
            model.lift(x, res_w=RES_W, res_h=RES_H, chunk_size=chunk_size),
            whole,
            rtol=1e-5,
            atol=1e-5 * model.pose_scale,
        )
    assert model.lift(x[0, 0], res_w=RES_W, res_h=RES_H).shape == (16, 3)
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match=f"chunk_size must be an integer >= 1, got {bad}"):
            model.lift(x, res_w=RES_W, res_h=RES_H, chunk_size=bad)


def test_lift_leaves_the_model_untouched_and_returns_a_normal_tensor():
    torch.manual_seed(0)
    model = trained_batch_norms(GraphSH(conv="preagg", hidden=16, num_stacks=2)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lifted = model.lift(pixels(64), res_w=RES_W, res_h=RES_H)
    after = model.state_dict()
    assert list(after) == list(before)
    for name, value in before.items():  # weights, running statistics, batch counters
        assert torch.equal(after[name], value), name
    assert all(p.requires_grad for p in model.parameters())
    # a tensor usable outside inference mode: in place, and in autograd
    assert not lifted.is_inference()
    lifted += 1.0
    assert (lifted * torch.ones(1, requires_grad=True)).requires_grad


def test_lift_follows_the_weights_it_is_called_with():
    """The copy is built at each call: a training step in between changes ``lift``'s output,
    and ``lift`` is again the eval forward of the new weights (never a stale fold)."""
    torch.manual_seed(0)
    model = trained_batch_norms(GraphSH(conv="semantic", hidden=16, num_stacks=1)).train()
    x = pixels(32)
    first = model.lift(x, res_w=RES_W, res_h=RES_H)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = normalize_screen_coordinates(x, RES_W, RES_H)
    model.net(batch).square().mean().backward()  # also moves the BatchNorm statistics
    optimizer.step()
    second = assert_lift_is_eval_forward(model, x)
    assert not torch.allclose(first, second)


def test_inference_copy_folds_every_graph_conv_batch_norm_and_shares_the_rest():
    torch.manual_seed(0)
    model = trained_batch_norms(GraphSH(conv="semantic", hidden=16, num_stacks=2))
    with torch.inference_mode():
        copy = inference_copy(model.net)
    assert not copy.training and model.training  # the original keeps its mode
    assert not any(isinstance(m, nn.BatchNorm1d) for m in copy.modules())
    assert not any(isinstance(m, nn.Dropout) and m.training for m in copy.modules())
    # unfolded parameters (the SE block, the 1x1 output convs) are shared, not copied
    assert copy.output.weight is model.net.output.weight
    assert copy.attention.squeeze.weight is model.net.attention.squeeze.weight


def test_learnt_adjacency_is_computed_once_per_copy(monkeypatch):
    torch.manual_seed(0)
    model = GraphSH(conv="semantic", hidden=16, num_stacks=2).eval()
    convs = sum(1 for name, _ in model.net.named_modules() if name.endswith(".conv"))
    calls = []
    softmax = torch.softmax
    monkeypatch.setattr(torch, "softmax", lambda *a, **k: calls.append(1) or softmax(*a, **k))
    with torch.inference_mode():
        copy = inference_copy(model.net)
        built = len(calls)
        for _ in range(3):
            copy(torch.rand(8, 16, 2))
    # SemGConv's softmax: while building (twice a conv at most: the matrix and its split),
    # never again in a call
    assert convs <= built <= 2 * convs
    assert len(calls) == built


def test_batch_norm_affine_is_eval_batch_norm():
    norm = trained_batch_norms(nn.BatchNorm1d(6)).eval()
    x = torch.randn(10, 6)
    scale, shift = batch_norm_affine(norm)
    torch.testing.assert_close(x * scale + shift, norm(x))
    # without running statistics BatchNorm normalises by the batch: not an affine map
    assert batch_norm_affine(nn.BatchNorm1d(6, track_running_stats=False)) is None
