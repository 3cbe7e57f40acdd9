"""Train the evaluation classifiers on the procedural Sprites and MUG and publish them.

    .venv/bin/python scripts/train_classifiers.py [--only sprites|mug] [--max-epochs N]

Each run is the LightningCLI config ``configs/classifier/<dataset>_synthetic.yaml`` (the same
objects ``motionzoo fit --config ...`` builds): fit, then test the best checkpoint (by
``val/acc_mean``) on the held-out split (Sprites: unseen characters; MUG: unseen takes). When
every head reaches ``--min-accuracy`` (0.95) the weights go to ``checkpoints/<name>.ckpt`` with the
held-out accuracy per head in ``checkpoints/manifest.json`` (``motionzoo.load_pretrained(name)``).
The procedural data is written to a temporary folder and removed afterwards (Sprites with 200
characters is 0.7 GB of float32 ``.npy``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from motionzoo.cli import build_cli
from motionzoo.pretrained import save_pretrained

REPO = Path(__file__).resolve().parents[1]
RUNS = {
    "sprites": (
        "classifier-sprites-synthetic",
        "configs/classifier/sprites_synthetic.yaml",
        "SequenceClassifier for Sprites: 9-way action x direction and body/bottom/top/hair heads",
    ),
    "mug": (
        "classifier-mug-synthetic",
        "configs/classifier/mug_synthetic.yaml",
        "SequenceClassifier for MUG: expression (6) and identity heads",
    ),
}


def describe_data(datamodule) -> str:
    h = dict(datamodule.hparams)
    kind = type(datamodule).__name__
    if kind == "SpritesDataModule":
        return (
            f"procedural Sprites (motionzoo.data.synthetic.sprites), {h['synthetic_characters']} "
            f"characters split 1000:296, seed {h['synthetic_seed']}; test = unseen characters"
        )
    return (
        f"procedural MUG faces (motionzoo.data.synthetic.faces), {h['synthetic_subjects']} "
        f"subjects x 6 "
        f"expressions x {h['synthetic_takes']} takes of {h['synthetic_frames']} frames "
        f"({h['synthetic_size']} px {h['synthetic_image_format']}), split by {h['split_by']}; "
        f"test = {h['test_fraction']:.0%} held-out takes"
    )


def train(key: str, args: argparse.Namespace, data_dir: Path) -> bool:
    name, config, description = RUNS[key]
    overrides = ["--trainer.logger.init_args.save_dir", args.log_dir,
                 "--trainer.logger.init_args.name", name,
                 "--trainer.enable_progress_bar", "false",
                 # the procedural data goes to a scratch folder, not the user's cache
                 "--data.init_args.root", str(data_dir / key),
                 "--data.init_args.synthetic_into_root", "true"]  # fmt: skip
    if key == "mug":
        overrides += ["--data.init_args.cache_dir", str(data_dir / "mug_cache")]
    if args.max_epochs:
        overrides += ["--trainer.max_epochs", str(args.max_epochs)]
    cli = build_cli(["--config", str(REPO / config), *overrides], run=False)
    start = time.perf_counter()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    # loads the best checkpoint's weights into cli.model before testing
    (result,) = cli.trainer.test(
        cli.model, datamodule=cli.datamodule, ckpt_path="best", verbose=False
    )
    minutes = (time.perf_counter() - start) / 60
    accuracy = {k: float(v) for k, v in result.items() if "/acc_" in k}
    heads = {k: v for k, v in accuracy.items() if not k.endswith("acc_mean")}
    print(f"\n{name}  ({minutes:.1f} min, {cli.trainer.current_epoch} epochs)")
    for k, v in accuracy.items():
        print(
            f"  {k:28s} {v:.4f}{'' if k.endswith('mean') or v >= args.min_accuracy else '  < ' + str(args.min_accuracy)}"
        )
    if min(heads.values()) < args.min_accuracy:
        print(f"  not saved: a head is below {args.min_accuracy}")
        return False
    # a fresh model from the plain hyper-parameters: the CLI adds "_class_path" to hparams,
    # which the class's __init__ (and so load_pretrained) does not take
    model = type(cli.model)(**{k: v for k, v in cli.model.hparams.items() if not k.startswith("_")})
    model.load_state_dict(cli.model.state_dict())
    path = save_pretrained(
        model, name, config=config, training_data=describe_data(cli.datamodule),
        metrics=accuracy, description=description,
    )  # fmt: skip
    print(f"  saved {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(RUNS), action="append")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the configs'")
    parser.add_argument("--min-accuracy", type=float, default=0.95)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--log-dir", default=str(Path(tempfile.gettempdir()) / "motionzoo_classifiers")
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="motionzoo_data_") as data_dir:
        ok = [train(key, args, Path(data_dir)) for key in (args.only or sorted(RUNS, reverse=True))]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
