"""Timing helpers shared by the benchmarks."""

from __future__ import annotations

import time

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
