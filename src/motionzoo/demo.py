"""``make demo``: train a small LinearLifter on the embedded synthetic Human3.6M set.

Runs the same CLI a user runs (``motionzoo fit --config configs/linear/h36m_synthetic.yaml``)
with a short budget, tests the best checkpoint, and prints where the checkpoint and the
TensorBoard logs are and the test MPJPE. Takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from motionzoo.cli import build_cli

REPO = Path(__file__).resolve().parents[2]


def run(
    epochs: int = 4, config: str | None = None, log_dir: str = "lightning_logs"
) -> dict[str, float]:
    config = config or str(REPO / "configs" / "linear" / "h36m_synthetic.yaml")
    cli = build_cli(
        [
            "--config",
            config,
            "--trainer.max_epochs",
            str(epochs),
            "--trainer.logger.init_args.save_dir",
            log_dir,
            "--trainer.logger.init_args.name",
            "demo_linear_h36m_synthetic",
            "--trainer.enable_progress_bar",
            "false",
        ],
        run=False,
    )
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    results = cli.trainer.test(
        cli.model, datamodule=cli.datamodule, ckpt_path="best", verbose=False
    )[0]
    checkpoint = cli.trainer.checkpoint_callback
    print()
    print("motionzoo demo: LinearLifter on the embedded synthetic Human3.6M set")
    print(f"  best checkpoint : {Path(checkpoint.best_model_path).resolve()}")
    print(f"  last checkpoint : {Path(checkpoint.last_model_path).resolve()}")
    print(f"  TensorBoard logs: {Path(cli.trainer.logger.log_dir).resolve()}")
    print(
        f"  test MPJPE      : {results['test/mpjpe']:.1f} mm   P-MPJPE: {results['test/p_mpjpe']:.1f} mm"
    )
    print(f"  view them with  : .venv/bin/tensorboard --logdir {Path(log_dir).resolve()}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--log-dir", default="lightning_logs")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    run(args.epochs, log_dir=args.log_dir)
