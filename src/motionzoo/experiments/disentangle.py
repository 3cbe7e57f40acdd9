"""Score image quality and disentanglement. These are Tables 1 and 2 of the Hamiltonian-prior
paper (Khan & Storkey) for sequence models, HamiltonianVAE (H, skew-H) and the DSVAE baseline:
each model given by --checkpoint is scored on the test split of --data. Table 1 compares
generated and reconstructed frames with the real ones (SSIM, PSNR, MSE). Table 2 scores the
sequences of each generation protocol with the pretrained --classifier: the accuracy and the
entropies of their action, and the accuracy of their content.

    motionzoo experiment disentangle \\
        --checkpoint hamiltonian-vae-sprites-synthetic path/to/dsvae.ckpt \\
        --classifier classifier-sprites-synthetic --data sprites_synthetic

Every ``--checkpoint`` is a pretrained name of ``checkpoints/manifest.json`` or a path (a
Lightning checkpoint or a zoo weights file). All scores are on the test split of ``--data``
(synthetic Sprites: characters that neither the generators nor the classifier saw).

Table 1, image quality (metrics/image.py, per-frame mean SSIM, PSNR (data range 2), MSE on
[-1, 1] frames): ``image_to_sequence`` from the FIRST real frame with the sequence's true action,
``--length`` (16) frames, against the real sequence. The real sequences have T = 8 frames, so two
rows: frames 1..T against the real frames, and all 16 frames against the real sequence repeated
periodically (``frame t+T = frame t``; exact for the synthetic Sprites, whose 8 frames are one
period of each animation, and the convention for the cyclic LPC Sprites; MUG clips are not
periodic and get only the first row). The generated frame 1 is the model's reconstruction of the
given frame and is included. A third row, reconstruction of the T real frames, is given for every
model as a reference (it is not the paper's protocol). Models without ``image_to_sequence``
(DSVAE: no action-conditional dynamics) print "n/a" in the first two rows.

Table 2, disentanglement, scored by the pretrained classifier (models/classifier.py) with
metrics/generation.py: accuracy, H(y|x) and H(y) (nats) of the action, the mean accuracy of the
content heads (Sprites: body, bottom, top, hair; MUG: identity) and the identity accuracy (all
content heads right at once). The classifier's action head may split each action into several
labels (Sprites: ``label = 3 * action + direction``, 9 labels); its probabilities are summed over
the labels of each action (:func:`action_probabilities`). Rows, each stating its protocol:

- real test sequences: the classifier on real data (an upper bound and a check of the mapping);
- reconstruction (reference): ``reconstruct(real)``, the ceiling of what the decoder can render
  (not a protocol of the paper; it tells a blurred decoder from content leaking into motion);
- prior motion (action k) + real content: ``generate(n, action=k, content_frames=real)``, k = i
  mod K for the i-th sequence; target action k, target content the real sequence's. For an
  unconditional model (DSVAE) the action is free (accuracy n/a; entropies shown);
- real motion + prior content (S3VAE protocol, DSVAE): ``resample_content(real)`` keeps the real
  sequence's motion and draws the content from the prior; target action the real sequence's;
- motion swap: ``swap_motion(a, b)`` with b the next sequence of the batch; a's content with b's
  motion must keep a's content and move as b (and symmetrically; both outputs are scored).

Generated sequences in Table 2 have the data's length T (the classifier's training length).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from einops import rearrange

from motionzoo.experiments import command
from motionzoo.experiments.command import CommandError, say, steps, user_errors
from motionzoo.metrics.generation import GenerationScores
from motionzoo.metrics.image import FrameMSE, FramePSNR, FrameSSIM
from motionzoo.pretrained import _import


@dataclass(frozen=True)
class DataSpec:
    """How to read one dataset's test split and its labels for the tables."""

    class_path: str
    init_args: dict = field(default_factory=dict)
    action_key: str = "action3"  # batch key of the model's action (HamiltonianVAE's subspace)
    action_head: str = "action"  # classifier head scoring the action
    num_actions: int = 3
    content_heads: tuple[str, ...] = ("body", "bottom", "top", "hair")
    periodic: bool = True  # real sequences are one period of a cyclic motion


_SPRITES = "motionzoo.data.sprites.SpritesDataModule"
_MUG = "motionzoo.data.mug.MUGDataModule"
_MUG_ARGS = dict(synthetic_subjects=10, synthetic_takes=5, synthetic_frames=24, clip_length=8,
                 target_fps=9.5, crop="box", split_by="take", val_fraction=0.15,
                 test_fraction=0.15, cache=True)  # fmt: skip
# the data each pretrained classifier was trained on (configs/classifier/*_synthetic.yaml)
DATASETS: dict[str, DataSpec] = {
    "sprites_synthetic": DataSpec(_SPRITES, {"root": None, "synthetic_characters": 200}),
    "sprites": DataSpec(_SPRITES),
    "mug_synthetic": DataSpec(
        _MUG, {"root": None, **_MUG_ARGS}, "action", "expression", 6, ("identity",), periodic=False
    ),  # fmt: skip
    "mug": DataSpec(_MUG, _MUG_ARGS, "action", "expression", 6, ("identity",), periodic=False),
}


def action_probabilities(probs: torch.Tensor, num_actions: int) -> torch.Tensor:
    """p(action) (B, K) from a classifier head (B, K * m) whose labels are ordered
    ``m * action + sub`` (Sprites: 9 labels ``3 * action + direction``, data/sprites.py): the sum
    over the m sub-labels of each action. m = 1 returns ``probs``."""
    if probs.shape[-1] % num_actions:
        raise ValueError(
            f"classifier action head has {probs.shape[-1]} classes; expected a multiple of the "
            f"model's {num_actions} actions (labels ordered m * action + sub-label)"
        )
    return rearrange(probs, "b (k m) -> b k m", k=num_actions).sum(-1)


def load_test_data(spec: DataSpec, root: str | None = None, limit: int | None = None):
    """The test split of ``spec`` as one dict of tensors (first ``limit`` sequences)."""
    args = dict(spec.init_args)
    if root is not None:
        args["root"] = root
    dm = _import(spec.class_path, pl.LightningDataModule)(**args)
    dm.prepare_data()
    dm.setup("test")
    batches = list(dm.test_dataloader())
    return {k: torch.cat([b[k] for b in batches])[:limit] for k in batches[0]}


def _batches(data: dict[str, torch.Tensor], size: int) -> Iterator[dict[str, torch.Tensor]]:
    n = len(next(iter(data.values())))
    for start in range(0, n, size):
        yield {k: v[start : start + size] for k, v in data.items()}


@torch.no_grad()
def image_quality(model, data, spec: DataSpec, length: int = 16, batch_size: int = 64) -> dict:
    """Table 1 rows of one model: {row: {"ssim", "psnr", "mse"} or None (n/a)}."""
    t = data["frames"].shape[1]
    rows = {f"image to sequence, frames 1-{min(t, length)} vs real": None}
    if spec.periodic:
        rows[f"image to sequence, frames 1-{length} vs real repeated (period {t})"] = None
    rows[f"reconstruction, {t} frames (reference)"] = None
    metrics = {row: [FrameSSIM(), FramePSNR(), FrameMSE()] for row in rows}
    names = list(rows)
    conditional = hasattr(model, "image_to_sequence")
    _, key = _actions(model, spec)
    reconstruct, _ = _labelled(model, key)
    for batch in _batches(data, batch_size):
        real = batch["frames"]
        pairs = {names[-1]: (reconstruct(batch), real)}
        if conditional:
            out = model.image_to_sequence(real[:, 0], batch[key], length)
            m = min(t, length)
            pairs[names[0]] = (out[:, :m], real[:, :m])
            if spec.periodic:
                repeated = real[:, torch.arange(length) % t]
                pairs[names[1]] = (out, repeated)
        for row, (pred, target) in pairs.items():
            for metric in metrics[row]:
                metric.update(pred.float(), target.float())
    measured = set(names) if conditional else {names[-1]}
    return {
        row: dict(zip(("ssim", "psnr", "mse"), (m.compute().item() for m in metrics[row])))
        if row in measured
        else None
        for row in rows
    }


@dataclass
class _Row:
    """The scores of one Table 2 protocol over all batches."""

    action: GenerationScores
    content: dict[str, GenerationScores]
    identity: list[float] = field(default_factory=lambda: [0.0, 0.0])  # correct, total
    has_action_target: bool = False

    def update(self, probs: dict, action_head: str, action=None, content=None) -> None:
        self.action.update(
            action_probabilities(probs[action_head], self.action.num_classes), action
        )
        self.has_action_target |= action is not None
        if content is None:
            return
        right = torch.ones(len(probs[action_head]), dtype=torch.bool)
        for head, scores in self.content.items():
            scores.update(probs[head], content[head])
            right &= probs[head].argmax(-1).cpu() == content[head].cpu()
        self.identity[0] += right.sum().item()
        self.identity[1] += len(right)

    def result(self) -> dict[str, float]:
        scores = {k: v.item() for k, v in self.action.compute().items()}
        out = {
            "action_acc": scores["accuracy"] if self.has_action_target else math.nan,
            "h_y_given_x": scores["entropy_y_given_x"],
            "h_y": scores["entropy_y"],
            "attr_acc": math.nan,
            "identity_acc": math.nan,
        }
        if self.identity[1]:
            accs = {k: m.compute()["accuracy"].item() for k, m in self.content.items()}
            out["attr_acc"] = sum(accs.values()) / len(accs)
            out["identity_acc"] = self.identity[0] / self.identity[1]
            out |= {f"acc_{k}": a for k, a in accs.items()}
        return out


def _actions(model, spec: DataSpec) -> tuple[int, str]:
    """The model's number of actions and the batch key of its action labels (its own
    ``hparams.action_key`` when it has one, e.g. a HamiltonianVAE with K = 9 on ``action``)."""
    hparams = getattr(model, "hparams", {})
    return getattr(model, "num_actions", spec.num_actions), hparams.get(
        "action_key", spec.action_key
    )


Generated = tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor] | None]


def _labelled(model, key: str):
    """``(reconstruct, swap_motion)`` of ``model``: a HamiltonianVAE without the action head (the
    paper's network) is given the batch's labels ``key`` as the subspace it cannot infer; every
    other model infers its own motion."""
    if getattr(model, "has_action_head", True):
        return (lambda batch: model.reconstruct(batch["frames"]),
                lambda a, b: model.swap_motion(a["frames"], b["frames"]))  # fmt: skip
    return (lambda batch: model.reconstruct(batch["frames"], action=batch[key]),
            lambda a, b: model.swap_motion(a["frames"], b["frames"], a[key], b[key]))  # fmt: skip


def _protocols(model, spec: DataSpec) -> dict[str, Callable[[dict], list[Generated]]]:
    """Table 2 row name -> batch -> [(frames, action target or None, content targets or None)]."""
    conditional = hasattr(model, "num_actions")
    k, key = _actions(model, spec)
    reconstruct, swap_motion = _labelled(model, key)

    def content(batch):
        return {h: batch[h] for h in spec.content_heads}

    def real(batch):
        return [(batch["frames"], batch[key], content(batch))]

    def reconstruction(batch):
        return [(reconstruct(batch), batch[key], content(batch))]

    def prior_motion(batch):
        frames = batch["frames"]
        n, t = frames.shape[:2]
        action = torch.arange(n) % k if conditional else None
        out = model.generate(n, action=action, length=t, content_frames=frames)
        return [(out, action, content(batch))]

    def prior_content(batch):
        return [(model.resample_content(batch["frames"]), batch[key], None)]

    def swap(batch):
        other = {name: v.roll(-1, 0) for name, v in batch.items()}
        ab, ba = swap_motion(batch, other)
        return [(ab, other[key], content(batch)), (ba, batch[key], content(other))]

    rows = {"real test sequences": real, "reconstruction (reference)": reconstruction}
    if conditional:
        rows["prior motion (action k) + real content"] = prior_motion
    else:
        rows["prior motion + real content (unconditional)"] = prior_motion
    if hasattr(model, "resample_content"):
        rows["real motion + prior content (S3VAE)"] = prior_content
    rows["motion swap: content of a, motion of b"] = swap
    return rows


@torch.no_grad()
def disentanglement(model, classifier, data, spec: DataSpec, batch_size=64, seed=0) -> dict:
    """Table 2 rows of one model: {row: {action_acc, h_y_given_x, h_y, attr_acc,
    identity_acc, acc_<head>...}} (NaN where a protocol has no target)."""
    heads = classifier.hparams.heads
    k, _ = _actions(model, spec)
    rows = {
        name: (
            fn,
            _Row(GenerationScores(k), {h: GenerationScores(heads[h]) for h in spec.content_heads}),
        )
        for name, fn in _protocols(model, spec).items()
    }
    torch.manual_seed(seed)
    for batch in _batches(data, batch_size):
        for fn, row in rows.values():
            for frames, action, content in fn(batch):
                probs = classifier.predict_proba(frames.float())
                row.update(probs, spec.action_head, action, content)
    return {name: row.result() for name, (_, row) in rows.items()}


def evaluate(models: dict, classifier, data, spec: DataSpec, length=16, batch_size=64, seed=0):
    """{model name: {"table1": ..., "table2": ...}} (see :func:`image_quality`,
    :func:`disentanglement`)."""
    return {
        name: {
            "table1": image_quality(model, data, spec, length, batch_size),
            "table2": disentanglement(model, classifier, data, spec, batch_size, seed),
        }
        for name, model in models.items()
    }


def _fmt(value: float | None, digits: int) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def format_tables(results: dict) -> str:
    """Both tables as markdown."""
    lines = ["Table 1: image quality (per-frame mean; frames in [-1, 1])", "",
             "| model | protocol | SSIM | PSNR (dB) | MSE |", "| --- | --- | ---: | ---: | ---: |"]  # fmt: skip
    for name, res in results.items():
        for row, m in res["table1"].items():
            values = [None] * 3 if m is None else [m["ssim"], m["psnr"], m["mse"]]
            lines.append(f"| {name} | {row} | " + " | ".join(
                _fmt(v, d) for v, d in zip(values, (3, 2, 4))) + " |")  # fmt: skip
    lines += ["", "Table 2: disentanglement, scored by the classifier (entropies in nats)", "",
              "| model | protocol | action acc | H(y\\|x) | H(y) | attribute acc | identity acc |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]  # fmt: skip
    for name, res in results.items():
        for row, m in res["table2"].items():
            keys = ("action_acc", "h_y_given_x", "h_y", "attr_acc", "identity_acc")
            lines.append(f"| {name} | {row} | " + " | ".join(_fmt(m[k], 3) for k in keys) + " |")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        nargs="+",
        required=True,
        metavar="NAME_OR_PATH",
        help="pretrained names (see 'motionzoo models') or checkpoint files to score",
    )
    parser.add_argument(
        "--classifier",
        required=True,
        metavar="NAME_OR_PATH",
        help="the classifier of --data's labels, e.g. classifier-sprites-synthetic",
    )
    parser.add_argument(
        "--data",
        choices=sorted(DATASETS),
        default="sprites_synthetic",
        help="the test data: a *_synthetic set (built on first use) or the real files in --root",
    )
    parser.add_argument("--root", help="folder of the real data (--data sprites or mug)")
    parser.add_argument(
        "--length", type=int, default=16, help="frames generated from one image (Table 1)"
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="use the first N test sequences (default: all)"
    )
    parser.add_argument("--batch-size", type=int, default=64, help="sequences per batch")
    parser.add_argument("--seed", type=int, default=0, help="seed of the generated sequences")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads; one is fastest for small models"
    )


def run(args: argparse.Namespace) -> dict:
    """Print both tables for ``args`` (see :func:`add_arguments`) and return the results of
    :func:`evaluate`."""
    torch.set_num_threads(args.threads)
    spec = DATASETS[args.data]
    if args.root is None and "root" not in spec.init_args:
        raise CommandError(f"--data {args.data} reads the real files: give their folder as --root")
    purpose = "disentangle scores sequence VAEs (HamiltonianVAE, DSVAE)"
    models = {
        Path(c).stem if Path(c).exists() else c: command.load_checkpoint(
            c, "reconstruct", "generate", "swap_motion", purpose=purpose
        )
        for c in args.checkpoint
    }
    classifier = command.load_checkpoint(
        args.classifier, "predict_proba", purpose="--classifier takes a SequenceClassifier"
    )
    say(f"reading the test split of {args.data} ({args.root or 'built on first use'})")
    with user_errors():
        data = load_test_data(spec, args.root, args.limit)
    say(f"{len(data['frames'])} test sequences of {data['frames'].shape[1]} frames")
    results = {}
    for name in steps(models, "scoring {}"):
        results |= evaluate(
            {name: models[name]}, classifier, data, spec, args.length, args.batch_size, args.seed
        )
    print(format_tables(results))
    return results


def main(argv: list[str] | None = None) -> dict:
    """``python -m motionzoo.experiments.disentangle``: :func:`run` on ``argv``."""
    return command.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    main()
