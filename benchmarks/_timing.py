"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch


class BatchTimes(pl.Callback):
    """Wall-clock time at the end of every training batch (CUDA synchronised), for samples/s
    from a Trainer run: rates come from the differences, so set-up time is not counted."""

    def __init__(self):
        self.times: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times.append(time.perf_counter())


def training_step(model, pose2d: torch.Tensor, pose3d: torch.Tensor) -> Callable[[], None]:
    """One optimiser step of a lifter on a fixed batch, as its training does: forward, MSE,
    backward, grad-norm clip 1, the model's own Adam. ``model`` is put in train mode."""
    model.train()
    optimizer = model.configure_optimizers()["optimizer"]

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model.net(pose2d), pose3d)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    return step


def peak_rss_mb(fn: Callable[[], object]) -> float:
    """MB by which the process's resident set size peaked above its size before ``fn()``:
    Linux's high-water mark ``VmHWM``, reset through ``/proc/self/clear_refs``. Memory that
    the allocator kept from earlier work and ``fn`` reuses is not counted. NaN where
    ``/proc`` is not available."""
    status = Path("/proc/self/status")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    except OSError:
        fn()
        return math.nan
    before = _status_kb(status, "VmRSS")
    fn()
    return (_status_kb(status, "VmHWM") - before) / 1024


def _status_kb(status: Path, key: str) -> int:
    return int(re.search(rf"^{key}:\s+(\d+) kB", status.read_text(), re.MULTILINE).group(1))
