"""The judge's fidelity measures: the Fréchet distance against scipy's matrix square root and
closed forms, exact accumulation over batches, accuracy and entropy by hand, and the judge
(the published Sprites classifier) on images."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from motionzoo.metrics.fidelity import (
    Judge,
    JudgeAccuracy,
    JudgeEntropy,
    JudgeFrechetDistance,
    frechet_distance,
)


def random_gaussian(dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(dim, dim))
    return rng.normal(size=dim), a @ a.T / dim + 0.1 * np.eye(dim)


def test_frechet_distance_equals_the_formula_with_scipy_sqrtm():
    (m1, c1), (m2, c2) = random_gaussian(6, 0), random_gaussian(6, 1)
    expected = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    got = frechet_distance(*(torch.from_numpy(t) for t in (m1, c1, m2, c2)))
    assert got.dtype == torch.float64
    assert math.isclose(got.item(), expected, rel_tol=1e-9)


def test_frechet_distance_closed_forms():
    mean, cov = (torch.from_numpy(t) for t in random_gaussian(5, 2))
    assert abs(frechet_distance(mean, cov, mean, cov).item()) < 1e-9
    # diagonal covariances: ||m1 - m2||^2 + sum (sqrt(a) - sqrt(b))^2
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([4.0, 1.0, 0.0])
    shift = torch.tensor([3.0, 0.0, -4.0])
    got = frechet_distance(shift, torch.diag(a), torch.zeros(3), torch.diag(b))
    assert math.isclose(got.item(), 25 + (1 + 1 + 9), rel_tol=1e-9)


def test_metric_over_batches_equals_the_distance_of_the_fitted_gaussians():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 4, generator=g, dtype=torch.float64)
    fake = torch.randn(200, 4, generator=g, dtype=torch.float64) * 1.5 + 0.3
    metric = JudgeFrechetDistance(4)
    for r, f in zip(real.split(60), fake.split(40), strict=True):
        metric.update(r, f)
    expected = frechet_distance(
        real.mean(0), torch.from_numpy(np.cov(real.numpy().T, bias=True)),
        fake.mean(0), torch.from_numpy(np.cov(fake.numpy().T, bias=True)),
    )  # fmt: skip
    assert math.isclose(metric.compute().item(), expected.item(), rel_tol=1e-5)


def test_metric_names_a_wrong_feature_width_and_too_few_samples():
    metric = JudgeFrechetDistance(4)
    with pytest.raises(ValueError, match=r"generated features: expected \(N, 4\); got \(3, 5\)"):
        metric.update(torch.zeros(3, 4), torch.zeros(3, 5))
    metric.update(torch.randn(5, 4), torch.randn(1, 4))
    with pytest.raises(ValueError, match="1 generated feature vectors; need >= 2"):
        metric.compute()


def test_accuracy_and_entropy_are_means_over_heads():
    probs = {
        "hair": torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]]),
        "top": torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]),
    }
    targets = {"hair": torch.tensor([0, 1, 1]), "top": torch.tensor([1, 0, 1])}
    accuracy = JudgeAccuracy(["hair", "top"])
    accuracy.update(probs, targets)
    # hair 2/3 right; top: argmax of [0.5, 0.5] is 0 (wrong), then right, right: 2/3
    assert math.isclose(accuracy.compute().item(), 2 / 3, rel_tol=1e-6)
    entropy = JudgeEntropy(["hair", "top"])
    entropy.update({k: v[:2] for k, v in probs.items()})
    entropy.update({k: v[2:] for k, v in probs.items()})

    def h(p):
        return -sum(q * math.log(q) for q in p if q > 0)

    hair = (h([0.9, 0.1]) + h([0.2, 0.8]) + h([0.6, 0.4])) / 3
    top = h([0.5, 0.5]) / 3
    assert math.isclose(entropy.compute().item(), (hair + top) / 2, rel_tol=1e-6)


def test_judge_scores_images_with_the_published_classifier():
    judge = Judge("classifier-sprites-synthetic", ["body", "hair"])
    assert judge.heads == ("body", "hair") and judge.dim == 128
    images = torch.rand(3, 3, 64, 64) * 2 - 1
    features, probs = judge(images)
    assert features.shape == (3, 128) and not features.requires_grad
    assert set(probs) == {"body", "hair"} and probs["body"].shape == (3, 6)
    torch.testing.assert_close(probs["hair"].sum(-1), torch.ones(3))
    # an image is a one-frame sequence: the classifier's own prediction of it
    expected = judge.classifier.predict_proba(images[:, None])["hair"]
    torch.testing.assert_close(probs["hair"], expected)
    with pytest.raises(ValueError, match=r"has no head\(s\) \['shoes'\]"):
        Judge("classifier-sprites-synthetic", ["shoes"])
