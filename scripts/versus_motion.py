"""The motion VAE's pairs of ``scripts/versus.py``: HGVAE's paper config (configs/hgvae/amass.yaml,
2,602,713 parameters) against bouracha/generative_imputation's HGVAE, on (B, 50, 18, 3) mm motion
(the reference: its loader's raw reshape, (B, 54, 50)).

- ``hgvae``: training step: forward, ELBO at beta 1, backward, clip 100, Adam 1e-3 (ours: its
  ``configure_optimizers``, as ``fit``, whose fused kernel is the same update); the reference
  as its ``train.py``: ``dct`` -> model -> inverse ``dct`` -> ``cal_loss``.
- ``hgvae_impute``: ``batch`` sequences, 10% of the entries occluded, 10 steps: our ``impute``
  against its ``gradient_ascent_on_posterior``, each as its code does it, both ascending the
  reference's objective (the paper config's ``imputation_objective: posterior``): log p(z*) over
  the upper levels.
- ``hgvae_impute_joint``: the same, ours ascending the zoo's objective log p(x | z*) + log p(z*)
  (``imputation_objective: joint``, the zoo's configs), which also differentiates the bottom
  level and the output block.
- ``hgvae_posterior``: our ``log_posterior`` against its ``dct`` + ``cal_posterior``, no
  gradients.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from versus_common import Pair, Step, adam_step, count_check, model_step, paper_model


def _hgvae_models(checkout: Path, train: bool):
    """(ours, reference): the paper config's HGVAE and the checkout's, both 2,602,713 parameters;
    ``train``: training mode, else eval mode."""
    import fixtures_generative_imputation as fixtures

    from motionzoo.models.hgvae import HGVAE

    ours = paper_model(HGVAE, "hgvae/amass.yaml")
    reference = fixtures.import_reference(checkout).HGVAE(
        input_n=[54, 50], variational=True, output_variance=True, device="cpu"
    )
    count_check(ours, reference)
    reference.beta = 1.0  # train.initialise's attributes that its methods read
    reference.clipping_value = 100.0
    reference.optimizer = torch.optim.Adam(reference.parameters(), lr=1e-3)
    return ours.train(train), reference.train(train)


def _motion(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """motion (B, 50, 18, 3) mm for ours and its loader's raw reshape (B, 54, 50), the
    reference's input."""
    motion = 10 * torch.randn(batch, 50, 18, 3, generator=torch.Generator().manual_seed(0))
    return motion, motion.reshape(batch, 54, 50)


def _hgvae(checkout: Path, batch: int) -> tuple[Step, Step]:
    ours, reference = _hgvae_models(checkout, train=True)
    utils = sys.modules["models.utils"]
    motion, x = _motion(batch)

    def ours_loss() -> torch.Tensor:  # _common_step's, at beta 1
        out = ours(motion)
        return out["nll"].mean() + torch.stack(out["kl"], 1).sum(1).mean()

    def reference_loss() -> torch.Tensor:  # train.train_motion_epoch's
        mu, logvar, _, kls = reference(utils.dct(reference, x))
        x_hat = utils.dct(reference, mu, inverse=True)
        flat = (t.reshape(batch, -1) for t in (x, x_hat, logvar))
        return reference.cal_loss(*flat, kls)

    # ours: the paper config's optimiser (Adam 1e-3, fused on CPU), the reference: its Adam 1e-3
    return model_step(ours, ours_loss, 100.0), adam_step(reference, reference_loss, 100.0)


def _hgvae_impute(objective: str | None) -> Callable[[Path, int], tuple[Step, Step]]:
    def build(checkout: Path, batch: int) -> tuple[Step, Step]:
        ours, reference = _hgvae_models(checkout, train=False)
        if objective is not None:
            ours.hparams.imputation_objective = objective
        motion, x = _motion(batch)
        # 10% of the entries occluded: (B, 50, 18, 3) bool and the reference's (B, 54, 50) float
        mask = torch.rand(motion.shape, generator=torch.Generator().manual_seed(1)) < 0.1
        ref_mask = mask.reshape(batch, 54, 50).float()
        occluded = x * (1 - ref_mask)  # occlusion_experiment.py hands it the occluded motion

        def reference_step() -> None:
            reference.gradient_ascent_on_posterior(occluded, ref_mask)  # 10 steps, hard-coded

        return lambda: ours.impute(motion, mask, steps=10), reference_step

    return build


def _hgvae_posterior(checkout: Path, batch: int) -> tuple[Step, Step]:
    ours, reference = _hgvae_models(checkout, train=False)
    utils = sys.modules["models.utils"]
    motion, x = _motion(batch)

    def reference_step() -> None:  # occlusion_experiment.py's posterior_gt
        with torch.no_grad():
            reference.cal_posterior(utils.dct(reference, x))

    return lambda: ours.log_posterior(motion), reference_step


def _pair(label: str, build, batch: int, rounds: int = 30, warmup: int = 5) -> Pair:
    return Pair(
        label, "bouracha/generative_imputation", "models/HGVAE.py", build, batch, rounds, warmup
    )


# defaults: the batches (training 64; imputation and scoring 800 sequences, where one
# imputation takes tens of seconds: fewer rounds)
PAIRS: dict[str, Pair] = {
    "hgvae": _pair("HGVAE (paper config) vs generative_imputation, training step", _hgvae, 64),
    "hgvae_impute": _pair(
        "HGVAE.impute (paper config) vs gradient_ascent_on_posterior, 10 steps",
        _hgvae_impute(None),
        800,
        5,
        1,
    ),
    "hgvae_impute_joint": _pair(
        "HGVAE.impute (objective: joint) vs gradient_ascent_on_posterior, 10 steps",
        _hgvae_impute("joint"),
        800,
        5,
        1,
    ),
    "hgvae_posterior": _pair("HGVAE.log_posterior vs cal_posterior", _hgvae_posterior, 800, 10, 2),
}
