"""Sequence VAEs: one content code per image sequence and one motion code per frame
(HamiltonianVAE, DSVAE).

Shapes and units of every verb (B sequences of T frames):

- frames (B, T, 3, H, W) in [-1, 1], H = W = ``image_size`` (checked at each verb's entry, the
  error names the expected shape); action (conditional models): an index, a name of
  ``action_names``, or (B,) of those (:meth:`~motionzoo.models.base.ZooModule.action_indices`);
- ``forward(frames) -> (B, T, 3, H, W)``: the decoder at the posterior means, in the current mode
  and with autograd (``model(x)``, tracing, export); ``reconstruct(frames)`` is the same in eval
  mode without gradients;
- ``encode(frames) -> (content (B, F), motion (B, T, D))``: posterior means, F and D defined by
  each model; ``decode(content, motion) -> frames`` is their inverse; ``encode_content(frames)``
  is ``encode(frames)[0]``;
- ``swap_motion(a, b) -> (a's content with b's motion, b's content with a's motion)``;
- ``generate(n, action=None, length=8, content_frames=None) -> (n, length, 3, H, W)``: motion
  from the prior (in subspace ``action`` for a conditional model, which has ``num_actions``; an
  unconditional one refuses an action), content from N(0, I) or the posterior mean of
  ``content_frames`` (n, T, 3, H, W);
- ``_common_step(batch, stage)``: ``loss_terms`` logged as ``<stage>/<term>``; at val / test also
  ``<stage>/ssim``, ``psnr``, ``mse`` of the reconstruction (per-frame mean, metrics/image.py).
"""

from __future__ import annotations

import torch
from torchmetrics import Metric

from motionzoo.metrics.image import FrameMSE, FramePSNR, FrameSSIM
from motionzoo.models.base import ZooModule
from motionzoo.nn.modes import evaluating


def squared_error(frames: torch.Tensor, recon: torch.Tensor) -> torch.Tensor:
    """sum over frames and pixels of (frames - recon)^2 per sequence, batch mean, in float32:
    -log N(frames | recon, I) without its constant, times 2. (B, T, C, H, W) x 2 -> scalar."""
    with torch.autocast(frames.device.type, enabled=False):
        return (frames.float() - recon.float()).pow(2).sum((1, 2, 3, 4)).mean()


class SequenceVAE(ZooModule):
    """Base of the sequence VAEs (the contract is the module docstring).

    A model defines what differs: ``_posterior_means(frames)`` -> (content, motion),
    ``decode(content, motion)``, ``_sample_motion(n, length, action)`` (the motion prior),
    ``loss_terms(frames, **conditions)`` and ``content_dim`` (F); it registers its metrics with
    ``self.add_metrics`` (``frame_metrics()`` and its own). A conditional model (``num_actions``)
    also overrides ``_generation_actions``, ``_loss_conditions`` (the label of the batch) and
    ``_metric_inputs``. ``configure_optimizers``: Adam with the hyper-parameters ``lr``, ``betas``.
    """

    frames_key: str = "frames"

    @property
    def content_dim(self) -> int:
        raise NotImplementedError

    def _posterior_means(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def decode(self, content: torch.Tensor, motion: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _sample_motion(self, n: int, length: int, action: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def loss_terms(self, frames: torch.Tensor, **conditions) -> dict[str, torch.Tensor]:
        """The negative ELBO's terms per sequence (batch mean) and ``loss``, their weighted sum."""
        raise NotImplementedError

    def check_frames(self, verb: str, frames: torch.Tensor, name: str = "frames") -> None:
        """``frames`` must be (B, T, 3, H, W) with H = W = ``image_size``."""
        size = self.hparams.image_size
        self.check_shape(verb, frames, name, "B T 3 H W", H=size, W=size)

    # ------------------------------------------------------------------------------- verbs
    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """The decoder at the posterior means, (B, T, 3, H, W) -> same (mode and autograd kept)."""
        self.check_frames("forward", frames)
        return self.decode(*self._posterior_means(frames))

    @evaluating
    def encode(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior means: content (B, F) and motion (B, T, D) of frames (B, T, 3, H, W)."""
        self.check_frames("encode", frames)
        return self._posterior_means(frames.to(self.device))

    def encode_content(self, frames: torch.Tensor) -> torch.Tensor:
        """The content code (B, F) of ``encode``."""
        return self.encode(frames)[0]

    @evaluating
    def reconstruct(self, frames: torch.Tensor) -> torch.Tensor:
        """``forward`` in eval mode without gradients."""
        return self(frames.to(self.device))

    @evaluating
    def swap_motion(self, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(a's content with b's motion, b's content with a's motion), each (B, T, 3, H, W);
        each sequence's motion is inferred from its own frames."""
        self.check_frames("swap_motion", a, "a")
        self.check_frames("swap_motion", b, "b")
        dev = self.device
        return self._swap(self._posterior_means(a.to(dev)), self._posterior_means(b.to(dev)))

    def _swap(self, a: tuple, b: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        (content_a, motion_a), (content_b, motion_b) = a, b
        return self.decode(content_a, motion_b), self.decode(content_b, motion_a)

    @evaluating
    def generate(
        self,
        n: int,
        action: int | str | torch.Tensor | None = None,
        length: int = 8,
        content_frames: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """n sequences (n, length, 3, H, W): motion from the prior (see the module docstring),
        content from N(0, I) or the posterior mean of ``content_frames`` (n, T, 3, H, W)."""
        action = self._generation_actions(n, action)
        if content_frames is None:
            content = torch.randn(n, self.content_dim, device=self.device)
        else:
            size = self.hparams.image_size
            self.check_shape(
                "generate", content_frames, "content_frames", "B T 3 H W", B=n, H=size, W=size
            )
            content = self.encode_content(content_frames)
        return self.decode(content, self._sample_motion(n, length, action))

    def _generation_actions(self, n: int, action) -> torch.Tensor | None:
        """The (n,) actions of :meth:`generate`; an unconditional model takes None only."""
        if action is not None:
            raise ValueError(
                f"{type(self).__name__} is unconditional: its motion prior has no action, so "
                f"generate() takes action=None (action-conditional models have num_actions)"
            )
        return None

    # ------------------------------------------------------------------------------- steps
    @staticmethod
    def frame_metrics() -> dict[str, Metric]:
        """Per-frame SSIM, PSNR (data range 2) and MSE of the reconstruction (val / test)."""
        return {"ssim": FrameSSIM(), "psnr": FramePSNR(), "mse": FrameMSE()}

    def _loss_conditions(self, batch: dict[str, torch.Tensor], stage: str) -> dict:
        """Keyword arguments of ``loss_terms`` besides the frames."""
        return {}

    def _metric_inputs(self, batch: dict[str, torch.Tensor]) -> dict[str, tuple]:
        """metric name -> (prediction, target) of one val / test batch."""
        frames = batch[self.frames_key]
        return dict.fromkeys(("ssim", "psnr", "mse"), (self(frames).float(), frames.float()))

    def _common_step(self, batch: dict[str, torch.Tensor], stage: str) -> torch.Tensor:
        frames = batch[self.frames_key]
        terms = self.loss_terms(frames, **self._loss_conditions(batch, stage))
        self.log_terms(stage, terms, batch_size=len(frames))
        if stage != "train":
            inputs = self._metric_inputs(batch)
            for name, metric in self.stage_metrics(stage).items():
                metric.update(*inputs[name])
                self.log(f"{stage}/{name}", metric, on_epoch=True, batch_size=len(frames))
        return terms["loss"]

    def predict_step(self, batch, batch_idx):
        return self.reconstruct(batch[self.frames_key])

    def configure_optimizers(self):
        """Adam(lr, betas); fused where allowed (``ZooModule.fused_adam``): the same update, ~5x
        faster than the per-tensor loop (at 164M parameters on 2 CPU threads 0.7 s instead of
        3.6 s a step, a large share of the paper configs' CPU step)."""
        h = self.hparams
        fused = self.fused_adam()
        return torch.optim.Adam(self.parameters(), lr=h.lr, betas=tuple(h.betas), fused=fused)
