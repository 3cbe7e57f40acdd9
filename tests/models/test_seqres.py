"""SeqRes, GraphSH's sequential residual baseline: the paper's parameter counts, shapes, a
training step that lowers the loss, and its config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motionzoo.models.families.lifting import count_parameters
from motionzoo.models.seqres import SeqRes

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("conv", "exact", "paper", "tolerance"),
    [
        # Coupled Kipf weights, 128 channels, 4 blocks: 0.1352M, which the paper's two decimals
        # print as 0.14M; 3.4 % below it, the one count outside 3 % (docs/models/seqres.md).
        ("vanilla", 135_171, 0.14e6, 0.035),
        ("semantic", 267_343, 0.27e6, 0.03),  # decoupled, as SemGCN's own 0.27M
        ("preagg", 4_218_243, 4.22e6, 0.03),  # decoupled per-node weights
    ],
)
def test_parameter_counts_match_paper_table_3(conv, exact, paper, tolerance):
    n = count_parameters(SeqRes(conv=conv))
    assert n == exact
    assert round(n / 1e6, 2) == round(paper / 1e6, 2)
    assert abs(n / paper - 1) < tolerance


@pytest.mark.parametrize("conv", ["vanilla", "semantic", "preagg"])
def test_forward_shapes_and_root(conv):
    torch.manual_seed(0)
    model = SeqRes(conv=conv, hidden=16, num_blocks=2).eval()
    out = model(torch.rand(3, 16, 2) * 2 - 1)
    assert out.shape == (3, 16, 3) and (out[:, 0] == 0).all()


@pytest.mark.filterwarnings("ignore:You are trying to `self.log\\(\\)`")
def test_training_steps_lower_the_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    model = SeqRes(conv="preagg", hidden=16, num_blocks=1, lr=3e-3).train()
    pose2d = torch.rand(32, 16, 2) * 2 - 1
    pose3d = 300 * torch.tanh(pose2d @ torch.randn(2, 3))
    batch = {"pose2d": pose2d, "pose3d": pose3d - pose3d[:, :1]}
    optimizer = model.configure_optimizers()["optimizer"]
    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = model.training_step(batch, batch_idx=0)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    # the MSE in metres: the training step fits the network's output to pose3d / pose_scale
    expected = torch.nn.functional.mse_loss(model.net(pose2d), batch["pose3d"] / 1000)
    assert losses[-1] < 0.5 * losses[0]
    assert model.training_step(batch, batch_idx=0).item() == pytest.approx(expected.item())


def test_config_builds_seqres_with_the_graphsh_synthetic_optimiser(tmp_path, monkeypatch):
    from motionzoo.cli import build_cli

    monkeypatch.chdir(tmp_path)
    cli = build_cli(
        ["--config", str(REPO / "configs" / "seqres" / "h36m_synthetic.yaml")], run=False
    )
    assert isinstance(cli.model, SeqRes) and cli.model.hparams.conv == "preagg"
    assert cli.model.hparams.lr == 1e-4 and cli.trainer.gradient_clip_val == 1.0
    assert cli.datamodule.num_joints == 16
