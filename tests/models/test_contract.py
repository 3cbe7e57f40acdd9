"""The contract every model of the zoo keeps, checked for EVERY LightningModule in motionzoo.models:
it builds from keyword arguments, saves its hyper-parameters, runs one real training step and a
validation step under a Trainer, survives save_pretrained / load_pretrained with the same outputs,
answers its family's verbs with the documented shapes while keeping its train/eval mode, and has
a config that runs through the CLI.

Adding a model: one line in CASES (a tiny size of it and a batch in its family's batch contract).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
import yaml

import motionzoo.models
from motionzoo.cli import build_cli
from motionzoo.data.base import ArrayDataset, make_dataloader
from motionzoo.models import (
    DSVAE,
    FCVAE,
    HGVAE,
    HMVAE,
    VAEGAN,
    ConvVAE,
    CrossModalVAE,
    GraphSH,
    HamiltonianVAE,
    LinearLifter,
    SeqRes,
    SequenceClassifier,
)
from motionzoo.models.base import ZooModule
from motionzoo.pretrained import load_pretrained, save_pretrained
from motionzoo.skeleton import H36M_ACTIONS
from motionzoo.trainer import Trainer

REPO = Path(__file__).resolve().parents[2]
B = 6  # samples per batch


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def poses(joints: int) -> dict[str, torch.Tensor]:
    """Pose-lifting batch: pose2d screen-normalised, pose3d root-relative mm, labels."""
    g = _generator()
    pose3d = torch.randn(B, joints, 3, generator=g) * 200
    return {
        "pose2d": torch.randn(B, joints, 2, generator=g) * 0.3,
        "pose3d": pose3d - pose3d[:, :1],
        "action": torch.arange(B) % len(H36M_ACTIONS),
        "subject": torch.ones(B, dtype=torch.long),
        "camera": torch.arange(B) % 4,
    }


def motion(frames: int, joints: int) -> dict[str, torch.Tensor]:
    g = _generator()
    walk = torch.randn(B, frames, joints, 3, generator=g).cumsum(1) * 20
    return {
        "motion": walk + torch.randn(joints, 3, generator=g) * 300,
        "action": torch.arange(B) % 3,
    }


def smooth_images(n: int, size: int, g: torch.Generator) -> torch.Tensor:
    coarse = torch.rand(n, 3, 8, 8, generator=g) * 2 - 1
    return torch.nn.functional.interpolate(coarse, size=size, mode="bilinear")


def images(size: int = 64) -> dict[str, torch.Tensor]:
    return {"image": smooth_images(B, size, _generator())}


def cross_modal() -> dict[str, torch.Tensor]:
    return poses(17) | images()


def sequences(frames: int, size: int) -> dict[str, torch.Tensor]:
    g = _generator()
    clips = smooth_images(B * frames, size, g).reshape(B, frames, 3, size, size)
    return {
        "frames": clips,
        "action": torch.arange(B) % 3,
        "expression": torch.arange(B) % 6,
        "identity": torch.arange(B) % 5,
    }


@dataclass(frozen=True)
class Case:
    cls: type[ZooModule]
    kwargs: dict
    batch: Callable[[], dict[str, torch.Tensor]]
    family: str
    datamodule: dict = field(default_factory=dict)  # attributes a fit reads from its DataModule

    def build(self) -> ZooModule:
        torch.manual_seed(0)
        return self.cls(**self.kwargs)


def pose_statistics() -> dict[str, dict[str, torch.Tensor]]:
    data = cross_modal()
    stats = {
        f"{k}_{s}": getattr(data[k], s)(0) for k in ("pose3d", "pose2d") for s in ("mean", "std")
    }
    return {"train_statistics": stats}


TINY_IMAGE_VAE = dict(
    z_dim=8, encoder_channels=[4, 8, 8], encoder_hidden=32, decoder_channels=[8, 8, 4],
    decoder_start_channels=8,
)  # fmt: skip
CASES = [
    Case(LinearLifter, dict(width=32), lambda: poses(17), "lifting"),
    Case(SeqRes, dict(hidden=16, num_blocks=1), lambda: poses(16), "lifting"),
    Case(GraphSH, dict(hidden=16, num_stacks=2), lambda: poses(16), "lifting"),
    Case(
        HGVAE,
        dict(num_joints=4, num_frames=8, levels=[[None, 8], [3, 8], [1, 8]], residual_features=16),
        lambda: motion(8, 4),
        "motion_vae",
    ),
    Case(
        HMVAE,
        dict(num_frames=8, levels=[[None, 4], [18, 4]], residual_features=8),
        lambda: motion(8, 18),
        "motion_vae",
    ),
    Case(
        FCVAE,
        dict(num_joints=4, num_frames=8, hidden=[32, 16], latent=4),
        lambda: motion(8, 4),
        "motion_vae",
    ),
    Case(ConvVAE, TINY_IMAGE_VAE, images, "image_vae"),
    Case(
        VAEGAN,
        TINY_IMAGE_VAE
        | dict(discriminator_channels=[4, 8, 8], discriminator_stem=4, discriminator_hidden=16),
        images,
        "image_vae",
    ),
    Case(
        CrossModalVAE,
        dict(
            latent_dim=8,
            image_size=64,
            backbone_width=4,
            image_decoder_channels=[16, 8, 8, 4, 4],
            pose_hidden=32,
            pose_encoder_blocks=2,
            pose_decoder_blocks=2,
            pairs=["2d->3d", "rgb->rgb", "rgb->3d"],
        ),  # fmt: skip
        cross_modal,
        "cross_modal",
        datamodule=pose_statistics(),
    ),
    Case(
        HamiltonianVAE,
        dict(
            num_actions=3,
            subspace_dim=4,
            z_dim=8,
            h_dim=16,
            encoder_channels=[4, 4, 8, 8, 8],
            encoder_hidden=32,
            decoder_channels=[8, 4, 4],
            decoder_start_channels=8,
            decoder_hidden=32,
            pretrain_epochs=0,
            image_size=16,
            action_key="action",
        ),  # fmt: skip
        lambda: sequences(8, 16),
        "sequence_vae",
    ),
    Case(
        DSVAE,
        dict(
            f_dim=6,
            z_dim=3,
            hidden_dim=8,
            encoder_channels=[4, 4, 4],
            encoder_strides=[2, 2, 2],
            encoder_hidden=16,
            conv_dim=8,
            decoder_hidden=16,
            decoder_start_channels=4,
            decoder_channels=[4, 4, 4],
        ),  # fmt: skip
        lambda: sequences(5, 64),
        "sequence_vae",
    ),
    Case(
        SequenceClassifier,
        dict(heads={"expression": 6, "identity": 5}, dim=32),
        lambda: sequences(3, 64),
        "judge",
    ),
]
IDS = [case.cls.__name__ for case in CASES]


def zoo_models() -> set[type]:
    """Every concrete LightningModule defined in motionzoo.models (family bases excluded)."""
    found = set()
    for info in pkgutil.walk_packages(motionzoo.models.__path__, "motionzoo.models."):
        module = importlib.import_module(info.name)
        if info.name.startswith("motionzoo.models.families") or info.name.endswith(".base"):
            continue
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, pl.LightningModule) and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def test_the_contract_covers_every_model():
    assert zoo_models() == {case.cls for case in CASES}
    assert set(motionzoo.models.__all__) == {cls.__name__ for cls in zoo_models()}


class FakeDataModule(pl.LightningDataModule):
    """One batch as the whole train / val / test set, plus what a model reads from its
    DataModule at fit start."""

    def __init__(self, batch: dict[str, torch.Tensor], **attributes):
        super().__init__()
        self.batch = batch
        self.action_names = list(H36M_ACTIONS)
        for name, value in attributes.items():
            setattr(self, name, value)

    def _loader(self, shuffle: bool = False):
        return make_dataloader(ArrayDataset(self.batch), B, shuffle)

    train_dataloader = val_dataloader = test_dataloader = _loader


def fast_trainer(root: Path) -> Trainer:
    return Trainer(
        accelerator="cpu",
        fast_dev_run=1,
        default_root_dir=root,
        enable_checkpointing=False,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_builds_from_keywords_and_saves_them(case):
    model = case.build()
    assert isinstance(model, ZooModule)
    for key, value in case.kwargs.items():
        saved = model.hparams[key]
        assert saved == value or list(saved) == list(value), key


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_one_real_training_and_validation_step(case, tmp_path):
    model = case.build()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    fast_trainer(tmp_path).fit(model, datamodule=FakeDataModule(case.batch(), **case.datamodule))
    changed = [k for k, v in model.named_parameters() if not torch.equal(v, before[k])]
    assert changed, "no parameter changed in a training step"
    assert all(torch.isfinite(v).all() for v in model.parameters())


def outputs(case: Case, model: ZooModule) -> torch.Tensor | dict:
    """The model's deterministic answer on the case's batch (eval mode)."""
    batch = case.batch()
    with torch.no_grad():
        if case.family == "lifting":
            return model(batch["pose2d"])
        if case.family == "motion_vae":
            return model.reconstruct(batch["motion"])
        if case.family == "image_vae":
            return model(batch["image"])
        if case.family == "cross_modal":
            return model.encode(batch["image"], modality="rgb")
        return model(batch["frames"])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_save_and_load_pretrained_give_the_same_model(case, tmp_path):
    model = case.build().eval()
    save_pretrained(
        model, "m", config="-", training_data="-", metrics={"m": 0.0}, directory=tmp_path
    )
    loaded = load_pretrained("m", directory=tmp_path)
    assert type(loaded) is case.cls and not loaded.training
    torch.testing.assert_close(loaded.state_dict(), model.state_dict(), equal_nan=True)
    torch.testing.assert_close(outputs(case, loaded), outputs(case, model))


def keeps_mode(model: torch.nn.Module, verb: Callable, *args, **kwargs):
    """Call a verb in train mode; it must answer without gradients and leave train mode."""
    model.train()
    out = verb(*args, **kwargs)
    assert model.training, f"{verb.__name__} did not restore train mode"
    for tensor in out if isinstance(out, tuple) else (out,):
        assert not tensor.requires_grad, f"{verb.__name__} returned a tensor with a graph"
    return out


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.family == "lifting"], ids=lambda c: c.cls.__name__
)
def test_lifting_verbs(case):
    model, batch = case.build(), case.batch()
    joints = batch["pose2d"].shape[1]
    assert model(batch["pose2d"]).shape == (B, joints, 3)
    pixels = (batch["pose2d"] + 1) * 500
    out = keeps_mode(model, model.lift, pixels[None], res_w=1000, res_h=1000)
    assert out.shape == (1, B, joints, 3)
    torch.testing.assert_close(out[0, :, 0], torch.zeros(B, 3))


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.family == "motion_vae"], ids=lambda c: c.cls.__name__
)
def test_motion_vae_verbs(case):
    model, x = case.build(), case.batch()["motion"]
    out = model(x)
    assert out["nll"].shape == (B,)
    assert keeps_mode(model, model.reconstruct, x).shape == x.shape
    z = keeps_mode(model, model.encode, x)
    assert z.dim() == 2 and len(z) == B
    assert keeps_mode(model, model.generate, 3).shape == (3, *x.shape[1:])
    assert keeps_mode(model, model.log_posterior, x).shape == (B,)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :, 0] = True
    imputed = keeps_mode(model, model.impute, x, mask, steps=2)
    assert imputed.shape == x.shape and torch.equal(imputed[~mask], x[~mask])


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.family == "image_vae"], ids=lambda c: c.cls.__name__
)
def test_image_vae_verbs(case):
    model, x = case.build(), case.batch()["image"]
    assert model(x).shape == x.shape
    z = keeps_mode(model, model.encode, x)
    assert z.shape == (B, case.kwargs["z_dim"])
    assert keeps_mode(model, model.decode, z).shape == x.shape
    assert keeps_mode(model, model.reconstruct, x).shape == x.shape
    generated = keeps_mode(model, model.generate, 3)
    assert generated.shape == (3, *x.shape[1:])
    assert generated.min() >= -1 and generated.max() <= 1


def test_cross_modal_verbs():
    case = next(c for c in CASES if c.family == "cross_modal")
    model, batch = case.build(), case.batch()
    model.set_statistics(*pose_statistics()["train_statistics"].values())
    for modality, key in (("rgb", "image"), ("2d", "pose2d")):  # the encoders of its pairs
        z = keeps_mode(model, model.encode, batch[key], modality=modality)
        assert z.shape == (B, case.kwargs["latent_dim"])
    assert keeps_mode(model, model.predict_3d, pose2d=batch["pose2d"]).shape == (B, 17, 3)


@pytest.mark.parametrize(
    "case", [c for c in CASES if c.family == "sequence_vae"], ids=lambda c: c.cls.__name__
)
def test_sequence_vae_verbs(case):
    model, x = case.build(), case.batch()["frames"]
    t = x.shape[1]
    assert model(x).shape == x.shape
    content, dynamics = keeps_mode(model, model.encode, x)
    assert content.dim() == 2 and len(content) == B
    assert dynamics.shape[:2] == (B, t)
    assert keeps_mode(model, model.reconstruct, x).shape == x.shape
    swapped = keeps_mode(model, model.swap_motion, x, x.flip(0))
    assert len(swapped) == 2 and all(s.shape == x.shape for s in swapped)
    assert keeps_mode(model, model.generate, 2, length=t).shape == (2, *x.shape[1:])


def test_judge_verbs():
    case = next(c for c in CASES if c.family == "judge")
    model, x = case.build(), case.batch()["frames"]
    logits = model(x)
    assert {k: v.shape for k, v in logits.items()} == {"expression": (B, 6), "identity": (B, 5)}
    probabilities = keeps_mode(model, lambda f: tuple(model.predict_proba(f).values()), x)
    for p in probabilities:
        torch.testing.assert_close(p.sum(-1), torch.ones(B))


def config_models() -> dict[str, list[Path]]:
    """class path -> the configs that build it."""
    found: dict[str, list[Path]] = {}
    for path in sorted((REPO / "configs").glob("*/*.yaml")):
        class_path = yaml.safe_load(path.read_text())["model"]["class_path"]
        found.setdefault(class_path, []).append(path)
    return found


def test_every_model_has_a_config_on_the_embedded_data():
    configs = config_models()
    for cls in zoo_models():
        paths = configs.get(f"{cls.__module__}.{cls.__qualname__}", [])
        assert any(p.stem.endswith("synthetic") for p in paths), f"{cls.__name__}: no config"


SYNTHETIC_CONFIGS = sorted((REPO / "configs").glob("*/*synthetic*.yaml"))
# A few procedural subjects / characters instead of the configs' full synthetic sets: the config's
# model, trainer and DataModule as shipped, on data generated in seconds.
SMALL_SYNTHETIC = {
    "motionzoo.data.sprites.SpritesDataModule": {"synthetic_characters": "3"},
    "motionzoo.data.mug.MUGDataModule": {"synthetic_takes": "1", "synthetic_frames": "16"},
    "motionzoo.data.h36m_images.H36MImageDataModule": {
        "synthetic_subjects": "[S1, S9]", "train_subjects": "[S1]", "test_subjects": "[S9]",
        "synthetic_actions": "[Walking]", "synthetic_frames": "20", "synthetic_takes": "1",
        "synthetic_size": "96",
    },
}  # fmt: skip


def small_data_arguments(config: Path) -> list[str]:
    data = yaml.safe_load(config.read_text())["data"]
    prefix = "--data.init_args."
    if "source" in data["init_args"]:  # FramesDataModule over another DataModule
        data, prefix = data["init_args"]["source"], prefix + "source.init_args."
    options = SMALL_SYNTHETIC.get(data["class_path"], {})
    return [arg for key, value in options.items() for arg in (prefix + key, value)]


@pytest.mark.parametrize("config", SYNTHETIC_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_config_on_the_embedded_data_fast_dev_runs_from_the_cli(
    config, tmp_path, monkeypatch
):
    """The config through the CLI (small batches, a small synthetic set); the metric its
    checkpoint monitors is logged."""
    monkeypatch.setattr("sys.argv", ["motionzoo"])
    monkeypatch.chdir(tmp_path)
    cli = build_cli(
        ["fit", "--config", str(config), "--trainer.fast_dev_run", "1"]
        + ["--trainer.default_root_dir", str(tmp_path), "--trainer.enable_progress_bar", "false"]
        + ["--data.init_args.batch_size", "4", "--data.init_args.eval_batch_size", "4"]
        + small_data_arguments(config)
    )
    assert cli.trainer.state.finished and cli.trainer.global_step >= 1
    assert cli.trainer.checkpoint_callback.monitor in cli.trainer.callback_metrics


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_size_or_probability_out_of_range_is_refused_by_name(case):
    from motionzoo.models.base import _PROBABILITY, _SIZE

    hparams = case.build().hparams
    sizes = [k for k, v in hparams.items() if _SIZE.match(k) and type(v) is int]
    sizes = [k for k in sizes if k != "num_joints"] or sizes  # HMVAE checks its joints earlier
    probabilities = [k for k, v in hparams.items() if _PROBABILITY.match(k)]
    assert sizes, "a model with no size-like hyper-parameter"
    for name, bad, expected in [(sizes[0], -8, "an integer >= 1")] + [
        (p, 1.5, "a probability in [0, 1)") for p in probabilities[:1]
    ]:
        with pytest.raises(
            ValueError, match=re.escape(f"{case.cls.__name__}: {name}={bad}; expected {expected}")
        ):
            case.cls(**{**case.kwargs, name: bad})
