"""Exported lifters compute what the eager model computes: TorchScript and ONNX files of
LinearLifter, SeqRes and GraphSH (tiny sizes, and the published ``graphsh-synthetic``) give the
eager eval-mode output on random 2D poses, at another batch size than the traced one: to 1e-4 mm,
except ONNX Runtime in float32, whose kernels round differently (float32 resolves about 1e-4 mm
at 1000 mm): 1e-3 mm there, and 1e-4 mm for the same graph exported in float64."""

from __future__ import annotations

import pytest
import torch

from motionzoo import load_model
from motionzoo.cli import main as cli
from motionzoo.export import example_input, export
from motionzoo.models import HGVAE, GraphSH, LinearLifter, SeqRes

FORMATS = ["torchscript", "onnx"]  # onnx and onnxruntime are dev dependencies (pyproject.toml)
TOLERANCE_MM = {"torchscript": 1e-4, "onnx": 1e-3}
TINY = {
    "linear": lambda: LinearLifter(width=32),
    "seqres": lambda: SeqRes(hidden=16, num_blocks=1),
    "graphsh": lambda: GraphSH(hidden=16, num_stacks=1),
}


def run_exported(path, fmt: str, x: torch.Tensor) -> torch.Tensor:
    if fmt == "torchscript":
        return torch.jit.load(str(path))(x)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path))
    return torch.from_numpy(session.run(None, {"pose2d": x.numpy()})[0])


def assert_exports_faithfully(model, fmt: str, tmp_path, atol: float | None = None) -> None:
    model.train()  # export traces the eval model and restores the mode
    dtype = next(model.parameters()).dtype
    path = export(model, fmt, tmp_path / f"model.{fmt}", example_input(model).to(dtype))
    assert model.training
    x = example_input(model, batch=7, seed=1).to(dtype)
    with torch.no_grad():
        expected = model.eval()(x)
    atol = TOLERANCE_MM[fmt] if atol is None else atol
    torch.testing.assert_close(run_exported(path, fmt, x), expected, atol=atol, rtol=0)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("name", sorted(TINY))
def test_exported_lifters_match_the_eager_model(name, fmt, tmp_path):
    torch.manual_seed(0)
    assert_exports_faithfully(TINY[name](), fmt, tmp_path)


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_published_graphsh_exports_with_its_fused_kernels(fmt, tmp_path):
    model = load_model("graphsh-synthetic")
    assert model.hparams.get("fused_kernels", True)
    assert_exports_faithfully(model, fmt, tmp_path)


def test_the_onnx_graph_is_the_model_to_1e_4_mm_in_float64(tmp_path):
    assert_exports_faithfully(load_model("graphsh-synthetic").double(), "onnx", tmp_path, 1e-4)


def test_the_command_writes_the_file(tmp_path):
    out = tmp_path / "graphsh.pt"
    with pytest.raises(SystemExit) as exit:
        cli(["export", "graphsh-synthetic", "--format", "torchscript", "--output", str(out)])
    assert exit.value.code == 0 and out.stat().st_size > 0
    x = torch.zeros(3, 16, 2)
    assert torch.jit.load(str(out))(x).shape == (3, 16, 3)


def test_only_lifters_export_and_mistakes_are_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="not a lifter"):
        export(HGVAE(num_joints=4, num_frames=8, levels=[[1, 8]]), "torchscript", tmp_path / "x")
    with pytest.raises(SystemExit) as exit:
        cli(["export", "graphsh-synthetc", "--output", str(tmp_path / "x.pt")])
    assert exit.value.code == 2
    assert "did you mean 'graphsh-synthetic'" in capsys.readouterr().err
