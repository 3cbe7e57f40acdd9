"""Motion strips: one pose per drawn frame side by side, sides coloured, reference dotted."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from motionzoo.data.amass import AMASSDataModule
from motionzoo.data.synthetic.motion_files import write_amass_files
from motionzoo.skeleton import AMASS_18, AMASS_22, H36M_16, H36M_22, H36M_32, smpl_template
from motionzoo.trainer import make_trainer
from motionzoo.viz.motion import (
    MotionStripCallback,
    complete_body,
    render_motion_strip,
    sample_labels,
    stack_strips,
    tile_strips,
)

LEFT, RIGHT, GREY = "#1f77b4", "#d62728", "#888888"


def _count_colour(image: np.ndarray, rgb: str) -> int:
    target = np.array([int(rgb[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image.astype(int) - target).sum(-1) < 30).sum())


def _has_colour(image: np.ndarray, rgb: str) -> bool:
    return _count_colour(image, rgb) > 0


def _motion(skeleton, frames=20, seed=0) -> torch.Tensor:
    """A skeleton-shaped motion: random joints spread like a body, drifting slowly."""
    g = torch.Generator().manual_seed(seed)
    pose = torch.randn(skeleton.num_joints, 3, generator=g) * torch.tensor([150.0, 500.0, 100.0])
    return pose + torch.linspace(0, 1, frames)[:, None, None] * torch.randn(1, 1, 3, generator=g)


def _columns_with_ink(image: np.ndarray) -> np.ndarray:
    ink = (image < 200).any(-1).any(0)
    return np.flatnonzero(np.diff(ink.astype(int)) == 1)  # left edges of inked column runs


def test_strip_draws_every_kth_frame_side_by_side():
    motion = _motion(H36M_22, frames=20)
    every5 = render_motion_strip(motion, H36M_22, every=5)
    every2 = render_motion_strip(motion, H36M_22, every=2)
    assert every5.dtype == np.uint8 and every5.ndim == 3 and every5.shape[2] == 3
    assert every2.shape[0] == every5.shape[0] and every2.shape[1] > 2 * every5.shape[1]
    assert _has_colour(every5, LEFT) and _has_colour(every5, RIGHT)
    # four separate poses (frames 0, 5, 10, 15): four blocks of ink
    assert len(_columns_with_ink(every5)) >= 4


def test_reference_is_drawn_dotted_grey_and_shapes_are_checked():
    motion = _motion(AMASS_18)
    image = render_motion_strip(motion, AMASS_18, reference=motion + 60.0, title="walk")
    alone = render_motion_strip(motion, AMASS_18, title="walk")
    assert _count_colour(image, GREY) > 3 * _count_colour(alone, GREY) + 20
    with pytest.raises(ValueError, match=r"\(T, 18, 3\) for amass_18"):
        render_motion_strip(motion[:, :17], AMASS_18)
    with pytest.raises(ValueError, match="reference"):
        render_motion_strip(motion, AMASS_18, reference=motion[:10])
    stacked = stack_strips([image, image[:, :100]])
    assert stacked.shape == (2 * image.shape[0], image.shape[1], 3)
    assert (stacked[image.shape[0] :, 100:] == 255).all(), "narrow strips are padded white"


def _roots(skeleton) -> int:
    return sum(p < 0 for p in skeleton.parents)


@pytest.mark.parametrize(
    ("skeleton", "full", "hips"),
    [(H36M_22, H36M_32, {1: [-132.948591, 0, 0], 6: [132.948826, 0, 0]}),
     (AMASS_18, AMASS_22, {1: smpl_template("mm")[1], 2: smpl_template("mm")[2]})],
)  # fmt: skip
def test_drawn_body_joins_the_legs_to_the_torso(skeleton, full, hips):
    assert _roots(skeleton) == 3, "the model layout alone: two shins and a torso, unconnected"
    motion = _motion(skeleton, frames=4).numpy()
    drawn, body = complete_body(motion, skeleton)
    assert body is full and drawn.shape == (4, full.num_joints, 3) and _roots(body) == 1
    kept = skeleton.from_32 if skeleton.from_32 is not None else range(4, 22)
    np.testing.assert_array_equal(drawn[:, list(kept)], motion)  # the model's joints untouched
    np.testing.assert_array_equal(drawn[:, 0], 0.0)  # root at the origin
    for joint, rest in hips.items():  # hips at their fixed rest positions, every frame
        np.testing.assert_allclose(drawn[:, joint], np.broadcast_to(rest, (4, 3)), atol=1e-4)
    # a bone from each leg's top model joint (knee) up to a hip, and the hips to the root
    knees = [full.joint_names.index(n) for n in ("RightLeg", "LeftLeg", "r_knee", "l_knee")
             if n in full.joint_names]  # fmt: skip
    assert {full.parents[k] for k in knees} == set(hips) and {full.parents[h] for h in hips} == {0}
    if full is H36M_32:  # duplicated shoulders drawn at the neck (HisRepItself joint_equal)
        np.testing.assert_array_equal(drawn[:, 16], drawn[:, 13])
    unchanged, same = complete_body(motion[..., :16, :], H36M_16)
    assert same is H36M_16 and unchanged.shape == (4, 16, 3)


def test_many_strips_are_tiled_to_a_page_not_a_ribbon():
    strips = [np.full((200, 1000 - 10 * i, 3), i, np.uint8) for i in range(15)]
    page = tile_strips(strips, aspect=1.5)
    assert 1.5 / 1.6 <= page.shape[1] / page.shape[0] <= 1.5 * 1.6
    ribbon = stack_strips(strips)
    assert ribbon.shape[1] / ribbon.shape[0] < 0.4
    assert page.shape[0] * page.shape[1] <= 1.2 * ribbon.shape[0] * ribbon.shape[1]
    # filled column by column: strip 1 under strip 0, all strips present once
    assert (page[200:400, :990] == 1).all()
    values = set(np.unique(page)) - {255}
    assert values == set(range(15))


def test_strip_labels_name_the_action_or_the_data_label():
    batch = {"motion": torch.zeros(3, 5, 18, 3), "action": torch.tensor([-1, -1, -1]),
             "subset": torch.tensor([1, 0, 5])}  # fmt: skip
    amass = type("DM", (), {"action_names": (), "label_names": {"subset": ("CMU", "SFU")}})
    assert sample_labels(amass, batch) == ["SFU", "CMU", "sample 3"]
    h36m = type("DM", (), {"action_names": ("Walking", "Eating")})
    batch["action"] = torch.tensor([1, 0, 0])
    assert sample_labels(h36m, batch) == ["Eating", "Walking", "Walking"]


class _Reconstructor(pl.LightningModule):
    """A model with ``reconstruct``: the callback draws its output over the ground truth."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def reconstruct(self, motion):
        return motion * self.scale

    def training_step(self, batch, batch_idx):
        return (self.reconstruct(batch["motion"]) - batch["motion"]).square().mean()

    def validation_step(self, batch, batch_idx):
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


def test_callback_logs_one_stacked_image(tmp_path, monkeypatch):
    layout = {"CMU": (120.0, ("01",), False), "HumanEva": (60.0, ("S1", "S2"), False),
              "BioMotionLab_NTroje": (60.0, ("rub001",), False)}  # fmt: skip
    write_amass_files(tmp_path / "amass", layout=layout, sequences=2, seconds=(2.2, 2.6))
    dm = AMASSDataModule(
        root=str(tmp_path / "amass"), cache_dir=str(tmp_path / "cache"), batch_size=4
    )
    trainer = make_trainer(
        save_dir=str(tmp_path),
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=1,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        enable_progress_bar=False,
        callbacks=[callback := MotionStripCallback(num_samples=3, every=10)],
    )
    images = []
    monkeypatch.setattr(
        trainer.logger.experiment,
        "add_image",
        lambda tag, image, *a, **k: images.append((tag, image)),
    )
    trainer.fit(_Reconstructor(), datamodule=dm)
    ((tag, image),) = images
    assert tag == "val/motion" and image.dtype == np.uint8 and image.shape[2] == 3
    plain = stack_strips(
        [render_motion_strip(dm.datasets["val"][i]["motion"], AMASS_18, every=10) for i in (0,)]
    )
    assert _count_colour(image, GREY) > 3 * _count_colour(plain, GREY), "ground truth dotted"
    assert len(callback._samples(trainer)["motion"]) == 3
    strip = render_motion_strip(dm.datasets["val"][0]["motion"], AMASS_18, every=10, title="x")
    assert image.shape[0] == 3 * strip.shape[0]
    # every window says which sub-dataset it comes from (batch key "subset")
    assert dm.subset_names == ("CMU", "HumanEva", "BioMotionLab_NTroje")
    assert dm.label_names == {"subset": dm.subset_names}
    for split, subset in (("train", 0), ("val", 1), ("test", 2)):
        windows = dm.datasets[split]
        assert windows[0]["subset"] == subset
        assert windows.__getitems__([0, len(windows) - 1])["subset"].tolist() == [subset] * 2
