"""DSVAE training throughput (sequences/s): one step = per-frame conv encoder, both LSTM
posteriors, the teacher-forced LSTM prior (one batched call over time), the decoder, backward and
Adam. Timed through the Lightning Trainer, median over batches after two warm-up batches, on random
8-frame 64x64 sequences.

The paper's widths (178M parameters) at the paper's batch 25 on CUDA, at batch 2 on a CPU (a step
is minutes at 25); the small widths of the pretrained model (configs/dsvae/sprites_synthetic.yaml)
at batch 25.
"""

from __future__ import annotations

import statistics

import pytorch_lightning as pl
import torch

from benchmarks._timing import BatchTimes
from motionzoo.data.base import ArrayDataset, make_dataloader
from motionzoo.models.baselines.dsvae import DSVAE
from motionzoo.trainer import Trainer

SMALL = dict(f_dim=128, z_dim=16, hidden_dim=128, encoder_channels=[32, 32, 64],
             encoder_strides=[2, 2, 2], encoder_hidden=512, conv_dim=256, decoder_hidden=512,
             decoder_start_channels=32, decoder_channels=[32, 32, 16])  # fmt: skip


def _rate(model: pl.LightningModule, batch: int, batches: int, frames: int = 8) -> float:
    data = torch.rand(batch * batches, frames, 3, 64, 64) * 2 - 1
    timer = BatchTimes()
    trainer = Trainer(
        accelerator="auto", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(
        model, train_dataloaders=make_dataloader(ArrayDataset({"frames": data}), batch, False)
    )
    steps = [b - a for a, b in zip(timer.times[1:], timer.times[2:])]  # after 2 warm-up batches
    return batch / statistics.median(steps)


def run(batches: int = 5) -> list[dict]:
    cuda = torch.cuda.is_available()
    rows = []
    for label, kwargs, batch in (("paper widths", {}, 25 if cuda else 2),
                                 ("small widths (pretrained)", SMALL, 25)):  # fmt: skip
        torch.manual_seed(0)
        model = DSVAE(**kwargs)
        params = sum(p.numel() for p in model.parameters())
        rows.append({
            "benchmark": f"DSVAE {label}: training, batch {batch} x 8 frames",
            "value": _rate(model, batch, batches), "unit": "sequences/s",
            "params": f"{params / 1e6:.1f}M",
        })  # fmt: skip
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    for row in run():
        print(row)
