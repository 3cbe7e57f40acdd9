"""What a first-time build tells the user: one line on stderr naming what is written where, a
progress bar for builds that take more than a couple of seconds, and one line with the size on
disk and the time taken. Only the global-zero process speaks (one message per build, however
many processes a run has); data already in place prints nothing, because nothing is built."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from pytorch_lightning.utilities import rank_zero_only

T = TypeVar("T")
BAR_DELAY_S = 2.0  # a bar appears only once a build has run this long


def is_global_zero() -> bool:
    """True on the process of global rank 0 (Lightning's rank, set from ``RANK`` / ``LOCAL_RANK``
    / SLURM before the Trainer exists and by the Trainer after)."""
    return getattr(rank_zero_only, "rank", 0) == 0


def disk_mebibytes(*paths: str | os.PathLike) -> float:
    """Disk use (allocated blocks) of files and folders, in MiB, as ``du -sm`` counts it."""
    total = 0
    for path in map(Path, paths):
        for entry in [path, *(path.rglob("*") if path.is_dir() else ())]:
            if not entry.is_symlink():
                total += entry.stat().st_blocks * 512
    return total / 2**20


@contextmanager
def announce_build(what: str, *paths: str | os.PathLike) -> Iterator[None]:
    """Around a build of ``what`` into ``paths`` (files or folders, all present when it ends):
    ``motionzoo: writing <what> into <where> ...`` before, ``motionzoo: wrote <what>: <n> MiB
    in <s> s`` after, on stderr, on the global-zero process only. Nothing after a failed build."""
    if not is_global_zero():
        yield
        return
    where = Path(paths[0]) if len(paths) == 1 else Path(os.path.commonpath(paths))
    print(f"motionzoo: writing {what} into {where} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    size = disk_mebibytes(*(p for p in paths if Path(p).exists()))
    print(
        f"motionzoo: wrote {what}: {size:.0f} MiB in {seconds:.1f} s", file=sys.stderr, flush=True
    )


def progress(items: Iterable[T], unit: str, total: int | None = None) -> Iterable[T]:
    """``items`` with a tqdm bar on stderr counting ``unit`` (subjects, sequences, takes, files;
    the last word names the rate: "train files" -> files/s), shown only once the loop has run
    ``BAR_DELAY_S`` and removed when it ends; the plain ``items`` off the global-zero process or
    without tqdm. Wrap loops over whole files or sequences, never over frames or samples."""
    if not is_global_zero():
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(
        items, desc=unit, total=total, unit=unit.split()[-1], delay=BAR_DELAY_S, leave=False,
        file=sys.stderr, dynamic_ncols=True,
    )  # fmt: skip
