"""UMAP pictures of latent codes for TensorBoard (HG-VAE's z0, the cross-modal shared latent).

A model opts in by defining::

    def umap_latents(self, batch) -> list[tuple[Tensor, dict[str, Tensor]]]:
        # one (codes (B, D), labels {name: (B,) long}) pair per group of codes, e.g.
        # [(z_image, {"action": a, "modality": zeros}), (z_pose2d, {"action": a, "modality": ones})]

and, optionally, ``umap_label_names(name) -> list[str] | None`` for a legend (the motion VAEs
give ``encode(motion)`` labelled by action). The DataModule's ``label_names`` (batch key -> class
names, e.g. AMASS's ``{"subset": ("CMU", ...)}``) add those batch keys as labels of every group
of B codes, named in the legend. The callback collects codes (model in eval mode, no gradients)
from the first validation batches (up to ``max_points``), embeds them all with one UMAP fit and
logs one scatter per label that the data has (a label that is -1, unknown, everywhere, as
AMASS's action, is not drawn) as ``umap/<name>``, with a legend naming the classes present.
Only the global-zero process draws.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

from motionzoo.nn.modes import eval_mode  # noqa: E402
from motionzoo.viz.skeleton import figure_to_array  # noqa: E402


def embed_umap(
    latents: np.ndarray | torch.Tensor, seed: int = 0, n_neighbors: int = 15, min_dist: float = 0.1
) -> np.ndarray:
    """latents (N, D) -> (N, 2) UMAP embedding (umap-learn), seeded."""
    import umap  # numba compiles on first import: keep it out of module import time

    x = torch.as_tensor(latents).detach().float().cpu().numpy()
    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"UMAP needs latents (N >= 4, D); got shape {tuple(x.shape)}")
    reducer = umap.UMAP(
        n_neighbors=min(n_neighbors, x.shape[0] - 1),
        min_dist=min_dist,
        random_state=seed,
        n_jobs=1,
    )
    return reducer.fit_transform(x)


def render_scatter(
    points: np.ndarray,
    labels: np.ndarray | torch.Tensor,
    names: list[str] | None = None,
    title: str = "",
    size: float = 5.0,
) -> np.ndarray:
    """points (N, 2), labels (N,) int -> (H, W, 3) uint8 scatter coloured by label, with a legend
    naming each class present (``names[label]``; "unknown" for -1)."""
    labels = torch.as_tensor(labels).cpu().numpy().astype(int)
    values = np.unique(labels)
    colours = plt.get_cmap("tab20" if len(values) > 10 else "tab10")
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=80)
    for i, value in enumerate(values):
        chosen = labels == value
        name = (
            "unknown"
            if value < 0
            else names[value]
            if names is not None and value < len(names)
            else str(value)
        )
        ax.scatter(*points[chosen].T, s=size, color=colours(i % colours.N), label=name)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=6, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return figure_to_array(fig)


class LatentUMAPCallback(pl.Callback):
    """Logs UMAP scatters of the model's latent codes (see module docstring) every
    ``every_n_epochs`` validation epochs, from at most ``max_points`` validation samples."""

    def __init__(self, max_points: int = 1000, every_n_epochs: int = 1, seed: int = 0):
        super().__init__()
        self.max_points, self.every_n_epochs, self.seed = max_points, every_n_epochs, seed
        self._codes: list[torch.Tensor] = []
        self._labels: list[dict[str, torch.Tensor]] = []

    def _active(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> bool:
        return (
            not trainer.sanity_checking
            and trainer.is_global_zero
            and hasattr(pl_module, "umap_latents")
            and trainer.current_epoch % self.every_n_epochs == 0
            and hasattr(getattr(trainer.logger, "experiment", None), "add_image")
        )

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        self._codes, self._labels = [], []

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if not self._active(trainer, pl_module):
            return
        if sum(len(c) for c in self._codes) >= self.max_points:
            return
        extra = {
            key: batch[key]
            for key in getattr(trainer.datamodule, "label_names", {})
            if key in batch
        }
        with eval_mode(pl_module):
            for codes, labels in pl_module.umap_latents(batch):
                labels = {**{k: v for k, v in extra.items() if len(v) == len(codes)}, **labels}
                self._codes.append(codes.detach().float().cpu())
                self._labels.append({k: v.detach().cpu() for k, v in labels.items()})

    def on_validation_epoch_end(self, trainer, pl_module) -> None:
        if not self._active(trainer, pl_module) or not self._codes:
            return
        codes = torch.cat(self._codes)
        names = set.intersection(*(set(labels) for labels in self._labels))
        if len(codes) < 4:
            return
        points = embed_umap(codes, seed=self.seed)
        model_names = getattr(pl_module, "umap_label_names", lambda name: None)
        data_names = getattr(trainer.datamodule, "label_names", {})
        writer = trainer.logger.experiment
        for name in sorted(names):
            labels = torch.cat([labels[name] for labels in self._labels])
            if (labels < 0).all():
                continue  # a label this data does not have
            legend = model_names(name) or data_names.get(name)
            image = render_scatter(points, labels, legend, title=f"UMAP by {name}")
            writer.add_image(f"umap/{name}", image, trainer.global_step, dataformats="HWC")
        self._codes, self._labels = [], []
