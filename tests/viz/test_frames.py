"""Frame grids: rows = sequences, columns = time; the TensorBoard callbacks."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from motionzoo.viz.frames import FrameGridCallback, ImageVAEPictures, frame_grid, save_grid


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
    # 2 sequences, each above its reconstruction: 4 rows of 4 time steps, pad 1
    assert images == [("val/frames", (4 * 8 + 5, 4 * 6 + 5, 3), 7, "HWC")]
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
    np.testing.assert_array_equal(logged["val/reconstructions"], frame_grid(torch.stack([x, -x])))
    np.testing.assert_array_equal(logged["val/samples"], frame_grid(samples.reshape(2, 3, 3, 8, 6)))
    trainer.sanity_checking = True  # nothing drawn in the sanity check
    callback.on_validation_batch_end(trainer, model, None, batch, batch_idx=0)
    callback.on_validation_epoch_end(trainer, model)
    assert len(images) == 2
