"""Fidelity of generated images as a person sees it, through a judge classifier trained on real
data (the published ``classifier-sprites-synthetic`` for Sprites, :mod:`motionzoo.models.classifier`).

SSIM is dominated by a flat background and calls a blob on black "0.56"; a judge that knows the
characters says whether a reconstruction still IS the character:

- :class:`JudgeAccuracy`: the judge's accuracy on reconstructions against the labels of their
  originals (mean over the judged heads, e.g. Sprites' body / bottom / top / hair);
- :class:`JudgeEntropy`: H(y|x) of the judge on prior samples, mean over heads (nats; low when
  every sample is a recognisable character, log K for noise);
- :class:`JudgeFrechetDistance`: the Fréchet distance between Gaussians fitted to the judge's
  penultimate features (its frame embedding) of real and of generated images, FID (Heusel et al.
  2017) with the Sprites judge in place of Inception, so "judge FD" and not comparable to FID:

      FD = ||m_r - m_g||^2 + tr(C_r + C_g - 2 (C_r C_g)^{1/2}).

:class:`Judge` wraps the classifier for frames given as images (N, 3, H, W): each image is a
one-frame sequence. All states are float64 sums, exact over any batching and across processes.
"""

from __future__ import annotations

import torch
from torch import nn
from torchmetrics import Metric

from motionzoo.metrics.generation import entropy


def frechet_distance(
    mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor
) -> torch.Tensor:
    """Fréchet (2-Wasserstein) distance squared between N(mean_a, cov_a) and N(mean_b, cov_b):
    means (D,), covariances (D, D) symmetric PSD; computed in float64.

    tr((C_a C_b)^{1/2}) is the sum of the square roots of the eigenvalues of the symmetric PSD
    matrix C_a^{1/2} C_b C_a^{1/2}, which has the same spectrum as C_a C_b."""
    mean_a, cov_a, mean_b, cov_b = (t.double() for t in (mean_a, cov_a, mean_b, cov_b))
    evals, evecs = torch.linalg.eigh(cov_a)
    root_a = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
    middle = root_a @ cov_b @ root_a
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    return (mean_a - mean_b).pow(2).sum() + cov_a.trace() + cov_b.trace() - 2 * cross


class JudgeFrechetDistance(Metric):
    """Fréchet distance between the judge's features of real and generated images.

    ``update(real (N, D), generated (M, D))``, either may be empty; ``compute()`` fits a
    Gaussian (mean, population covariance) to each set seen so far and returns
    :func:`frechet_distance` (float32 scalar)."""

    is_differentiable = False
    higher_is_better = False
    full_state_update = False

    def __init__(self, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        for side in ("real", "generated"):
            self.add_state(f"{side}_sum", torch.zeros(dim, dtype=torch.float64), "sum")
            self.add_state(f"{side}_outer", torch.zeros(dim, dim, dtype=torch.float64), "sum")
            self.add_state(f"{side}_count", torch.zeros((), dtype=torch.float64), "sum")

    def update(self, real: torch.Tensor, generated: torch.Tensor) -> None:
        for side, f in (("real", real), ("generated", generated)):
            if f.ndim != 2 or f.shape[1] != self.dim:
                raise ValueError(f"{side} features: expected (N, {self.dim}); got {tuple(f.shape)}")
            f = f.double()
            setattr(self, f"{side}_sum", getattr(self, f"{side}_sum") + f.sum(0))
            setattr(self, f"{side}_outer", getattr(self, f"{side}_outer") + f.T @ f)
            setattr(self, f"{side}_count", getattr(self, f"{side}_count") + len(f))

    def _gaussian(self, side: str) -> tuple[torch.Tensor, torch.Tensor]:
        n = getattr(self, f"{side}_count")
        if n < 2:
            raise ValueError(f"JudgeFrechetDistance: {int(n)} {side} feature vectors; need >= 2")
        mean = getattr(self, f"{side}_sum") / n
        return mean, getattr(self, f"{side}_outer") / n - torch.outer(mean, mean)

    def compute(self) -> torch.Tensor:
        return frechet_distance(*self._gaussian("real"), *self._gaussian("generated")).float()


class _PerHeadMean(Metric):
    """A per-sample score summed per head (``total`` (H,)) over ``count`` samples; ``compute()``
    -> the mean over samples, then over heads (float32 scalar)."""

    is_differentiable = False
    full_state_update = False

    def __init__(self, heads: list[str] | tuple[str, ...], **kwargs):
        super().__init__(**kwargs)
        self.heads = tuple(heads)
        self.add_state("total", torch.zeros(len(heads), dtype=torch.float64), "sum")
        self.add_state("count", torch.zeros((), dtype=torch.float64), "sum")

    def compute(self) -> torch.Tensor:
        return (self.total / self.count).mean().float()


class JudgeAccuracy(_PerHeadMean):
    """Mean over heads of the judge's accuracy: ``update(probs {head: (N, K)}, targets {head:
    (N,)})`` over the heads given at construction."""

    higher_is_better = True

    def update(self, probs: dict[str, torch.Tensor], targets: dict[str, torch.Tensor]) -> None:
        hits = [probs[h].argmax(-1) == targets[h].to(probs[h].device) for h in self.heads]
        self.total += torch.stack(hits).sum(-1)
        self.count += len(hits[0])


class JudgeEntropy(_PerHeadMean):
    """Mean over heads of the judge's H(y|x) in nats: ``update(probs {head: (N, K)})``."""

    higher_is_better = False

    def update(self, probs: dict[str, torch.Tensor]) -> None:
        self.total += torch.stack([entropy(probs[h].double()).sum() for h in self.heads])
        self.count += len(probs[self.heads[0]])


class Judge:
    """A frozen :class:`~motionzoo.models.classifier.SequenceClassifier` that scores images.

    Held outside the scored model's modules (its weights are not part of that model's
    checkpoint): ``judge(images (N, 3, H, W))`` -> (features (N, dim), {head: p(y|x) (N, K)}),
    in eval mode, without gradients, on the images' device. ``name`` is a pretrained name or a
    checkpoint path (:func:`motionzoo.load_model`)."""

    def __init__(self, name: str, heads: list[str] | tuple[str, ...] | None = None):
        from motionzoo.pretrained import load_model

        self.name = name
        self.classifier: nn.Module = load_model(name).eval().requires_grad_(False)
        known = list(self.classifier.heads)
        self.heads = tuple(heads) if heads is not None else tuple(known)
        unknown = [h for h in self.heads if h not in known]
        if unknown:
            raise ValueError(f"judge {name!r} has no head(s) {unknown}; its heads: {known}")
        self.dim = next(iter(self.classifier.heads.values())).in_features

    @torch.no_grad()
    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        classifier = self.classifier.to(images.device)
        features = classifier.embed(images.float()[:, None])
        probs = {h: classifier.heads[h](features).softmax(-1) for h in self.heads}
        return features, probs
