"""The user-facing inference paths of the generative models (issue 22): samples/s and peak memory.

``lift`` is timed in ``bench_lifting.py`` and ``impute`` in ``bench_hgvae.py``; this module times
``generate``, ``reconstruct``, ``swap_motion``, ``predict_3d`` and ``log_posterior`` of every model
that has them, each built from a packaged config (``CASES``: the paper config where there is
one; the note of a row says which config otherwise), on seeded random inputs of the model's
batch contract, CPU, 2 threads, in one process:

- motion VAEs (HGVAE, HMVAE, FCVAE): (B, 50, 18, 3) mm motion, B = 800 (issue 22's
  ``log_posterior`` row); ``generate`` B samples;
- sequence VAEs (DSVAE, HamiltonianVAE): (B, 8, 3, 64, 64) clips, B = 8 (``swap_motion`` of the
  batch with its reverse: 2B clips out); HamiltonianVAE is given the clips' action labels;
- image VAEs (ConvVAE, VAEGAN): (B, 3, 64, 64) images, B = 128;
- CrossModalVAE at the thesis setting (256 px, ResNet-18, latent 500): ``predict_3d`` of images
  and of 2D poses, ``generate`` of images and of 3D poses.

samples/s: B over the best of ``REPEATS`` calls after the first (on a shared machine the fastest
call is the least disturbed; one for the sequence VAEs, whose calls take seconds); peak memory: the rise of the process's resident set size during the
first call above its size before (``_timing.peak_rss_mb``), which also counts what the first
call sets up once.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import yaml

from benchmarks._timing import peak_rss_mb
from motionzoo.cli import packaged_config

THREADS, REPEATS = 2, 2
Verb = Callable[[torch.nn.Module, dict[str, torch.Tensor]], object]


def _motion(model, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    h = model.hparams
    return {"x": 100 * torch.randn(batch, h.num_frames, h.num_joints, 3, generator=generator)}


def _clips(model, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    size = model.hparams.image_size
    return {"x": torch.rand(batch, 8, 3, size, size, generator=generator) * 2 - 1}


def _labelled_clips(model, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    return {**_clips(model, batch, generator), "action": torch.arange(batch) % model.num_actions}


def _images(model, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    size = model.hparams.image_size
    return {"x": torch.rand(batch, 3, size, size, generator=generator) * 2 - 1}


def _cross_modal(model, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    joints = torch.zeros(17, 3)
    model.set_statistics(joints, joints + 200, joints[:, :2], joints[:, :2] + 0.3)
    return {
        **_images(model, batch, generator),
        "pose2d": 0.3 * torch.randn(batch, 17, 2, generator=generator),
    }


MOTION: dict[str, Verb] = {
    "generate": lambda m, i: m.generate(len(i["x"])),
    "reconstruct": lambda m, i: m.reconstruct(i["x"]),
    "log_posterior": lambda m, i: m.log_posterior(i["x"]),
}
SEQUENCE: dict[str, Verb] = {
    "generate": lambda m, i: m.generate(len(i["x"])),
    "reconstruct": lambda m, i: m.reconstruct(i["x"]),
    "swap_motion": lambda m, i: m.swap_motion(i["x"], i["x"].flip(0)),
}
HAMILTONIAN: dict[str, Verb] = {
    "generate": lambda m, i: m.generate(len(i["x"]), i["action"]),
    "reconstruct": lambda m, i: m.reconstruct(i["x"], i["action"]),
    "swap_motion": lambda m, i: m.swap_motion(
        i["x"], i["x"].flip(0), i["action"], i["action"].flip(0)
    ),
}
IMAGE: dict[str, Verb] = {
    "generate": lambda m, i: m.generate(len(i["x"])),
    "reconstruct": lambda m, i: m.reconstruct(i["x"]),
}
CROSS_MODAL: dict[str, Verb] = {
    "predict_3d(image)": lambda m, i: m.predict_3d(image=i["x"]),
    "predict_3d(pose2d)": lambda m, i: m.predict_3d(pose2d=i["pose2d"]),
    "generate(rgb)": lambda m, i: m.generate(len(i["x"]), "rgb"),
    "generate(3d)": lambda m, i: m.generate(len(i["x"]), "3d"),
}


@dataclass
class Case:
    """A model built from the packaged ``config``, its inputs and the verbs timed on them."""

    config: str
    inputs: Callable[[torch.nn.Module, int, torch.Generator], dict[str, torch.Tensor]]
    verbs: dict[str, Verb]
    batch: int
    note: str = "paper config"
    repeats: int = REPEATS


CASES = (
    Case("hgvae/amass", _motion, MOTION, 800),
    Case("hmvae/amass_synthetic", _motion, MOTION, 800, "its only config"),
    Case("fcvae/amass_synthetic", _motion, MOTION, 800, "its only config"),
    Case("dsvae/sprites", _clips, SEQUENCE, 8, repeats=1),  # seconds per call
    Case("hamiltonian_vae/sprites", _labelled_clips, HAMILTONIAN, 8, repeats=1),
    Case("conv_vae/sprites_synthetic", _images, IMAGE, 128, "its only config"),
    Case("vaegan/sprites_reference", _images, IMAGE, 128),
    Case("cross_modal_vae/h36m", _cross_modal, CROSS_MODAL, 16, "thesis config"),
)


def build(config: str) -> torch.nn.Module:
    """The model of the packaged ``configs/<config>.yaml``: its class_path and init_args."""
    path = packaged_config(config)
    if path is None:
        raise ValueError(f"no packaged config {config!r} (configs/<model>/<dataset>.yaml)")
    model = yaml.safe_load(path.read_text())["model"]
    module, _, name = model["class_path"].rpartition(".")
    return getattr(importlib.import_module(module), name)(**model.get("init_args", {}))


def measure(call: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """(best seconds of ``repeats`` calls after the first, peak RSS rise in MB of the first)."""
    peak = peak_rss_mb(call)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return min(seconds), peak


def case_rows(case: Case) -> list[dict]:
    """One row per verb of ``case``: samples/s, with the batch, peak RSS rise and config."""
    torch.manual_seed(0)
    model = build(case.config).eval()
    inputs = case.inputs(model, case.batch, torch.Generator().manual_seed(0))
    rows = []
    for verb, call in case.verbs.items():
        seconds, peak = measure(lambda call=call: call(model, inputs), case.repeats)
        rows.append(
            {
                "benchmark": f"{type(model).__name__}: {verb}, batch {case.batch}",
                "value": case.batch / seconds,
                "unit": "samples/s",
                "peak_rss_rise_mb": round(peak),
                "config": f"{case.config} ({case.note})",
            }
        )
    return rows


def run(cases=CASES, threads: int = THREADS) -> list[dict]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return [row for case in cases for row in case_rows(case)]
    finally:
        torch.set_num_threads(previous)
