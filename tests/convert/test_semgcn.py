"""Reference equivalence (DESIGN.md section 8): SeqRes(conv="semantic") IS SemGCN, with and
without its non-local blocks, and LinearLifter IS the Martinez network of SemGCN's
``models/linear_model.py``. The fixtures hold the reference's own weights, a fixed input and its
eval-mode output, written by ``scripts/fixtures_semgcn.py`` from garyzhao/SemGCN (the
commit is in each fixture); here they are converted and run through our models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import motionzoo
from motionzoo.convert import convert, main, save_converted
from motionzoo.models.families.lifting import count_parameters
from motionzoo.models.linear import LinearLifter
from motionzoo.models.seqres import SeqRes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = [
    ("semgcn_small.pt", "semgcn", {"non_local": False}),
    ("semgcn_nonlocal_small.pt", "semgcn", {"non_local": True}),
    ("martinez_small.pt", "martinez", {"predict_root": False}),
]


def load_fixture(name: str) -> dict:
    return torch.load(FIXTURES / name, weights_only=True)


def reference_output(fixture: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixture's input as (B, J, 2) poses and the reference output as (B, J, 3); the
    Martinez network reads flattened poses and omits the root (zero, as its evaluation pads)."""
    x, y = fixture["input"], fixture["output"]
    if fixture["config"]["model"] == "LinearModel":
        x = x.view(len(x), -1, 2)
        y = torch.cat([torch.zeros(len(y), 1, 3), y.view(len(y), -1, 3)], dim=1)
    return x, y


@pytest.mark.parametrize(("fixture", "source", "options"), CASES)
def test_converted_model_computes_the_reference_function(fixture, source, options):
    data = load_fixture(fixture)
    assert data["reference"]["repo"] == "garyzhao/SemGCN" and len(data["reference"]["commit"]) == 40
    model, info = convert(data["state_dict"], source)
    assert not model.training
    assert options.items() <= info["config"].items()
    # every reference key was used
    assert sorted(info["mapping"]) == sorted(data["state_dict"])
    pose2d, expected = reference_output(data)
    with torch.no_grad():
        out = model.net(pose2d)
        mm = model(pose2d)
    diff = (out - expected).abs().max().item()
    assert diff < 1e-5, f"{fixture}: max abs difference {diff:.3g} from the reference"
    # forward: SemGCN's evaluation (root zero-centred), in millimetres
    root_relative = (expected - expected[:, :1]) * 1000
    diff_mm = (mm - root_relative).abs().max().item()
    assert diff_mm < 1e-2, f"{fixture}: max abs difference {diff_mm:.3g} mm"


def test_a_training_script_checkpoint_keeps_its_epoch_and_error():
    data = load_fixture("semgcn_small.pt")
    checkpoint = {"state_dict": data["state_dict"], "epoch": 50, "error": 42.14, "optimizer": {}}
    _, info = convert(checkpoint, "semgcn")
    assert (info["epoch"], info["error"]) == (50, 42.14)
    assert info["class_path"] == "motionzoo.models.seqres.SeqRes"


def test_an_unknown_source_is_refused():
    state = load_fixture("martinez_small.pt")["state_dict"]
    with pytest.raises(ValueError, match="unknown source 'graphsh'"):
        convert(state, "graphsh")


@pytest.mark.parametrize(("fixture", "source", "options"), CASES)
def test_save_converted_round_trips_through_load_model(tmp_path, fixture, source, options):
    data = load_fixture(fixture)
    model, info = convert(data["state_dict"], source)
    path = save_converted(model, tmp_path / "converted.ckpt", source=source, info=info)
    loaded = motionzoo.load_model(path)
    assert type(loaded) is type(model)
    assert options.items() <= loaded.hparams.items()
    assert torch.load(path, weights_only=True)["converted_from"]["source"] == source
    pose2d, _ = reference_output(data)
    with torch.no_grad():
        assert torch.equal(loaded(pose2d), model(pose2d))
        again = type(model).load_from_checkpoint(path).eval()
        assert torch.equal(again(pose2d), model(pose2d))


def test_main_converts_a_reference_file_and_reports_errors(tmp_path, capsys):
    data = load_fixture("semgcn_nonlocal_small.pt")
    src = tmp_path / "ckpt_semgcn_nonlocal.pth.tar"
    torch.save({"state_dict": data["state_dict"], "epoch": 30, "error": 40.78}, src)
    assert main(["--from", "semgcn", str(src), str(tmp_path / "out.ckpt")]) == 0
    assert "non_local=True" in capsys.readouterr().out
    assert isinstance(motionzoo.load_model(tmp_path / "out.ckpt"), SeqRes)
    assert main(["--from", "martinez", str(src), str(tmp_path / "bad.ckpt")]) == 2
    assert "not a martinez state_dict" in capsys.readouterr().err
    assert not (tmp_path / "bad.ckpt").exists()


@pytest.mark.parametrize(
    ("model", "reference"),
    [
        # garyzhao/SemGCN at its defaults (hid_dim 128, num_layers 4), counted from its code
        # (scripts/fixtures_semgcn.py prints them); its README: 0.27M, 0.43M, 4.29M.
        (lambda: SeqRes(conv="semantic"), 267_343),
        (lambda: SeqRes(conv="semantic", non_local=True), 434_703),
        (lambda: LinearLifter(num_joints=16, predict_root=False), 4_288_557),
    ],
    ids=["semgcn", "semgcn_nonlocal", "martinez"],
)
def test_full_size_parameter_counts_equal_the_reference(model, reference):
    assert count_parameters(model()) == reference


def test_convert_then_test_from_the_command_line(tmp_path, motionzoo_convert, motionzoo_test):
    """A reference-format file -> ``motionzoo convert`` -> ``motionzoo test --ckpt_path``."""
    data = load_fixture("semgcn_small.pt")
    src, dst = tmp_path / "ckpt_semgcn.pth.tar", tmp_path / "semgcn.ckpt"
    torch.save({"state_dict": data["state_dict"], "epoch": 50, "error": 43.8}, src)
    motionzoo_convert("semgcn", src, dst)
    cli = motionzoo_test("seqres/h36m_synthetic", dst)
    converted, _ = convert(data["state_dict"], "semgcn")
    torch.testing.assert_close(cli.model.state_dict(), converted.state_dict())
    assert cli.trainer.callback_metrics["test/mpjpe"] > 0
