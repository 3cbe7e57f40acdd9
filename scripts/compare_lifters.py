"""GraphSH(PreAggr) vs SeqRes(PreAggr) vs LinearLifter on the embedded synthetic Human3.6M set.

Every model trains on the same split (train S1 S5 S6 S7 S8, test S9 S11, 16 joints, ground-truth
2D), with the same batch size (256), number of optimiser steps and gradient clipping (norm 1),
each with its paper's optimiser (GraphSH and SeqRes: Adam 1e-4 x0.92 every 20k steps; Martinez:
Adam 1e-3 x0.96 every 100k steps) unless ``--lr`` sets one learning rate for all three; then the
test MPJPE / P-MPJPE / PCK / AUC of each are printed, and GraphSH is saved as the pretrained
``graphsh-synthetic`` with its test metrics (``--no-save`` skips that).

    python scripts/compare_lifters.py                 # the budget of the note, ~12 min on 1 core
    python scripts/compare_lifters.py --lr 1e-3 --no-save
    python scripts/compare_lifters.py --epochs 2 --no-save
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import pytorch_lightning as pl
import torch

from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.models.families.lifting import count_parameters
from motionzoo.models.graphsh import GraphSH
from motionzoo.models.linear import LinearLifter
from motionzoo.models.seqres import SeqRes
from motionzoo.pretrained import save_pretrained
from motionzoo.trainer import make_trainer

CONFIG = "configs/graphsh/h36m_synthetic.yaml"
SPLIT = dict(root=None, keypoints="gt", num_joints=16, stride=2, eval_stride=4)


def train_and_test(model: pl.LightningModule, epochs: int, seed: int, log_dir: str) -> dict:
    """Fit ``model`` for ``epochs`` on the shared split, then test it; returns its test metrics
    plus the parameter count and the training time."""
    pl.seed_everything(seed, workers=True)
    dm = H36MPoseDataModule(**SPLIT, batch_size=256, num_workers=0)
    trainer = make_trainer(
        save_dir=log_dir,
        name=type(model).__name__,
        max_epochs=epochs,
        gradient_clip_val=1.0,
        limit_val_batches=0,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    start = time.perf_counter()
    trainer.fit(model, dm)
    seconds = time.perf_counter() - start
    (metrics,) = trainer.test(model, dm, verbose=False)
    return {
        **{k: float(v) for k, v in metrics.items()},
        "params": count_parameters(model),
        "steps": trainer.global_step,
        "train_s": seconds,
    }


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=10, help="training epochs, the same for all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", type=float, default=None, help="one learning rate for all three")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument(
        "--no-save", action="store_true", help="do not write the pretrained GraphSH"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    lr = {} if args.lr is None else {"lr": args.lr}
    builders = {
        "GraphSH(PreAggr)": lambda: GraphSH(conv="preagg", **lr),
        "SeqRes(PreAggr)": lambda: SeqRes(conv="preagg", **lr),
        "LinearLifter": lambda: LinearLifter(num_joints=16, **lr),
    }
    results, models = {}, {}
    with tempfile.TemporaryDirectory() as log_dir:
        for name, build in builders.items():
            pl.seed_everything(args.seed)
            models[name] = build()
            results[name] = train_and_test(models[name], args.epochs, args.seed, log_dir)
            print(f"{name}: test MPJPE {results[name]['test/mpjpe']:.1f} mm", flush=True)

    print(
        f"\nsynthetic Human3.6M, 16 joints, GT 2D; {args.epochs} epochs = "
        f"{results['GraphSH(PreAggr)']['steps']} steps of batch 256 each; seed {args.seed}"
    )
    print(
        f"{'model':18s} {'params':>10s} {'lr':>8s} {'MPJPE':>8s} {'P-MPJPE':>8s} {'PCK':>6s} {'AUC':>6s} {'train s':>8s}"
    )
    for name, r in results.items():
        print(
            f"{name:18s} {r['params']:10,d} {models[name].hparams.lr:8.0e} {r['test/mpjpe']:8.1f} "
            f"{r['test/p_mpjpe']:8.1f} {100 * r['test/pck']:5.1f}% {100 * r['test/auc']:5.1f}% {r['train_s']:8.0f}"
        )

    if not args.no_save:
        graphsh = results["GraphSH(PreAggr)"]
        path = save_pretrained(
            models["GraphSH(PreAggr)"].cpu(),
            "graphsh-synthetic",
            config=CONFIG,
            training_data=(
                f"embedded synthetic Human3.6M ({json.dumps(SPLIT)}), train S1 S5 S6 S7 S8, "
                f"test S9 S11; {args.epochs} epochs, batch 256, Adam lr "
                f"{models['GraphSH(PreAggr)'].hparams.lr:g}, seed {args.seed}"
            ),
            metrics={k: v for k, v in graphsh.items() if k.startswith("test/")},
            description="GraphSH (Xu & Takano 2021), PreAggr graph convs, trained by scripts/compare_lifters.py",
        )
        print(f"\nsaved {path}")
    return results


if __name__ == "__main__":
    main()
