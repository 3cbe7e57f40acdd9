"""SequenceClassifier: shapes, a learning step, Lightning loop and logging, save/load, configs."""

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch

from motionzoo.data.sprites import SpritesDataModule
from motionzoo.metrics.generation import GenerationScores
from motionzoo.models.classifier import SequenceClassifier
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
    dm = SpritesDataModule(root=str(tmp_path), synthetic=True, num_characters=3, batch_size=9,
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


def test_save_and_load_pretrained(tmp_path):
    model = SequenceClassifier({"expression": 6, "identity": 5}, temporal="lstm", dim=16).eval()
    path = save_pretrained(model, "tiny", config="configs/classifier/mug_synthetic.yaml",
                           training_data="none", metrics={"test/acc_expression": 0.5},
                           directory=tmp_path)  # fmt: skip
    assert path.stat().st_size < 1_000_000
    loaded = load_pretrained("tiny", directory=tmp_path)
    frames = batch()["frames"]
    torch.testing.assert_close(loaded(frames), model(frames))


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
