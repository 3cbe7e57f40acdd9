"""HamiltonianVAE: training throughput and the operator roll-out, batched against loops.

Training: samples (sequences of 8 frames, 64x64) per second through the Lightning Trainer at the
reference's batch 24, median over batches after two warm-up batches, random frames. The narrow
networks of ``configs/hamiltonian_vae/sprites_synthetic.yaml`` (the pretrained models' sizes) on
any device; the paper's widths (256 channels, FC 4096, h 2048, z 256) only on CUDA, where they are
meant to run (one of their steps takes minutes on a CPU core).

Roll-out: the trajectories of B = 24 sequences in all K subspaces over T steps, forward and
backward from a reference frame (t_ref = 3, as the reference's ``generate``), forward pass plus
gradient (as in training). Batched: :meth:`~motionzoo.nn.symplectic.HamiltonianOperator.rollout`,
one ``matrix_exp`` over K x (2T - 1) matrices, one gather, one einsum. Loop baselines over
subspaces and steps: (a) one ``matrix_exp((t - t_ref) H_k)`` per subspace and step, (b) HALO's
recursion: ``exp(+-H_k)`` once per subspace, then one matrix-vector product per step.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import torch
import yaml

from benchmarks._timing import BatchTimes
from motionzoo.data.base import ArrayDataset, make_dataloader
from motionzoo.models.hamiltonian_vae import HamiltonianVAE
from motionzoo.nn.symplectic import HamiltonianOperator
from motionzoo.trainer import Trainer

CONFIG = Path(__file__).resolve().parents[1] / "configs/hamiltonian_vae/sprites_synthetic.yaml"


def _training_rate(model: HamiltonianVAE, batch: int, batches: int) -> float:
    n = batch * batches
    data = ArrayDataset(
        {"frames": torch.rand(n, 8, 3, 64, 64) * 2 - 1, "action3": torch.randint(0, 3, (n,))}
    )
    timer = BatchTimes()
    trainer = Trainer(
        accelerator="auto", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[timer],
    )  # fmt: skip
    trainer.fit(model, train_dataloaders=make_dataloader(data, batch, shuffle=False))
    steps = [b - a for a, b in zip(timer.times[1:], timer.times[2:])]  # after 2 warm-up batches
    return batch / statistics.median(steps)


def loop_exp_per_step(
    op: HamiltonianOperator, s_ref: torch.Tensor, t_ref: torch.Tensor, length: int
):
    """(a) the same trajectories by a loop over subspaces and steps: for each (k, t) the
    exponentials exp((t - t_ref_b) H_k) of the B samples, then their states."""
    h = op.generators()
    per_k = []
    for k in range(op.num_subspaces):
        states = []
        for t in range(length):
            e = torch.linalg.matrix_exp((t - t_ref).float()[:, None, None] * h[k])  # (B, 2d, 2d)
            states.append(torch.einsum("bij,bj->bi", e, s_ref[:, k]))
        per_k.append(torch.stack(states, 1))
    return torch.stack(per_k, 2)  # (B, T, K, 2d)


def loop_recursion(op: HamiltonianOperator, s_ref: torch.Tensor, t_ref: int, length: int):
    """(b) HALO's ``hamiltonianForm`` per subspace, one reference frame for the whole batch:
    exp(H_k) and exp(-H_k), then one matrix-vector product per step."""
    h = op.generators()
    per_k = []
    for k in range(op.num_subspaces):
        forward, backward = torch.linalg.matrix_exp(h[k]), torch.linalg.matrix_exp(-h[k])
        states = [s_ref[:, k]]
        for _ in range(t_ref + 1, length):
            states.append(states[-1] @ forward.T)
        for _ in range(t_ref):
            states.insert(0, states[0] @ backward.T)
        per_k.append(torch.stack(states, 1))
    return torch.stack(per_k, 2)


def _time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def rollout_rows(k: int, d: int, length: int, batch: int = 24, repeats: int = 20) -> list[dict]:
    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    op = HamiltonianOperator(k, 2 * d).to(device)
    s_ref = torch.randn(batch, k, 2 * d, device=device)
    t_random = torch.randint(0, length, (batch,), device=device)  # per sample, as in training
    t_shared = torch.full((batch,), 3, device=device)  # one per batch, as HALO

    def timed(fn) -> float:
        def step():
            op.zero_grad()
            fn().pow(2).sum().backward()  # forward and gradient, as in training

        return _time(step, repeats)

    cases = {
        "random t_ref": (
            lambda: op.rollout(s_ref, t_random, length),
            lambda: loop_exp_per_step(op, s_ref, t_random, length),
            "loop over subspaces and steps, matrix_exp per step",
        ),
        "shared t_ref": (
            lambda: op.rollout(s_ref, t_shared, length),
            lambda: loop_recursion(op, s_ref, 3, length),
            "loop over subspaces and steps, HALO recursion",
        ),
    }
    rows = []
    label = f"roll-out K={k} 2d={2 * d} T={length} B={batch}"
    for case, (batched, loop, loop_name) in cases.items():
        torch.testing.assert_close(loop(), batched(), atol=1e-4, rtol=1e-4)  # same trajectories
        t_batched, t_loop = timed(batched), timed(loop)
        rows += [
            {"benchmark": f"{label}, {case}: batched, one matrix_exp", "unit": "ms",
             "value": 1e3 * t_batched},
            {"benchmark": f"{label}, {case}: {loop_name}", "unit": "ms", "value": 1e3 * t_loop,
             "speed-up of batched": f"{t_loop / t_batched:.1f}x"},
        ]  # fmt: skip
    return rows


def run(batches: int = 6) -> list[dict]:
    rows = []
    small = yaml.safe_load(CONFIG.read_text())["model"]["init_args"]
    sizes = [("synthetic config widths", small)]
    if torch.cuda.is_available():
        sizes.append(("paper widths", {"pretrain_epochs": 0}))
    for label, kwargs in sizes:
        torch.manual_seed(0)
        model = HamiltonianVAE(**{**kwargs, "pretrain_epochs": 0})
        params = sum(p.numel() for p in model.parameters())
        rows.append({
            "benchmark": f"HamiltonianVAE {label}: training, batch 24", "unit": "samples/s",
            "value": _training_rate(model, 24, batches), "params": f"{params / 1e6:.2f}M",
        })  # fmt: skip
    for k, d, length in ((3, 12, 8), (3, 12, 16), (6, 12, 16)):  # Sprites, 16 frames, MUG
        rows += rollout_rows(k, d, length)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
