"""Train the pretrained DSVAE baseline on the procedural Sprites and publish it.

    .venv/bin/python scripts/pretrain_dsvae.py [--minutes 40] [--save] [CLI overrides]

Further arguments are LightningCLI overrides of the config (``--model.init_args.lr=0.002``).

The run is the LightningCLI config ``configs/dsvae/sprites_synthetic.yaml`` (the objects
``motionzoo fit --config ...`` builds) for at most ``--minutes`` of wall clock, then the weights of
the best validation loss are rounded to float16 (the stored precision) and scored on the test
split (characters unseen in training): reconstruction SSIM / PSNR / MSE, and Tables 1 and 2 of
:mod:`motionzoo.experiments.disentangle` with the pretrained ``classifier-sprites-synthetic``.
With ``--save`` the weights go to ``checkpoints/dsvae-sprites-synthetic.ckpt`` and the scores to
``checkpoints/manifest.json`` (``motionzoo.load_pretrained("dsvae-sprites-synthetic")``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from motionzoo.cli import build_cli
from motionzoo.experiments.disentangle import (
    DATASETS,
    evaluate,
    format_tables,
    load_test_data,
)
from motionzoo.pretrained import load_model, save_pretrained

REPO = Path(__file__).resolve().parents[1]
NAME, CONFIG = "dsvae-sprites-synthetic", "configs/dsvae/sprites_synthetic.yaml"


def manifest_metrics(test: dict, tables: dict) -> dict[str, float]:
    """Flat manifest metrics: the test reconstruction scores and the Table 2 rows."""
    metrics = {k: float(v) for k, v in test.items() if k in ("test/ssim", "test/psnr", "test/mse")}
    short = {"prior motion": "prior_motion", "real motion": "prior_content", "motion swap": "swap"}
    for row, scores in tables["table2"].items():
        key = next((v for k, v in short.items() if row.startswith(k)), None)
        for name, value in scores.items() if key else ():
            if value == value:  # not NaN
                metrics[f"table2/{key}/{name}"] = float(value)
    return metrics


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=40.0, help="wall-clock training budget")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--classifier", default="classifier-sprites-synthetic")
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "motionzoo_dsvae"))
    parser.add_argument("--save", action="store_true", help="write the checkpoint + manifest")
    parser.add_argument("--directory", default=None, help="checkpoint folder (default: the repo's)")
    args, cli_overrides = parser.parse_known_args(argv)
    torch.set_num_threads(args.threads)
    seconds = int(args.minutes * 60)
    overrides = ["--trainer.logger.init_args.save_dir", args.log_dir,
                 "--trainer.logger.init_args.name", NAME,
                 "--trainer.default_root_dir", args.log_dir,
                 "--trainer.enable_progress_bar", "false",
                 "--trainer.max_time", f"00:{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"]  # fmt: skip
    cli = build_cli(["--config", str(REPO / CONFIG), *overrides, *cli_overrides], run=False)
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    # the best validation loss (the last weights when the budget ended before a validation)
    best = (
        cli.trainer.checkpoint_callback.best_model_path
        or cli.trainer.checkpoint_callback.last_model_path
    )
    model = load_model(best)  # eval mode, plain hyper-parameters
    with torch.no_grad():  # the stored precision, so that the scores are those of the file
        for p in model.parameters():
            p.copy_(p.half().float())
    (test,) = cli.trainer.test(model, datamodule=cli.datamodule, verbose=False)
    spec = DATASETS["sprites_synthetic"]
    results = evaluate({NAME: model}, load_model(args.classifier), load_test_data(spec), spec)
    print(f"\n{NAME}: {cli.trainer.current_epoch} epochs in "
          f"{(time.perf_counter() - start) / 60:.1f} min, best {Path(best).name}")  # fmt: skip
    print({k: round(float(v), 4) for k, v in test.items()})
    print(format_tables(results))
    if args.save:
        hp = model.hparams
        path = save_pretrained(
            model, NAME, config=CONFIG,
            training_data=(
                f"procedural Sprites (motionzoo.data.synthetic.sprites), 200 characters split "
                f"1000:296, seed 0; {cli.trainer.current_epoch} epochs ({args.minutes:g} min CPU "
                f"budget), best val/loss; metrics on the test characters"
            ),
            metrics=manifest_metrics(test, results[NAME]),
            description=(
                f"DSVAE (Li & Mandt 2018) baseline at small widths (f {hp.f_dim}, z {hp.z_dim}, "
                f"LSTM {hp.hidden_dim}), full q; weights stored as float16"
            ),
            storage_dtype=torch.float16,
            directory=args.directory,
        )  # fmt: skip
        print("saved", path)


if __name__ == "__main__":
    main()
