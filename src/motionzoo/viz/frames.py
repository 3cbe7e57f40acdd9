"""Frame-sequence grids for TensorBoard: rows = sequences, columns = time steps.

:func:`frame_grid` tiles frames (N, T, 3, H, W) in [-1, 1] into one uint8 RGB image
``(N*H + (N+1)*pad, T*W + (T+1)*pad, 3)``, with ``row_labels`` written in a white column on its
left (what each row is: input, reconstruction, ...); :class:`FrameGridCallback` logs such a grid
of the first validation batch every few epochs, optionally above each sequence its reconstruction
or any other sequences a model method returns; :class:`ImageVAEPictures` logs an image VAE's
reconstructions and prior samples. Numpy and Pillow only (no torchvision); text is drawn with
matplotlib's bundled DejaVu Sans.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cache

import numpy as np
import pytorch_lightning as pl
import torch
from einops import rearrange
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

LABEL_FONT_PX = 11


def to_uint8(
    frames: torch.Tensor | np.ndarray, value_range: tuple[float, float] = (-1.0, 1.0)
) -> np.ndarray:
    """Frames in ``value_range`` -> uint8 (values outside are clipped)."""
    x = (
        frames.detach().float().cpu().numpy()
        if isinstance(frames, torch.Tensor)
        else np.asarray(frames, float)
    )
    lo, hi = value_range
    return np.clip(np.rint((x - lo) / (hi - lo) * 255), 0, 255).astype(np.uint8)


@cache
def label_font(size: int = LABEL_FONT_PX) -> ImageFont.FreeTypeFont:
    """The font of the row labels: DejaVu Sans, shipped with matplotlib."""
    return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)


def label_rows(
    image: np.ndarray, labels: Sequence[str], centres: Sequence[float], margin: int = 4
) -> np.ndarray:
    """``image`` (H, W, 3) uint8 with a white column on its left holding ``labels[i]`` (lines
    split at newlines) right-aligned and centred on row ``centres[i]`` (pixels from the top)."""
    if len(labels) != len(centres):
        raise ValueError(f"{len(labels)} labels for {len(centres)} rows; expected one per row")
    font = label_font()
    width = max(
        (int(font.getbbox(line)[2]) for label in labels for line in label.split("\n")), default=0
    )
    column = Image.new("RGB", (width + 2 * margin, image.shape[0]), "white")
    draw = ImageDraw.Draw(column)
    for label, centre in zip(labels, centres):
        draw.multiline_text(
            (width + margin, centre), label, fill="black", font=font, anchor="rm", align="right"
        )
    return np.concatenate([np.asarray(column), image], axis=1)


def frame_grid(
    frames: torch.Tensor | np.ndarray,
    pad: int = 1,
    pad_value: int = 255,
    value_range: tuple[float, float] = (-1.0, 1.0),
    row_labels: Sequence[str] | None = None,
) -> np.ndarray:
    """frames (N, T, C, H, W) (C = 1 or 3) -> grid (N*H + (N+1)*pad, T*W + (T+1)*pad, 3) uint8,
    sequence n in row n, time step t in column t; with ``row_labels`` (N strings) a column of
    text on the left says what each row is (the grid is that much wider)."""
    if frames.ndim != 5:
        raise ValueError(f"expected frames (N, T, C, H, W); got shape {tuple(frames.shape)}")
    if row_labels is not None and len(row_labels) != frames.shape[0]:
        raise ValueError(
            f"{len(row_labels)} row_labels for {frames.shape[0]} rows of frames; expected one "
            "per row"
        )
    x = to_uint8(frames, value_range)
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    n, t, c, h, w = x.shape
    if c != 3:
        raise ValueError(f"expected 1 or 3 channels; got {c}")
    grid = np.full((n, t, h + pad, w + pad, 3), pad_value, np.uint8)
    grid[:, :, pad:, pad:] = rearrange(x, "n t c h w -> n t h w c")
    grid = rearrange(grid, "n t h w c -> (n h) (t w) c")
    grid = np.pad(grid, ((0, pad), (0, pad), (0, 0)), constant_values=pad_value)
    if row_labels is None:
        return grid
    return label_rows(grid, row_labels, [pad + (h + pad) * i + h / 2 for i in range(n)])


def save_grid(
    path: str | os.PathLike, frames: torch.Tensor | np.ndarray, scale: int = 1, **kwargs
) -> None:
    """Write :func:`frame_grid` of ``frames`` as a PNG, enlarged ``scale`` times (nearest)."""
    image = Image.fromarray(frame_grid(frames, **kwargs))
    if scale != 1:
        image = image.resize((image.width * scale, image.height * scale), Image.Resampling.NEAREST)
    image.save(path)


def interleave(*sequences: torch.Tensor) -> torch.Tensor:
    """Rows of several (N, T, C, H, W) tensors interleaved: a0, b0, a1, b1, ... (same T)."""
    return rearrange(torch.stack(sequences, 1), "n k t c h w -> (n k) t c h w")


class FrameGridCallback(pl.Callback):
    """Log a grid of validation sequences to TensorBoard (tag ``{tag}``) every ``every_n_epochs``.

    Takes the first ``num_sequences`` sequences of the first validation batch (``batch[key]``,
    (B, T, 3, H, W) in [-1, 1]). With ``method`` (e.g. ``"reconstruct"``) the model's
    ``method(frames)`` output (N, T', 3, H, W) is shown under each input sequence (the shorter
    one padded with blank frames). Loggers without ``add_image`` are skipped.
    """

    def __init__(
        self,
        num_sequences: int = 8,
        every_n_epochs: int = 1,
        key: str = "frames",
        method: str | None = None,
        tag: str = "val/frames",
    ):
        super().__init__()
        self.num_sequences, self.every_n_epochs = num_sequences, every_n_epochs
        self.key, self.method, self.tag = key, method, tag
        self._frames: torch.Tensor | None = None

    def _due(self, trainer: pl.Trainer) -> bool:
        return not trainer.sanity_checking and trainer.current_epoch % self.every_n_epochs == 0

    def capture(self, pl_module: pl.LightningModule, batch: dict) -> torch.Tensor:
        """What the first validation batch contributes: its first ``num_sequences`` sequences."""
        return batch[self.key][: self.num_sequences]

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ):
        if batch_idx == 0 and dataloader_idx == 0 and self._due(trainer):
            self._frames = self.capture(pl_module, batch).detach()

    def grid(self, pl_module: pl.LightningModule, frames: torch.Tensor) -> np.ndarray:
        """The image this callback logs for ``frames`` (N, T, 3, H, W): rows labelled
        "sequence n" (and the method's name under each when there is a ``method``)."""
        labels = [f"sequence {i + 1}" for i in range(len(frames))]
        if self.method is not None:
            with torch.no_grad():
                out = getattr(pl_module, self.method)(frames).detach()
            t = max(frames.shape[1], out.shape[1])
            frames = interleave(*(_pad_time(x.to(frames.device), t) for x in (frames, out)))
            labels = [text for label in labels for text in (label, self.method)]
        return frame_grid(frames, row_labels=labels)

    def pictures(
        self, pl_module: pl.LightningModule, frames: torch.Tensor
    ) -> dict[str, np.ndarray]:
        """``{tag: image (H, W, 3) uint8}`` logged for the captured ``frames``."""
        return {self.tag: self.grid(pl_module, frames)}

    def on_validation_epoch_end(self, trainer, pl_module):
        frames, self._frames = self._frames, None
        if frames is None or not trainer.is_global_zero:
            return
        writers = [getattr(logger, "experiment", None) for logger in trainer.loggers]
        writers = [w for w in writers if hasattr(w, "add_image")]
        if not writers:
            return
        for tag, image in self.pictures(pl_module, frames).items():
            for writer in writers:
                writer.add_image(tag, image, trainer.global_step, dataformats="HWC")


class ImageVAEPictures(FrameGridCallback):
    """An image VAE's pictures (:class:`~motionzoo.models.families.image_vae.ImageVAE`) of the
    first ``num_images`` images of the first validation batch (``pl_module.images(batch)``):

    - ``val/reconstructions``: the images in the first row ("input"), their reconstructions
      below ("reconstruction");
    - ``val/samples``: two rows of ``num_images`` images decoded from z ~ N(0, I) (so labelled).
    """

    def __init__(self, num_images: int = 8, every_n_epochs: int = 1):
        super().__init__(num_images, every_n_epochs)

    def capture(self, pl_module, batch) -> torch.Tensor:
        return pl_module.images(batch)[: self.num_sequences]

    def pictures(self, pl_module, images: torch.Tensor) -> dict[str, np.ndarray]:
        n = len(images)
        samples = pl_module.generate(2 * n).reshape(2, n, *images.shape[1:])
        reconstructions = torch.stack([images, pl_module.reconstruct(images)])
        return {
            "val/reconstructions": frame_grid(
                reconstructions, row_labels=["input", "reconstruction"]
            ),
            "val/samples": frame_grid(samples, row_labels=["z ~ N(0, I)", "z ~ N(0, I)"]),
        }


def _pad_time(x: torch.Tensor, t: int) -> torch.Tensor:
    """(N, T, C, H, W) -> (N, t, C, H, W), blank (white, value 1) frames appended."""
    if x.shape[1] == t:
        return x
    blank = x.new_ones(x.shape[0], t - x.shape[1], *x.shape[2:])
    return torch.cat([x, blank], 1)
