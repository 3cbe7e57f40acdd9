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
# setting applied, then the page faults of allocating and writing a block after an equal one
# was freed, six times each: before, within (nested blocks), after; and the RSS handed back.
# Within, glibc settles on reusing the freed block after a round or two (measured: 0-3 of six
# rounds fault, never more).
SCRIPT = f"""
import resource, torch
from motionzoo.allocator import retained_cpu_memory

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

before = faults()
with retained_cpu_memory() as retained:
    with retained_cpu_memory():
        inner = faults()
    outer = faults()  # the inner block's end left the setting on
    held = rss()
handed_back = held - rss()
with retained_cpu_memory(enabled=False) as disabled:
    after = faults()
print(retained, disabled, before, inner, outer, after, handed_back)
"""


def test_freed_blocks_are_reused_within_and_returned_after():
    run = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    retained, disabled, *rounds, handed_back = run.stdout.split()
    before, inner, outer, after = ([int(n) for n in r.split(",")] for r in rounds)
    assert retained == str(platform.libc_ver()[0] == "glibc") and disabled == "False"
    # glibc's defaults: every block is mapped anew
    assert min(before + after) > PAGES // 2, (before, after)
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
