"""Train the small pretrained HamiltonianVAEs of the manifest on the procedural Sprites.

    .venv/bin/python scripts/pretrain_hamiltonian.py --variant H    [--minutes 14] [--save]
    .venv/bin/python scripts/pretrain_hamiltonian.py --variant skew [--minutes 14] [--save]
    .venv/bin/python scripts/pretrain_hamiltonian.py --variant H --init --minutes 33 --save

``--init`` continues from the published weights of the variant (fresh Adam, no frame-VAE
pretraining); the published models are a 28-minute run from scratch continued this way.
``--best`` keeps the weights of the best validation SSIM instead of the final ones.

Further arguments are LightningCLI overrides of the config (``--model.init_args.lr=0.001``).

Each run is the LightningCLI config ``configs/hamiltonian_vae/sprites_synthetic[_skew].yaml``
(narrow networks, the paper's latent sizes): fit for ``--minutes`` (or the config's epochs), test
the final weights on the unseen test characters (reconstruction SSIM / PSNR / MSE), and check the
disentanglement with the pretrained ``classifier-sprites-synthetic`` (its ``action`` head is the
9-way ``3 * action + direction``, so action = prediction // 3):

- ``check/generation_action_acc``: sequences from prior motion in subspace a + test content keep a;
- ``check/image_to_sequence_action_acc``: 8 frames from the first test frame and its action;
- ``check/swap_attribute_acc``: after ``swap_motion``, the body / bottom / top / hair of the
  content sequence (mean over the four heads and both outputs).

With ``--save`` the weights go to ``checkpoints/<name>.ckpt`` with these numbers in the manifest.
The procedural data is written to a temporary folder and removed afterwards.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from motionzoo.cli import build_cli
from motionzoo.data.synthetic.sprites import ATTRIBUTES
from motionzoo.pretrained import load_pretrained, save_pretrained

REPO = Path(__file__).resolve().parents[1]
RUNS = {
    "H": ("hamiltonian-vae-sprites-synthetic", "configs/hamiltonian_vae/sprites_synthetic.yaml"),
    "skew": (
        "hamiltonian-vae-skew-sprites-synthetic",
        "configs/hamiltonian_vae/sprites_synthetic_skew.yaml",
    ),
}


@torch.no_grad()
def disentanglement_checks(model, loader, classifier, seed: int = 0) -> dict[str, float]:
    """Classifier accuracies of generated and motion-swapped test sequences (see the docstring)."""
    torch.manual_seed(seed)
    gen, i2s, swap, n = 0.0, 0.0, 0.0, 0
    for batch in loader:
        frames, action = batch["frames"], batch[model.hparams.action_key]
        b = len(frames)
        target = torch.randint(0, model.num_actions, (b,))
        generated = model.generate(b, target, frames.shape[1], content_frames=frames)
        gen += (classifier.predict_proba(generated)["action"].argmax(-1) // 3 == target).sum()
        seq = model.image_to_sequence(frames[:, 0], action, frames.shape[1])
        i2s += (classifier.predict_proba(seq)["action"].argmax(-1) // 3 == action).sum()
        other = torch.roll(torch.arange(b), 1)
        for swapped, source in zip(model.swap_motion(frames, frames[other]), (batch, None)):
            probs = classifier.predict_proba(swapped)
            for name in ATTRIBUTES:
                truth = batch[name] if source is not None else batch[name][other]
                swap += (probs[name].argmax(-1) == truth).float().sum() / (2 * len(ATTRIBUTES))
        n += b
    return {
        "check/generation_action_acc": float(gen / n),
        "check/image_to_sequence_action_acc": float(i2s / n),
        "check/swap_attribute_acc": float(swap / n),
    }


def published_epochs(name: str) -> str:
    """How the published weights of ``name`` were trained, from their manifest entry."""
    from motionzoo.pretrained import pretrained_info

    text = pretrained_info(name)["training_data"]
    return text.split("; ", 1)[1].replace("; metrics on the unseen test characters", "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=sorted(RUNS), default="H")
    parser.add_argument("--minutes", type=float, default=14.0, help="wall-clock training budget")
    parser.add_argument("--max-epochs", type=int, default=None, help="override the config's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--save", action="store_true", help="write the checkpoint + manifest")
    parser.add_argument(
        "--init", action="store_true",
        help="continue from the published weights of this variant (no frame-VAE pretraining)",
    )  # fmt: skip
    parser.add_argument(
        "--best", action="store_true",
        help="test and save the weights of the best validation SSIM, not the final ones",
    )  # fmt: skip
    parser.add_argument("--log-dir", default=str(Path(tempfile.gettempdir()) / "motionzoo_hvae"))
    args, extra = parser.parse_known_args(argv)  # extra: LightningCLI overrides, e.g.
    # --model.init_args.lr=0.001 --data.init_args.synthetic_characters=60
    torch.set_num_threads(args.threads)
    name, config = RUNS[args.variant]
    minutes = int(args.minutes)
    seconds = int(round(60 * (args.minutes - minutes)))
    with tempfile.TemporaryDirectory(prefix="motionzoo_data_") as data_dir:
        overrides = ["--trainer.logger.init_args.save_dir", args.log_dir,
                     "--trainer.logger.init_args.name", name,
                     "--trainer.enable_progress_bar", "false",
                     "--trainer.max_time", f"00:00:{minutes:02d}:{seconds:02d}",
                     "--data.init_args.root", str(Path(data_dir) / "sprites"),
                     "--data.init_args.synthetic_into_root", "true"]  # fmt: skip
        if args.max_epochs:
            overrides += ["--trainer.max_epochs", str(args.max_epochs)]
        if args.init:
            overrides += ["--model.init_args.pretrain_epochs", "0"]
        overrides += extra
        cli = build_cli(["--config", str(REPO / config), *overrides], run=False)
        earlier = ""
        if args.init:
            published = load_pretrained(name)
            cli.model.load_state_dict(published.state_dict())
            earlier = f"continued from the previous published weights ({published_epochs(name)}), "
        start = time.perf_counter()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
        epochs = f"{cli.trainer.current_epoch} epochs"
        best = cli.trainer.checkpoint_callback.best_model_path  # monitors val/ssim (config)
        if args.best and best:  # (none when the budget ended before the first validation)
            cli.model.load_state_dict(torch.load(best, weights_only=True)["state_dict"])
            epochs += f", weights of the best validation SSIM ({Path(best).stem})"
        elif args.best:
            print("no validation ran within the budget: keeping the final weights")
        if extra:
            epochs += f", with {' '.join(extra)}"
        # a fresh model from the plain hyper-parameters (the CLI adds "_class_path")
        hparams = {k: v for k, v in cli.model.hparams.items() if not k.startswith("_")}
        model = type(cli.model)(**hparams)
        model.load_state_dict(cli.model.state_dict())
        (result,) = cli.trainer.test(model, datamodule=cli.datamodule, verbose=False)
        metrics = {k: float(v) for k, v in result.items() if k.split("/")[1] in
                   ("ssim", "psnr", "mse", "ssim_rollout", "action_acc", "loss")}  # fmt: skip
        classifier = load_pretrained("classifier-sprites-synthetic")
        model.eval()
        metrics |= disentanglement_checks(model, cli.datamodule.test_dataloader(), classifier)
    minutes_run = (time.perf_counter() - start) / 60
    params = sum(p.numel() for p in model.parameters())
    print(f"\n{name}: {minutes_run:.1f} min, {cli.trainer.current_epoch} epochs, {params} params")
    for k, v in metrics.items():
        print(f"  {k:40s} {v:.4f}")
    if args.save:
        data = cli.datamodule.hparams
        path = save_pretrained(
            model, name, config=config,
            training_data=f"procedural Sprites (motionzoo.data.synthetic.sprites), "
            f"{data['synthetic_characters']} characters split 1000:296, "
            f"seed {data['synthetic_seed']}; "
            f"{earlier}{epochs}; metrics on the unseen test characters",
            metrics=metrics,
            description=f"small HamiltonianVAE ({args.variant} operators), narrow networks; "
            f"trained by scripts/pretrain_hamiltonian.py",
        )  # fmt: skip
        print(f"  saved {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
