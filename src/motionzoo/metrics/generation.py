"""Scores of generated sequences from a pretrained classifier's probabilities (DSVAE, S3VAE).

A classifier trained on real data (:class:`motionzoo.models.classifier.SequenceClassifier`) gives
``p(y|x)`` for every generated sequence x; the papers report, per label (action, an attribute,
identity):

- accuracy: how often ``argmax p(y|x)`` is the label the generator was asked for;
- ``H(y|x) = mean_x [ -sum_y p(y|x) log p(y|x) ]``: low when each sample is recognisable;
- ``H(y) = -sum_y p(y) log p(y)`` with ``p(y) = mean_x p(y|x)``: high (up to log K) when the
  samples cover every class;
- inception score ``exp(mean_x KL(p(y|x) || p(y)))``, which equals ``exp(H(y) - H(y|x))``.

Entropies in nats (natural log), with ``0 log 0 = 0``. Inputs are probabilities (B, K) that sum
to one over K; pass ``logits.softmax(-1)``.
"""

from __future__ import annotations

import torch
from torchmetrics import Metric


def _check_probs(probs: torch.Tensor) -> torch.Tensor:
    if probs.ndim != 2:
        raise ValueError(f"expected probabilities (B, K); got shape {tuple(probs.shape)}")
    probs = probs.double()
    if (probs < 0).any() or not torch.allclose(probs.sum(-1), torch.ones_like(probs[:, 0])):
        raise ValueError("probabilities must be >= 0 and sum to 1 over the last axis (softmax?)")
    return probs


def entropy(probs: torch.Tensor) -> torch.Tensor:
    """Entropy in nats over the last axis, with 0 log 0 = 0."""
    return -torch.special.xlogy(probs, probs).sum(-1)


def conditional_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(y|x): the mean over samples of the entropy of p(y|x); probs (B, K) -> scalar."""
    return entropy(_check_probs(probs)).mean()


def marginal_entropy(probs: torch.Tensor) -> torch.Tensor:
    """H(y): the entropy of the mean prediction p(y) = mean_x p(y|x); probs (B, K) -> scalar."""
    return entropy(_check_probs(probs).mean(0))


def inception_score(probs: torch.Tensor) -> torch.Tensor:
    """exp(mean_x KL(p(y|x) || p(y))) = exp(H(y) - H(y|x)); probs (B, K) -> scalar."""
    return torch.exp(marginal_entropy(probs) - conditional_entropy(probs))


class GenerationScores(Metric):
    """Accuracy, H(y|x), H(y) and the inception score of one label over all batches seen.

    ``update(probs (B, K), target (B,) or None)``; ``compute()`` returns a dict with keys
    ``accuracy`` (NaN if no target was given), ``entropy_y_given_x``, ``entropy_y`` and
    ``inception_score``. The states are sums, so the scores are exact over any batching and
    across DDP processes.
    """

    is_differentiable = False
    higher_is_better = None
    full_state_update = False

    def __init__(self, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        f64 = torch.float64
        self.add_state("prob_sum", torch.zeros(num_classes, dtype=f64), dist_reduce_fx="sum")
        self.add_state("entropy_sum", torch.zeros((), dtype=f64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros((), dtype=f64), dist_reduce_fx="sum")
        self.add_state("correct", torch.zeros((), dtype=f64), dist_reduce_fx="sum")
        self.add_state("labelled", torch.zeros((), dtype=f64), dist_reduce_fx="sum")

    def update(self, probs: torch.Tensor, target: torch.Tensor | None = None) -> None:
        probs = _check_probs(probs)
        if probs.shape[1] != self.num_classes:
            raise ValueError(f"expected {self.num_classes} classes; got {probs.shape[1]}")
        self.prob_sum += probs.sum(0)
        self.entropy_sum += entropy(probs).sum()
        self.count += probs.shape[0]
        if target is not None:
            self.correct += (probs.argmax(-1) == target.to(probs.device)).sum()
            self.labelled += target.numel()

    def compute(self) -> dict[str, torch.Tensor]:
        h_y_x = self.entropy_sum / self.count
        h_y = entropy(self.prob_sum / self.count)
        return {
            "accuracy": (self.correct / self.labelled).float(),
            "entropy_y_given_x": h_y_x.float(),
            "entropy_y": h_y.float(),
            "inception_score": torch.exp(h_y - h_y_x).float(),
        }
