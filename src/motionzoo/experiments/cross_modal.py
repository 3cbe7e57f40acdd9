"""Is the cross-modal latent shared? This command encodes each test frame of Human3.6M twice, from
its image and from its 2D pose (same frame and camera), with a CrossModalVAE, and compares the
distance between the two latents of one frame with the distance between the latents of different
frames (issue 10, "Must show"). Their ratio is below 1 when the encoders put a frame's two
modalities closer together than different frames.

For N test samples with posterior means z_a(i) (e.g. from the image) and z_b(i) (from the 2D
pose of the same frame and camera), ``same`` is the mean over i of ||z_a(i) - z_b(i)||,
``other`` the mean over all i != j of ||z_a(i) - z_b(j)||, and ``ratio = same / other``: 0 for
identical encoders, about 1 for unrelated ones. Euclidean distances in float64.

    motionzoo experiment cross-modal --checkpoint cross-modal-vae-h36m-synthetic
"""

from __future__ import annotations

import argparse
import sys

import torch

from motionzoo.experiments import command
from motionzoo.experiments.command import say, steps, user_errors
from motionzoo.metrics.render import render_scores
from motionzoo.nn.modes import eval_mode


def cross_modal_ratio(z_a: torch.Tensor, z_b: torch.Tensor, chunk: int = 2048) -> dict[str, float]:
    """z_a, z_b (N, D), row i of both from the same sample -> {"same", "other", "ratio"}.
    The N x N distances are summed ``chunk`` rows at a time (memory O(chunk * N))."""
    if z_a.shape != z_b.shape or z_a.dim() != 2 or len(z_a) < 2:
        raise ValueError(
            f"cross_modal_ratio needs two (N >= 2, D) latents of one shape, got "
            f"{tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    z_a, z_b = z_a.double(), z_b.double()
    same = (z_a - z_b).norm(dim=1)
    total = sum(torch.cdist(z_a[i : i + chunk], z_b).sum() for i in range(0, len(z_a), chunk))
    n = len(z_a)
    other = (total - same.sum()) / (n * (n - 1))
    return {
        "same": same.mean().item(),
        "other": other.item(),
        "ratio": (same.mean() / other).item(),
    }


def encode_dataset(model, dataloader, sources=("rgb", "2d"), max_batches: int | None = None):
    """Posterior means {source: (N, D)} of the model's encoders over a DataLoader (eval mode)."""
    codes = {s: [] for s in sources}
    with eval_mode(model):
        for i, batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            for s in sources:
                x = batch[model.batch_keys[s]].to(model.device)
                codes[s].append(model.encode(x, s).float().cpu())
    return {s: torch.cat(c) for s, c in codes.items()}


def latent_ratio(model, dataloader, a: str = "rgb", b: str = "2d", **kwargs) -> dict[str, float]:
    """:func:`cross_modal_ratio` of the model's ``a`` and ``b`` latents over a DataLoader."""
    codes = encode_dataset(model, dataloader, (a, b), **kwargs)
    return cross_modal_ratio(codes[a], codes[b])


def render_measure(model, dataloader, max_batches: int | None = None) -> dict[str, float]:
    """Mean :func:`~motionzoo.metrics.render.render_scores` of the model's image renders at z =
    mean against the crops: ``render_iou_<source>`` and ``render_colour_error_<source>`` for
    each source the model decodes to rgb (``rgb``: reconstruction, ``3d``: from the pose)."""
    sources = [s for s in ("rgb", "3d") if s in model.encoders and "rgb" in model.decoders]
    scores = {s: {"iou": [], "colour_error": []} for s in sources}
    with eval_mode(model):
        for i, batch in enumerate(dataloader):
            if max_batches is not None and i >= max_batches:
                break
            target = batch["image"].to(model.device)
            for s in sources:
                preds = model.translate(s, "rgb", batch[model.batch_keys[s]])
                for k, v in render_scores(preds, target).items():
                    scores[s][k].append(v.cpu())
    return {
        f"render_{k}_{s}": torch.cat(v).nanmean().item()
        for s, per in scores.items()
        for k, v in per.items()
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default="cross-modal-vae-h36m-synthetic",
        metavar="NAME_OR_PATH",
        help="a pretrained name (see 'motionzoo models') or a checkpoint file of a CrossModalVAE",
    )
    parser.add_argument(
        "--root", help="folder of the Human3.6M images (default: the synthetic renders)"
    )
    parser.add_argument(
        "--eval-stride",
        type=int,
        default=16,
        help="frames between test samples, as the synthetic config",
    )


def run(args: argparse.Namespace) -> dict[str, float]:
    """Print and return the latent distances of ``args`` (see :func:`add_arguments`)."""
    from motionzoo.data.h36m_images import H36MImageDataModule

    model = command.load_checkpoint(
        args.checkpoint,
        "encode",
        "batch_keys",
        purpose="cross-modal needs a model with an encoder per modality (CrossModalVAE)",
    )
    size = model.hparams.image_size
    source = args.root or "the synthetic renders, built on first use"
    say(f"reading the Human3.6M image test split ({source}), {size} px")
    with user_errors():
        data = H36MImageDataModule(root=args.root, image_size=size, eval_stride=args.eval_stride)
        data.prepare_data()
        data.setup("test")
    loader = data.test_dataloader()
    say(f"encoding {len(loader.dataset)} test frames from their images and 2D poses")
    result = latent_ratio(model, steps(loader, "batch", min_interval_s=2.0))
    print(
        f"latent distance same sample (rgb vs 2d) {result['same']:.3f}, other samples "
        f"{result['other']:.3f}, ratio {result['ratio']:.3f}"
    )
    return result


def main(argv: list[str] | None = None) -> dict[str, float]:
    """``python -m motionzoo.experiments.cross_modal``: :func:`run` on ``argv``."""
    return command.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()
