"""Time a motionzoo model's step beside its reference implementation's, in one run.

    python scripts/versus.py <pair> /path/to/reference/checkout [--batch N] [--threads 2]
        [--rounds R] [--warmup W] [--only ours|reference] [--flops] [--profile ROWS]

Both sides get the same configuration, the same batch, the same optimiser and the same loss; the
steps are interleaved (ours, reference, ours, ...) so that a disturbance of the machine hits both
alike, and each side's rate is the median over ``rounds`` steps after ``warmup`` steps. Prints
samples/s of both and the ratio ours / reference. The reference is imported from its checkout
(never from this repository) with the loaders of ``scripts/fixtures_<reference>.py``; ``--batch``,
``--rounds`` and ``--warmup`` default to the pair's own (``--help`` lists them).

Pairs (``PAIRS``), one module per family, whose docstring says what each side times:

- ``scripts/versus_lifting.py``: ``semgcn``, ``semgcn_nonlocal`` and ``martinez`` against
  garyzhao/SemGCN, ``graphsh_preagg`` and ``graphsh_semantic`` against tamasino52/GraphSH
  (training steps, batch 256);
- ``scripts/versus_motion.py``: ``hgvae`` (training step, batch 64), ``hgvae_impute``,
  ``hgvae_impute_joint`` (imputation, 10 steps) and ``hgvae_posterior`` (scoring) against
  bouracha/generative_imputation (800 sequences);
- ``scripts/versus_sequence.py``: ``dsvae`` against yatindandi/Disentangled-Sequential-Autoencoder
  (batch 8) and ``halo`` against MdAsifKhan/HALO (batch 24), training steps.

``--only ours|reference`` runs one side alone: the other side's network is dropped (and its
memory handed back) before the first step, so each side runs as in a process of its own, and the
resident memory printed is the process's once that side is built and its peak over the steps
(Linux: ``VmRSS``, then ``VmHWM`` after resetting it). Run each side in its own process to compare
peak memory. (Until 2026-12-05 both networks stayed built: that made the references' steps 12-29%
slower, since every page fault of theirs then cost more, and added the other network to both
peaks.) Alone, ours steps as ``motionzoo fit`` does on CPU, keeping freed memory for the next
step (:func:`motionzoo.allocator.retained_cpu_memory`; ``--allocator glibc`` turns it off); the
reference runs on glibc's defaults, as its own scripts do. Interleaved, both sides share one
process and glibc's defaults (kept memory would hold ours' peak while the reference runs).
``--flops`` also counts the FLOPs of each side's matrix products and convolutions in one step
(forward and backward, ``torch.utils.flop_counter``; one more step after the timing), times this
machine's float32 matrix product at the same thread count, and prints the rate each side's
products reach against it and how long ours' products would take even at that rate: the floor
under a target ratio.
``--profile ROWS`` prints torch.profiler's op table (``ROWS`` rows) of one step of each side,
after one warm-up step, instead of timing.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from motionzoo.allocator import release_free_cpu_memory, retained_cpu_memory

sys.path.insert(0, str(Path(__file__).resolve().parent))
from versus_common import Pair, Step  # noqa: E402
from versus_lifting import PAIRS as LIFTING  # noqa: E402
from versus_motion import PAIRS as MOTION  # noqa: E402
from versus_sequence import PAIRS as SEQUENCE  # noqa: E402

PAIRS: dict[str, Pair] = {**LIFTING, **MOTION, **SEQUENCE}


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


def alone(step: Step, rounds: int, warmup: int) -> tuple[float, float, float]:
    """(median seconds per step, RSS in MiB before the first step, peak RSS over the steps)."""
    built = _resident_mib()
    times = []
    for i in range(warmup + rounds):
        start = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times), built, _resident_mib(peak=True)


def profile(step: Step, label: str, rows: int) -> None:
    """torch.profiler's op table of one ``step`` after a warm-up step, by self CPU time."""
    step()
    with torch.profiler.profile(record_shapes=False) as prof:
        step()
    print(f"--- {label}")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def products_flops(step: Step) -> int:
    """FLOPs of the matrix products and convolutions of one ``step``, forward and backward, as
    ``torch.utils.flop_counter`` counts them (element-wise work is not counted, nor fused RNN
    kernels such as oneDNN's LSTM layer, which the references' ``nn.LSTM`` runs on CPU while
    ours' LSTMs run as matrix products). Runs the step."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def sgemm_rate(side: int = 2048, repeats: int = 7) -> float:
    """This machine's float32 matrix-product rate at torch's thread count, FLOP/s: the best of
    ``repeats`` products of two square matrices of ``side`` after one untimed product."""
    a, b = torch.randn(side, side), torch.randn(side, side)
    out = torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * side**3 / best


def _products(label: str, flops: int, seconds: float, roof: float) -> str:
    rate = flops / seconds
    return (
        f"{label}: products {flops / 1e9:.2f} GFLOP per step, {rate / 1e9:.0f} GFLOP/s over the "
        f"step = {rate / roof:.0%} of this machine's sgemm {roof / 1e9:.0f} GFLOP/s; at that "
        f"rate the products alone would take {flops / roof:.3g} s of the step's {seconds:.3g} s"
    )


def _resident_mib(peak: bool = False) -> float:
    """The process's resident memory now, or its peak since the last reset (``VmHWM``, reset by
    :func:`_forget_the_other_side`); ``ru_maxrss`` where /proc is missing."""
    status = Path("/proc/self/status")
    if not status.exists():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    key = "VmHWM:" if peak else "VmRSS:"
    line = next(line for line in status.read_text().splitlines() if line.startswith(key))
    return int(line.split()[1]) / 1024  # kB


def _forget_the_other_side() -> None:
    """Free what nothing references any more (the other side's network and optimiser), hand the
    memory back to the system and restart the peak count from the resident memory now."""
    gc.collect()
    release_free_cpu_memory()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # Linux >= 4.0: VmHWM := VmRSS


def _rate(batch: int, seconds: float) -> str:
    rate = batch / seconds
    return f"{rate:10.1f}" if rate >= 10 else f"{rate:10.3f}"


def _parser() -> argparse.ArgumentParser:
    pairs = "\n".join(
        f"  {name:23s} {p.label}\n  {'':23s} {p.repo}; batch {p.batch}, {p.warmup} + {p.rounds}"
        for name, p in PAIRS.items()
    )
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=f"pairs (reference repository; default batch, warm-up + measured rounds):\n{pairs}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pair", choices=list(PAIRS), metavar="pair", help="one of the pairs below")
    parser.add_argument("checkout", type=Path, help="a checkout of the pair's reference repository")
    parser.add_argument("--batch", type=int, help="default: the pair's")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (issue 22: 2)")
    parser.add_argument("--rounds", type=int, help="measured steps per side; default: the pair's")
    parser.add_argument("--warmup", type=int, help="untimed steps per side; default: the pair's")
    parser.add_argument("--only", choices=("ours", "reference"), help="time one side alone")
    parser.add_argument(
        "--allocator",
        choices=("trainer", "glibc"),
        default="trainer",
        help="ours alone: keep freed memory as the Trainer does on CPU (default), or glibc's",
    )
    parser.add_argument(
        "--flops", action="store_true", help="count the products' FLOPs and rate them (above)"
    )
    parser.add_argument("--profile", type=int, metavar="ROWS", help="op tables, no timing")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.flops and args.profile:
        parser.error("--profile prints op tables instead of timing; --flops needs the timing")
    pair = PAIRS[args.pair]
    batch = pair.batch if args.batch is None else args.batch
    rounds = pair.rounds if args.rounds is None else args.rounds
    warmup = pair.warmup if args.warmup is None else args.warmup
    if rounds < 1 or warmup < 0 or batch < 1 or args.threads < 1:
        parser.error(
            f"need --batch >= 1, --rounds >= 1, --warmup >= 0, --threads >= 1; got {batch}, "
            f"{rounds}, {warmup}, {args.threads}"
        )
    checkout = args.checkout.resolve()
    if not (checkout / pair.marker).is_file():
        parser.error(
            f"{checkout}: no {pair.marker}; expected a checkout of {pair.repo} for pair "
            f"{args.pair!r} (e.g. git --git-dir=<mirror> archive HEAD | tar -x -C <folder>)"
        )
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ours, reference = pair.build(checkout, batch)
    if args.profile:
        for label, step in (("ours", ours), ("reference", reference)):
            profile(step, label, args.profile)
        return 0
    if args.only:
        retain = args.only == "ours" and args.allocator == "trainer"
        step = ours if args.only == "ours" else reference
        del ours, reference
        _forget_the_other_side()
        with retained_cpu_memory(retain) as retained:
            seconds, built, peak = alone(step, rounds, warmup)
        print(
            f"{pair.label}, {args.only} alone, batch {batch}, {args.threads} threads, "
            f"{'freed memory kept' if retained else 'glibc defaults'}: "
            f"{_rate(batch, seconds).strip()} samples/s; RSS {built:.0f} MiB built, peak "
            f"{peak:.0f} MiB over {warmup + rounds} steps"
        )
        if args.flops:  # one more step, after the timing: its memory is not in the numbers
            print("  " + _products(args.only, products_flops(step), seconds, sgemm_rate()))
        return 0
    t_ours, t_ref = interleaved(ours, reference, rounds, warmup)
    print(
        f"{pair.label}, batch {batch}, {args.threads} threads, "
        f"median of {rounds} interleaved steps after {warmup}:\n"
        f"  ours       {_rate(batch, t_ours)} samples/s\n"
        f"  reference  {_rate(batch, t_ref)} samples/s\n"
        f"  ratio      {t_ref / t_ours:10.2f}x"
    )
    if args.flops:
        flops = [products_flops(step) for step in (ours, reference)]
        roof = sgemm_rate()
        for label, count, seconds in zip(("ours", "reference"), flops, (t_ours, t_ref)):
            print("  " + _products(label, count, seconds, roof))
        print(
            f"  1.5x would need ours' step in {t_ref / 1.5:.3g} s; its products alone take "
            f"{flops[0] / roof:.3g} s at the sgemm rate"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
