"""Frame grids: rows = sequences, columns = time; the TensorBoard callbacks."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from motionzoo.viz.frames import (
    FrameGridCallback,
    ImageVAEPictures,
    frame_grid,
    label_font,
    save_grid,
)


def frames(n=3, t=4, h=8, w=6, seed=0):
    return torch.rand(n, t, 3, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("pad", [0, 2])
def test_grid_is_rows_by_columns_of_tiles(pad):
    x = frames()
    grid = frame_grid(x, pad=pad)
    assert grid.shape == (3 * 8 + 4 * pad, 4 * 6 + 5 * pad, 3) and grid.dtype == np.uint8
    for n in range(3):
        for t in range(4):
            top, left = pad + n * (8 + pad), pad + t * (6 + pad)
            tile = grid[top : top + 8, left : left + 6]
            want = np.rint((x[n, t].permute(1, 2, 0).numpy() + 1) * 127.5)
            np.testing.assert_array_equal(tile, want.astype(np.uint8))
    if pad:
        assert (grid[:pad] == 255).all() and (grid[:, -pad:] == 255).all()


def test_grid_values_and_errors():
    x = torch.full((1, 2, 1, 4, 4), -1.0)  # grey-scale frames are repeated to RGB
    x[0, 1] = 1.0
    grid = frame_grid(x, pad=0)
    assert (grid[:, :4] == 0).all() and (grid[:, 4:] == 255).all()
    with pytest.raises(ValueError, match=r"\(N, T, C, H, W\)"):
        frame_grid(torch.zeros(2, 3, 4, 4))


def _ink_rows(image: np.ndarray) -> np.ndarray:
    """Row indices with dark (text) pixels."""
    return np.flatnonzero((image < 100).all(-1).any(1))


def test_row_labels_are_written_left_of_their_row():
    x = torch.ones(3, 2, 3, 20, 10)  # white frames: any dark pixel is text
    plain = frame_grid(x, pad=1)
    grid = frame_grid(x, pad=1, row_labels=["input", "", "reconstruction"])
    width = label_font().getbbox("reconstruction")[2]
    assert grid.shape[0] == plain.shape[0] and grid.shape[1] >= plain.shape[1] + width
    np.testing.assert_array_equal(grid[:, -plain.shape[1] :], plain)  # the frames unchanged
    text = _ink_rows(grid[:, : grid.shape[1] - plain.shape[1]])
    rows = [set(range(1 + 21 * i, 21 * (i + 1))) for i in range(3)]
    assert set(text) & rows[0] and set(text) & rows[2], "text beside rows 1 and 3"
    assert not set(text) & rows[1], "no text beside the unlabelled row"
    with pytest.raises(ValueError, match="2 row_labels for 3 rows"):
        frame_grid(x, row_labels=["a", "b"])


def test_save_grid(tmp_path):
    from PIL import Image

    save_grid(tmp_path / "g.png", frames(n=2, t=3), scale=2, pad=1)
    assert Image.open(tmp_path / "g.png").size == (2 * (3 * 6 + 4), 2 * (2 * 8 + 3))


def test_callback_logs_the_first_validation_batch():
    images = []
    writer = SimpleNamespace(
        add_image=lambda tag, img, step, dataformats: images.append(
            (tag, img.shape, step, dataformats)
        )
    )
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=0, is_global_zero=True, global_step=7,
                              loggers=[SimpleNamespace(experiment=writer), SimpleNamespace()])  # fmt: skip
    model = SimpleNamespace(reconstruct=lambda x: -x[:, :2])  # shorter output: padded with blanks
    callback = FrameGridCallback(num_sequences=2, method="reconstruct")
    callback.on_validation_batch_end(trainer, model, None, {"frames": frames(n=5)}, batch_idx=0)
    callback.on_validation_batch_end(
        trainer, model, None, {"frames": frames(n=5, seed=1)}, batch_idx=1
    )
    callback.on_validation_epoch_end(trainer, model)
    # 2 sequences, each above its reconstruction: 4 rows of 4 time steps, pad 1, labelled
    labels = ["sequence 1", "reconstruct", "sequence 2", "reconstruct"]
    x = frames(n=2)
    want = frame_grid(torch.stack([x, torch.cat([-x[:, :2], torch.ones_like(x[:, 2:])], 1)], 1)
                      .flatten(0, 1), row_labels=labels)  # fmt: skip
    assert [i[0] for i in images] == ["val/frames"] and images[0][2:] == (7, "HWC")
    assert images[0][1] == want.shape and want.shape[0] == 4 * 8 + 5 and want.shape[1] > 4 * 6 + 5
    callback.on_validation_epoch_end(trainer, model)  # nothing new collected: nothing logged
    assert len(images) == 1


def test_image_vae_pictures_show_inputs_over_reconstructions_and_prior_samples():
    images = []
    writer = SimpleNamespace(add_image=lambda *args, **kwargs: images.append((args, kwargs)))
    trainer = SimpleNamespace(sanity_checking=False, current_epoch=0, is_global_zero=True,
                              global_step=3, loggers=[SimpleNamespace(experiment=writer)])  # fmt: skip
    samples = frames(n=1, t=6, seed=2)[0]
    model = SimpleNamespace(
        images=lambda batch: batch["frames"].flatten(0, 1),  # as ImageVAE.images
        reconstruct=lambda x: -x,
        generate=lambda n: samples[:n],
    )
    batch = {"frames": frames(n=2, t=4)}  # 8 images, the first 3 are drawn
    callback = ImageVAEPictures(num_images=3)
    callback.on_validation_batch_end(trainer, model, None, batch, batch_idx=0)
    callback.on_validation_epoch_end(trainer, model)
    logged = {args[0]: args[1] for args, _ in images}
    assert [args[2] for args, _ in images] == [3, 3]
    x = batch["frames"].flatten(0, 1)[:3]
    np.testing.assert_array_equal(
        logged["val/reconstructions"],
        frame_grid(torch.stack([x, -x]), row_labels=["input", "reconstruction"]),
    )
    np.testing.assert_array_equal(
        logged["val/samples"],
        frame_grid(samples.reshape(2, 3, 3, 8, 6), row_labels=["z ~ N(0, I)"] * 2),
    )
    trainer.sanity_checking = True  # nothing drawn in the sanity check
    callback.on_validation_batch_end(trainer, model, None, batch, batch_idx=0)
    callback.on_validation_epoch_end(trainer, model)
    assert len(images) == 2
