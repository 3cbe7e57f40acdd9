"""Measure the test NLL, MSE and KL per stochastic depth. This is Table 1 of the HG-VAE paper
(Bourached et al.), its "turned off" levels: for k = 0..L, the k top levels of the hierarchy are
stochastic and the levels below use their means and carry no KL. The table gives, for each k, the
test negative log-likelihood (model units, see motionzoo.models.families.motion_vae), the
reconstruction MSE (mm^2 per entry) and the KL, averaged over the test windows.

    motionzoo experiment stochastic-depth --checkpoint hgvae-amass-synthetic
    motionzoo experiment stochastic-depth --checkpoint hgvae-h36m-synthetic --dataset h36m
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

import torch

from motionzoo.experiments import command
from motionzoo.experiments.command import say, steps
from motionzoo.experiments.occlusion import add_motion_arguments, load_motion_experiment
from motionzoo.nn.distributions import gaussian_log_prob
from motionzoo.nn.modes import eval_mode


def depth_table(
    model,
    motion: torch.Tensor,
    action=None,
    batch_size: int = 800,
    seed: int = 0,
    levels: Iterable[int] | None = None,
) -> list[dict]:
    """Rows {stochastic_levels, nll, mse_mm, kl} averaged over ``motion`` (B, T, J, 3) mm, with
    the model in eval mode, for each number of stochastic ``levels`` (default 0..L)."""
    rows = []
    with eval_mode(model):
        for k in range(model.num_levels + 1) if levels is None else levels:
            torch.manual_seed(seed)
            nll, mse, kl = [], [], []
            for i in range(0, len(motion), batch_size):
                x = motion[i : i + batch_size]
                a = None if action is None else action[i : i + batch_size]
                h = model.to_features(x)
                out = model.top_down_pass(model.bottom_up(h), a, sample=True, stochastic_levels=k)
                nll.append(-gaussian_log_prob(h, out["mu"], out["logvar"]).flatten(1).sum(1))
                mse.append((model.to_motion(out["mu"]) - x).square().flatten(1).mean(1))
                kl.append(torch.stack(out["kl"], 1).sum(1))
            rows.append(
                {
                    "stochastic_levels": k,
                    "nll": torch.cat(nll).mean().item(),
                    "mse_mm": torch.cat(mse).mean().item(),
                    "kl": torch.cat(kl).mean().item(),
                }
            )
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["| stochastic levels | NLL | MSE (mm^2) | KL |", "| ---: | ---: | ---: | ---: |"]
    lines += [
        f"| {r['stochastic_levels']} | {r['nll']:.1f} | {r['mse_mm']:.1f} | {r['kl']:.1f} |"
        for r in rows
    ]
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_motion_arguments(parser, "HGVAE or HMVAE (a hierarchy of latent levels)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the latent samples")


def run(args: argparse.Namespace) -> list[dict]:
    """Print the stochastic-depth table of ``args`` (see :func:`add_arguments`), return its rows."""
    purpose = "stochastic depth needs a hierarchical VAE (HGVAE, HMVAE)"
    model, _, motion, action = load_motion_experiment(
        args, ("top_down_pass", "num_levels"), purpose
    )
    say(f"encoding and decoding {len(motion)} windows for each of {model.num_levels + 1} depths")
    rows = [
        depth_table(model, motion, action, args.batch_size, args.seed, levels=[k])[0]
        for k in steps(range(model.num_levels + 1), "stochastic levels = {}")
    ]
    print(format_table(rows))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """``python -m motionzoo.experiments.stochastic_depth``: :func:`run` on ``argv``."""
    return command.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()
