import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from motionzoo.viz.latents import LatentUMAPCallback, embed_umap, render_scatter


def two_clusters(n=40, d=8, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.1, (n, d))
    b = rng.normal(5, 0.1, (n, d))
    return np.concatenate([a, b]), np.repeat([0, 1], n)


def test_umap_keeps_separated_clusters_apart():
    x, labels = two_clusters()
    points = embed_umap(x, seed=0)
    assert points.shape == (80, 2)
    centre = [points[labels == k].mean(0) for k in (0, 1)]
    spread = max(np.linalg.norm(points[labels == k] - centre[k], axis=1).mean() for k in (0, 1))
    assert np.linalg.norm(centre[0] - centre[1]) > 3 * spread


def test_umap_rejects_too_few_points():
    with pytest.raises(ValueError, match="N >= 4"):
        embed_umap(np.zeros((2, 3)))


def test_scatter_is_an_rgb_image_with_both_colours():
    x, labels = two_clusters(n=10)
    image = render_scatter(x[:, :2], labels, names=["walk", "run"])
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    # tab10's first two colours (blue, orange) both appear
    pixels = image.reshape(-1, 3).astype(int)
    for colour in ((31, 119, 180), (255, 127, 14)):
        assert (np.abs(pixels - colour).sum(1) < 30).any()


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)

    def training_step(self, batch, _):
        return self.layer(batch[0]).pow(2).mean()

    def validation_step(self, batch, _):
        pass

    def umap_latents(self, batch):
        x, y = batch
        z = self.layer(x)
        return [(z, {"action": y, "modality": torch.zeros_like(y)}), (z + 1, {"action": y})]

    def umap_label_names(self, name):
        return ["a", "b"] if name == "action" else None

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_callback_logs_one_picture_per_common_label(tmp_path):
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(32, 4), torch.randint(0, 2, (32,)))
    logged = []

    class Recorder(LatentUMAPCallback):
        def on_validation_epoch_end(self, trainer, pl_module):
            writer = trainer.logger.experiment
            add_image = writer.add_image
            writer.add_image = lambda tag, *a, **k: (logged.append(tag), add_image(tag, *a, **k))
            try:
                super().on_validation_epoch_end(trainer, pl_module)
            finally:
                writer.add_image = add_image

    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=1,
        num_sanity_val_steps=0,
        callbacks=[Recorder(max_points=20)],
        logger=pl.loggers.TensorBoardLogger(tmp_path),
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Tiny(), DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    # "modality" is not given for every group of codes, so only "action" is drawn
    assert logged == ["umap/action"]


def test_data_labels_colour_the_umap_and_unknown_ones_are_not_drawn(tmp_path, monkeypatch):
    """As AMASS: action -1 everywhere, the DataModule's ``label_names`` name the ``subset`` key."""
    import motionzoo.viz.latents as latents

    class Data(pl.LightningDataModule):
        label_names = {"subset": ("CMU", "KIT", "SFU")}

        def val_dataloader(self):
            x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
            batches = [{"x": x[i : i + 8], "subset": torch.arange(i, i + 8) % 2,
                        "action": torch.full((8,), -1)} for i in range(0, 32, 8)]  # fmt: skip
            return DataLoader(batches, batch_size=None)

    class Model(Tiny):
        def umap_latents(self, batch):
            return [(self.layer(batch["x"]), {"action": batch["action"]})]

    drawn = []
    scatter = latents.render_scatter
    monkeypatch.setattr(latents, "render_scatter", lambda points, labels, names, title:
                        (drawn.append((title, labels.tolist(), names)),
                         scatter(points, labels, names, title))[1])  # fmt: skip
    trainer = pl.Trainer(logger=pl.loggers.TensorBoardLogger(tmp_path), enable_progress_bar=False,
                         callbacks=[LatentUMAPCallback(max_points=100)],
                         enable_model_summary=False)  # fmt: skip
    trainer.validate(Model(), datamodule=Data())
    ((title, labels, names),) = drawn
    assert title == "UMAP by subset" and names == ("CMU", "KIT", "SFU")
    assert sorted(set(labels)) == [0, 1]


def test_legend_names_the_classes_present():
    from matplotlib.legend import Legend

    texts = []
    original = Legend.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        texts.extend(t.get_text() for t in self.get_texts())

    points = np.random.default_rng(0).normal(size=(9, 2))
    Legend.__init__ = record
    try:
        render_scatter(points, np.array([0, 2, 2, -1, 0, 2, 0, -1, 2]), names=["CMU", "KIT", "SFU"])
    finally:
        Legend.__init__ = original
    assert texts == ["unknown", "CMU", "SFU"]
