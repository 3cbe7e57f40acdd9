"""HG-VAE: training samples/s at batch 800, and batched MAP imputation (10 Adam steps on the
inputs) against imputing one sequence at a time, and its scaling with the number of sequences.

Rows: ``train samples/s`` (forward + ELBO + backward + clip 100 + Adam, batch ``batch``),
``train step s``, ``impute step s`` (one imputation step at the same batch: the issue asks for
at most 1.5x a training step), ``impute N seq s`` for N in ``sizes`` (10 steps, batched), and
``impute one-at-a-time s/seq`` measured on ``naive`` sequences (the naive cost of N sequences is
N times that; the speed-up row divides it by the batched time of ``batch`` sequences).
Model: the paper's hierarchy (AMASS-18, 3.1M parameters) unless ``small``.
"""

from __future__ import annotations

import time

import torch

from motionzoo.models.hgvae import HGVAE

SMALL = dict(levels=[[None, 32], [24, 32], [8, 32], [1, 64]], residual_features=64)


def _time(fn, repeats: int = 1) -> float:
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def run(
    batch: int = 800, sizes=(1, 10, 100, 800), naive: int = 5, small: bool = False
) -> list[dict]:
    torch.manual_seed(0)
    model = HGVAE(**(SMALL if small else {}))
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
    train_s = _time(train_step)
    rows = [
        {
            "benchmark": f"hgvae train samples/s (batch {batch})",
            "value": batch / train_s,
            "unit": "samples/s",
        },
        {"benchmark": f"hgvae train step (batch {batch})", "value": train_s, "unit": "s"},
    ]
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) < 0.1
    init = torch.zeros(50, 18, 3)
    one = _time(lambda: model.impute(x, mask, steps=1, init=init)) - _time(
        lambda: model.impute(x, mask, steps=0, init=init)
    )
    rows.append({"benchmark": f"hgvae impute step (batch {batch})", "value": one, "unit": "s"})
    rows.append(
        {"benchmark": "hgvae impute step / train step", "value": one / train_s, "unit": "x"}
    )
    batched = {}
    for n in sizes:
        batched[n] = _time(lambda n=n: model.impute(x[:n], mask[:n], steps=10, init=init))
        rows.append(
            {"benchmark": f"hgvae impute {n} seq x 10 steps", "value": batched[n], "unit": "s"}
        )
    per_seq = (
        _time(
            lambda: [
                model.impute(x[i : i + 1], mask[i : i + 1], steps=10, init=init)
                for i in range(naive)
            ]
        )
        / naive
    )
    rows.append(
        {"benchmark": "hgvae impute one-at-a-time x 10 steps", "value": per_seq, "unit": "s/seq"}
    )
    largest = max(sizes)
    rows.append(
        {
            "benchmark": f"hgvae impute speed-up batched vs one-at-a-time ({largest} seq)",
            "value": per_seq * largest / batched[largest],
            "unit": "x",
        }
    )
    return rows


if __name__ == "__main__":
    torch.set_num_threads(1)
    for row in run():
        print(f"{row['benchmark']:<60} {row['value']:>12.4g} {row['unit']}")
