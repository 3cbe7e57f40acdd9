"""Train the pretrained ``linear-h36m-synthetic`` checkpoint and record it in the manifest.

    .venv/bin/python scripts/pretrain_linear.py [--epochs 8] [--width 512]

Trains LinearLifter with configs/linear/h36m_synthetic.yaml (width 512 keeps the weights file a
few MB), tests the best checkpoint on S9/S11 of the synthetic set and writes
checkpoints/linear-h36m-synthetic.ckpt with its test metrics in checkpoints/manifest.json.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from motionzoo.cli import build_cli
from motionzoo.pretrained import load_model, save_pretrained

CONFIG = "configs/linear/h36m_synthetic_pretrained.yaml"  # width 512


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--width", type=int, default=512)
    args = parser.parse_args()
    log_dir = tempfile.mkdtemp(prefix="pretrain_linear_")
    cli = build_cli(
        [
            "--config",
            CONFIG,
            "--trainer.max_epochs",
            str(args.epochs),
            "--model.init_args.width",
            str(args.width),
            "--trainer.logger.init_args.save_dir",
            log_dir,
            "--trainer.enable_progress_bar",
            "false",
        ],
        run=False,
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    best = cli.trainer.checkpoint_callback.best_model_path
    model = load_model(best)
    results = cli.trainer.test(model, datamodule=cli.datamodule, verbose=False)[0]
    metrics = {k: v for k, v in results.items() if k.startswith("test/") and "per_action" not in k}
    path = save_pretrained(
        model,
        "linear-h36m-synthetic",
        config=CONFIG,
        training_data="embedded synthetic Human3.6M (seed 0), train S1,S5,S6,S7,S8; test S9,S11, GT 2D",
        metrics=metrics,
        description=f"LinearLifter width {args.width}, {args.epochs} epochs, best by val/mpjpe",
    )
    print(
        f"wrote {path} ({Path(path).stat().st_size / 1e6:.1f} MB); test MPJPE {metrics['test/mpjpe']:.1f} mm"
    )


if __name__ == "__main__":
    main()
