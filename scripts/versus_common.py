"""What every ``scripts/versus_<family>.py`` shares: a pair of steps, the optimiser steps both
sides take, the parameter-count check and the paper configs. ``scripts/versus.py`` runs them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import torch
import yaml

Step = Callable[[], None]
# found without importing motionzoo (and Lightning): --help stays quick
CONFIGS = Path(find_spec("motionzoo").origin).parent / "configs"


@dataclass
class Pair:
    """A motionzoo step against a reference's: ``build(checkout, batch) -> (ours, reference)``,
    two steps on the same batch. ``marker``: a file every checkout of ``repo`` has (checked
    before building). ``batch``, ``rounds``, ``warmup``: the defaults of the command line."""

    label: str
    repo: str
    marker: str
    build: Callable[[Path, int], tuple[Step, Step]]
    batch: int
    rounds: int = 30
    warmup: int = 5


def adam_step(model: torch.nn.Module, loss: Callable[[], torch.Tensor], clip: float | None) -> Step:
    """``loss()``, backward, (clip the gradient norm), Adam 1e-3 step, in training mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return step


def training_step(
    model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor, clip: float | None
) -> Step:
    """forward, MSE, backward, (clip), Adam step: the lifting papers' training step."""
    return adam_step(model, lambda: torch.nn.functional.mse_loss(model(inputs), targets), clip)


def model_step(model, loss: Callable[[], torch.Tensor], clip: float | None = None) -> Step:
    """zero_grad, ``loss()``, backward, (clip the gradient norm), step of the model's own
    ``configure_optimizers``, as ``motionzoo fit`` steps it."""
    optimizer = model.configure_optimizers()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()

    return step


def paper_model(cls, config: str) -> torch.nn.Module:
    """``cls`` built from the model options of the packaged ``configs/<config>``."""
    return cls(**yaml.safe_load((CONFIGS / config).read_text())["model"]["init_args"])


def count_check(ours: torch.nn.Module, reference: torch.nn.Module) -> None:
    """Stop unless both networks have the same number of parameters."""
    counts = [sum(p.numel() for p in m.parameters()) for m in (ours, reference)]
    if counts[0] != counts[1]:
        raise SystemExit(f"not the same network: {counts[0]:,} vs {counts[1]:,} parameters")
