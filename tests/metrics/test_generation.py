"""Generation scores (S3VAE / DSVAE): accuracy, H(y|x), H(y), inception score."""

import math

import pytest
import torch

from motionzoo.metrics.generation import (
    GenerationScores,
    conditional_entropy,
    inception_score,
    marginal_entropy,
)

# two samples: one certain of class 0, one undecided between 0 and 1
PROBS = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
H_Y_GIVEN_X = (0.0 + math.log(2)) / 2  # mean of the per-sample entropies
H_Y = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))  # entropy of p(y) = (0.75, 0.25)


def test_hand_computed_case():
    assert conditional_entropy(PROBS).item() == pytest.approx(H_Y_GIVEN_X, abs=1e-12)
    assert marginal_entropy(PROBS).item() == pytest.approx(H_Y, abs=1e-12)
    assert inception_score(PROBS).item() == pytest.approx(math.exp(H_Y - H_Y_GIVEN_X), abs=1e-12)
    scores = GenerationScores(2)
    scores.update(PROBS, torch.tensor([0, 1]))  # the undecided sample's argmax is 0: wrong
    out = scores.compute()
    assert out["accuracy"].item() == pytest.approx(0.5)
    assert out["entropy_y_given_x"].item() == pytest.approx(H_Y_GIVEN_X, abs=1e-6)
    assert out["entropy_y"].item() == pytest.approx(H_Y, abs=1e-6)


def test_inception_score_is_exp_mean_kl():
    probs = torch.randn(50, 7, generator=torch.Generator().manual_seed(0)).softmax(-1).double()
    marginal = probs.mean(0)
    kl = (probs * (probs.log() - marginal.log())).sum(-1).mean()
    assert inception_score(probs).item() == pytest.approx(kl.exp().item(), rel=1e-10)


def test_extremes():
    confident = torch.eye(4)  # every class once, each with certainty
    assert conditional_entropy(confident).item() == pytest.approx(0.0)
    assert marginal_entropy(confident).item() == pytest.approx(math.log(4))
    assert inception_score(confident).item() == pytest.approx(4.0)
    uniform = torch.full((3, 4), 0.25)
    assert inception_score(uniform).item() == pytest.approx(1.0)


def test_metric_is_independent_of_batching():
    probs = torch.randn(30, 5, generator=torch.Generator().manual_seed(1)).softmax(-1)
    target = torch.randint(0, 5, (30,), generator=torch.Generator().manual_seed(2))
    whole, parts = GenerationScores(5), GenerationScores(5)
    whole.update(probs, target)
    for chunk in range(0, 30, 7):
        parts.update(probs[chunk : chunk + 7], target[chunk : chunk + 7])
    for key, value in whole.compute().items():
        torch.testing.assert_close(parts.compute()[key], value)
    assert whole.compute()["entropy_y"].item() == pytest.approx(
        marginal_entropy(probs).item(), abs=1e-6
    )
    unlabelled = GenerationScores(5)
    unlabelled.update(probs)
    assert torch.isnan(unlabelled.compute()["accuracy"])


def test_rejects_logits():
    with pytest.raises(ValueError, match="sum to 1"):
        conditional_entropy(torch.randn(4, 3))
    with pytest.raises(ValueError, match="expected 3 classes"):
        GenerationScores(3).update(torch.full((2, 4), 0.25))
