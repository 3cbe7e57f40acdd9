"""CPU training keeps the memory it frees, as PyTorch's CUDA caching allocator does on a GPU.

glibc serves every block over 32 MB with a fresh ``mmap`` and unmaps it at ``free``, so each
large activation and gradient of each step (0.8 GB per 256-channel 64 x 64 map of a batch of 192
frames) is mapped anew and the kernel zeroes it page by page. On the HamiltonianVAE paper step
(batch 24) that is 4.5 million page faults per step; :func:`retained_cpu_memory` serves those
blocks from the heap instead and keeps freed memory in it until the block ends, when it is handed
back (``malloc_trim``). Measured in docs/benchmarks.md: page faults 17.9 M -> 3.8 M over four
steps, 0.543 -> 0.659 samples/s, peak RSS 10.3 -> 13.0 GB (the reference's 13.3 GB).

The Trainer (:class:`motionzoo.trainer.Trainer`) fits inside it on CPU unless
``retain_cpu_memory=False``, and the motion VAEs' ``impute`` runs inside it on CPU (HGVAE paper
config, 800 sequences, interleaved with the reference: 1.49x -> 2.54x its rate). Anything but
glibc on Linux, and every other device, is left alone.
"""

from __future__ import annotations

import contextlib
import ctypes
import platform
import sys
import threading
from collections.abc import Iterator

# mallopt parameters (malloc.h) and glibc's defaults
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_DEFAULT_TRIM_THRESHOLD, _DEFAULT_MMAP_MAX = 128 * 1024, 65536
_depth, _lock = 0, threading.Lock()


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


@contextlib.contextmanager
def retained_cpu_memory(enabled: bool = True) -> Iterator[bool]:
    """Within: large blocks come from the heap and freed memory stays there for reuse; on exit
    glibc's defaults return and the free memory goes back to the system. Yields whether the
    setting applies (glibc only). Re-entrant: only the outermost block restores."""
    global _depth
    libc = _glibc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(_M_MMAP_MAX, 0)
            libc.mallopt(_M_TRIM_THRESHOLD, -1)  # never trim
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(_M_MMAP_MAX, _DEFAULT_MMAP_MAX)
                libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM_THRESHOLD)
                release_free_cpu_memory()


def release_free_cpu_memory() -> bool:
    """Hand the free memory of glibc's heaps back to the system (``malloc_trim(0)``); whether it
    applies (glibc only)."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True
