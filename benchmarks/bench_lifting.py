"""Human3.6M pose data loading vs LinearLifter training throughput (issue: foundation).

The loader must never be the bottleneck: poses/s out of the train DataLoader (batch 256, from
the processed cache, no workers) against samples/s of LinearLifter optimisation steps on the
same batches.
"""

from __future__ import annotations

import resource
import time

import torch

from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.models.linear import LinearLifter


def _loader_rate(dm: H36MPoseDataModule, epochs: int = 3) -> float:
    poses, start = 0, time.perf_counter()
    for _ in range(epochs):
        for batch in dm.train_dataloader():
            poses += len(batch["pose2d"])
    return poses / (time.perf_counter() - start)


def _training_rate(dm: H36MPoseDataModule, seconds: float = 10.0) -> float:
    model = LinearLifter(num_joints=dm.num_joints).train()
    optimizer = model.configure_optimizers()["optimizer"]
    batches = iter(dm.train_dataloader())
    batches = [next(batches) for _ in range(8)]  # training is timed on batches already loaded

    def step(batch: dict[str, torch.Tensor]) -> None:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(
            model.net(batch["pose2d"]), batch["pose3d"] / model.pose_scale
        )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for batch in batches[:3]:  # warm-up
        step(batch)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step(batches[steps % len(batches)])
        steps += 1
    return steps * len(batches[0]["pose2d"]) / (time.perf_counter() - start)


def run() -> list[dict]:
    dm = H36MPoseDataModule(root=None, batch_size=256)
    start = time.perf_counter()
    dm.prepare_data()
    dm.setup("fit")
    prepare = time.perf_counter() - start
    loading = _loader_rate(dm)
    training = _training_rate(dm)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        {
            "benchmark": "h36m pose: prepare + setup (cache hit after first run)",
            "value": prepare,
            "unit": "s",
        },
        {"benchmark": "h36m pose: train loader, batch 256", "value": loading, "unit": "poses/s"},
        {"benchmark": "LinearLifter: training, batch 256", "value": training, "unit": "samples/s"},
        {
            "benchmark": "loader / training throughput ratio",
            "value": loading / training,
            "unit": "x",
            "target": ">= 20",
        },
        {"benchmark": "process peak RSS", "value": peak_mb, "unit": "MB"},
    ]
