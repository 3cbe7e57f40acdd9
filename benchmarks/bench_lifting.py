"""Human3.6M pose data loading vs LinearLifter training throughput (issue: foundation), and
inference vs training speed of every lifter (issue 22).

The loader must never be the bottleneck: poses/s out of the train DataLoader (batch 256, from
the processed cache, no workers) against samples/s of LinearLifter optimisation steps on the
same batches.

Inference must run at inference speed: for GraphSH (each paper graph conv), SeqRes and
LinearLifter on 16 joints, CPU, 2 threads, in one process: training samples/s (batch 256,
forward, MSE, backward, grad-norm clip, Adam step) against ``lift`` poses/s on 100,000 poses
(one call), the ratio lift / training (target >= 5), and each one's peak memory as the rise of
the process's resident set size above its size before (``_timing.peak_rss_mb``). For
GraphSH(PreAggr), the former ``lift`` too: the eval-mode forward on all 100,000 poses at once
under ``no_grad``.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable

import torch

from benchmarks._timing import peak_rss_mb, training_step
from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.geometry.camera import normalize_screen_coordinates
from motionzoo.models.families.lifting import LiftingModule
from motionzoo.models.graphsh import GraphSH
from motionzoo.models.linear import LinearLifter
from motionzoo.models.seqres import SeqRes
from motionzoo.nn.modes import eval_mode

LIFT_POSES, THREADS, BATCH = 100_000, 2, 256
LIFTERS: dict[str, Callable[[], LiftingModule]] = {
    "GraphSH(Vanilla)": lambda: GraphSH(conv="vanilla"),
    "GraphSH(SemGConv)": lambda: GraphSH(conv="semantic"),
    "GraphSH(PreAggr)": lambda: GraphSH(conv="preagg"),
    "SeqRes(PreAggr)": lambda: SeqRes(conv="preagg"),
    "LinearLifter": lambda: LinearLifter(num_joints=16),
}


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


def _timed(fn: Callable[[], object]) -> Callable[[], float]:
    """``fn`` as a function returning its wall-clock seconds."""

    def timed() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return timed


def _lift_vs_training(name: str, model: LiftingModule, seconds: float = 3.0) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    pose2d = torch.rand(BATCH, 16, 2, generator=g) * 2 - 1
    pose3d = torch.randn(BATCH, 16, 3, generator=g) * 0.3
    pixels = torch.rand(LIFT_POSES, 16, 2, generator=g) * 1000
    step = training_step(model, pose2d, pose3d)
    step()  # warm-up
    steps, train_mb, train_s = 1, *_peak(_timed(step))
    while train_s < seconds:
        train_s += _timed(step)()
        steps += 1
    model.lift(pixels[:BATCH], res_w=1000, res_h=1000)  # warm-up
    lift_mb, lift_s = _peak(_timed(lambda: model.lift(pixels, res_w=1000, res_h=1000)))
    training, lifting = steps * BATCH / train_s, LIFT_POSES / lift_s
    rows = [
        {"benchmark": f"{name}: training, batch 256", "value": training, "unit": "samples/s"},
        {"benchmark": f"{name}: lift, 100,000 poses", "value": lifting, "unit": "poses/s"},
        {
            "benchmark": f"{name}: lift / training",
            "value": lifting / training,
            "unit": "x",
            "target": ">= 5",
        },
        {"benchmark": f"{name}: peak RSS rise, training step", "value": train_mb, "unit": "MB"},
        {"benchmark": f"{name}: peak RSS rise, lift", "value": lift_mb, "unit": "MB"},
    ]
    if name == "GraphSH(PreAggr)":
        x = normalize_screen_coordinates(pixels, 1000, 1000)

        def former_lift() -> None:
            with eval_mode(model):
                model(x)

        former_mb, former_s = _peak(_timed(former_lift))
        rows += [
            {
                "benchmark": f"{name}: eval forward in one batch (former lift)",
                "value": LIFT_POSES / former_s,
                "unit": "poses/s",
                "peak_rss_rise_mb": round(former_mb),
            },
            {"benchmark": "  lift speed-up over it", "value": former_s / lift_s, "unit": "x"},
        ]
    return rows


def _peak(timed: Callable[[], float]) -> tuple[float, float]:
    """(peak RSS rise in MB, seconds) of one call of ``timed``."""
    seconds = []
    return peak_rss_mb(lambda: seconds.append(timed())), seconds[0]


def lift_rows() -> list[dict]:
    """Training vs lift throughput and memory of every lifter (module docstring), on CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        rows = []
        for name, build in LIFTERS.items():
            torch.manual_seed(0)
            rows += _lift_vs_training(name, build())
        return rows
    finally:
        torch.set_num_threads(threads)


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
        *lift_rows(),
    ]
