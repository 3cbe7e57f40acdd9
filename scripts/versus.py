"""Time a motionzoo model's training step beside its reference implementation's, in one run.

    python scripts/versus.py semgcn /path/to/SemGCN [--batch 256] [--threads 2] [--rounds 30]

Both sides get the same configuration, the same batch, the same optimiser and the same loss; the
steps are interleaved (ours, reference, ours, ...) so that a disturbance of the machine hits both
alike, and each side's rate is the median over ``rounds`` steps after ``warmup`` steps. Prints
samples/s of both and the ratio ours / reference. The reference is imported from its checkout
(never from this repository) with the loaders of ``scripts/fixtures_<reference>.py``.

Pairs (``PAIRS``): ``semgcn`` (SeqRes(conv=semantic) vs SemGCN, hid 128, 4 blocks),
``semgcn_nonlocal`` (the same with the non-local blocks), ``martinez`` (LinearLifter vs
LinearModel, 1024 units, 2 stages), and HGVAE's paper config (configs/hgvae/amass.yaml, 2,602,713
parameters) vs bouracha/generative_imputation's HGVAE: ``hgvae`` (training step: forward, ELBO at
beta 1, backward, clip 100, Adam 1e-3; the reference as its ``train.py``: ``dct`` -> model ->
inverse ``dct`` -> ``cal_loss``), ``hgvae_impute`` (``batch`` sequences, 10% of the entries
occluded, 10 steps: our ``impute`` against its ``gradient_ascent_on_posterior``, each as its
code does it; ``hgvae_impute_posterior``: ours ascending the reference's objective, log p(z*)
over the upper levels, instead of the paper config's log p(x | z*) + log p(z*)) and ``hgvae_posterior`` (our ``log_posterior`` against its ``dct`` +
``cal_posterior``, no gradients).

``--only ours|reference`` runs one side alone and prints the process's peak resident memory
(``ru_maxrss``) after building and after the steps: run each side in its own process to compare
peak memory.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

Step = Callable[[], None]


@dataclass
class Pair:
    """``build(checkout, batch) -> (ours, reference)``: two steps on the same batch."""

    label: str
    build: Callable[[Path, int], tuple[Step, Step]]


def adam_step(model: torch.nn.Module, loss: Callable[[], torch.Tensor], clip: float | None) -> Step:
    """``loss()``, backward, (clip the gradient norm), Adam 1e-3 step, in training mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return step


def training_step(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, clip: float | None
) -> Step:
    """forward, MSE, backward, (clip), Adam step: the lifting papers' training step."""
    return adam_step(model, lambda: torch.nn.functional.mse_loss(model(inputs), targets), clip)


def _lifting_batch(batch: int, joints: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    pose2d = torch.rand(batch, joints, 2, generator=generator) * 2 - 1
    return pose2d, torch.randn(batch, joints, 3, generator=generator) * 0.2


def _semgcn(non_local: bool) -> Callable[[Path, int], tuple[Step, Step]]:
    def build(checkout: Path, batch: int) -> tuple[Step, Step]:
        import fixtures_semgcn

        from motionzoo.models.seqres import SeqRes

        sys.path.insert(0, str(checkout))
        from common.graph_utils import adj_mx_from_skeleton

        sem_gcn = fixtures_semgcn.import_sem_gcn(checkout)
        skeleton = fixtures_semgcn.semgcn_skeleton()
        groups = skeleton.joints_group() if non_local else None
        reference = sem_gcn.SemGCN(
            adj_mx_from_skeleton(skeleton), 128, num_layers=4, nodes_group=groups
        )
        ours = SeqRes(conv="semantic", hidden=128, num_blocks=4, non_local=non_local).net
        _count_check(ours, reference)
        pose2d, pose3d = _lifting_batch(batch)
        return training_step(ours, pose2d, pose3d, 1.0), training_step(
            reference, pose2d, pose3d, 1.0
        )

    return build


def _martinez(checkout: Path, batch: int) -> tuple[Step, Step]:
    from motionzoo.models.linear import LinearLifter

    sys.path.insert(0, str(checkout))
    from models.linear_model import LinearModel, init_weights

    reference = LinearModel(32, 45)
    reference.apply(init_weights)
    ours = LinearLifter(num_joints=16, predict_root=False).net
    _count_check(ours, reference)
    pose2d, pose3d = _lifting_batch(batch)
    root_zero = torch.cat([torch.zeros_like(pose3d[:, :1]), pose3d[:, 1:]], dim=1)
    return training_step(ours, pose2d, root_zero, 1.0), training_step(
        reference, pose2d.flatten(1), pose3d[:, 1:].flatten(1), 1.0
    )


def _hgvae_models(checkout: Path, train: bool):
    """(ours, reference): the paper config's HGVAE and the checkout's, both 2,602,713 parameters;
    ``train``: training mode, else eval mode."""
    import fixtures_generative_imputation as fixtures
    import yaml

    import motionzoo
    from motionzoo.models.hgvae import HGVAE

    config = Path(motionzoo.__file__).parent / "configs" / "hgvae" / "amass.yaml"
    ours = HGVAE(**yaml.safe_load(config.read_text())["model"]["init_args"])
    reference = fixtures.import_reference(checkout).HGVAE(
        input_n=[54, 50], variational=True, output_variance=True, device="cpu"
    )
    _count_check(ours, reference)
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

    return adam_step(ours, ours_loss, 100.0), adam_step(reference, reference_loss, 100.0)


def _occlusion(batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """10% of the entries occluded: (B, 50, 18, 3) bool and the reference's (B, 54, 50) float."""
    mask = torch.rand(batch, 50, 18, 3, generator=torch.Generator().manual_seed(1)) < 0.1
    return mask, mask.reshape(batch, 54, 50).float()


def _hgvae_impute(objective: str) -> Callable[[Path, int], tuple[Step, Step]]:
    def build(checkout: Path, batch: int) -> tuple[Step, Step]:
        ours, reference = _hgvae_models(checkout, train=False)
        ours.hparams.imputation_objective = objective
        return _imputations(ours, reference, batch)

    return build


def _imputations(ours, reference, batch: int) -> tuple[Step, Step]:
    motion, x = _motion(batch)
    mask, ref_mask = _occlusion(batch)
    occluded = x * (1 - ref_mask)  # occlusion_experiment.py hands it the occluded motion

    def reference_step() -> None:
        reference.gradient_ascent_on_posterior(occluded, ref_mask)  # 10 steps, hard-coded

    return lambda: ours.impute(motion, mask, steps=10), reference_step


def _hgvae_posterior(checkout: Path, batch: int) -> tuple[Step, Step]:
    ours, reference = _hgvae_models(checkout, train=False)
    utils = sys.modules["models.utils"]
    motion, x = _motion(batch)

    def reference_step() -> None:  # occlusion_experiment.py's posterior_gt
        with torch.no_grad():
            reference.cal_posterior(utils.dct(reference, x))

    return lambda: ours.log_posterior(motion), reference_step


def _count_check(ours: torch.nn.Module, reference: torch.nn.Module) -> None:
    counts = [sum(p.numel() for p in m.parameters()) for m in (ours, reference)]
    if counts[0] != counts[1]:
        raise SystemExit(f"not the same network: {counts[0]:,} vs {counts[1]:,} parameters")


PAIRS: dict[str, Pair] = {
    "semgcn": Pair("SeqRes(semantic) vs SemGCN", _semgcn(False)),
    "semgcn_nonlocal": Pair("SeqRes(semantic, non_local) vs SemGCN non-local", _semgcn(True)),
    "martinez": Pair("LinearLifter vs Martinez LinearModel", _martinez),
    "hgvae": Pair("HGVAE (paper config) vs generative_imputation, training step", _hgvae),
    "hgvae_impute": Pair(
        "HGVAE.impute vs gradient_ascent_on_posterior, 10 steps", _hgvae_impute("joint")
    ),
    "hgvae_impute_posterior": Pair(
        "HGVAE.impute (objective: posterior) vs gradient_ascent_on_posterior, 10 steps",
        _hgvae_impute("posterior"),
    ),
    "hgvae_posterior": Pair("HGVAE.log_posterior vs cal_posterior", _hgvae_posterior),
}


def interleaved(ours: Step, reference: Step, rounds: int, warmup: int) -> tuple[float, float]:
    """Median seconds per step of each, stepping them alternately."""
    times: tuple[list[float], list[float]] = ([], [])
    for i in range(warmup + rounds):
        for side, step in enumerate((ours, reference)):
            start = time.perf_counter()
            step()
            if i >= warmup:
                times[side].append(time.perf_counter() - start)
    return statistics.median(times[0]), statistics.median(times[1])


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def alone(step: Step, args: argparse.Namespace) -> int:
    """One side's median samples/s and this process's peak resident memory."""
    built = _peak_mib()
    times = []
    for i in range(args.warmup + args.rounds):
        start = time.perf_counter()
        step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    print(
        f"{PAIRS[args.pair].label}, {args.only} alone, batch {args.batch}: "
        f"{args.batch / statistics.median(times):.1f} samples/s; peak RSS {built:.0f} MiB "
        f"built, {_peak_mib():.0f} MiB after {args.warmup + args.rounds} steps"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pair", choices=sorted(PAIRS))
    parser.add_argument("checkout", type=Path, help="a checkout of the reference repository")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", choices=("ours", "reference"), help="time one side alone")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours, reference = PAIRS[args.pair].build(args.checkout.resolve(), args.batch)
    if args.only:
        return alone(ours if args.only == "ours" else reference, args)
    t_ours, t_ref = interleaved(ours, reference, args.rounds, args.warmup)
    print(
        f"{PAIRS[args.pair].label}, batch {args.batch}, {args.threads} threads, "
        f"median of {args.rounds} interleaved steps:\n"
        f"  ours       {args.batch / t_ours:10.1f} samples/s\n"
        f"  reference  {args.batch / t_ref:10.1f} samples/s\n"
        f"  ratio      {t_ref / t_ours:10.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
