"""Train the small pretrained HG-VAEs of the manifest on the embedded synthetic motion data.

    python scripts/pretrain_hgvae.py --dataset amass --save   # -> hgvae-amass-synthetic
    python scripts/pretrain_hgvae.py --dataset h36m --save    # -> hgvae-h36m-synthetic (conditional)

The hierarchy is a narrow version of the paper's four stochastic levels (so a checkpoint is
~1.5 MB) and training is ~10 CPU minutes at one thread (40 epochs on AMASS, 30 on H3.6M, of
~70-90 steps): demonstration weights, not the paper's. Recipe (HG-VAE paper / reference where it can be, changes stated):

- Adam lr 1e-3, gradient clip 100, KL weight warmed linearly 0.001 -> 1 (over 70% of the epochs
  instead of the paper's 200 of 500), batch 32 (the paper: 800 windows of a far larger set);
- training windows every frame (stride 1; the test split keeps the reference's 5);
- learned output variance (``--output_variance``), floored at 10 mm, with the variance fixed to
  one model unit (100 mm) for the first half of the epochs: with a learned variance from the
  start a short run fits the variances of the near-static coordinates and leaves the moving
  joints at the mean.

Afterwards the out-of-distribution threshold is fitted on the training windows, the test split
is evaluated and the occlusion table (mean vs MAP imputation, ``motionzoo.experiments.
occlusion``) is printed and stored with the test metrics in the manifest. ``--check`` evaluates
the shipped checkpoint the same way and prints its manifest metrics beside the reproduced ones:
the occlusion table is deterministic and reproduces to rounding; the test ELBO terms below z0 use
one posterior sample per window (the RNG state after training, for the manifest) and agree to
about 2%.

    python scripts/pretrain_hgvae.py --dataset h36m --check
"""

from __future__ import annotations

import argparse
import math

import pytorch_lightning as pl
import torch

from motionzoo.data.amass import AMASSDataModule
from motionzoo.data.h36m_motion import H36MMotionDataModule
from motionzoo.experiments.occlusion import (
    KS,
    format_table,
    occlusion_table,
    test_tensors,
    train_mean,
)
from motionzoo.models.hgvae import HGVAE
from motionzoo.pretrained import load_pretrained, pretrained_info, save_pretrained
from motionzoo.trainer import make_trainer

SMALL = dict(
    levels=[[None, 32], [24, 32], [8, 32], [1, 64]],
    residual_features=64,
    scale_mm=100.0,
    output_logvar_min=2 * math.log(10.0 / 100.0),  # output std >= 10 mm
)
DATASETS = {
    # name: (checkpoint, config, DataModule, model arguments, epochs)
    "amass": (
        "hgvae-amass-synthetic",
        "configs/hgvae/amass_synthetic_pretrained.yaml",
        AMASSDataModule,
        dict(num_joints=18),
        40,
    ),
    "h36m": (
        "hgvae-h36m-synthetic",
        "configs/hgvae/h36m_synthetic_pretrained.yaml",
        H36MMotionDataModule,
        dict(num_joints=22, num_actions=15),
        30,
    ),
}


def evaluate(model: HGVAE, dm, trainer: pl.Trainer) -> dict[str, float]:
    """The manifest's metrics of ``model``: the test split's and the occlusion table's."""
    test = trainer.test(model, dm, verbose=False)[0]
    motion, action = test_tensors(dm)
    action = action if model.hparams.num_actions else None
    rows = occlusion_table(model, motion, train_mean(model, dm), KS, action=action)
    print(f"test: {test}")
    print(format_table(rows))
    metrics = {k: float(v) for k, v in test.items()}
    metrics |= {f"occlusion/change_pct_k{r['k']}": r["change_pct"] for r in rows}
    metrics |= {f"occlusion/log_posterior_k{r['k']}": r["log_posterior"] for r in rows}
    return metrics


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="amass")
    parser.add_argument("--epochs", type=int, default=None, help="default: 40 AMASS, 30 H3.6M")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock cap")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", action="store_true", help="write the checkpoint + manifest")
    parser.add_argument(
        "--check", action="store_true", help="reproduce the shipped checkpoint's metrics"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pl.seed_everything(0)
    name, config, datamodule, model_args, epochs = DATASETS[args.dataset]
    epochs = args.epochs or epochs
    dm = datamodule(batch_size=args.batch_size, stride=1, eval_stride=5)
    if args.check:
        trainer = make_trainer(
            logger=False,
            callbacks=[],
            enable_checkpointing=False,
            enable_progress_bar=False,
            precision="32-true",
        )
        metrics = evaluate(load_pretrained(name), dm, trainer)
        for key, expected in pretrained_info(name)["metrics"].items():
            print(f"{key:<32} manifest {expected:14.6f}  now {metrics[key]:14.6f}")
        return
    model = HGVAE(
        **model_args,
        **SMALL,
        kl_warmup_epochs=round(0.7 * epochs),
        fixed_variance_epochs=epochs // 2,
    )
    minutes = int(args.minutes)
    trainer = make_trainer(
        name=name,
        max_epochs=epochs,
        gradient_clip_val=100.0,
        enable_progress_bar=False,
        max_time=f"00:00:{minutes:02d}:{int(60 * (args.minutes - minutes)):02d}",
        callbacks=[],
        enable_checkpointing=False,
        precision="32-true",
    )
    trainer.fit(model, dm)
    model.eval()
    threshold = model.fit_ood_threshold(dm.train_dataloader())
    print(f"epochs trained: {trainer.current_epoch}; ood threshold {threshold:.2f}")
    metrics = evaluate(model, dm, trainer)
    if args.save:
        path = save_pretrained(
            model,
            name,
            config=config,
            training_data=f"embedded synthetic {args.dataset} motion ({type(dm).__name__}, "
            f"root=None, train stride 1, test stride 5), {trainer.current_epoch} epochs of "
            f"batch {args.batch_size} (scripts/pretrain_hgvae.py); metrics on its test split",
            metrics=metrics,
            description="small HG-VAE (narrow 4-level hierarchy) for demonstration",
        )
        print("saved", path)


if __name__ == "__main__":
    main()
