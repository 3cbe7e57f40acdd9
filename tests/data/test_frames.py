"""The frames view: single images of Sprites and MUG sequences, traceable to their source."""

from __future__ import annotations

import pytest
import torch

from motionzoo.data.base import ArrayDataset
from motionzoo.data.frames import FramesDataModule, SequenceFrames
from motionzoo.data.sprites import SpritesDataModule


@pytest.fixture(scope="module")
def sprites(tmp_path_factory):
    dm = SpritesDataModule(root=str(tmp_path_factory.mktemp("sprites")), synthetic_into_root=True,
                           synthetic_characters=6, val_fraction=0.25, batch_size=4)  # fmt: skip
    dm.prepare_data()
    return dm


def test_every_frame_of_every_sequence_once_in_evaluation(sprites):
    view = FramesDataModule(sprites, frames_per_sequence=None, batch_size=16)
    view.setup("test")
    source = sprites.datasets["test"]
    frames = view.datasets["test"]
    assert len(frames) == 8 * len(source)
    batch = next(iter(view.test_dataloader()))
    assert batch["image"].shape == (16, 3, 64, 64) and batch["image"].dtype == torch.float32
    assert batch["frame"].tolist() == list(range(8)) * 2
    first_two = source.__getitems__([0, 1])
    torch.testing.assert_close(batch["image"], first_two["frames"].flatten(0, 1))
    for key in ("action", "attributes", "body", "direction"):
        torch.testing.assert_close(batch[key], first_two[key].repeat_interleave(8, 0))


def test_frames_per_sequence_spreads_evenly_in_evaluation_and_randomly_in_training(sprites):
    view = FramesDataModule(sprites, frames_per_sequence=3, batch_size=6)
    view.setup("fit")
    assert set(view.datasets) == {"train", "val"}
    val = next(iter(view.val_dataloader()))
    assert val["frame"].tolist() == [0, 4, 7, 0, 4, 7]  # round(j * 7 / 2)
    torch.manual_seed(0)
    train = view.datasets["train"]
    seen = torch.stack([train.__getitems__(list(range(3)))["frame"] for _ in range(40)])
    # slot j draws from its stretch [8j/3, 8(j+1)/3): {0, 1}, {2, 3, 4}, {5, 6, 7}
    for slot, stretch in enumerate(({0, 1}, {2, 3, 4}, {5, 6, 7})):
        assert set(seen[:, slot].tolist()) == stretch
    item = train[4]  # sequence 1, slot 1
    sequence = sprites.datasets["train"][1]
    torch.testing.assert_close(item["image"], sequence["frames"][item["frame"]])
    assert item["action"] == sequence["action"]


def test_mug_frames_from_a_config(tmp_path):
    view = FramesDataModule(
        {"class_path": "motionzoo.data.mug.MUGDataModule", "init_args": {
            "root": str(tmp_path / "mug"), "synthetic_into_root": True, "synthetic_subjects": 2,
            "synthetic_takes": 1, "synthetic_frames": 16, "synthetic_size": 64,
            "split_by": "take", "val_fraction": 0.25, "test_fraction": 0.25,
            "cache_dir": str(tmp_path / "cache")}},
        frames_per_sequence=2, batch_size=4,
    )  # fmt: skip
    view.prepare_data()
    view.setup("fit")
    batch = next(iter(view.train_dataloader()))
    assert batch["image"].shape == (4, 3, 64, 64)
    assert batch["image"].min() >= -1 and batch["image"].max() <= 1
    assert {"identity", "expression", "action", "frame"} <= set(batch)


def test_sources_without_frames_or_too_few_frames_are_refused():
    poses = ArrayDataset({"pose3d": torch.zeros(4, 16, 3)})
    with pytest.raises(KeyError, match="no 'frames'"):
        SequenceFrames(poses, None, False)
    clips = ArrayDataset({"frames": torch.zeros(4, 8, 3, 64, 64)})
    with pytest.raises(ValueError, match="frames_per_sequence 9: sequences have 8 frames"):
        SequenceFrames(clips, 9, False)
    with pytest.raises(TypeError, match="LightningDataModule or a config"):
        FramesDataModule("sprites")
