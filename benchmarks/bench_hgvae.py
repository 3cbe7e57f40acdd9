"""HG-VAE: training samples/s at batch 800, one imputation step against one training step, and
batched MAP imputation (10 Adam steps on the inputs) against imputing one sequence at a time,
with its scaling in the number of sequences.

Rows per model (``paper``: ``configs/hgvae/amass.yaml``, the reference-exact paper network,
2,602,713 parameters; ``pretrained``: the hierarchy of the shipped ``hgvae-*-synthetic``
checkpoints):

- ``train samples/s`` and ``train step`` (forward + ELBO + backward + clip 100 + Adam, batch 800),
  keeping freed memory between steps as ``motionzoo fit`` does on CPU
  (:func:`motionzoo.allocator.retained_cpu_memory`);
- ``impute step`` (one step at the same batch: forward, backward to the inputs, Adam; the issue
  asks for at most 1.5x a training step) and the ratio;
- ``impute N seq x 10 steps`` for N in ``sizes`` (one batch), with the cost per sequence and the
  scaling exponent d log t / d log N from the previous size (< 1: sub-linear);
- ``impute one-at-a-time`` per sequence (the best of ``naive`` sequences; the naive cost of N
  sequences is N times that), and the speed-up of the batched 800 over it.

Every time is the minimum over ``repeats`` runs after a warm-up run (on a shared machine the
minimum is the least disturbed). Threads: ``threads`` (None: the runner's; ``python -m
benchmarks`` keeps torch's default, the machine's cores). On an oversubscribed machine two
threads thrash (each small op waits for the other thread's time slice) and one thread gives the
steadier numbers: ``python -c "from benchmarks.bench_hgvae import main; main(threads=1)"``.
"""

from __future__ import annotations

import math
import time

import torch
import yaml

from motionzoo.allocator import retained_cpu_memory
from motionzoo.cli import packaged_config
from motionzoo.models.hgvae import HGVAE


def _paper_config() -> dict:
    """``configs/hgvae/amass.yaml``'s model options: the reference-exact paper network."""
    config = yaml.safe_load(packaged_config("hgvae/amass").read_text())
    return config["model"]["init_args"]


MODELS = {
    "paper": _paper_config(),
    "pretrained": dict(levels=[[None, 32], [24, 32], [8, 32], [1, 64]], residual_features=64),
}


def _time(fn, repeats: int = 2) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _rows(name: str, config: dict, batch: int, sizes, naive: int) -> list[dict]:
    torch.manual_seed(0)
    model = HGVAE(**config)
    x = torch.randn(batch, 50, 18, 3) * 100
    optimiser = model.configure_optimizers()

    def train_step():
        optimiser.zero_grad(set_to_none=True)
        out = model(x)
        loss = out["nll"].mean() + torch.stack(out["kl"], 1).sum(1).mean()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 100.0)
        optimiser.step()

    model.train()
    with retained_cpu_memory(x.device.type == "cpu"):  # as the Trainer's fit
        train_s = _time(train_step)
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.1
    init = torch.zeros(50, 18, 3)
    # steps=1 evaluates the objective twice and takes one step; steps=0 evaluates it once
    one = _time(lambda: model.impute(x, mask, steps=1, init=init)) - _time(
        lambda: model.impute(x, mask, steps=0, init=init)
    )
    tag = f"hgvae[{name}]"
    rows = [
        {
            "benchmark": f"{tag} train samples/s (batch {batch})",
            "value": batch / train_s,
            "unit": "samples/s",
        },
        {"benchmark": f"{tag} train step (batch {batch})", "value": train_s, "unit": "s"},
        {"benchmark": f"{tag} impute step (batch {batch})", "value": one, "unit": "s"},
        {"benchmark": f"{tag} impute step / train step", "value": one / train_s, "unit": "x"},
    ]
    batched, previous = {}, None
    for n in sizes:
        batched[n] = _time(lambda n=n: model.impute(x[:n], mask[:n], steps=10, init=init))
        row = {
            "benchmark": f"{tag} impute {n} seq x 10 steps",
            "value": batched[n],
            "unit": "s",
            "per_seq_ms": round(1000 * batched[n] / n, 2),
        }
        if previous is not None:
            row["exponent"] = round(
                math.log(batched[n] / batched[previous]) / math.log(n / previous), 3
            )
        rows.append(row)
        previous = n
    per_seq = min(
        _time(lambda i=i: model.impute(x[i : i + 1], mask[i : i + 1], steps=10, init=init))
        for i in range(naive)
    )
    rows.append(
        {"benchmark": f"{tag} impute one-at-a-time x 10 steps", "value": per_seq, "unit": "s/seq"}
    )
    largest = max(sizes)
    rows.append(
        {
            "benchmark": f"{tag} impute speed-up batched vs one-at-a-time ({largest} seq)",
            "value": per_seq * largest / batched[largest],
            "unit": "x",
        }
    )
    return rows


def run(
    batch: int = 800,
    sizes=(1, 10, 100, 800),
    naive: int = 3,
    models=("pretrained", "paper"),
    threads: int | None = None,
) -> list[dict]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        return [row for name in models for row in _rows(name, MODELS[name], batch, sizes, naive)]
    finally:
        torch.set_num_threads(previous)


def main(**kwargs) -> None:
    print(f"threads {kwargs.get('threads') or torch.get_num_threads()}")
    for row in run(**kwargs):
        notes = {k: v for k, v in row.items() if k not in ("benchmark", "value", "unit")}
        print(f"{row['benchmark']:<64} {row['value']:>12.4g} {row['unit']} {notes or ''}")


if __name__ == "__main__":
    main()
