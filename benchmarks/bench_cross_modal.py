"""CrossModalVAE training throughput per (encoder, decoder) pair: a model with that one pair,
trained through the Lightning Trainer (manual optimisation: encode, decode, loss, backward, one
Adam step), median over batches after two warm-up batches, on random data of the cross-modal
batch contract.

Widths and batch as ``configs/cross_modal_vae/h36m_synthetic.yaml`` (the pretrained model: 64 px,
ResNet-18 width 8, batch 32); on CUDA also the thesis setting of ``h36m.yaml`` (256 px,
torchvision widths, latent 100, 512-unit pose MLPs).
"""

from __future__ import annotations

import statistics

import torch

from benchmarks._timing import BatchTimes
from motionzoo.data.base import ArrayDataset, make_dataloader
from motionzoo.models.cross_modal_vae import CrossModalVAE
from motionzoo.trainer import Trainer

PAIRS = ("2d->3d", "3d->3d", "rgb->3d", "rgb->rgb", "3d->rgb")
SYNTHETIC = dict(
    latent_dim=100, image_size=64, backbone_width=8, image_decoder_channels=[32, 16, 16, 8, 8],
    pose_hidden=256,
)  # fmt: skip
THESIS = dict(latent_dim=100, image_size=256)


def _data(n: int, size: int) -> ArrayDataset:
    pose3d = torch.randn(n, 17, 3) * 200
    return ArrayDataset({
        "image": torch.rand(n, 3, size, size) * 2 - 1, "pose2d": torch.randn(n, 17, 2) * 0.3,
        "pose3d": pose3d - pose3d[:, :1], "action": torch.arange(n) % 15,
    })  # fmt: skip


def _rate(model: CrossModalVAE, batch: int, batches: int) -> float:
    model.set_statistics(torch.zeros(17, 3), torch.full((17, 3), 200.0),
                         torch.zeros(17, 2), torch.full((17, 2), 0.3))  # fmt: skip
    timer = BatchTimes()
    trainer = Trainer(
        accelerator="auto", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )  # fmt: skip
    data = _data(batch * batches, model.hparams.image_size)
    trainer.fit(model, train_dataloaders=make_dataloader(data, batch, False))
    steps = [b - a for a, b in zip(timer.times[1:], timer.times[2:])]  # after 2 warm-up batches
    return batch / statistics.median(steps)


def run(batches: int = 6) -> list[dict]:
    settings = [("synthetic config", SYNTHETIC, 32)]
    if torch.cuda.is_available():
        settings.append(("thesis 256 px", THESIS, 64))
    rows = []
    for label, widths, batch in settings:
        for pair in PAIRS:
            torch.manual_seed(0)
            model = CrossModalVAE(pairs=[pair], **widths)
            params = sum(p.numel() for p in model.parameters())
            rows.append({
                "benchmark": f"CrossModalVAE {pair} ({label}): training, batch {batch}",
                "value": _rate(model, batch, batches), "unit": "samples/s",
                "params": f"{params / 1e6:.2f}M",
            })  # fmt: skip
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    for row in run():
        print(row)
