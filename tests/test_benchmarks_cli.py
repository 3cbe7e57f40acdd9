"""``python -m benchmarks`` (``make bench``): its command line, without running a benchmark."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(p.stem.removeprefix("bench_") for p in (ROOT / "benchmarks").glob("bench_*.py"))


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_help_lists_every_benchmark_module():
    out = bench("--help")
    assert out.returncode == 0, out.stderr
    listed = " ".join(out.stdout.split("modules:", 1)[1].split()).split(", ")
    assert listed == MODULES
    assert "lifting" in MODULES and "hgvae" in MODULES


def test_a_misspelt_module_is_refused_by_name_before_anything_runs():
    """A typo used to print an empty table and exit 0."""
    out = bench("lifting", "lifitng")
    assert out.returncode == 2
    assert "no benchmark module 'lifitng'" in out.stderr
    assert "lifting" in out.stderr.split("modules:", 1)[1]
    assert "benchmark" not in out.stdout  # no table header: nothing ran
    assert "Traceback" not in out.stderr
