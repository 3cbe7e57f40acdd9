"""``motionzoo export NAME_OR_PATH --format torchscript|onnx --output FILE``: a lifter's
``forward`` (pose2d (B, J, 2) screen-normalised -> pose3d (B, J, 3) root-relative mm) as a file
that runs without motionzoo: TorchScript (``torch.jit.load``) or ONNX (any ONNX runtime).

Both trace the model in eval mode (dropout off, BatchNorm on its running statistics; GraphSH's
``fused_kernels`` use plain ops in eval mode) on an example batch; the batch size stays free.
ONNX needs the ``onnx`` package (``pip install onnx``) and uses PyTorch's TorchScript-based
exporter (the torch.export-based one needs ``onnxscript`` as well).
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path

import torch
from pytorch_lightning.core.module import _jit_is_scripting

from motionzoo.models.families.lifting import LiftingModule
from motionzoo.nn.modes import eval_mode

FORMATS = ("torchscript", "onnx")


def example_input(model: LiftingModule, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """A batch of random screen-normalised 2D poses (batch, J, 2) for ``model``."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, model.num_joints, 2, generator=g) * 0.3).to(model.device)


def _check_exportable(model, format: str) -> None:
    if not isinstance(model, LiftingModule):
        raise ValueError(
            f"{type(model).__name__} is not a lifter: export takes LinearLifter, SeqRes or GraphSH"
        )
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {FORMATS}")
    if format == "onnx" and importlib.util.find_spec("onnx") is None:
        raise ValueError("--format onnx needs the onnx package: pip install onnx")


def export(
    model: LiftingModule, format: str, path: str | Path, example: torch.Tensor | None = None
) -> Path:
    """Write ``model``'s eval-mode ``forward`` traced on ``example`` (default
    :func:`example_input`) to ``path`` as ``"torchscript"`` or ``"onnx"``; returns the path.
    The model's mode is restored afterwards."""
    _check_exportable(model, format)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = example_input(model) if example is None else example.to(model.device)
    with eval_mode(model), warnings.catch_warnings():
        # tracing is deprecated in favour of torch.export, and walks every attribute
        warnings.simplefilter("ignore")
        # Lightning's ``trainer`` property raises when no Trainer is attached and tracing reads
        # every attribute: trace as Lightning's own ``to_torchscript`` does.
        with _jit_is_scripting():
            if format == "torchscript":
                torch.jit.trace(model, example).save(str(path))
            else:
                torch.onnx.export(
                    model,
                    (example,),
                    str(path),
                    dynamo=False,
                    input_names=["pose2d"],
                    output_names=["pose3d"],
                    dynamic_axes={"pose2d": {0: "batch"}, "pose3d": {0: "batch"}},
                )
    return path


def build_parser(prog: str = "motionzoo export") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Export a lifter (LinearLifter, SeqRes, GraphSH) for inference without "
        "motionzoo: input pose2d (B, J, 2) screen-normalised, output pose3d (B, J, 3) "
        "root-relative mm.",
    )
    parser.add_argument("model", metavar="NAME_OR_PATH", help="a pretrained name or a checkpoint")
    parser.add_argument("--format", choices=FORMATS, default="torchscript", help="file format")
    parser.add_argument(
        "--output", type=Path, help="the file to write (default: <model>.pt or <model>.onnx)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Export one model: exit status 0, or 2 after a one-line error."""
    from motionzoo.pretrained import load_model

    parser = build_parser()
    args = parser.parse_args(argv)
    output = args.output or Path(
        Path(args.model).stem + (".pt" if args.format == "torchscript" else ".onnx")
    )
    try:
        model = load_model(args.model)
        path = export(model, args.format, output)
    except (FileNotFoundError, ValueError) as error:
        sys.stderr.write(f"{parser.prog}: error: {error}\n")
        return 2
    print(f"{path}: {type(model).__name__} as {args.format}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
