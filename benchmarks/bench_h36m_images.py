"""Human3.6M person crops per second: rendered, decoded from the jpg files, and served from the
cache.

On synthetic frames in the H36M-Toolbox layout (256 px wide jpg, 3 subjects x 3 actions x 2 takes
x 4 cameras x 20 frames): writing them; building the cache (unpickling the annotations, then
Pillow open + crop + resize of every frame, no DataLoader workers: the build scales with
``num_workers``); and training batches of 64 from the memory-mapped cache, at the 64 px of the
small configs and the thesis' 256 px.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from motionzoo.data.h36m_images import H36MImageDataModule
from motionzoo.data.synthetic.h36m_images import write_h36m_image_files

SET = dict(subjects=("S1", "S5", "S9"), actions=("Walking", "Eating", "Sitting"), frames=100)


def _rate(loader, epochs: int) -> float:
    images, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in loader:
            images += len(batch["image"])
    return images / (time.perf_counter() - start)


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        paths = write_h36m_image_files(Path(tmp) / "h36m", **SET)
        count = len(list(paths["images"].glob("*/*.jpg")))
        rows.append({"benchmark": "h36m images: writing the synthetic frames (256 px jpg)",
                     "value": count / (time.perf_counter() - start), "unit": "images/s",
                     "images": count})  # fmt: skip
        for size in (64, 256):
            dm = H36MImageDataModule(
                root=str(Path(tmp) / "h36m"), image_size=size, train_subjects=("S1", "S5", "S9"),
                test_subjects=(), stride=5, batch_size=64, cache_dir=str(Path(tmp) / "c"),
            )  # fmt: skip
            start = time.perf_counter()
            dm.prepare_data()
            build = time.perf_counter() - start
            dm.setup("fit")
            n = len(dm.datasets["train"])
            rows += [
                {"benchmark": f"h36m images: crops from the jpg files ({size} px, cache build)",
                 "value": n / build, "unit": "images/s", "images": n},
                {"benchmark": f"h36m images: batches from the cache ({size} px)",
                 "value": _rate(dm.train_dataloader(), 5), "unit": "images/s"},
            ]  # fmt: skip
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
