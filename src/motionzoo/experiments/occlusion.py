"""Compare MAP with mean imputation of k occluded entries. This is Fig. 4 and 6 of the HG-VAE
paper (Bourached et al.): for each k, k of the T*J*3 entries of every test window are occluded,
filled with the train mean (mean imputation) and then imputed by the model's MAP estimate. The
table gives, for each k, the squared error of both imputations, the % change of MAP against mean
imputation (negative: MAP is better; the paper reports -77% +- 1% on BMLrub) and the mean log
posterior of the mean-filled windows.

The occluded entries are the same random set per window (seeded). Mean imputation uses the
reference's ``train_averages.csv`` protocol; MAP is the model's ``impute`` (gradient ascent on the
log posterior, 10 Adam steps, batches of 800 windows as the paper). The squared error is summed
over all entries of a window (mm^2) and averaged over windows. At k = T*J*3 every entry is
occluded: MAP is then the posterior mode reached from the train mean, the same for every window.

The train mean is the one the checkpoint carries (``model.train_mean``, from its training
DataModule) unless it has none; the test windows are the DataModule's test split every
``--eval-stride`` frames (5, the reference's ``skip_rate``).

    motionzoo experiment occlusion --checkpoint hgvae-amass-synthetic
    motionzoo experiment occlusion --checkpoint hgvae-h36m-synthetic --dataset h36m
    motionzoo experiment occlusion --checkpoint path/to/fcvae.ckpt --ks 10 100 --limit 800
"""

from __future__ import annotations

import argparse
import sys

import torch

from motionzoo.experiments import command
from motionzoo.experiments.command import CommandError, say, steps, user_errors
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


def add_motion_arguments(parser: argparse.ArgumentParser, models: str) -> None:
    """The options of the experiments on motion windows (occlusion, stochastic depth): the
    checkpoint of one of ``models``, the test windows and how they are batched."""
    parser.add_argument(
        "--checkpoint",
        required=True,
        metavar="NAME_OR_PATH",
        help=f"a pretrained name (see 'motionzoo models') or a checkpoint file of {models}",
    )
    parser.add_argument(
        "--dataset",
        choices=["amass", "h36m"],
        default="amass",
        help="test windows of AMASS (18 joints) or Human3.6M (22 joints): the model's skeleton",
    )
    parser.add_argument(
        "--root", help="folder of the real data (default: the embedded synthetic set)"
    )
    parser.add_argument(
        "--eval-stride", type=int, default=5, help="frames between the starts of test windows"
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="use the first N test windows (default: all)"
    )
    parser.add_argument("--batch-size", type=int, default=800, help="windows per batch")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads; one is fastest for small models"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_motion_arguments(parser, "HGVAE or a baseline motion VAE (FCVAE, HMVAE)")
    parser.add_argument(
        "--ks",
        type=int,
        nargs="+",
        default=list(KS),
        metavar="K",
        help="numbers of occluded entries per window (capped at T*J*3)",
    )
    parser.add_argument("--steps", type=int, default=10, help="Adam steps of MAP imputation")
    parser.add_argument(
        "--lr", type=float, default=0.3, help="Adam step of MAP imputation, in train stds"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the occluded entries")


def run(args: argparse.Namespace) -> list[dict]:
    """Print the occlusion table of ``args`` (see :func:`add_arguments`) and return its rows."""
    purpose = "occlusion needs a motion VAE with MAP imputation (HGVAE, FCVAE, HMVAE)"
    model, dm, motion, action = load_motion_experiment(args, ("impute", "log_posterior"), purpose)
    mean = train_mean(model, dm)
    say(f"imputing {len(motion)} windows ({args.steps} Adam steps) for each k")
    options = dict(steps=args.steps, lr=args.lr, batch_size=args.batch_size, seed=args.seed)
    rows = [
        occlusion_table(model, motion, mean, [k], action=action, **options)[0]
        for k in steps(args.ks, "k = {}")
    ]
    print(format_table(rows))
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    """``python -m motionzoo.experiments.occlusion``: :func:`run` on ``argv``."""
    return command.main(sys.modules[__name__], argv)


def train_mean(model, dm) -> torch.Tensor:
    """(T, J, 3) mm: the checkpoint's train mean, or the DataModule's if it carries none."""
    carried = getattr(model, "train_mean", None)
    return carried if carried is not None and carried.any() else dm.train_mean


def load_model_and_data(checkpoint: str, dataset: str, root: str | None, eval_stride: int = 5):
    """The model of a checkpoint (a pretrained name, a Lightning or a zoo weights file) in eval
    mode and its test data."""
    return load_model(checkpoint), motion_test_split(dataset, root, eval_stride)


def motion_test_split(dataset: str, root: str | None, eval_stride: int = 5):
    """The motion DataModule of ``dataset`` ("amass" or "h36m"), set up for testing."""
    if dataset == "amass":
        from motionzoo.data.amass import AMASSDataModule as DM
    else:
        from motionzoo.data.h36m_motion import H36MMotionDataModule as DM
    dm = DM(root=root, eval_stride=eval_stride)
    dm.prepare_data()
    dm.setup("test")
    return dm


def test_tensors(dm, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    batches = list(dm.test_dataloader())
    motion = torch.cat([b["motion"] for b in batches])[:limit]
    action = torch.cat([b["action"] for b in batches])[:limit]
    return motion, action


def load_motion_experiment(args: argparse.Namespace, needs: tuple[str, ...], purpose: str):
    """(model, DataModule, motion (B, T, J, 3) mm, action (B,) or None for an unconditional
    model) of the options of :func:`add_motion_arguments`, saying what it loads; a model without
    the attributes ``needs`` (``purpose`` says why) or for another skeleton is refused."""
    torch.set_num_threads(args.threads)
    model = command.load_checkpoint(args.checkpoint, *needs, purpose=purpose)
    source = args.root or "the embedded synthetic set, built on first use"
    say(
        f"reading the {args.dataset} test split ({source}), windows {args.eval_stride} frames apart"
    )
    with user_errors():
        dm = motion_test_split(args.dataset, args.root, args.eval_stride)
    motion, action = test_tensors(dm, args.limit)
    say(f"{len(motion)} test windows of {motion.shape[1]} frames x {motion.shape[2]} joints")
    expected = getattr(model, "train_mean", motion[0]).shape[:2]
    if motion.shape[1:3] != expected:
        raise CommandError(
            f"{args.checkpoint} takes windows of {expected[0]} frames x {expected[1]} joints, the "
            f"{args.dataset} test split has {motion.shape[1]} x {motion.shape[2]}: choose the "
            f"--dataset the checkpoint was trained on"
        )
    return model, dm, motion, action if model.hparams.get("num_actions") else None


if __name__ == "__main__":
    main()
