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

The families (``motionzoo.models.families``) add their verbs on top of this.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import pytorch_lightning as pl
import torch
from torch import nn
from torchmetrics import Metric

STAGES = ("train", "val", "test")


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or inf; the message names the step, the stage and the term."""


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
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Name the class in the hyper-parameters as LightningCLI does, so that
        # `motionzoo test --ckpt_path x.ckpt` rebuilds the model of a checkpoint trained from Python.
        hparams = checkpoint.get("hyper_parameters")
        if hparams is not None and "_class_path" not in hparams:
            hparams["_class_path"] = f"{type(self).__module__}.{type(self).__qualname__}"
