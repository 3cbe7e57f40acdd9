"""Base of the zoo's TensorBoard picture callbacks."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import default_collate


class ValidationPictureCallback(pl.Callback):
    """Draws pictures of ``num_samples`` validation samples spread evenly over the validation set
    (so several actions appear) at the end of each validation epoch.

    Subclasses implement :meth:`draw`; it runs on the global-zero process only, outside the
    sanity check, when the logger can take images and the DataModule has a ``skeleton``.
    """

    def __init__(self, num_samples: int):
        super().__init__()
        self.num_samples = num_samples

    def _samples(self, trainer: pl.Trainer) -> dict[str, torch.Tensor] | None:
        loader = trainer.val_dataloaders
        dataset = getattr(loader[0] if isinstance(loader, list) else loader, "dataset", None)
        if dataset is None or len(dataset) == 0:
            return None
        index = torch.linspace(0, len(dataset) - 1, self.num_samples).long().unique().tolist()
        return default_collate([dataset[i] for i in index])

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        skeleton = getattr(trainer.datamodule, "skeleton", None)
        writer = getattr(trainer.logger, "experiment", None)
        if skeleton is None or not hasattr(writer, "add_image"):
            return
        batch = self._samples(trainer)
        if batch is not None:
            self.draw(trainer, pl_module, batch, skeleton, writer)

    def draw(self, trainer, pl_module, batch, skeleton, writer) -> None:
        raise NotImplementedError
