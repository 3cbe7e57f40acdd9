"""Run every ``benchmarks/bench_*.py`` module's ``run()`` and print one table.

    python -m benchmarks               # all
    python -m benchmarks lifting       # only bench_lifting.py

Each ``run()`` returns rows ``{"benchmark": str, "value": float, "unit": str}`` (extra keys are
printed as notes). Numbers are from this machine, in this process, at the stated batch sizes.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import torch

import benchmarks


def main(selected: list[str]) -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if selected:
        names = [n for n in names if n.removeprefix("bench_") in selected]
    print(
        f"motionzoo benchmarks  torch {torch.__version__}  threads {torch.get_num_threads()}  "
        f"cuda {torch.cuda.is_available()}"
    )
    print(f"{'benchmark':58s} {'value':>14s}  unit")
    print("-" * 90)
    for name in names:
        start = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        for row in module.run():
            notes = {k: v for k, v in row.items() if k not in ("benchmark", "value", "unit")}
            note = "  " + ", ".join(f"{k}={v}" for k, v in notes.items()) if notes else ""
            print(f"{row['benchmark']:58s} {row['value']:14.1f}  {row['unit']}{note}")
        print(f"  ({name}: {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
