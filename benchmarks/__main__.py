"""Run every ``benchmarks/bench_*.py`` module's ``run()`` and print one table.

    python -m benchmarks               # all
    python -m benchmarks lifting       # only bench_lifting.py
    python -m benchmarks --help        # the modules

Each ``run()`` returns rows ``{"benchmark": str, "value": float, "unit": str}`` (extra keys are
printed as notes). Numbers are from this machine, in this process, at the stated batch sizes.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import time

import torch

import benchmarks


def modules() -> list[str]:
    """The benchmark modules, by the name the command line takes (``bench_lifting``: lifting)."""
    return sorted(
        m.name.removeprefix("bench_")
        for m in pkgutil.iter_modules(benchmarks.__path__)
        if m.name.startswith("bench_")
    )


def main(argv: list[str] | None = None) -> None:
    names = modules()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.splitlines()[0],
        epilog=f"modules: {', '.join(names)}",
    )
    parser.add_argument("selected", nargs="*", metavar="module", help="default: all of them")
    selected = parser.parse_args(argv).selected or names
    unknown = [n for n in selected if n not in names]
    if unknown:  # (argparse's choices refuse an empty list with nargs="*" on Python 3.11)
        parser.error(
            f"no benchmark module {', '.join(map(repr, unknown))}; modules: {', '.join(names)}"
        )
    print(
        f"motionzoo benchmarks  torch {torch.__version__}  threads {torch.get_num_threads()}  "
        f"cuda {torch.cuda.is_available()}"
    )
    print(f"{'benchmark':58s} {'value':>14s}  unit")
    print("-" * 90)
    for name in (n for n in names if n in selected):
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        for row in module.run():
            notes = {k: v for k, v in row.items() if k not in ("benchmark", "value", "unit")}
            note = "  " + ", ".join(f"{k}={v}" for k, v in notes.items()) if notes else ""
            print(f"{row['benchmark']:58s} {row['value']:14.1f}  {row['unit']}{note}")
        print(f"  (bench_{name}: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
