"""Shared test set-up: every test session gets its own cache folder (synthetic data is generated
once per session into it) and runs on the CPU with few threads."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session", autouse=True)
def motionzoo_cache(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("motionzoo_cache")
    previous = os.environ.get("MOTIONZOO_CACHE")
    os.environ["MOTIONZOO_CACHE"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("MOTIONZOO_CACHE", None)
    else:
        os.environ["MOTIONZOO_CACHE"] = previous


@pytest.fixture(scope="session")
def tiny_lifting_data(motionzoo_cache):
    """The embedded synthetic Human3.6M pose set, subsampled so an epoch is a few batches."""
    from motionzoo.data.h36m_pose import H36MPoseDataModule

    dm = H36MPoseDataModule(root=None, stride=20, eval_stride=40, batch_size=64)
    dm.prepare_data()
    dm.setup("fit")
    return dm


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_lifting_data):
    """A Lightning checkpoint of a small LinearLifter (width 64) trained for 30 steps."""
    from motionzoo.models.linear import LinearLifter
    from motionzoo.trainer import make_trainer

    directory = tmp_path_factory.mktemp("tiny_checkpoint")
    trainer = make_trainer(
        save_dir=str(directory),
        accelerator="cpu",
        max_steps=30,
        limit_val_batches=1,
        enable_progress_bar=False,
    )
    trainer.fit(LinearLifter(width=64), datamodule=tiny_lifting_data)
    return trainer.checkpoint_callback.last_model_path
