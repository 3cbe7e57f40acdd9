"""Occlusion experiment (HG-VAE paper Fig. 4, 6): mean vs MAP imputation of k occluded entries.

For each k, k of the T*J*3 entries of every test window (the same random set per window,
seeded) are replaced by the train mean (mean imputation; the reference's
``train_averages.csv``), then imputed by the model's ``impute`` (MAP by gradient ascent on the
log posterior, 10 Adam steps, batches of 800 windows as the paper). Reported per k: the
per-window sum of squared error over all entries (mm^2, averaged over windows) for both, the %
change of MAP vs mean (negative = MAP is better; the paper reports -77% +- 1% on BMLrub), and
the mean log posterior of the mean-imputed input. At k = T*J*3 every entry is occluded: MAP is
then the posterior mode reached from the train mean, the same for every window.

The train mean is the one the checkpoint carries (``model.train_mean``, from its training
DataModule) unless it has none; the test windows are the DataModule's test split every
``--eval-stride`` frames (5, the reference's ``skip_rate``).

    python -m motionzoo.experiments.occlusion --checkpoint checkpoints/hgvae-amass-synthetic.ckpt
    python -m motionzoo.experiments.occlusion --checkpoint checkpoints/hgvae-h36m-synthetic.ckpt \
        --dataset h36m
"""

from __future__ import annotations

import argparse

import torch

from motionzoo.pretrained import load_model

KS = (1, 3, 10, 30, 100, 300, 1000, 2700)


def random_masks(shape: tuple[int, ...], k: int, seed: int = 0) -> torch.Tensor:
    """(B, *entry_shape) bool masks with exactly k True entries per sample (k capped)."""
    b, rest = shape[0], shape[1:]
    n = int(torch.tensor(rest).prod())
    g = torch.Generator().manual_seed(seed)
    order = torch.rand(b, n, generator=g).argsort(1)
    mask = torch.zeros(b, n, dtype=torch.bool)
    mask.scatter_(1, order[:, : min(k, n)], True)
    return mask.view(shape)


def occlusion_table(
    model,
    motion: torch.Tensor,
    train_mean: torch.Tensor,
    ks=KS,
    steps: int = 10,
    lr: float = 0.3,
    batch_size: int = 800,
    seed: int = 0,
    action: torch.Tensor | None = None,
) -> list[dict]:
    """Rows {k, mse_mean, mse_map, change_pct, log_posterior} over ``motion`` (B, T, J, 3) mm."""
    rows = []
    for k in ks:
        mask = random_masks(motion.shape, k, seed)
        mean_in = torch.where(mask, train_mean.expand_as(motion), motion)
        se_mean, se_map, logp = [], [], []
        for i in range(0, len(motion), batch_size):
            sl = slice(i, i + batch_size)
            a = None if action is None else action[sl]
            imputed = model.impute(
                motion[sl], mask[sl], steps=steps, lr=lr, init=train_mean, action=a
            )
            se_mean.append((mean_in[sl] - motion[sl]).square().flatten(1).sum(1))
            se_map.append((imputed - motion[sl]).square().flatten(1).sum(1))
            logp.append(model.log_posterior(mean_in[sl], a))
        m0, m1 = torch.cat(se_mean).mean().item(), torch.cat(se_map).mean().item()
        rows.append(
            {
                "k": k,
                "mse_mean": m0,
                "mse_map": m1,
                "change_pct": 100 * (m1 - m0) / m0,
                "log_posterior": torch.cat(logp).mean().item(),
            }
        )
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [
        "| k | MSE mean-imputed (mm^2) | MSE MAP (mm^2) | change % | mean log posterior |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(
            f"| {r['k']} | {r['mse_mean']:.4g} | {r['mse_map']:.4g} | "
            f"{r['change_pct']:+.1f} | {r['log_posterior']:.2f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a .ckpt of HGVAE (or a baseline)")
    parser.add_argument("--dataset", choices=["amass", "h36m"], default="amass")
    parser.add_argument("--root", default=None, help="real data root (default: synthetic)")
    parser.add_argument("--ks", type=int, nargs="*", default=list(KS))
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.3, help="Adam step, train stds")
    parser.add_argument("--limit", type=int, default=None, help="first N test windows")
    parser.add_argument("--eval-stride", type=int, default=5, help="frames between test windows")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, dm = load_model_and_data(args.checkpoint, args.dataset, args.root, args.eval_stride)
    motion, action = test_tensors(dm, args.limit)
    rows = occlusion_table(
        model,
        motion,
        train_mean(model, dm),
        args.ks,
        args.steps,
        args.lr,
        action=action if model.hparams.get("num_actions") else None,
    )
    print(format_table(rows))


def train_mean(model, dm) -> torch.Tensor:
    """(T, J, 3) mm: the checkpoint's train mean, or the DataModule's if it carries none."""
    carried = getattr(model, "train_mean", None)
    return carried if carried is not None and carried.any() else dm.train_mean


def load_model_and_data(checkpoint: str, dataset: str, root: str | None, eval_stride: int = 5):
    """The model of a checkpoint (a pretrained name, a Lightning or a zoo weights file) in eval
    mode and its test data."""
    model = load_model(checkpoint)
    if dataset == "amass":
        from motionzoo.data.amass import AMASSDataModule as DM
    else:
        from motionzoo.data.h36m_motion import H36MMotionDataModule as DM
    dm = DM(root=root, eval_stride=eval_stride)
    dm.prepare_data()
    dm.setup("test")
    return model, dm


def test_tensors(dm, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(dm.test_dataloader())
    motion = torch.cat([b["motion"] for b in batches])[:limit]
    action = torch.cat([b["action"] for b in batches])[:limit]
    return motion, action


if __name__ == "__main__":
    main()
