"""GraphSH and SeqRes training throughput and memory at the paper's batch size (256), per graph
convolution, plus skeletal pooling as a gather + max against a loop over the joint groups.

Throughput: optimiser steps (forward, MSE, backward, grad-norm clip 1, the model's own Adam) on
one fixed batch of 16-joint poses, each model with its paper's dropout (GraphSH 0.25, SeqRes
none), timed in interleaved rounds (every model once per round, the median round reported) so
that a busy machine slows all models alike. Memory: on CUDA the
allocator's peak during a step; on CPU, where torch has no allocator statistics, the bytes of the
parameters, gradients and Adam moments plus every activation saved for backward.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from benchmarks._timing import training_step
from motionzoo.models.families.lifting import count_parameters
from motionzoo.models.graphsh import GraphSH
from motionzoo.models.seqres import SeqRes
from motionzoo.nn.hourglass import SkeletalPool, SkeletalUnpool
from motionzoo.skeleton import H36M_16

BATCH = 256
CONVS = ("vanilla", "semantic", "preagg")
LABELS = {"vanilla": "Vanilla", "semantic": "SemGConv", "preagg": "PreAggr"}


def _training_step(model, device: torch.device) -> Callable[[], None]:
    g = torch.Generator().manual_seed(0)
    pose2d = (torch.rand(BATCH, 16, 2, generator=g) * 2 - 1).to(device)
    pose3d = (torch.randn(BATCH, 16, 3, generator=g) * 0.3).to(device)
    return training_step(model.to(device), pose2d, pose3d)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_memory_mb(model, step: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        _sync(device)
        return torch.cuda.max_memory_allocated(device) / 2**20
    # CPU: parameters + gradients + two Adam moments, and the activations saved for backward.
    params = {p.data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.data_ptr() not in params:
            saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step()
    state = 4 * sum(p.numel() * p.element_size() for p in model.parameters())
    return (state + sum(saved.values())) / 2**20


def _loop_pool(x: torch.Tensor, groups) -> torch.Tensor:
    """The naive pooling: one max per coarse node (node-major x: (J, B, C))."""
    return torch.stack([x[list(g)].amax(dim=0) for g in groups])


def _loop_unpool(x: torch.Tensor, groups, num_fine: int) -> torch.Tensor:
    out = x.new_empty(num_fine, *x.shape[1:])
    for k, group in enumerate(groups):
        for j in group:
            out[j] = x[k]
    return out


def _pooling_rows(device: torch.device, repeats: int = 200) -> list[dict]:
    """16 -> 8 -> 4 -> 8 -> 16 at batch 256 x 128 channels: gather + max vs loops over groups."""
    fine, mid = H36M_16.pool_groups
    pools = [SkeletalPool(g).to(device) for g in (fine, mid)]
    plain_pools = [SkeletalPool(g, fused_kernels=False).to(device) for g in (fine, mid)]
    unpools = [SkeletalUnpool(g).to(device) for g in (fine, mid)]
    x = torch.randn(16, BATCH, 128, device=device)

    def gather() -> torch.Tensor:
        return unpools[0](unpools[1](pools[1](pools[0](x))))

    def plain_gather() -> torch.Tensor:
        return unpools[0](unpools[1](plain_pools[1](plain_pools[0](x))))

    def loops() -> torch.Tensor:
        coarse = _loop_pool(_loop_pool(x, fine), mid)
        return _loop_unpool(_loop_unpool(coarse, mid, 8), fine, 16)

    torch.testing.assert_close(gather(), loops())
    rates = {}
    for name, fn in (
        ("gather + max", gather),
        ("plain amax", plain_gather),
        ("loop over groups", loops),
    ):
        fn()
        _sync(device)
        start = time.perf_counter()
        for _ in range(repeats):
            fn()
        _sync(device)
        rates[name] = repeats * BATCH / (time.perf_counter() - start)
    rows = [
        {
            "benchmark": f"skeletal pool/unpool 16-8-4-8-16 ({name}), batch 256",
            "value": r,
            "unit": "poses/s",
        }
        for name, r in rates.items()
    ]
    rows.append(
        {
            "benchmark": "  speed-up of gather + max over loops",
            "unit": "x",
            "value": rates["gather + max"] / rates["loop over groups"],
        }
    )
    return rows


def run(rounds: int = 5, steps_per_round: int = 2) -> list[dict]:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    builders = {
        f"{cls.__name__}({LABELS[conv]})": (lambda cls=cls, conv=conv: cls(conv=conv))
        for cls in (GraphSH, SeqRes)
        for conv in CONVS
    }
    # Attribution: GraphSH's 21 dropout layers (SeqRes, as SemGCN, has none), and the fused
    # kernels of motionzoo.nn.kernels against the plain PyTorch path.
    builders["GraphSH(PreAggr), dropout 0"] = lambda: GraphSH(conv="preagg", dropout=0.0)
    builders["GraphSH(PreAggr), fused_kernels=False"] = lambda: GraphSH(fused_kernels=False)
    torch.manual_seed(0)
    models = {name: build() for name, build in builders.items()}
    steps = {name: _training_step(model, device) for name, model in models.items()}
    memory = {name: _peak_memory_mb(models[name], step, device) for name, step in steps.items()}
    for step in steps.values():  # warm-up
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            _sync(device)
            start = time.perf_counter()
            for _ in range(steps_per_round):
                step()
            _sync(device)
            times[name].append((time.perf_counter() - start) / steps_per_round)
    rate = {name: BATCH / statistics.median(t) for name, t in times.items()}

    rows = []
    for name in models:
        params = f"{count_parameters(models[name]) / 1e6:.2f}M"
        rows.append(
            {
                "benchmark": f"{name}: training, batch 256",
                "value": rate[name],
                "unit": "samples/s",
                "params": params,
            }
        )
        rows.append(
            {
                "benchmark": f"{name}: peak training memory, batch 256",
                "value": memory[name],
                "unit": "MB",
            }
        )
    rows.append(
        {
            "benchmark": "GraphSH(PreAggr) / SeqRes(PreAggr) samples/s",
            "value": rate["GraphSH(PreAggr)"] / rate["SeqRes(PreAggr)"],
            "unit": "x",
            "target": ">= 1",
        }
    )
    rows.append(
        {
            "benchmark": "  the same without GraphSH's dropout",
            "value": rate["GraphSH(PreAggr), dropout 0"] / rate["SeqRes(PreAggr)"],
            "unit": "x",
        }
    )
    rows.append(
        {
            "benchmark": "GraphSH(PreAggr) fused / plain kernels samples/s",
            "value": rate["GraphSH(PreAggr)"] / rate["GraphSH(PreAggr), fused_kernels=False"],
            "unit": "x",
        }
    )
    return rows + _pooling_rows(device)
