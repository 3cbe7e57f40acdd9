"""HamiltonianOperator: exp(t H_k) is symplectic (and orthogonal for skew-H), invertible by
exp(-t H_k), equal to scipy's expm block by block, and the batched roll-out equals a naive loop
over samples, subspaces and time steps."""

from __future__ import annotations

import pytest
import scipy.linalg
import torch

from motionzoo.nn.symplectic import HamiltonianOperator, symplectic_form

STEPS = list(range(-7, 8))


def operator(variant: str, k: int = 3, phase_dim: int = 24, seed: int = 0) -> HamiltonianOperator:
    torch.manual_seed(seed)
    return HamiltonianOperator(k, phase_dim, variant)


@pytest.mark.parametrize("variant", ["H", "skew"])
def test_exponentials_are_symplectic_and_inverted_by_the_backward_flow(variant):
    op = operator(variant)
    e = op.exponentials(STEPS)  # (K, S, 2d, 2d)
    assert e.shape == (3, len(STEPS), 24, 24) and e.dtype == torch.float32
    j = symplectic_form(12)
    eye = torch.eye(24).expand_as(e)
    torch.testing.assert_close(e.transpose(-1, -2) @ j @ e, j.expand_as(e), atol=1e-5, rtol=0)
    back = op.exponentials([-t for t in STEPS])
    torch.testing.assert_close(back @ e, eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(e[:, STEPS.index(0)], eye[:, 0], atol=0, rtol=0)


def test_generators_are_hamiltonian_matrices():
    """H = J M with M symmetric  <=>  J H is symmetric (and for skew-H also H^T = -H)."""
    j = symplectic_form(12)
    for variant in ("H", "skew"):
        h = operator(variant).generators().detach()
        torch.testing.assert_close(j @ h, (j @ h).transpose(-1, -2))
    skew = operator("skew").generators().detach()
    torch.testing.assert_close(skew, -skew.transpose(-1, -2))


def test_skew_variant_is_orthogonal_and_the_h_variant_is_not():
    eye = torch.eye(24)
    e = operator("skew").exponentials(STEPS)
    torch.testing.assert_close(e.transpose(-1, -2) @ e, eye.expand_as(e), atol=1e-5, rtol=0)
    general = operator("H")
    with torch.no_grad():
        general.weight.mul_(20)  # a faster flow: visibly not norm-preserving
    e = general.exponentials([3])
    assert (e.transpose(-1, -2) @ e - eye).abs().max() > 1e-2


@pytest.mark.parametrize("variant", ["H", "skew"])
def test_batched_exponential_equals_scipy_expm_per_block(variant):
    """Every block of the one batched float32 call matches scipy's float64 expm to 1e-5 of the
    block's largest entry (the H flow may grow: exp(7 H) has entries in the thousands here)."""
    op = operator(variant, k=4, phase_dim=6, seed=1)
    with torch.no_grad():
        op.weight.mul_(2)
    e = op.exponentials(STEPS).double()
    h = op.generators().detach().double().numpy()
    for k in range(4):
        for i, t in enumerate(STEPS):
            expected = torch.from_numpy(scipy.linalg.expm(t * h[k]))
            error = (e[k, i] - expected).abs().max() / expected.abs().max()
            assert error < 1e-5, (variant, k, t, float(error))


def naive_rollout(op: HamiltonianOperator, s_ref, t_ref, length):
    """The HALO loop: per sample and subspace, exp(H) applied step by step forward from t_ref and
    exp(-H) step by step backward."""
    b, k, n = s_ref.shape
    out = torch.zeros(b, length, k, n, dtype=torch.float64)
    h = op.generators().detach().double()
    forward, backward = torch.linalg.matrix_exp(h), torch.linalg.matrix_exp(-h)
    for i in range(b):
        for j in range(k):
            t0 = int(t_ref[i])
            out[i, t0, j] = s_ref[i, j].double()
            for t in range(t0 + 1, length):
                out[i, t, j] = forward[j] @ out[i, t - 1, j]
            for t in range(t0 - 1, -1, -1):
                out[i, t, j] = backward[j] @ out[i, t + 1, j]
    return out


@pytest.mark.parametrize("variant", ["H", "skew"])
def test_rollout_equals_a_naive_loop_over_samples_subspaces_and_steps(variant):
    op = operator(variant, k=3, phase_dim=8)
    with torch.no_grad():
        op.weight.mul_(3)
    g = torch.Generator().manual_seed(2)
    s_ref = torch.randn(5, 3, 8, generator=g)
    t_ref = torch.tensor([0, 3, 7, 5, 1])
    out = op.rollout(s_ref, t_ref, 8)
    assert out.shape == (5, 8, 3, 8)
    torch.testing.assert_close(
        out.double(), naive_rollout(op, s_ref, t_ref, 8), atol=1e-4, rtol=1e-4
    )
    # the reference frame is returned as it was given; a flat state gives a flat trajectory
    torch.testing.assert_close(out[torch.arange(5), t_ref], s_ref)
    flat = op.rollout(s_ref.flatten(1), t_ref, 8)
    torch.testing.assert_close(flat, out.flatten(2))
    # 16 frames from frame 0 extend the 8-frame trajectory
    zero = torch.zeros(5, dtype=torch.long)
    longer = op.rollout(s_ref, zero, 16)
    assert longer.shape == (5, 16, 3, 8)
    torch.testing.assert_close(longer[:, :8], op.rollout(s_ref, zero, 8))


def test_exponentials_stay_float32_under_autocast_and_gradients_reach_the_weights():
    op = operator("H")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = op.rollout(torch.randn(2, 3, 24).bfloat16(), torch.tensor([1, 2]), 4)
    assert out.dtype == torch.float32
    out.pow(2).sum().backward()
    assert op.weight.grad is not None and op.weight.grad.abs().sum() > 0


def test_bad_arguments_are_refused_with_the_expected_shape():
    with pytest.raises(ValueError, match="even"):
        HamiltonianOperator(3, 7)
    with pytest.raises(ValueError, match="variant"):
        HamiltonianOperator(3, 8, "symplectic")
    op = operator("H", phase_dim=8)
    with pytest.raises(ValueError, match=r"\(B, 3, 8\)"):
        op.rollout(torch.zeros(2, 2, 8), torch.zeros(2), 4)
    with pytest.raises(ValueError, match="t_ref has 3 entries for 2 samples"):
        op.rollout(torch.zeros(2, 3, 8), torch.zeros(3), 4)
