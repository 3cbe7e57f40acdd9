"""What every ``scripts/fixtures_<ref>.py`` shares (DESIGN.md section 8): the command line (a
checkout of the reference, ``--commit``, ``--out``), the reference's commit, parameter counts,
the seeded perturbation that moves weights and BatchNorm statistics away from their initial
values (a fresh BatchNorm is the identity in eval mode, a fresh residual branch adds zero: that
would prove nothing), and writing a fixture. A script imports it from its own folder, which
Python puts on the path of a script it runs."""

from __future__ import annotations

import argparse
import subprocess
from pathlib import Path

import torch


class FixtureParser(argparse.ArgumentParser):
    """The command line of a fixture script of ``repo`` (``doc``'s first line describes it): a
    checkout, ``--commit`` and ``--out``; ``parse_args`` resolves ``checkout`` and fills in
    ``commit`` (see :func:`reference_commit`). A script may add its own options."""

    def __init__(self, doc: str, repo: str):
        super().__init__(description=doc.splitlines()[0])
        self.add_argument("checkout", type=Path, help=f"a checkout of {repo}")
        self.add_argument("--commit", help="the checkout's commit (default: git rev-parse HEAD)")
        self.add_argument("--out", type=Path, default=Path("tests/fixtures"))

    def parse_args(self, args=None, namespace=None) -> argparse.Namespace:
        parsed = super().parse_args(args, namespace)
        parsed.checkout = parsed.checkout.resolve()
        parsed.commit = reference_commit(parsed.checkout, parsed.commit)
        return parsed


def reference_commit(checkout: Path, given: str | None) -> str:
    """``given``, or the commit a git checkout is at."""
    if given:
        return given
    try:
        out = subprocess.run(
            ["git", "-C", str(checkout), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        raise SystemExit(
            f"{checkout}: not a git checkout; give the reference commit with --commit"
        ) from None
    return out.stdout.strip()


def perturb(model: torch.nn.Module, generator: torch.Generator) -> None:
    """Every parameter and BatchNorm statistic moved to a seeded random value (variances kept
    positive), so that each one changes the output."""
    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if not tensor.is_floating_point():
                continue
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith("running_var"):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif name.endswith(("running_mean", "bias")):
                tensor.copy_(0.1 * noise)
            elif name.endswith(".e") or (name.endswith("weight") and tensor.dim() == 1):
                tensor.copy_(1.0 + 0.5 * noise)  # SemGConv edge logits, BatchNorm scales
            else:
                tensor.add_(0.1 * noise * tensor.std().clamp(min=0.1))


def count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A copy of ``model``'s state_dict, as a fixture stores it."""
    return {k: v.clone() for k, v in model.state_dict().items()}


def save_fixture(fixture: dict, path: Path, summary: str) -> Path:
    """``fixture`` written to ``path`` (its folder made); prints ``summary`` and the size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(fixture, path)
    print(f"{path}: {summary}, {path.stat().st_size:,} bytes")
    return path
