"""TensorBoard pictures of content / motion sequence models (HamiltonianVAE, DSVAE).

:class:`SequenceModelCallback` works with any model that has the zoo's sequence-model interface
(:mod:`motionzoo.models.families.sequence_vae`; frames (B, T, 3, H, W) in [-1, 1]):
``reconstruct(frames)``, ``generate(n, action, length, content_frames)``, ``swap_motion(a, b)``
and, when the model is action-conditional (it has ``num_actions`` and ``image_to_sequence``),
``image_to_sequence(frame, action, length)``. At the
end of every ``every_n_epochs``-th validation epoch it logs, for ``num_sequences`` validation
sequences spread over the validation set:

Every row is labelled in the image (a text column on the left).

- ``{prefix}/reconstruction_generation``: per sequence three rows, the original, its
  reconstruction, and a sequence generated with its content and motion from the prior (action
  ``i % num_actions`` for sequence i when the model is conditional), ``length`` frames;
- ``{prefix}/motion_swap``: per pair (a, b) four rows: a, b, a's content with b's motion, b's
  content with a's motion (b is the next sequence of the picked ones);
- ``{prefix}/image_to_sequence``: per sequence its real frames, then one row per action k
  generated from its first frame (conditional models only).

Rows shorter than the longest are padded with white frames. Loggers without ``add_image`` are
skipped; nothing is drawn during the sanity check or off the global-zero process.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from einops import rearrange, repeat

from motionzoo.nn.modes import eval_mode
from motionzoo.viz.callback import ValidationPictureCallback
from motionzoo.viz.frames import _pad_time, frame_grid, interleave


def _rows(*sequences: torch.Tensor) -> torch.Tensor:
    """Interleave (N, T_i, C, H, W) tensors row by row, padding them to the longest T."""
    t = max(x.shape[1] for x in sequences)
    return interleave(*(_pad_time(x, t) for x in sequences))


def _labelled(labels: list[list[str]], *sequences: torch.Tensor):
    """(rows of :func:`_rows`, one label per row): ``labels[n][k]`` names row k of group n."""
    return _rows(*sequences), [label for group in labels for label in group]


class SequenceModelCallback(ValidationPictureCallback):
    """Reconstruction / generation rows, motion-swap pairs and one image to every action.

    Args:
        num_sequences: validation sequences drawn (spread evenly over the validation set).
        every_n_epochs: draw on epochs 0, n, 2n, ...
        length: frames of generated sequences (None: the data's length); 16 for 8-frame Sprites
            shows sequences longer than training.
        key: batch key of the frames. prefix: tag prefix.
    """

    def __init__(
        self,
        num_sequences: int = 4,
        every_n_epochs: int = 1,
        length: int | None = None,
        key: str = "frames",
        prefix: str = "val",
    ):
        super().__init__(num_sequences)
        self.every_n_epochs, self.length, self.key, self.prefix = (
            every_n_epochs,
            length,
            key,
            prefix,
        )

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        writers = [getattr(logger, "experiment", None) for logger in trainer.loggers]
        writers = [w for w in writers if hasattr(w, "add_image")]
        batch = self._samples(trainer) if writers else None
        if batch is None:
            return
        frames = batch[self.key].to(pl_module.device)
        with eval_mode(pl_module):
            images = self.pictures(pl_module, frames)
        for writer in writers:
            for tag, (rows, labels) in images.items():
                image = frame_grid(rows, row_labels=labels)
                writer.add_image(tag, image, trainer.global_step, dataformats="HWC")

    def pictures(self, model, frames: torch.Tensor) -> dict[str, tuple[torch.Tensor, list[str]]]:
        """tag -> (rows (R, T, 3, H, W), R row labels) of the pictures for ``frames``
        (N, T, 3, H, W); sequence i is called "i" in the labels (1-based)."""
        n, t = frames.shape[:2]
        length = self.length or t
        k = getattr(model, "num_actions", None)
        names = getattr(model, "action_names", None) or [f"action {j}" for j in range(k or 0)]
        action = None if k is None else torch.arange(n, device=frames.device) % k
        generated = model.generate(n, action=action, length=length, content_frames=frames)
        partner = frames.roll(-1, 0)
        ab, ba = model.swap_motion(frames, partner)
        ids = [(i + 1, (i + 1) % n + 1) for i in range(n)]
        prior = [f"{i}'s content, prior motion" for i, _ in ids]
        if k is not None:
            prior = [f"{text}:\n{names[(i - 1) % k]}" for text, (i, _) in zip(prior, ids)]
        images = {
            f"{self.prefix}/reconstruction_generation": _labelled(
                [[f"sequence {i}", f"{i} reconstructed", p] for (i, _), p in zip(ids, prior)],
                frames,
                model.reconstruct(frames),
                generated,
            ),
            f"{self.prefix}/motion_swap": _labelled(
                [
                    [
                        f"sequence {a}",
                        f"sequence {b}",
                        f"{a}'s content, {b}'s motion",
                        f"{b}'s content, {a}'s motion",
                    ]  # fmt: skip
                    for a, b in ids
                ],
                frames,
                partner,
                ab,
                ba,
            ),
        }
        if k is not None and hasattr(model, "image_to_sequence"):
            # every first frame once per action: (N*K, 3, H, W), action k for row k
            first = repeat(frames[:, 0], "n c h w -> (n k) c h w", k=k)
            actions = torch.arange(k, device=frames.device).repeat(n)
            out = model.image_to_sequence(first, actions, length)
            out = rearrange(out, "(n k) l c h w -> k n l c h w", k=k)
            images[f"{self.prefix}/image_to_sequence"] = _labelled(
                [
                    [f"sequence {i}"] + [f"{i}'s frame 1 + {name}" for name in names[:k]]
                    for i, _ in ids
                ],  # fmt: skip
                frames,
                *out,
            )
        return images
