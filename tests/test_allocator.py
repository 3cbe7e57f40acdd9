"""The Trainer's CPU memory setting: freed large blocks are reused without new page faults
within, and handed back to the system after."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys

from motionzoo import trainer as trainer_module
from motionzoo.allocator import retained_cpu_memory

BLOCK = 128 * 2**20  # bytes: over glibc's largest mmap threshold (32 MB)
PAGES = BLOCK // resource.getpagesize()

# In a fresh interpreter, so that the heap holds nothing of other tests. Prints whether the
# setting applied; the page faults of allocating and writing a block after an equal one was
# freed, six times each, before and within (nested blocks); the RSS handed back at the end; and
# the bytes glibc maps for a 1 GB block (mallinfo2's hblkhd) before and within, and for a 4 GB
# block after. Within, glibc settles on reusing the freed block after a round or two (measured:
# 0-3 of six rounds fault, never more). After, a block the heap can hold may still come from it (where glibc
# cannot shrink a heap it extended by mmap, it keeps the pages it handed back for reuse), so
# the restored default is checked on a block larger than the heap.
SCRIPT = f"""
import ctypes, resource, torch
from motionzoo.allocator import retained_cpu_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in "abcdefghij"]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info

def mapped(gigabytes):
    block = torch.empty(gigabytes * 2**28)  # untouched: no memory used
    count = libc.mallinfo2().e
    del block
    return count

def faults():
    counts = []
    for _ in range(6):
        first = torch.ones({BLOCK // 4})
        del first
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        second = torch.ones({BLOCK // 4})
        counts.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
        del second
    return ",".join(map(str, counts))

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()

before, mapped_before = faults(), mapped(1)
with retained_cpu_memory() as retained:
    with retained_cpu_memory():
        inner = faults()
    outer, mapped_within = faults(), mapped(1)  # the inner block's end left the setting on
    held = rss()
handed_back = held - rss()
with retained_cpu_memory(enabled=False) as disabled:
    mapped_after = mapped(4)  # larger than the heap grew within
print(retained, disabled, before, inner, outer, handed_back, mapped_before, mapped_within,
      mapped_after)
"""


def test_freed_blocks_are_reused_within_and_returned_after():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    retained, disabled, *rounds, handed_back, mapped_before, mapped_within, mapped_after = (
        run.stdout.split()
    )
    before, inner, outer = ([int(n) for n in r.split(",")] for r in rounds)
    assert retained == str(platform.libc_ver()[0] == "glibc") and disabled == "False"
    assert min(before) > PAGES // 2, before  # glibc's defaults: every block is mapped anew
    assert int(mapped_before) >= 2**30 and int(mapped_after) >= 2**32  # mapped, not heap
    assert int(mapped_within) < 2**30
    # within: most rounds reuse the freed block
    assert sum(n < PAGES // 20 for n in inner) >= 3, inner
    assert sum(n < PAGES // 20 for n in outer) >= 3, outer
    assert int(handed_back) > BLOCK // 2  # the kept memory goes back on exit


def test_the_trainer_fits_inside_it_on_cpu_unless_told_not_to(
    tmp_path, tiny_lifting_data, monkeypatch
):
    from motionzoo.models.linear import LinearLifter

    calls: list[bool] = []

    def recording(enabled: bool = True):
        calls.append(enabled)
        return retained_cpu_memory(enabled)

    monkeypatch.setattr(trainer_module, "retained_cpu_memory", recording)
    for retain in (True, False):
        trainer = trainer_module.make_trainer(
            save_dir=str(tmp_path / str(retain)),
            accelerator="cpu",
            max_steps=1,
            limit_val_batches=0,
            enable_progress_bar=False,
            retain_cpu_memory=retain,
        )
        trainer.fit(LinearLifter(width=16), datamodule=tiny_lifting_data)
    assert calls == [True, False]
