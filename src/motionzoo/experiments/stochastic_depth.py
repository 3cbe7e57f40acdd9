"""Stochastic-depth study (HG-VAE paper Table 1 / "turned off" levels): for k = 0..L stochastic
top levels (the levels below use their means and carry no KL), the test negative log-likelihood
(model units, see :mod:`motionzoo.models.families.motion_vae`), reconstruction MSE (mm^2 per
entry) and KL.

    python -m motionzoo.experiments.stochastic_depth --checkpoint checkpoints/hgvae-amass-synthetic.ckpt
"""

from __future__ import annotations

import argparse

import torch

from motionzoo.experiments.occlusion import load_model_and_data, test_tensors
from motionzoo.nn.distributions import gaussian_log_prob
from motionzoo.nn.modes import eval_mode


def depth_table(
    model, motion: torch.Tensor, action=None, batch_size: int = 800, seed: int = 0
) -> list[dict]:
    """Rows {stochastic_levels, nll, mse_mm, kl} averaged over ``motion`` (B, T, J, 3) mm, with
    the model in eval mode."""
    rows = []
    with eval_mode(model):
        for k in range(model.num_levels + 1):
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


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--dataset", choices=["amass", "h36m"], default="amass")
    parser.add_argument("--root", default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, dm = load_model_and_data(args.checkpoint, args.dataset, args.root)
    motion, action = test_tensors(dm, args.limit)
    print(format_table(depth_table(model, motion, action if model.hparams.num_actions else None)))


if __name__ == "__main__":
    main()
