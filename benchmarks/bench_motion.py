"""Motion data (issue: motion datasets): windows/s out of the train DataLoader from the cache,
and cache build time per hour of source motion, for Human3.6M exp-map files and AMASS npz.

Both sets are the embedded synthetic ones, written fresh into a temporary cache folder so the
build is timed from the files (reading, frame subsampling, forward kinematics, windows, train
statistics); their writing is reported separately. The batched loader (one ``index_select`` per
batch) is compared with a naive one that collates window by window (``__getitem__``), as a
DataLoader does for datasets without ``__getitems__``.
"""

from __future__ import annotations

import tempfile
import time

import torch
from torch.utils.data import DataLoader, Dataset

from motionzoo.data.amass import AMASSDataModule
from motionzoo.data.h36m_motion import H36MMotionDataModule
from motionzoo.data.motion_base import MotionDataModule


class _PerWindow(Dataset):
    """The same windows without ``__getitems__``: the DataLoader fetches and collates them one
    by one."""

    def __init__(self, windows: Dataset):
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.windows[index]


def _windows_per_second(loader, seconds: float = 0.4, trials: int = 3) -> float:
    """Best of ``trials`` runs of at least ``seconds`` each (the machine is shared)."""
    best = 0.0
    for _ in range(trials):
        windows, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            for batch in loader:
                windows += len(batch["motion"])
        best = max(best, windows / (time.perf_counter() - start))
    return best


def _bench(name: str, dm: MotionDataModule) -> list[dict]:
    start = time.perf_counter()
    dm.ensure_data_dir()
    written = time.perf_counter() - start
    start = time.perf_counter()
    dm.prepare_data()
    build = time.perf_counter() - start
    dm.setup("fit")
    hours = sum(dm.source_seconds.values()) / 3600
    train = dm.datasets["train"]
    batched = _windows_per_second(dm.train_dataloader())
    naive = DataLoader(_PerWindow(train), batch_size=dm.hparams.batch_size, shuffle=True)
    per_window = _windows_per_second(naive)
    batch = dm.hparams.batch_size
    return [
        {"benchmark": f"{name}: synthetic files written", "value": written, "unit": "s"},
        {
            "benchmark": f"{name}: cache build per hour of motion",
            "value": build / hours,
            "unit": "s/h",
            "motion": f"{hours * 60:.1f} min",
        },
        {
            "benchmark": f"{name}: train loader from cache, batch {batch}",
            "value": batched,
            "unit": "windows/s",
            "windows": len(train),
        },
        {
            "benchmark": f"{name}: naive per-window collate, batch {batch}",
            "value": per_window,
            "unit": "windows/s",
        },
    ]


def run() -> list[dict]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory() as cache:
            rows = _bench("h36m motion", H36MMotionDataModule(cache_dir=cache, batch_size=256))
            rows += _bench("amass", AMASSDataModule(cache_dir=cache, batch_size=256))
    finally:
        torch.set_num_threads(threads)
    return rows
