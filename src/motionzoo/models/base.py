"""What every model of the zoo shares: loss logging that refuses NaN/inf with a clear message."""

from __future__ import annotations

from collections.abc import Mapping

import pytorch_lightning as pl
import torch


class NonFiniteLossError(RuntimeError):
    """A loss term became NaN or inf; the message names the step, the stage and the term."""


class ZooModule(pl.LightningModule):
    """Base LightningModule of the zoo.

    ``log_terms(stage, terms)`` logs each loss term as ``{stage}/{name}`` and stops training with
    :class:`NonFiniteLossError` naming the global step and the term when one is not finite.
    """

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Name the class in the hyper-parameters as LightningCLI does, so that
        # `motionzoo test --ckpt_path x.ckpt` rebuilds the model of a checkpoint trained from Python.
        hparams = checkpoint.get("hyper_parameters")
        if hparams is not None and "_class_path" not in hparams:
            hparams["_class_path"] = f"{type(self).__module__}.{type(self).__qualname__}"

    def log_terms(
        self, stage: str, terms: Mapping[str, torch.Tensor], batch_size: int | None = None, **kwargs
    ) -> None:
        for name, value in terms.items():
            value = value.detach()
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
