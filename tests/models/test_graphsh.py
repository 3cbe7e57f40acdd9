"""GraphSH: the paper's parameter counts, shapes, a Lightning fit that lowers the loss and a test
that prints / logs the per-action table, save/load round trips, ``lift`` from pixels, the
learning-rate schedule, the configs, and the public port's tables behind ``port_*`` options
(equality with the port itself: tests/convert/test_graphsh.py)."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from pytorch_lightning.loggers.logger import Logger
from torch.utils.data import DataLoader

from motionzoo.data.base import ArrayDataset, collate_batch
from motionzoo.geometry.camera import h36m_cameras, normalize_screen_coordinates
from motionzoo.models.families.lifting import count_parameters
from motionzoo.models.graphsh import GraphSH, GraphSHNet
from motionzoo.nn.graph import graph_conv
from motionzoo.skeleton import H36M_16
from motionzoo.trainer import make_trainer

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("conv", "exact", "paper"),
    [
        ("vanilla", 224_907, 0.22e6),  # coupled Kipf weights
        ("semantic", 438_657, 0.44e6),  # decoupled self / neighbour weights + edge logits
        ("preagg", 3_685_899, 3.70e6),  # decoupled per-node weights
    ],
)
def test_parameter_counts_match_paper_table_3(conv, exact, paper):
    n = count_parameters(GraphSH(conv=conv))
    assert n == exact
    assert abs(n / paper - 1) < 0.03


def test_forward_is_root_relative_mm():
    torch.manual_seed(0)
    model = GraphSH(conv="semantic", hidden=16, num_stacks=2).eval()
    out = model(torch.rand(5, 16, 2) * 2 - 1)
    assert out.shape == (5, 16, 3)
    assert (out[:, 0] == 0).all()


def fixed_loader(n: int = 64, batch_size: int = 32) -> DataLoader:
    """A learnable toy problem: 3D joints are a fixed smooth function of the 2D ones."""
    g = torch.Generator().manual_seed(0)
    pose2d = torch.rand(n, 16, 2, generator=g) * 2 - 1
    pose3d = 300 * torch.tanh(pose2d @ torch.randn(2, 3, generator=g))
    arrays = {
        "pose2d": pose2d,
        "pose3d": pose3d - pose3d[:, :1],
        "action": torch.arange(n) % 15,
        "subject": torch.full((n,), 9),
        "camera": torch.zeros(n, dtype=torch.long),
    }
    return DataLoader(ArrayDataset(arrays), batch_size=batch_size, collate_fn=collate_batch)


class TextLogger(Logger):
    """Records what the model writes with ``experiment.add_text``."""

    def __init__(self):
        super().__init__()
        self.texts: dict[str, str] = {}

    name = property(lambda self: "text")
    version = property(lambda self: 0)
    experiment = property(lambda self: self)

    def add_text(self, tag, text, step=None):
        self.texts[tag] = text

    def log_metrics(self, metrics, step=None):
        pass

    def log_hyperparams(self, params, *args, **kwargs):
        pass


def test_fit_lowers_the_loss_and_test_prints_and_logs_the_action_table(tmp_path, caplog):
    torch.manual_seed(0)
    model = GraphSH(conv="semantic", hidden=16, num_stacks=1, dropout=0.0, lr=1e-2)
    loader = fixed_loader()
    batch = next(iter(loader))
    with torch.no_grad():
        before = torch.nn.functional.mse_loss(model.eval()(batch["pose2d"]), batch["pose3d"])
    model.train()
    logger = TextLogger()
    trainer = make_trainer(
        max_steps=40,
        gradient_clip_val=1.0,
        logger=logger,
        callbacks=[],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(model, loader)
    with torch.no_grad():
        after = torch.nn.functional.mse_loss(model.eval()(batch["pose2d"]), batch["pose3d"])
    assert after < 0.5 * before

    with caplog.at_level(logging.INFO):
        (metrics,) = trainer.test(model, loader, verbose=False)
    assert "Dir." in caplog.text and "WalkT." in caplog.text and "AUC" in caplog.text
    table = logger.texts["test/per_action"]
    assert table.splitlines()[0].startswith("| mm | Dir. | Disc.")
    avg = float(table.splitlines()[2].split("|")[-2])  # Protocol #1 row, Avg column
    assert avg == pytest.approx(metrics["test/mpjpe_action_mean"], abs=0.05)

    # A Lightning checkpoint restores the same network.
    trainer.save_checkpoint(tmp_path / "graphsh.ckpt")
    restored = GraphSH.load_from_checkpoint(tmp_path / "graphsh.ckpt").eval()
    torch.testing.assert_close(restored(batch["pose2d"]), model.eval()(batch["pose2d"]))


def test_lift_equals_normalise_then_forward_for_any_batch_shape():
    torch.manual_seed(0)
    model = GraphSH(conv="vanilla", hidden=16, num_stacks=1).train()
    camera = h36m_cameras("S1")[0]  # 1000 x 1002 pixels
    pixels = torch.rand(2, 3, 16, 2) * 1000
    lifted = model.lift(pixels, camera)
    assert lifted.shape == (2, 3, 16, 3) and model.training  # the mode is restored
    model.eval()
    manual = model(normalize_screen_coordinates(pixels, 1000, 1002).reshape(6, 16, 2))
    # lift runs with BatchNorm folded (tests/models/test_lift_inference.py): equal to 1e-5 m
    torch.testing.assert_close(lifted, manual.reshape(2, 3, 16, 3), rtol=1e-5, atol=1e-2)
    torch.testing.assert_close(model.lift(pixels.numpy(), res_w=1000, res_h=1002), lifted)
    assert model.lift(pixels[0, 0], camera).shape == (16, 3)
    with pytest.raises(ValueError, match="image size"):
        model.lift(pixels)
    with pytest.raises(ValueError, match=r"\(\.\.\., 16, 2\)"):
        model.lift(np.zeros((4, 17, 2)), camera)


def test_learning_rate_decays_by_0_92_every_20000_steps():
    optimizers = GraphSH(conv="vanilla", hidden=16, num_stacks=1).configure_optimizers()
    schedule = optimizers["lr_scheduler"]["scheduler"]
    assert optimizers["optimizer"].defaults["lr"] == 1e-4
    factors = [schedule.lr_lambdas[0](step) for step in (0, 19_999, 20_000, 45_000)]
    assert factors == pytest.approx([1.0, 1.0, 0.92, 0.92**2])


@pytest.mark.parametrize("name", ["h36m", "h36m_cpn", "h36m_synthetic"])
def test_configs_build_the_papers_setting(name, tmp_path, monkeypatch):
    from motionzoo.cli import build_cli

    monkeypatch.chdir(tmp_path)
    cli = build_cli(["--config", str(REPO / "configs" / "graphsh" / f"{name}.yaml")], run=False)
    assert isinstance(cli.model, GraphSH)
    assert cli.model.hparams.lr == 1e-4
    assert cli.model.hparams.lr_decay == 0.92 and cli.model.hparams.conv == "preagg"
    assert cli.model.hparams.lr_decay_steps == 20_000
    assert cli.trainer.gradient_clip_val == 1.0
    assert cli.datamodule.num_joints == 16 and cli.datamodule.hparams.batch_size == 256
    assert not cli.model.hparams.port_leg_swap and not cli.model.hparams.port_coarse_graph


def unpooled_group(model: GraphSH) -> torch.Tensor:
    """For each of the 16 joints, the 8-node group whose feature the first unpooling copies."""
    coarse = torch.arange(8.0)[:, None, None]  # (8, B=1, C=1): node k carries k
    return model.net.hourglasses[0].unpool[0](coarse).flatten().long()


def test_unpooling_reads_the_pooling_table_and_port_leg_swap_the_ports():
    groups = H36M_16.pool_groups[0]  # coarse 0: (RKnee, RFoot), 1: (LKnee, LFoot)
    paper = unpooled_group(GraphSH(conv="vanilla", hidden=16, num_stacks=1))
    assert all((paper[list(group)] == k).all() for k, group in enumerate(groups))
    port = unpooled_group(GraphSH(conv="vanilla", hidden=16, num_stacks=1, port_leg_swap=True))
    # the port's inv_mid: [3, 2, 1, 1, 2, 0, 0, 3, 4, 4, 7, 6, 6, 7, 5, 5]
    assert port.tolist() == [3, 2, 1, 1, 2, 0, 0, 3, 4, 4, 7, 6, 6, 7, 5, 5]
    assert (port != paper).nonzero().flatten().tolist() == [2, 3, 5, 6]  # the knees and feet


def coarse_edges(model: GraphSH) -> set[tuple[int, int]]:
    """Edges (i < j) of the 4-node graph the hourglasses convolve over."""
    a = model.net.hourglasses[0].down[2].conv.adjacency
    return {(i, j) for i, j in (a > 0).nonzero().tolist() if i < j}


def test_the_coarse_graph_is_the_finer_graph_pooled_and_port_coarse_graph_the_ports_chain():
    # the 8-node graph's edges between different 4-node groups, through the pooling table
    group = {j: k for k, members in enumerate(H36M_16.pool_groups[1]) for j in members}
    pooled = {
        tuple(sorted((group[i], group[j])))
        for i, j in H36M_16.coarse_edges[0]
        if group[i] != group[j]
    }
    paper = GraphSH(conv="vanilla", hidden=16, num_stacks=1)
    assert coarse_edges(paper) == pooled == {(0, 1), (1, 3), (2, 3)}  # arms at the shoulders
    port = GraphSH(conv="vanilla", hidden=16, num_stacks=1, port_coarse_graph=True)
    assert coarse_edges(port) == {(0, 1), (1, 2), (2, 3)}  # the port's adj_low: arms at the torso


def test_port_options_belong_to_the_h36m_16_tables():
    other = dataclasses.replace(H36M_16, name="h36m_16_variant")
    with pytest.raises(ValueError, match="port's tables of the 'h36m_16' skeleton"):
        GraphSHNet(other, "vanilla", 16, 1, 0.0, 8, None, port_leg_swap=True)


@pytest.mark.parametrize("conv", ["convstyle", "nosharing"])
def test_convs_without_a_coupled_form_refuse_decouple(conv):
    with pytest.raises(ValueError, match="no coupled / decoupled choice"):
        graph_conv(conv, 2, 4, H36M_16.adjacency(), decouple=True)
