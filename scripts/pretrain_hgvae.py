"""Train the small pretrained HG-VAEs of the manifest on the embedded synthetic motion data.

    python scripts/pretrain_hgvae.py --dataset amass   # -> hgvae-amass-synthetic
    python scripts/pretrain_hgvae.py --dataset h36m    # -> hgvae-h36m-synthetic (conditional)

The hierarchy is a narrow version of the paper's (so the checkpoint is a few MB) and training
is a few CPU minutes: these are demonstration weights, not the paper's. After training, the
out-of-distribution threshold is fitted on the training windows, the test split is evaluated,
and the occlusion table (mean vs MAP imputation) is printed and stored in the manifest metrics.
"""

from __future__ import annotations

import argparse
import math

import pytorch_lightning as pl
import torch

from motionzoo.experiments.occlusion import KS, format_table, occlusion_table, test_tensors
from motionzoo.models.hgvae import HGVAE
from motionzoo.pretrained import save_pretrained
from motionzoo.trainer import make_trainer

SMALL = dict(
    levels=[[None, 32], [24, 32], [8, 32], [1, 64]],
    residual_features=64,
    output_logvar_min=2 * math.log(2.0 / 100.0),  # 2 mm output std floor (scale_mm = 100)
)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["amass", "h36m"], default="amass")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", action="store_true", help="write the checkpoint + manifest")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    pl.seed_everything(0)
    if args.dataset == "amass":
        from motionzoo.data.amass import AMASSDataModule

        dm = AMASSDataModule(synthetic=True, batch_size=args.batch_size)
        model = HGVAE(
            num_joints=18,
            kl_warmup_epochs=args.epochs // 2,
            fixed_variance_epochs=args.epochs // 2,
            **SMALL,
        )
        name, config = "hgvae-amass-synthetic", "configs/hgvae/amass_synthetic.yaml"
    else:
        from motionzoo.data.h36m_motion import H36MMotionDataModule

        dm = H36MMotionDataModule(synthetic=True, batch_size=args.batch_size, stride=5)
        model = HGVAE(
            num_joints=22,
            num_actions=15,
            kl_warmup_epochs=args.epochs // 2,
            fixed_variance_epochs=args.epochs // 2,
            **SMALL,
        )
        name, config = "hgvae-h36m-synthetic", "configs/hgvae/h36m_synthetic.yaml"
    minutes = int(args.minutes)
    trainer = make_trainer(
        name=name,
        max_epochs=args.epochs,
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
    test = trainer.test(model, dm, verbose=False)[0]
    motion, action = test_tensors(dm)
    rows = occlusion_table(
        model, motion, dm.train_mean, KS, action=action if model.hparams.num_actions else None
    )
    print(f"epochs trained: {trainer.current_epoch}; test: {test}; ood threshold {threshold:.2f}")
    print(format_table(rows))
    if args.save:
        metrics = {k: float(v) for k, v in test.items()}
        metrics |= {f"occlusion/change_pct_k{r['k']}": r["change_pct"] for r in rows}
        metrics |= {f"occlusion/log_posterior_k{r['k']}": r["log_posterior"] for r in rows}
        path = save_pretrained(
            model,
            name,
            config=config,
            training_data=f"embedded synthetic {args.dataset} motion ({type(dm).__name__}, "
            f"synthetic=True), {trainer.current_epoch} epochs; metrics on its test split",
            metrics=metrics,
            description="small HG-VAE (narrow hierarchy) for demonstration",
        )
        print("saved", path)


if __name__ == "__main__":
    main()
