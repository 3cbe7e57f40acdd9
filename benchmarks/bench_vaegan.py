"""VAEGAN training throughput: one step = one forward of encoder, decoder (twice: x~ and x_p)
and discriminator (on [x, x~, x_p]), three backward passes restricted to each network's
parameters and three RMSProp steps; the plain ConvVAE (same encoder / decoder, one optimiser) is
the baseline in the same process. Timed through the Lightning Trainer (manual optimisation
included), median over batches after two warm-up batches, on random 64x64 images.

Paper widths at the paper's batch 64 on CUDA; on a CPU the paper widths run at batch 8 (a step
is tens of seconds at 64) and the quarter widths of the pretrained model at batch 64.
"""

from __future__ import annotations

import statistics

import pytorch_lightning as pl
import torch

from benchmarks._timing import BatchTimes
from motionzoo.data.base import ArrayDataset, make_dataloader
from motionzoo.models.conv_vae import ConvVAE
from motionzoo.models.vaegan import VAEGAN
from motionzoo.trainer import Trainer


def _widths(scale: float) -> tuple[dict, dict]:
    def s(c: int) -> int:
        return max(4, round(c * scale))

    shared = dict(
        z_dim=128 if scale == 1 else 64, encoder_channels=[s(64), s(128), s(256)],
        encoder_hidden=s(2048) if scale == 1 else s(1024),
        decoder_channels=[s(256), s(128), s(32)], decoder_start_channels=s(256),
    )  # fmt: skip
    disc = dict(discriminator_channels=[s(128), s(256), s(256)], discriminator_stem=s(32),
                discriminator_hidden=s(512))  # fmt: skip
    return shared, disc


def _rate(model: pl.LightningModule, batch: int, batches: int) -> float:
    images = torch.rand(batch * batches, 3, 64, 64) * 2 - 1
    timer = BatchTimes()
    trainer = Trainer(
        accelerator="auto", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(
        model, train_dataloaders=make_dataloader(ArrayDataset({"image": images}), batch, False)
    )
    steps = [b - a for a, b in zip(timer.times[1:], timer.times[2:])]  # after 2 warm-up batches
    return batch / statistics.median(steps)


def run(batches: int = 6) -> list[dict]:
    cuda = torch.cuda.is_available()
    rows = []
    for label, scale, batch in (("paper widths", 1.0, 64 if cuda else 8),
                                ("0.25x widths (pretrained)", 0.25, 64)):  # fmt: skip
        shared, disc = _widths(scale)
        torch.manual_seed(0)
        for name, model in (("VAEGAN", VAEGAN(**shared, **disc)), ("ConvVAE", ConvVAE(**shared))):
            params = sum(p.numel() for p in model.parameters())
            rows.append({
                "benchmark": f"{name} {label}: training, batch {batch}",
                "value": _rate(model, batch, batches), "unit": "samples/s",
                "params": f"{params / 1e6:.2f}M",
                "optimisers": 3 if name == "VAEGAN" else 1,
            })  # fmt: skip
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    for row in run():
        print(row)
