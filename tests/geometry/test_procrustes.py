"""Similarity Procrustes: recovers known transforms, never reflects, batches, survives
degenerate input."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.geometry import procrustes_align


def recovered_rotation(pred: np.ndarray, aligned: np.ndarray) -> np.ndarray:
    """The rotation R with (aligned - mean) = s (pred - mean) R, by least squares."""
    x, y = pred - pred.mean(0), aligned - aligned.mean(0)
    m, *_ = np.linalg.lstsq(x, y, rcond=None)
    return m / np.cbrt(abs(np.linalg.det(m)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_recovers_known_similarity(dtype):
    rng = np.random.default_rng(0)
    pred = rng.normal(scale=300.0, size=(8, 17, 3))
    rotation = Rotation.random(8, random_state=1).as_matrix()
    scale = rng.uniform(0.5, 2.0, size=(8, 1, 1))
    shift = rng.normal(scale=1000.0, size=(8, 1, 3))
    target = scale * np.einsum("bkj,bji->bki", pred, rotation) + shift
    aligned = procrustes_align(torch.from_numpy(pred).to(dtype), torch.from_numpy(target).to(dtype))
    assert aligned.dtype == dtype and aligned.shape == pred.shape
    # Relative to the ~1000 mm coordinates: 1e-5 in float64, float32 resolution otherwise.
    tol = 1e-5 if dtype == torch.float64 else 2e-3
    np.testing.assert_allclose(aligned.double().numpy(), target, atol=tol)


def test_without_scale_keeps_size():
    rng = np.random.default_rng(2)
    pred = rng.normal(size=(17, 3))
    rotation = Rotation.random(random_state=3).as_matrix()
    target = 2.0 * pred @ rotation + 5.0
    aligned = procrustes_align(torch.from_numpy(pred), torch.from_numpy(target), scale=False)
    centred = aligned.numpy() - aligned.numpy().mean(0)
    np.testing.assert_allclose(np.linalg.norm(centred), np.linalg.norm(pred - pred.mean(0)))
    np.testing.assert_allclose(aligned.numpy().mean(0), target.mean(0), atol=1e-12)
    np.testing.assert_allclose(centred, (pred - pred.mean(0)) @ rotation, atol=1e-12)


def test_reflection_is_not_used():
    rng = np.random.default_rng(4)
    pred = rng.normal(size=(17, 3))
    target = pred * np.array([1.0, 1.0, -1.0])  # a mirror image: no rotation reaches it exactly
    aligned = procrustes_align(torch.from_numpy(pred), torch.from_numpy(target)).numpy()
    rotation = recovered_rotation(pred, aligned)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    # The mirror would have been a perfect fit; the proper rotation cannot be.
    assert np.abs(aligned - target).max() > 0.1


def test_batched_leading_dims_match_one_by_one():
    g = torch.Generator().manual_seed(5)
    pred = torch.randn(2, 3, 16, 3, generator=g, dtype=torch.float64)
    target = torch.randn(2, 3, 16, 3, generator=g, dtype=torch.float64)
    aligned = procrustes_align(pred, target)
    assert aligned.shape == (2, 3, 16, 3)
    for i in range(2):
        for j in range(3):
            torch.testing.assert_close(aligned[i, j], procrustes_align(pred[i, j], target[i, j]))


def test_alignment_is_optimal_against_perturbations():
    g = torch.Generator().manual_seed(6)
    pred = torch.randn(17, 3, generator=g, dtype=torch.float64)
    target = torch.randn(17, 3, generator=g, dtype=torch.float64)
    aligned = procrustes_align(pred, target)
    best = (aligned - target).square().sum()
    for k in range(20):
        rotation = torch.from_numpy(
            Rotation.from_rotvec(0.05 * np.random.default_rng(k).normal(size=3)).as_matrix()
        )
        centre = aligned.mean(0)
        moved = ((aligned - centre) @ rotation) * (1.0 + 0.02 * (k % 3 - 1)) + centre
        assert (moved - target).square().sum() >= best - 1e-9


def test_degenerate_inputs_give_no_nan():
    target = torch.randn(17, 3, generator=torch.Generator().manual_seed(7))
    point = torch.ones(17, 3)
    aligned = procrustes_align(point, target)
    assert torch.isfinite(aligned).all()
    torch.testing.assert_close(aligned, target.mean(0).expand(17, 3))
    aligned = procrustes_align(target, point)
    torch.testing.assert_close(aligned, point)
    assert torch.isfinite(procrustes_align(torch.zeros(2, 17, 3), torch.zeros(2, 17, 3))).all()


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="same shape"):
        procrustes_align(torch.zeros(17, 3), torch.zeros(16, 3))
