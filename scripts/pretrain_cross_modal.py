"""Train the pretrained ``cross-modal-vae-h36m-synthetic`` checkpoint and record it in the manifest.

    .venv/bin/python scripts/pretrain_cross_modal.py [--epochs 12] [--minutes 28] [--threads 1]

Trains CrossModalVAE with configs/cross_modal_vae/h36m_synthetic.yaml (64 px synthetic renders,
pairs 2d->3d, rgb->3d, rgb->rgb, 3d->rgb) for ``--epochs`` or at most ``--minutes`` of
training (the Trainer's ``max_time``, so a busy CPU trains fewer epochs), keeps the checkpoint with the best val/mpjpe_rgb (validated twice per epoch), and
measures with its float16-stored weights on the test subjects (S9, S11): MPJPE / P-MPJPE of
rgb->3d and 2d->3d, the latent cross-modal ratio (:mod:`motionzoo.experiments.cross_modal`:
distance between z(image) and z(2D pose) of the same frame over that to other frames) and the
render measure of rgb->rgb and 3d->rgb (:mod:`motionzoo.metrics.render`: silhouette IoU and
colour error inside the subject against the test crop). Writes
checkpoints/cross-modal-vae-h36m-synthetic.ckpt (float16) and its manifest entry.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from motionzoo import load_model
from motionzoo.cli import build_cli
from motionzoo.experiments.cross_modal import latent_ratio, render_measure
from motionzoo.models.cross_modal_vae import CrossModalVAE
from motionzoo.pretrained import save_pretrained

CONFIG = "configs/cross_modal_vae/h36m_synthetic.yaml"
NAME = "cross-modal-vae-h36m-synthetic"


def warm_start(model: CrossModalVAE, source: str) -> list[str]:
    """Copy the tensors of the model ``source`` (a pretrained name or a file) whose names and
    shapes match ``model``'s; returns their names."""
    state = load_model(source).state_dict()
    own = model.state_dict()
    same = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict({**own, **same})
    return sorted(same)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--minutes", type=float, default=28.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--init",
        metavar="NAME_OR_PATH",
        help="start from these weights where names and shapes match (e.g. the previous "
        f"{NAME}); other tensors keep the config's initialisation",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    log_dir = tempfile.mkdtemp(prefix="pretrain_cross_modal_")
    cli = build_cli(
        ["--config", CONFIG, "--trainer.max_epochs", str(args.epochs),
         "--trainer.logger.init_args.save_dir", log_dir, "--trainer.default_root_dir", log_dir,
         "--trainer.enable_progress_bar", "false", "--trainer.val_check_interval", "0.5",
         "--trainer.max_time", f"00:00:{int(args.minutes):02d}:{round(args.minutes % 1 * 60):02d}"],
        run=False,
    )  # fmt: skip
    if args.init:
        initial = warm_start(cli.model, args.init)
        print(f"started {len(initial)} tensors from {args.init}")
    start = time.time()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    minutes = (time.time() - start) / 60
    # epochs trained (a fraction when max_time stopped it): one optimiser step per pair and batch
    pairs = len(cli.model.hparams.pairs)
    epochs = cli.trainer.global_step / (pairs * cli.trainer.num_training_batches)
    best = cli.trainer.checkpoint_callback.best_model_path
    model = CrossModalVAE.load_from_checkpoint(best, map_location="cpu")
    model = model.half().float()  # exactly what loading the float16 file gives
    results = cli.trainer.test(model, datamodule=cli.datamodule, verbose=False)[0]
    metrics = {k: v for k, v in results.items() if k.startswith("test/") and "mpjpe" in k}
    ratio = latent_ratio(model, cli.datamodule.test_dataloader())
    metrics.update({f"test/latent_{k}": v for k, v in ratio.items()})
    renders = render_measure(model, cli.datamodule.test_dataloader())
    metrics.update({f"test/{k}": v for k, v in renders.items()})
    data = cli.datamodule.hparams
    warm = f"started from {args.init} where shapes match, " if args.init else ""
    path = save_pretrained(
        model, NAME, config=CONFIG,
        training_data=(
            f"synthetic Human3.6M renders (H36MImageDataModule root null, {data.image_size} px, "
            f"stride {data.stride}, eval_stride {data.eval_stride}), train S1 S5 S6 "
            f"S7 S8, test S9 S11; {warm}{epochs:.1f} epochs, batch {data.batch_size} ({minutes:.0f} min on {args.threads} CPU "
            f"thread(s)), best by val/mpjpe_rgb"
        ),
        metrics=metrics,
        description=(
            f"CrossModalVAE (KTH thesis / Spurr et al.) pairs {list(model.hparams.pairs)}, "
            f"ResNet-18 width {model.hparams.backbone_width}, latent {model.hparams.latent_dim}; "
            "test/latent_ratio = mean |z_rgb - z_2d| same frame / other frames; test/render_* = "
            "silhouette IoU / colour error (0-255) of rgb->rgb and 3d->rgb renders vs the crop "
            "(motionzoo.metrics.render); weights float16"
        ),
        storage_dtype=torch.float16,
    )  # fmt: skip
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) after {minutes:.1f} min")
    for key, value in sorted(metrics.items()):
        print(f"  {key}: {value:.4f}")


if __name__ == "__main__":
    main()
