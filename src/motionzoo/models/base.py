"""What every model of the zoo shares, whatever its family.

- One step per stage: ``training_step`` / ``validation_step`` / ``test_step`` call
  ``_common_step(batch, stage)`` with ``stage`` in ``{"train", "val", "test"}`` (a model with
  manual optimisation overrides ``training_step`` only).
- One metric container: ``self.metrics``, an ``nn.ModuleDict`` of torchmetrics keyed by the
  logged name ``"<stage>/<metric>"`` (:meth:`add_metrics`); :meth:`log_metrics` computes, logs
  and resets one stage's metrics at the end of its epoch.
- ``log_terms(stage, terms)`` logs loss terms as ``<stage>/<name>`` and stops training with
  :class:`NonFiniteLossError` naming the global step and the term when one is not finite.
- Pictures are drawn by ``motionzoo.viz`` callbacks, never by a model.
- One input language for every verb: :meth:`~ZooModule.check_shape` checks a tensor's shape at
  a verb's entry and names the expected one; :meth:`~ZooModule.action_indices` turns an action
  given as an index, a name (``action_names``) or a tensor into (n,) indices.
- A checkpoint loaded with ``Model.load_from_checkpoint`` is in train mode (Lightning resumes
  training from it); ``motionzoo.load_model(path)`` returns it in eval mode.

The families (``motionzoo.models.families``) add their verbs on top of this.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import Metric

STAGES = ("train", "val", "test")


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or inf; the message names the step, the stage and the term."""


# Hyper-parameters checked by name when a model saves them (before it builds its layers):
# sizes are integers >= 1, counts of things that may be absent (``num_actions``) >= 0,
# probabilities in [0, 1), learning rates > 0.
_SIZE = re.compile(
    r"^(num_(blocks|stacks|joints|frames|layers)|width|hidden|dim|latent|\w+_dim|\w+_hidden"
    r"|\w+_width|\w+_size|\w+_features|\w+_stem|se_reduction)$"
)
_SIZES = re.compile(r"^(hidden|\w+_channels)$")  # lists of sizes
_COUNT = re.compile(r"^num_actions$")
_PROBABILITY = re.compile(r"^(dropout|\w+_dropout|p_dropout)$")
_RATE = re.compile(r"^(lr|\w+_lr)$")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_hyperparameters(owner: str, hparams: Mapping) -> None:
    """A clear ValueError for a size, count, probability or learning rate out of range."""
    for name, value in hparams.items():
        problem = None
        if _SIZE.match(name) and _is_int(value) and value < 1:
            problem = "an integer >= 1"
        elif _SIZES.match(name) and isinstance(value, (list, tuple)):
            if any(_is_int(v) and v < 1 for v in value):
                problem = "integers >= 1"
        elif _COUNT.match(name) and _is_int(value) and value < 0:
            problem = "an integer >= 0"
        elif _PROBABILITY.match(name) and isinstance(value, float | int) and not 0 <= value < 1:
            problem = "a probability in [0, 1)"
        elif _RATE.match(name) and isinstance(value, float | int) and not value > 0:
            problem = "a learning rate > 0"
        if problem:
            raise ValueError(f"{owner}: {name}={value!r}; expected {problem}")


class ZooModule(pl.LightningModule):
    """Base LightningModule of the zoo (module docstring)."""

    def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor | None:
        """The loss of ``batch`` at ``stage`` (``"train"``, ``"val"``, ``"test"``), logged."""
        raise NotImplementedError(f"{type(self).__name__} defines no _common_step")

    def training_step(self, batch, batch_idx):
        return self._common_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        return self._common_step(batch, "val")

    def test_step(self, batch, batch_idx):
        return self._common_step(batch, "test")

    def fused_adam(self) -> bool:
        """Whether Adam may take its fused kernel (one kernel over all parameters, the same
        update, 3-5x faster than the per-tensor loop on CPU): parameters on CPU or CUDA, and full
        precision, since Lightning's mixed precision refuses gradient clipping with an optimizer
        that unscales inside ``step``."""
        precision = str(self._trainer.precision) if self._trainer is not None else "32-true"
        devices = {p.device.type for p in self.parameters()}
        return precision.startswith(("32", "64")) and devices <= {"cpu", "cuda"}

    # --- inputs --------------------------------------------------------------------------------
    def check_shape(self, verb: str, x, name: str, axes: str, **sizes: int) -> None:
        """Raise ValueError unless ``x`` has the shape ``axes`` (e.g. ``"B T J 3"``; a leading
        ``...`` takes any number of dims): digits and the axes named in ``sizes`` must match,
        other letters are free. The message names the expected shape, e.g. ``HGVAE.impute:
        motion (B, T, J, 3) = (B, 50, 18, 3) expected, got (4, 30, 18, 3)``."""
        if torch.jit.is_tracing():  # export: the example input was checked eagerly
            return
        shape = tuple(getattr(x, "shape", ()))
        names = axes.split()
        batch = names[0] == "..."
        fixed = names[1:] if batch else names
        want = [int(a) if a.isdigit() else sizes.get(a) for a in fixed]
        tail = shape[len(shape) - len(fixed) :] if len(shape) >= len(fixed) else None
        ok = (len(shape) >= len(fixed) if batch else len(shape) == len(fixed)) and all(
            w is None or w == s for w, s in zip(want, tail or ())
        )
        if not ok:
            values = [a if w is None else str(w) for a, w in zip(fixed, want)]
            values = ["..."] * batch + values
            got = tuple(shape) if hasattr(x, "shape") else type(x).__name__
            raise ValueError(
                f"{type(self).__name__}.{verb}: {name} ({', '.join(names)}) = "
                f"({', '.join(values)}) expected, got {got}"
            )

    def action_indices(self, action, n: int, verb: str, unknown: bool = False) -> torch.Tensor:
        """``action`` as (n,) long indices on the model's device: an index, a name of
        ``self.action_names``, a sequence of those or a tensor; one value is repeated n times.
        ``unknown``: -1 (the unknown action) is allowed. Raises ValueError naming the known
        actions. K is the ``num_actions`` hyper-parameter."""
        name, k = f"{type(self).__name__}.{verb}", int(self.hparams.get("num_actions") or 0)
        names = getattr(self, "action_names", None)
        if isinstance(action, str) or (
            isinstance(action, Sequence) and any(isinstance(a, str) for a in action)
        ):
            action = [action] if isinstance(action, str) else list(action)
            missing = [a for a in action if isinstance(a, str) and a not in (names or ())]
            if missing:
                raise ValueError(
                    f"{name}: unknown action name(s) {missing}; known: {list(names or [])} "
                    f"(set the action_names hyper-parameter, or pass indices)"
                )
            action = [list(names).index(a) if isinstance(a, str) else a for a in action]
        action = torch.as_tensor(action, device=self.device)
        if action.is_floating_point() or action.is_complex():
            raise ValueError(f"{name}: action must hold integer labels, got {action.dtype}")
        action = action.long()
        action = action.expand(n) if action.numel() == 1 else action
        low = -1 if unknown else 0
        if action.shape != (n,) or bool(((action < low) | (action >= k)).any()):
            known = f" ({', '.join(f'{i} {a}' for i, a in enumerate(names))})" if names else ""
            raise ValueError(
                f"{name}: action must be one index in {low}..{k - 1}{known}, a name, or "
                f"(n,) = ({n},) of them; got {action.tolist()}"
            )
        return action

    def adopt_action_names(self, key: str = "action") -> None:
        """Store the fitted DataModule's names of ``key`` (its ``<key>_names``) as the
        ``action_names`` hyper-parameter when the model has none, so checkpoints carry them."""
        if "action_names" not in self.hparams or self.hparams.action_names:
            return
        dm = getattr(self._trainer, "datamodule", None)
        names, k = getattr(dm, f"{key}_names", None), self.hparams.get("num_actions")
        if names and (not k or len(names) == k):
            self.hparams.action_names = list(names)

    # --- metrics -------------------------------------------------------------------------------
    def add_metrics(
        self, make: Callable[[], Mapping[str, Metric]], stages: Iterable[str] = ("val", "test")
    ) -> None:
        """Register ``make()``'s metrics once per stage in ``self.metrics`` as
        ``"<stage>/<name>"``."""
        if not hasattr(self, "metrics"):
            self.metrics = nn.ModuleDict()
        for stage in stages:
            for name, metric in make().items():
                self.metrics[f"{stage}/{name}"] = metric

    def stage_metrics(self, stage: str) -> dict[str, Metric]:
        """``{name: metric}`` of one stage."""
        prefix = f"{stage}/"
        metrics = getattr(self, "metrics", {})
        return {k.removeprefix(prefix): m for k, m in metrics.items() if k.startswith(prefix)}

    def log_metrics(self, stage: str, prog_bar: Iterable[str] = ()) -> dict[str, torch.Tensor]:
        """Compute, log as ``<stage>/<name>`` and reset the metrics of ``stage``; returns them."""
        results = {}
        prog_bar = set(prog_bar)
        for name, metric in self.stage_metrics(stage).items():
            results[name] = metric.compute()
            self.log(f"{stage}/{name}", results[name], prog_bar=name in prog_bar)
            metric.reset()
        return results

    # --- logging -------------------------------------------------------------------------------
    def log_terms(
        self, stage: str, terms: Mapping[str, torch.Tensor], batch_size: int | None = None, **kwargs
    ) -> None:
        for name, value in terms.items():
            value = torch.as_tensor(value).detach()
            if not torch.isfinite(value).all():
                raise NonFiniteLossError(
                    f"{type(self).__name__}: {stage} loss term {name!r} is {value.item()} at "
                    f"global step {self.global_step} (epoch {self.current_epoch}); lower the "
                    f"learning rate or check the input batch for NaN/inf"
                )
            on_step = stage == "train"
            self.log(
                f"{stage}/{name}",
                value.float(),
                on_step=on_step,
                on_epoch=not on_step,
                batch_size=batch_size,
                sync_dist=not on_step,
                **kwargs,
            )

    # --- checkpoints ---------------------------------------------------------------------------
    def save_hyperparameters(self, *args, ignore=None, frame=None, logger: bool = True) -> None:
        """Lightning's, then :func:`check_hyperparameters` on what was saved (a model saves them
        first in ``__init__``, so a bad size fails here, naming the argument)."""
        frame = frame or inspect.currentframe().f_back
        super().save_hyperparameters(*args, ignore=ignore, frame=frame, logger=logger)
        check_hyperparameters(type(self).__name__, self.hparams)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Name the class in the hyper-parameters as LightningCLI does, so that
        # `motionzoo test --ckpt_path x.ckpt` rebuilds the model of a checkpoint trained from Python.
        hparams = checkpoint.get("hyper_parameters")
        if hparams is not None and "_class_path" not in hparams:
            hparams["_class_path"] = f"{type(self).__module__}.{type(self).__qualname__}"
