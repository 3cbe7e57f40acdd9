"""TensorBoard pictures of the cross-modal VAE (:class:`~motionzoo.models.cross_modal_vae.CrossModalVAE`).

:class:`CrossModalPictureCallback` draws, for a few validation samples spread over the set:

- ``val/pose3d_from_<source>``: the 3D poses decoded from each source that the model decodes to
  3D (``rgb``, ``2d``, ``3d``), solid and coloured by side, over the truth (dashed grey), with
  :func:`motionzoo.viz.skeleton.render_poses`;
- ``val/images``: a grid (:func:`motionzoo.viz.frames.frame_grid`) with the real crops in the
  first row, then ``rgb->rgb`` reconstructions and ``3d->rgb`` renders when the model has them,
  each row labelled in the image.

The UMAP of the shared latent coloured by action and by modality is
:class:`motionzoo.viz.latents.LatentUMAPCallback` (the model provides ``umap_latents``); add
both callbacks to a config.
"""

from __future__ import annotations

import torch

from motionzoo.skeleton import H36M_17
from motionzoo.viz.callback import ValidationPictureCallback
from motionzoo.viz.frames import frame_grid
from motionzoo.viz.skeleton import render_poses


class CrossModalPictureCallback(ValidationPictureCallback):
    """3D predictions from every source vs the truth, and generated images next to real crops,
    for ``num_samples`` validation samples (the skeleton defaults to ``H36M_17`` when the
    DataModule names none)."""

    def __init__(self, num_samples: int = 6):
        super().__init__(num_samples)

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        writer = getattr(trainer.logger, "experiment", None)
        batch = self._samples(trainer) if hasattr(writer, "add_image") else None
        if batch is not None:
            skeleton = getattr(trainer.datamodule, "skeleton", None) or H36M_17
            self.draw(trainer, pl_module, batch, skeleton, writer)

    def draw(self, trainer, pl_module, batch, skeleton, writer) -> None:
        step = trainer.global_step
        names = getattr(pl_module, "action_names", ())
        titles = [names[a] if 0 <= a < len(names) else "" for a in batch["action"].tolist()]
        for source in pl_module.pose_sources:
            pred = pl_module.translate(source, "3d", batch[pl_module.batch_keys[source]])
            image = render_poses(pred, skeleton, reference=batch["pose3d"], titles=titles)
            writer.add_image(f"val/pose3d_from_{source}", image, step, dataformats="HWC")
        if "rgb" not in pl_module.decoders:
            return
        real = batch["image"].to(pl_module.device)
        sources = [source for source in ("rgb", "3d") if source in pl_module.encoders]
        rows = [real] + [
            pl_module.translate(source, "rgb", batch[pl_module.batch_keys[source]])
            for source in sources
        ]
        labels = ["real crop"] + [f"{source} -> rgb" for source in sources]
        grid = frame_grid(torch.stack(rows).float(), row_labels=labels)
        writer.add_image("val/images", grid, step, dataformats="HWC")
