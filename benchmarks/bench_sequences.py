"""Image-sequence loading: 8-frame 64x64 clips per second from disk and from the cache.

MUG: clips decoded from the jpg files (Pillow: open, crop, resize; one take per item) against
clips gathered from the preprocessed ``.npz`` (one gather per batch), on the procedural faces
(128 px jpg, as the real layout). Sprites: reading the DSVAE ``.npy`` files into the DataModule
(float -> bytes) and serving batches from memory. Batch 32, no DataLoader workers (the numbers
scale with ``num_workers`` for the disk path).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from motionzoo.data.mug import MUGDataModule
from motionzoo.data.sprites import SpritesDataModule, read_sprites


def _rate(loader, epochs: int = 1) -> float:
    sequences, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            sequences += len(batch["frames"])
    return sequences / (time.perf_counter() - start)


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        common = dict(
            root=str(Path(tmp) / "mug"), synthetic_into_root=True, synthetic_subjects=4,
            synthetic_takes=2, synthetic_frames=32, split_by="take", val_fraction=0.0, test_fraction=0.0,
            batch_size=32, cache_dir=str(Path(tmp) / "cache"),
        )  # fmt: skip
        disk = MUGDataModule(cache=False, **common)
        disk.prepare_data()
        disk.setup()
        cached = MUGDataModule(cache=True, **common)
        start = time.perf_counter()
        cached.prepare_data()
        build = time.perf_counter() - start
        cached.setup()
        n = len(disk.datasets["train"])
        rows += [
            {"benchmark": "mug: clips from jpg files (Pillow crop+resize)", "value": _rate(disk.train_dataloader()), "unit": "sequences/s", "takes": n},
            {"benchmark": "mug: clips from the npz cache", "value": _rate(cached.train_dataloader(), 20), "unit": "sequences/s", "takes": n},
            {"benchmark": "mug: building the cache", "value": n / build, "unit": "takes/s"},
        ]  # fmt: skip

        sprites = SpritesDataModule(
            root=str(Path(tmp) / "sprites"),
            synthetic_into_root=True,
            synthetic_characters=12,
            batch_size=32,
        )
        sprites.prepare_data()
        start = time.perf_counter()
        count = len(read_sprites(sprites.data_dir, "train")["frames"])
        read = count / (time.perf_counter() - start)
        sprites.setup("fit")
        rows += [
            {"benchmark": "sprites: reading the .npy files", "value": read, "unit": "sequences/s"},
            {"benchmark": "sprites: batches from memory", "value": _rate(sprites.train_dataloader(), 20), "unit": "sequences/s"},
        ]  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
