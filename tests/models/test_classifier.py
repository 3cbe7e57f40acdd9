"""SequenceClassifier: shapes, a learning step, Lightning loop and logging, save/load, configs."""

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from motionzoo.data.sprites import SpritesDataModule
from motionzoo.metrics.generation import GenerationScores
from motionzoo.models.classifier import SequenceClassifier, gaussian_blur, random_gaussian_blur
from motionzoo.pretrained import load_pretrained, save_pretrained

SPRITES_HEADS = {"action": 9, "body": 6, "bottom": 6, "top": 6, "hair": 6}
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "classifier"


def batch(b=4, t=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "frames": torch.rand(b, t, 3, 64, 64, generator=g) * 2 - 1,
        "expression": torch.randint(0, 6, (b,), generator=g),
        "identity": torch.randint(0, 5, (b,), generator=g),
    }


@pytest.mark.parametrize("temporal", ["mean", "lstm"])
def test_forward_shapes(temporal):
    model = SequenceClassifier({"expression": 6, "identity": 5}, temporal=temporal, dim=32)
    logits = model(batch()["frames"])
    assert {k: tuple(v.shape) for k, v in logits.items()} == {
        "expression": (4, 6),
        "identity": (4, 5),
    }
    probs = model.predict_proba(batch(b=2, t=5)["frames"])
    torch.testing.assert_close(probs["identity"].sum(-1), torch.ones(2))
    assert model.training  # predict_proba restores the mode


def test_training_steps_lower_the_loss():
    torch.manual_seed(0)
    model = SequenceClassifier({"expression": 6, "identity": 5}, dim=32, lr=3e-3, dropout=0.0)
    data = batch(b=8)
    opt = model.configure_optimizers()

    def loss():
        logits = model(data["frames"])
        return sum(torch.nn.functional.cross_entropy(logits[k], data[k]) for k in logits)

    first = loss().item()
    for _ in range(10):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert loss().item() < 0.5 * first


def test_targets_map_heads_to_batch_keys():
    model = SequenceClassifier({"emotion": 6}, targets={"emotion": "expression"}, dim=16)
    assert model.targets == {"emotion": "expression"}


def test_lightning_loop_logs_accuracy_per_head(tmp_path):
    pl.seed_everything(0)
    dm = SpritesDataModule(cache_dir=str(tmp_path), synthetic_characters=3, batch_size=9,
                           val_fraction=0.5)  # fmt: skip
    model = SequenceClassifier(SPRITES_HEADS, dim=32)
    trainer = pl.Trainer(fast_dev_run=2, accelerator="cpu", logger=False, enable_progress_bar=False,
                         default_root_dir=tmp_path,
                         enable_model_summary=False)  # fmt: skip
    trainer.fit(model, dm)
    logged = set(trainer.callback_metrics)
    assert {f"train/acc_{h}" for h in SPRITES_HEADS} <= logged
    assert {"train/loss", "val/loss", "val/acc_mean", "val/acc_action"} <= logged
    (result,) = trainer.test(model, dm, verbose=False)
    assert 0 <= result["test/acc_mean"] <= 1 and "test/acc_hair" in result


def test_probabilities_feed_the_generation_scores():
    model = SequenceClassifier({"expression": 6}, dim=16).eval()
    data = batch(b=5)
    scores = GenerationScores(6)
    scores.update(model.predict_proba(data["frames"])["expression"], data["expression"])
    out = scores.compute()
    assert 0 <= out["entropy_y_given_x"] <= torch.log(torch.tensor(6.0)) + 1e-6


@pytest.mark.parametrize("name", ["sprites_synthetic", "mug_synthetic"])
def test_configs_build_through_the_cli(name, tmp_path, monkeypatch):
    from motionzoo.cli import build_cli

    monkeypatch.setattr("sys.argv", ["motionzoo"])
    args = [
        "--config",
        str(CONFIGS / f"{name}.yaml"),
        "--trainer.logger.init_args.save_dir",
        str(tmp_path),
    ]
    cli = build_cli(args, run=False)
    assert isinstance(cli.model, SequenceClassifier)
    assert cli.trainer.checkpoint_callback.monitor == "val/acc_mean"
    heads = cli.model.hparams.heads
    assert heads == SPRITES_HEADS if name.startswith("sprites") else heads["expression"] == 6


@pytest.mark.parametrize("sigma", [0.8, 1.7])
def test_gaussian_blur_equals_scipy_gaussian_filter(sigma):
    from scipy.ndimage import gaussian_filter

    frames = torch.rand(2, 2, 3, 12, 15, generator=torch.Generator().manual_seed(1)).double()
    out = gaussian_blur(frames, torch.full((2,), sigma, dtype=torch.float64), truncate=3.0)
    # blur within each image only (sigma 0 along batch, time and channel), edge pixels repeated
    ref = gaussian_filter(frames.numpy(), (0, 0, 0, sigma, sigma), mode="nearest", truncate=3.0)
    torch.testing.assert_close(out, torch.from_numpy(ref), rtol=0, atol=1e-12)


def test_gaussian_blur_per_sequence_sigma_and_identity_at_zero():
    frames = torch.rand(3, 4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    assert torch.equal(gaussian_blur(frames, torch.zeros(3)), frames)
    sigma = torch.tensor([0.0, 1.0, 2.0])
    mixed = gaussian_blur(frames, sigma)
    # each sequence blurred exactly as it would be alone: the kernels do not leak across the batch
    for i in range(3):
        torch.testing.assert_close(
            mixed[i : i + 1], gaussian_blur(frames[i : i + 1], sigma[i : i + 1])
        )
    assert torch.equal(mixed[0], frames[0])
    with pytest.raises(ValueError, match=r"one value per sequence, shape \(3,\)"):
        gaussian_blur(frames, torch.ones(2))


def test_random_blur_draws_one_sigma_per_sequence_shared_by_its_frames():
    # every frame of a sequence is the same image, so equal outputs mean equal sigmas
    image = torch.rand(1, 1, 3, 24, 24, generator=torch.Generator().manual_seed(3))
    frames = image.expand(6, 5, -1, -1, -1).contiguous()
    out = random_gaussian_blur(frames, 2.5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, out[:, :1].expand_as(out))  # shared by the frames
    sharpness = (out[:, 0, :, :, 1:] - out[:, 0, :, :, :-1]).abs().mean((1, 2, 3))  # (6,)
    assert len(set(sharpness.tolist())) == 6  # a different sigma per sequence
    assert (sharpness < (image[..., 1:] - image[..., :-1]).abs().mean()).all()
    again = random_gaussian_blur(frames, 2.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)


def test_augmentations_apply_to_training_frames_only(monkeypatch):
    model = SequenceClassifier(SPRITES_HEADS, dim=16, augment_blur=2.5, augment_shift=2,
                               val_blur=1.5)  # fmt: skip
    data = {k: torch.zeros(3, dtype=torch.long) for k in SPRITES_HEADS}
    data["frames"] = torch.rand(3, 2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    seen = {}
    forward = model.forward
    monkeypatch.setattr(model, "log", lambda *args, **kwargs: None)  # no Trainer attached
    for stage in ("train", "val", "test"):

        def spy(frames, stage=stage):  # record what the model is fed at this stage
            seen[stage] = frames
            return forward(frames)

        monkeypatch.setattr(model, "forward", spy)
        model._common_step(data, stage)
    assert torch.equal(seen["test"], data["frames"])
    assert not torch.allclose(seen["train"], data["frames"], atol=1e-3)
    # validation: sigmas 0, 0.75, 1.5 across the batch, deterministic
    expected = gaussian_blur(data["frames"], torch.tensor([0.0, 0.75, 1.5]))
    torch.testing.assert_close(seen["val"], expected)


def test_augmentation_hparams_round_trip(tmp_path):
    model = SequenceClassifier(SPRITES_HEADS, dim=16, augment_blur=2.5, augment_shift=2,
                               val_blur=1.5).eval()  # fmt: skip
    save_pretrained(model, "tiny-blur", config="configs/classifier/sprites_synthetic.yaml",
                    training_data="none", metrics={}, directory=tmp_path)  # fmt: skip
    loaded = load_pretrained("tiny-blur", directory=tmp_path)
    h = loaded.hparams
    assert (h.augment_blur, h.augment_shift, h.val_blur) == (2.5, 2, 1.5)
    with pytest.raises(ValueError, match="must be >= 0"):
        SequenceClassifier(SPRITES_HEADS, augment_blur=-1.0)
