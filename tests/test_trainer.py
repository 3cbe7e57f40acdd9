"""Shared Trainer defaults: precision by device, checkpointing, resume from last.ckpt."""

from __future__ import annotations

import pytest
import torch
from pytorch_lightning.callbacks import ModelCheckpoint

from motionzoo.trainer import make_trainer, resolve_precision, trainer_defaults


def test_precision_auto_on_cpu_is_fp32():
    assert resolve_precision("auto", "cpu") == "32-true"
    assert resolve_precision(None, "cpu") == "32-true"
    assert resolve_precision("bf16-mixed", "cpu") == "bf16-mixed"


def test_precision_auto_on_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto") == "bf16-mixed"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert resolve_precision("auto") == "16-mixed"
    assert resolve_precision("auto", "cpu") == "32-true"


def test_defaults_keep_last_and_best(tmp_path):
    kwargs = trainer_defaults(save_dir=str(tmp_path), monitor="val/mpjpe")
    checkpoint = next(c for c in kwargs["callbacks"] if isinstance(c, ModelCheckpoint))
    assert checkpoint.save_last and checkpoint.monitor == "val/mpjpe"
    trainer = make_trainer(save_dir=str(tmp_path), accelerator="cpu", enable_progress_bar=False)
    assert trainer.precision == "32-true"
    assert trainer.logger.save_dir == str(tmp_path)


def test_resume_from_last_continues_step_count(tmp_path, tiny_lifting_data):
    from motionzoo.models.linear import LinearLifter

    def fit(max_epochs: int, ckpt_path=None):
        trainer = make_trainer(
            save_dir=str(tmp_path),
            name="resume",
            accelerator="cpu",
            max_epochs=max_epochs,
            limit_train_batches=3,
            limit_val_batches=1,
            enable_progress_bar=False,
        )
        trainer.logger._version = 0  # both runs write into the same version folder
        model = LinearLifter(width=32)
        trainer.fit(model, datamodule=tiny_lifting_data, ckpt_path=ckpt_path)
        return trainer

    first = fit(1)
    assert first.global_step == 3
    last = tmp_path / "resume" / "version_0" / "checkpoints" / "last.ckpt"
    assert last.exists()
    second = fit(2, ckpt_path=str(last))
    assert second.global_step == 6
    assert second.current_epoch == 2


def test_non_finite_loss_names_step_and_term(tmp_path, tiny_lifting_data):
    from motionzoo.models.base import NonFiniteLossError
    from motionzoo.models.linear import LinearLifter

    model = LinearLifter(width=32, lr=1e38)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float("nan"))
    trainer = make_trainer(
        save_dir=str(tmp_path),
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=0,
        enable_progress_bar=False,
    )
    with pytest.raises(NonFiniteLossError, match=r"train loss term 'loss' is nan at global step 0"):
        trainer.fit(model, datamodule=tiny_lifting_data)
