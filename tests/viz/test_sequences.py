"""SequenceModelCallback: the image tags and the rows it draws, for an unconditional model (DSVAE)
and an action-conditional one (a test double with the HamiltonianVAE interface)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from motionzoo.data.base import ArrayDataset
from motionzoo.models.baselines.dsvae import DSVAE
from motionzoo.viz.sequences import SequenceModelCallback

H = W = 64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class Conditional(nn.Module):
    """Interface double: image_to_sequence paints action k as the grey level -1 + k / 2."""

    num_actions = 3
    device = torch.device("cpu")

    def reconstruct(self, frames):
        return -frames

    def generate(self, n, action=None, length=8, content_frames=None):
        assert torch.equal(action, torch.arange(n) % 3)
        return torch.zeros(n, length, 3, H, W)

    def swap_motion(self, a, b):
        return b, a

    def image_to_sequence(self, frame, action, length):
        assert self.training is False  # drawn in eval mode
        return (-1 + action.float() / 2)[:, None, None, None, None].expand(-1, length, 3, H, W)


def run_callback(model, n_val=7, num_sequences=3, length=16, epoch=0, sanity=False):
    g = torch.Generator().manual_seed(0)
    dataset = ArrayDataset({"frames": torch.rand(n_val, 8, 3, H, W, generator=g) * 2 - 1})
    images = []
    writer = SimpleNamespace(
        add_image=lambda tag, img, step, dataformats: images.append((tag, img))
    )
    trainer = SimpleNamespace(
        sanity_checking=sanity, is_global_zero=True, current_epoch=epoch, global_step=3,
        val_dataloaders=SimpleNamespace(dataset=dataset),
        loggers=[SimpleNamespace(experiment=writer), SimpleNamespace()],
    )  # fmt: skip
    callback = SequenceModelCallback(num_sequences, every_n_epochs=2, length=length)
    callback.on_validation_epoch_end(trainer, model)
    return dict(images), dataset


def tile(grid, row, col, pad=1):
    top, left = pad + row * (H + pad), pad + col * (W + pad)
    return frames_part(grid, 16)[top : top + H, left : left + W]


def frames_part(grid, columns, pad=1):
    """The frames of a grid of ``columns`` time steps: right of the row-label column."""
    return grid[:, -(columns * (W + pad) + pad) :]


def labelled_rows(grid, columns, pad=1):
    """Which rows have text in the label column left of the frames."""
    labels = grid[:, : grid.shape[1] - (columns * (W + pad) + pad)]
    ink = (labels < 100).all(-1).any(1)
    return [
        bool(ink[pad + r * (H + pad) : (r + 1) * (H + pad)].any())
        for r in range(len(ink) // (H + pad))
    ]


def test_conditional_model_gets_every_picture_and_the_right_rows():
    model = Conditional().train()
    images, dataset = run_callback(model)
    assert set(images) == {"val/reconstruction_generation", "val/motion_swap",
                           "val/image_to_sequence"}  # fmt: skip
    width = 16 * (W + 1) + 1  # 16 generated frames; the 8 real ones are padded with white
    for tag, rows, columns in (("reconstruction_generation", 9, 16), ("motion_swap", 12, 8),
                               ("image_to_sequence", 12, 16)):  # fmt: skip
        grid = images[f"val/{tag}"]
        assert grid.shape[0] == rows * (H + 1) + 1 and grid.shape[1] > columns * (W + 1) + 1 + 50
        assert all(labelled_rows(grid, columns)), f"{tag}: every row labelled in the image"
    grid = images["val/image_to_sequence"]
    assert frames_part(grid, 16).shape[1] == width
    # sequences 0, 3, 6 of 7 (spread over the set); per sequence its frames, then actions 0..2
    real = dataset.arrays["frames"][3, 2].permute(1, 2, 0).numpy()
    np.testing.assert_array_equal(tile(grid, 4, 2), np.rint((real + 1) * 127.5).astype(np.uint8))
    assert (tile(grid, 4, 12) == 255).all()  # padding after the 8 real frames
    for k in range(3):
        assert (tile(grid, 4 + 1 + k, 12) == round((k / 2) * 127.5)).all()
    assert model.training  # mode restored


def test_row_labels_say_what_each_row_is():
    model = Conditional().eval()
    frames = torch.rand(2, 8, 3, H, W) * 2 - 1
    pictures = SequenceModelCallback(2, length=8).pictures(model, frames)
    rows, labels = pictures["val/reconstruction_generation"]
    assert len(rows) == len(labels) == 6
    assert labels[:3] == ["sequence 1", "1 reconstructed", "1's content, prior motion:\naction 0"]
    assert pictures["val/motion_swap"][1][:4] == [
        "sequence 1",
        "sequence 2",
        "1's content, 2's motion",
        "2's content, 1's motion",
    ]
    assert pictures["val/image_to_sequence"][1][:4] == [
        "sequence 1",
        "1's frame 1 + action 0",
        "1's frame 1 + action 1",
        "1's frame 1 + action 2",
    ]


def test_unconditional_model_has_no_image_to_sequence_and_epochs_are_skipped():
    torch.manual_seed(0)
    model = DSVAE(f_dim=6, z_dim=3, hidden_dim=8, encoder_channels=[4, 4, 4],
                  encoder_strides=[2, 2, 2], encoder_hidden=16, conv_dim=8, decoder_hidden=16,
                  decoder_start_channels=4, decoder_channels=[4, 4, 4])  # fmt: skip
    images, _ = run_callback(model, num_sequences=2, length=None)
    assert set(images) == {"val/reconstruction_generation", "val/motion_swap"}
    grid = images["val/reconstruction_generation"]
    assert grid.shape[0] == 2 * 3 * (H + 1) + 1 and grid.shape[1] > 8 * (W + 1) + 1
    assert all(labelled_rows(grid, 8))
    assert run_callback(model, epoch=1)[0] == {}  # every_n_epochs=2
    assert run_callback(model, sanity=True)[0] == {}


def test_images_reach_tensorboard_event_files(tmp_path):
    """Through a real Trainer and TensorBoardLogger: one epoch of a tiny DSVAE writes the tags."""
    from pytorch_lightning import Trainer
    from pytorch_lightning.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from motionzoo.data.sprites import SpritesDataModule

    torch.manual_seed(0)
    model = DSVAE(f_dim=6, z_dim=3, hidden_dim=8, encoder_channels=[4, 4, 4],
                  encoder_strides=[2, 2, 2], encoder_hidden=16, conv_dim=8, decoder_hidden=16,
                  decoder_start_channels=4, decoder_channels=[4, 4, 4])  # fmt: skip
    dm = SpritesDataModule(cache_dir=str(tmp_path / "data"), synthetic_characters=3,
                           batch_size=4, val_fraction=0.5)  # fmt: skip
    logger = TensorBoardLogger(str(tmp_path), name="tb")
    trainer = Trainer(max_epochs=1, limit_train_batches=1, limit_val_batches=1, logger=logger,
                      callbacks=[SequenceModelCallback(2, length=10)], accelerator="cpu",
                      enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0)  # fmt: skip
    trainer.fit(model, dm)
    events = EventAccumulator(logger.log_dir, size_guidance={"images": 0})
    events.Reload()
    tags = set(events.Tags()["images"])
    assert tags == {"val/reconstruction_generation", "val/motion_swap"}
    image = events.Images("val/reconstruction_generation")[0]
    assert image.height == 2 * 3 * (H + 1) + 1 and image.width > 10 * (W + 1) + 1
