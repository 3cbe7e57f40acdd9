"""Time a motionzoo model's training step beside its reference implementation's, in one run.

    python scripts/versus.py semgcn /path/to/SemGCN [--batch 256] [--threads 2] [--rounds 30]

Both sides get the same configuration, the same batch, the same optimiser and the same loss; the
steps are interleaved (ours, reference, ours, ...) so that a disturbance of the machine hits both
alike, and each side's rate is the median over ``rounds`` steps after ``warmup`` steps. Prints
samples/s of both and the ratio ours / reference. The reference is imported from its checkout
(never from this repository) with the loaders of ``scripts/fixtures_<reference>.py``.

Pairs (``PAIRS``): ``semgcn`` (SeqRes(conv=semantic) vs SemGCN, hid 128, 4 blocks),
``semgcn_nonlocal`` (the same with the non-local blocks), ``martinez`` (LinearLifter vs
LinearModel, 1024 units, 2 stages).
"""

from __future__ import annotations

import argparse
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


def training_step(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, clip: float | None
) -> Step:
    """forward, MSE, backward, (clip), Adam step: the lifting papers' training step."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return step


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


def _count_check(ours: torch.nn.Module, reference: torch.nn.Module) -> None:
    counts = [sum(p.numel() for p in m.parameters()) for m in (ours, reference)]
    if counts[0] != counts[1]:
        raise SystemExit(f"not the same network: {counts[0]:,} vs {counts[1]:,} parameters")


PAIRS: dict[str, Pair] = {
    "semgcn": Pair("SeqRes(semantic) vs SemGCN", _semgcn(False)),
    "semgcn_nonlocal": Pair("SeqRes(semantic, non_local) vs SemGCN non-local", _semgcn(True)),
    "martinez": Pair("LinearLifter vs Martinez LinearModel", _martinez),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pair", choices=sorted(PAIRS))
    parser.add_argument("checkout", type=Path, help="a checkout of the reference repository")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours, reference = PAIRS[args.pair].build(args.checkout.resolve(), args.batch)
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
