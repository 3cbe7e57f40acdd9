"""TensorBoard pictures of the motion VAEs (HG-VAE paper, Figures 1-4): samples per action of a
conditional model and imputation strips (mean-imputed vs MAP vs truth). The third picture of the
paper, the UMAP of z0 coloured by action, is :class:`motionzoo.viz.latents.LatentUMAPCallback`
(the models provide ``umap_latents``).

Both callbacks draw with :func:`motionzoo.viz.motion.render_motion_strip` on the DataModule's
``skeleton``, at the end of each validation epoch, on the global-zero process, when the logger can
take images; they need a model of the motion-VAE family
(:class:`~motionzoo.models.families.motion_vae.MotionVAE`: ``generate(n, action=...)``,
``impute(motion, mask, ...)``, ``train_mean``).
"""

from __future__ import annotations

import torch

from motionzoo.viz.callback import ValidationPictureCallback
from motionzoo.viz.motion import render_motion_strip, stack_strips, tile_strips


def occlude_joints(
    shape: tuple[int, ...], joints: int, frames: tuple[int, int], seed: int = 0
) -> torch.Tensor:
    """(B, T, J, 3) bool mask occluding ``joints`` random joints (all 3 coordinates, chosen per
    sample, seeded) over frames ``[frames[0], frames[1])``: a gap in those joints' tracks."""
    b, t, j, _ = shape
    g = torch.Generator().manual_seed(seed)
    chosen = torch.rand(b, j, generator=g).argsort(1)[:, :joints]
    per_joint = torch.zeros(b, j, dtype=torch.bool).scatter_(1, chosen, True)
    per_frame = torch.zeros(t, dtype=torch.bool)
    per_frame[frames[0] : frames[1]] = True
    return (per_frame[None, :, None] & per_joint[:, None, :])[..., None].expand(b, t, j, 3)


class ActionSamplesCallback(ValidationPictureCallback):
    """Draws ``samples_per_action`` samples ``generate(n, action=k)`` of every action k of a
    conditional model (``hparams.num_actions > 0``; one strip per sample, titled with the
    DataModule's ``action_names``), or ``samples_per_action`` unconditional samples, as one
    TensorBoard image ``tag`` of a page's aspect (:func:`~motionzoo.viz.motion.tile_strips`)."""

    def __init__(self, samples_per_action: int = 1, every: int = 5, tag: str = "samples/actions"):
        super().__init__(num_samples=1)
        self.samples_per_action, self.every, self.tag = samples_per_action, every, tag

    def draw(self, trainer, pl_module, batch, skeleton, writer) -> None:
        num_actions = int(pl_module.hparams.get("num_actions", 0))
        n = self.samples_per_action
        action = torch.arange(num_actions).repeat_interleave(n) if num_actions else None
        samples = pl_module.generate(n * max(num_actions, 1), action=action)
        names = getattr(trainer.datamodule, "action_names", ())
        strips = []
        for i, motion in enumerate(samples):
            k = i // n if num_actions else -1
            what = names[k] if 0 <= k < len(names) else f"action {k}"
            title = f"generated: {what}" if k >= 0 else f"prior sample {i + 1}"
            strips.append(render_motion_strip(motion, skeleton, every=self.every, title=title))
        writer.add_image(self.tag, tile_strips(strips), trainer.global_step, dataformats="HWC")


class ImputationStripCallback(ValidationPictureCallback):
    """For ``num_samples`` validation windows spread over the set, occludes ``joints`` random
    joints over ``frames`` (:func:`occlude_joints`), fills them with the train mean (mean
    imputation) and with the model's MAP ``impute``, and draws three strips per window: mean-
    imputed, MAP, truth; the first two over the truth dotted, titled with the occluded joints and
    the squared error summed over the window (mm^2). One TensorBoard image ``tag``."""

    def __init__(
        self,
        num_samples: int = 2,
        joints: int = 3,
        frames: tuple[int, int] = (10, 40),
        steps: int = 10,
        lr: float = 0.3,
        every: int = 5,
        tag: str = "val/imputation",
    ):
        super().__init__(num_samples)
        self.joints, self.frames, self.steps, self.lr = joints, tuple(frames), steps, lr
        self.every, self.tag = every, tag

    def draw(self, trainer, pl_module, batch, skeleton, writer) -> None:
        # Validation runs under inference mode; imputation needs autograd on fresh tensors.
        with torch.inference_mode(False):
            truth = batch["motion"].to(pl_module.device).clone()
            action = batch["action"].to(pl_module.device).clone() if "action" in batch else None
            action = action if pl_module.hparams.get("num_actions") else None
            mask = occlude_joints(truth.shape, self.joints, self.frames).to(truth.device)
            mean = torch.where(mask, pl_module.train_mean.clone().expand_as(truth), truth)
            imputed = pl_module.impute(truth, mask, self.steps, self.lr, action=action).detach()
        strips = []
        for i in range(len(truth)):
            joints = mask[i].any(0).any(-1).nonzero().flatten().tolist()
            occluded = ", ".join(skeleton.joint_names[j] for j in joints)
            gap = f"occluded {occluded}, frames {self.frames[0]}-{self.frames[1] - 1}"
            for name, motion in (("mean-imputed", mean[i]), ("MAP", imputed[i])):
                error = float((motion - truth[i]).square().sum())
                title = (
                    f"{name} (colour) over truth (dotted), {gap}: squared error {error:.3g} mm^2"
                )
                strips.append(
                    render_motion_strip(
                        motion, skeleton, reference=truth[i], every=self.every, title=title
                    )
                )
            strips.append(render_motion_strip(truth[i], skeleton, every=self.every, title="truth"))
        writer.add_image(self.tag, stack_strips(strips), trainer.global_step, dataformats="HWC")
