"""``make demo``: train a small LinearLifter on the embedded synthetic Human3.6M set.

Runs the same CLI a user runs (``motionzoo fit --config linear/h36m_synthetic``, a packaged
config) with a short budget, tests the best checkpoint, and prints where the checkpoint and the
TensorBoard logs are and the test MPJPE. Takes a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from motionzoo.cli import build_cli, packaged_config


def run(
    epochs: int = 4, config: str | None = None, log_dir: str = "lightning_logs"
) -> dict[str, float]:
    config = config or str(packaged_config("linear/h36m_synthetic"))
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
    # Read before testing: restoring the best checkpoint also restores the callback's paths.
    checkpoint = cli.trainer.checkpoint_callback
    best, last = Path(checkpoint.best_model_path), Path(checkpoint.last_model_path)
    results = cli.trainer.test(
        cli.model, datamodule=cli.datamodule, ckpt_path="best", verbose=False
    )[0]
    tensorboard = Path(sys.executable).parent / "tensorboard"
    print()
    print("motionzoo demo: LinearLifter on the embedded synthetic Human3.6M set")
    print(f"  best checkpoint : {best.resolve()}")
    print(f"  last checkpoint : {last.resolve()}")
    print(f"  TensorBoard logs: {Path(cli.trainer.logger.log_dir).resolve()}")
    print(
        f"  test MPJPE      : {results['test/mpjpe']:.1f} mm over all test frames, "
        f"{results['test/mpjpe_action_mean']:.1f} mm mean over actions (the table's Avg)"
    )
    print(
        f"  test P-MPJPE    : {results['test/p_mpjpe']:.1f} mm over all test frames, "
        f"{results['test/p_mpjpe_action_mean']:.1f} mm mean over actions"
    )
    print(f"  view them with  : {tensorboard} --logdir {Path(log_dir).resolve()}")
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--log-dir", default="lightning_logs")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    run(args.epochs, log_dir=args.log_dir)
