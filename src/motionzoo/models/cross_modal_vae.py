"""CrossModalVAE: one latent space shared by images, 2D poses and 3D poses (Budaraju, KTH thesis
"3D Human Pose Estimation", after Spurr et al. CVPR 2018; reference code bsridatta/HPE3D
@b37ad62, ``reference/papers.md`` section 3).

Modalities ``rgb`` (images (B, 3, H, W) in [-1, 1]), ``2d`` (poses (B, 17, 2) screen-normalised)
and ``3d`` (poses (B, 17, 3) root-relative mm) each have an encoder to the shared latent; ``3d``
and ``rgb`` have decoders (:mod:`motionzoo.nn.cross_modal`). Training is a list of (encoder,
decoder) ``pairs``, each with its own Adam optimiser (manual optimisation); ``schedule="batch"``
gives every pair one step per batch, ``"epoch"`` one pair per epoch (the reference's
``training_epoch``). Loss of a pair (HPE3D ``get_inp_target_criterion`` / ``KLD``):
``recon + beta * KL / N``, recon the mean over the target's elements, KL to N(0, I) summed over
z, N the target's elements per sample (16 * 3 for 3D, 3 * H * W for images). Poses: 17 joints,
root-centred, root removed, z-scored per joint with the training statistics (thesis
``processing.py``). Metrics after de-normalisation with a zero root (17 joints, as VideoPose3D):
MPJPE (Protocol #1) and P-MPJPE (#2) in mm per source decoded to 3D, per action at test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info
from torch import nn
from torchmetrics import MeanMetric

from motionzoo.metrics.pose import MPJPE, PMPJPE, format_action_table
from motionzoo.models.base import ZooModule
from motionzoo.nn.conv import ConvDiscriminator
from motionzoo.nn.cross_modal import (
    DiscriminatorSimilarity,
    ImageDecoder,
    ImageEncoder,
    PoseDecoder,
    PoseEncoder,
    PoseNormalizer,
    imagenet_denormalize,
    imagenet_normalize,
    rotate_hue,
)
from motionzoo.nn.distributions import KL_SCHEDULES, gaussian_kl, kl_weight_at, reparameterize
from motionzoo.nn.modes import evaluating
from motionzoo.skeleton import H36M_ACTIONS

MODALITIES = ("rgb", "2d", "3d")  # encoder inputs; also the "modality" labels of the UMAP
TARGETS = ("rgb", "3d")
BATCH_KEYS = {"rgb": "image", "2d": "pose2d", "3d": "pose3d"}


def parse_pair(pair: str) -> tuple[str, str]:
    """``"rgb->3d"`` -> ``("rgb", "3d")``; ValueError for anything else."""
    source, sep, target = pair.replace(" ", "").partition("->")
    if not sep or source not in MODALITIES or target not in TARGETS:
        raise ValueError(
            f"pair {pair!r}: expected 'source->target' with source in {MODALITIES} and target "
            f"in {TARGETS}, e.g. '2d->3d', 'rgb->rgb', 'rgb->3d', '3d->rgb'"
        )
    return source, target


class CrossModalVAE(ZooModule):
    """Cross-modal VAE over images, 2D and 3D poses with a shared latent (module docstring).

    Verbs, in the image-VAE family's vocabulary (:mod:`motionzoo.models.families.image_vae`);
    inputs and outputs in batch units (images [-1, 1], pose2d screen-normalised, pose3d mm):

    - ``forward(pose2d=None, image=None) -> (B, 17, 3)`` mm, root-relative: exactly one input,
      decoded to 3D at the posterior mean (2d->3d or rgb->3d), in the current mode;
      :meth:`predict_3d` is the same in eval mode without gradients.
    - ``encode(x, modality="rgb") -> (B, Z)`` posterior mean (:meth:`posterior`: mean and
      clamped log-variance, with gradients, for the training code).
    - ``generate(n, target="rgb") -> (n, 3, H, W)`` in [-1, 1] (or ``"3d"``: (n, 17, 3) mm)
      from z ~ N(0, I); :meth:`translate` / :meth:`generate_image` cross-generate at z = mean.
    - ``_common_step(batch, stage)``: validation / test (training: ``training_step``).

    Args:
        pairs: (encoder, decoder) pairs trained, each ``"source->target"``; pairs share module
            objects, hence the latent.
        schedule: ``"batch"`` (each pair one step per batch) or ``"epoch"`` (a pair per epoch).
        latent_dim: shared latent size (thesis 100). num_joints: 17 (H3.6M; root removed inside).
        image_size: crop side (thesis 256; a multiple of 32). backbone_width: ResNet-18 width
            (64 = torchvision, whose weights ``backbone_weights`` (a file path) loads at fit
            start); freeze_backbone: train only layer4 of it.
        image_decoder_channels: the five transposed convs' widths.
        pose_hidden, pose_encoder_blocks, pose_decoder_blocks: pose MLPs (thesis 512, 5 blocks).
        pose_style: ``"mlp"`` (the thesis text: blocks of Linear + ReLU) or ``"residual"``
            (HPE3D's code: an input Linear-BN-ReLU-Dropout, then ``*_blocks`` residual pairs;
            the reference has 1 of 1024 units), pose_dropout its dropout (0.2).
        kl_normalization: ``"elements"``: a pair's KL divided by its target's elements per
            sample (16 * 3, or 3 * H * W). ``"hpe3d"`` reproduces the reference's ``KLD``:
            images' KL divided by 256 * 256 whatever the size (its own warning says "fix KLD
            loss normalization": it leaves out the 3 colour channels that the L1 averages over,
            a 3x heavier KL), poses' by 16 * 3.
        hue_augmentation: rotate the hue of each training image by a random angle (about the
            grey axis, :func:`~motionzoo.nn.cross_modal.rotate_hue`) in the pairs whose source is
            ``rgb`` (their image targets too): colour is not pose, and subjects whose colours
            the training set lacks (the synthetic test subjects) are then no longer unseen.
        image_units: ``"unit"``: the image decoder writes [-1, 1] images. ``"imagenet"``: it
            writes ImageNet-normalised images, the reference's ``DecoderRGB`` (trained on
            albumentations' ``Normalize()``d targets); its L1 is taken in those units and
            :meth:`translate` / :meth:`generate` map them back to [-1, 1].
        pose_loss: ``"mse"`` (thesis) or ``"l1"`` (its code). image_loss: ``"l1"`` (both),
            ``"mse"`` (mean-seeking: a thin figure on a plain background is not averaged away
            as L1's per-pixel median does while the decoder is still learning) or
            ``"discriminator"``: VAEGAN's feature similarity (:class:`DiscriminatorSimilarity`,
            + ``discriminator_*`` widths, ``feature_layer``), the discriminator trained on L_GAN
            by its own optimiser, the decoder also descending ``gan_weight`` x the
            non-saturating GAN loss.
        beta, beta_schedule, beta_warmup_epochs, beta_anneal_epochs, beta_cycle_epochs,
            beta_cycle_ratio: KL weight and its annealing (:meth:`beta`).
        logvar_max: clamp of the encoders' log-variances (reference 30).
        lr: Adam learning rate of every pair (reference 4e-4); lr_plateau_patience /
            lr_plateau_factor: each pair's ReduceLROnPlateau on its ``val/<pair>/loss`` (10, 0.3).
        action_names: labels of ``action`` (the 15 H3.6M actions).
    """

    batch_keys = BATCH_KEYS  # batch key of each modality

    def __init__(
        self,
        pairs: Sequence[str] = ("2d->3d", "rgb->rgb", "rgb->3d"),
        schedule: Literal["batch", "epoch"] = "batch",
        latent_dim: int = 100,
        num_joints: int = 17,
        image_size: int = 256,
        backbone_width: int = 64,
        freeze_backbone: bool = False,
        backbone_weights: str | None = None,
        image_decoder_channels: Sequence[int] = (256, 128, 64, 32, 16),
        pose_hidden: int = 512,
        pose_encoder_blocks: int = 5,
        pose_decoder_blocks: int = 5,
        pose_style: Literal["mlp", "residual"] = "mlp",
        pose_dropout: float = 0.2,
        pose_loss: Literal["mse", "l1"] = "mse",
        image_loss: Literal["l1", "mse", "discriminator"] = "l1",
        discriminator_channels: Sequence[int] = (128, 256, 256),
        discriminator_stem: int = 32,
        discriminator_hidden: int = 512,
        feature_layer: int = 3,
        gan_weight: float = 0.01,
        beta: float = 0.001,
        beta_schedule: Literal["constant", "linear", "cyclical"] = "constant",
        beta_warmup_epochs: int = 10,
        beta_anneal_epochs: int = 40,
        beta_cycle_epochs: int = 40,
        beta_cycle_ratio: float = 0.5,
        logvar_max: float = 30.0,
        kl_normalization: Literal["elements", "hpe3d"] = "elements",
        image_units: Literal["unit", "imagenet"] = "unit",
        hue_augmentation: bool = False,
        lr: float = 4e-4,
        lr_plateau_patience: int = 10,
        lr_plateau_factor: float = 0.3,
        action_names: Sequence[str] = H36M_ACTIONS,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.pairs = [parse_pair(p) for p in pairs]
        if not self.pairs or len(set(self.pairs)) != len(self.pairs):
            raise ValueError(f"pairs {list(pairs)}: give at least one pair, each once")
        for name, value, allowed in (("schedule", schedule, ("batch", "epoch")),
                                     ("pose_loss", pose_loss, ("mse", "l1")),
                                     ("image_loss", image_loss, ("l1", "mse", "discriminator")),
                                     ("pose_style", pose_style, ("mlp", "residual")),
                                     ("kl_normalization", kl_normalization, ("elements", "hpe3d")),
                                     ("image_units", image_units, ("unit", "imagenet")),
                                     ("beta_schedule", beta_schedule, KL_SCHEDULES)):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"{name} {value!r}; expected one of {allowed}")
        self.action_names = tuple(action_names)
        j = num_joints - 1  # root removed
        sources, targets = ({pair[i] for pair in self.pairs} for i in (0, 1))
        trunk = dict(residual=pose_style == "residual", dropout=pose_dropout)
        builders = {
            "rgb": lambda: ImageEncoder(latent_dim, backbone_width, freeze_backbone),
            "2d": lambda: PoseEncoder(j, 2, latent_dim, pose_hidden, pose_encoder_blocks, **trunk),
            "3d": lambda: PoseEncoder(j, 3, latent_dim, pose_hidden, pose_encoder_blocks, **trunk),
        }
        self.encoders = nn.ModuleDict({m: builders[m]() for m in MODALITIES if m in sources})
        decoders = {
            "rgb": lambda: ImageDecoder(latent_dim, image_size, tuple(image_decoder_channels)),
            "3d": lambda: PoseDecoder(j, 3, latent_dim, pose_hidden, pose_decoder_blocks, **trunk),
        }
        self.decoders = nn.ModuleDict({m: decoders[m]() for m in TARGETS if m in targets})
        self.discriminator = None
        if image_loss == "discriminator" and "rgb" in targets:
            net = ConvDiscriminator(
                tuple(discriminator_channels), discriminator_stem, discriminator_hidden,
                feature_layer, image_size,
            )  # fmt: skip
            self.discriminator = DiscriminatorSimilarity(net)
        self.normalizer = PoseNormalizer(num_joints)
        # metrics: 3D error per source decoded to 3D; each pair's loss (the LR plateau's input)
        self.pose_sources = [s for s, t in self.pairs if t == "3d"]
        n = len(self.action_names)
        self.add_metrics(lambda: {
            **{f"{name}_{s}": cls(num_actions=n) for s in self.pose_sources
               for name, cls in (("mpjpe", MPJPE), ("p_mpjpe", PMPJPE))},
            **{f"{self.tag(pair)}/loss": MeanMetric() for pair in self.pairs},
        })  # fmt: skip

    @staticmethod
    def tag(pair: tuple[str, str]) -> str:
        return f"{pair[0]}_{pair[1]}"

    # --- normalisation (thesis processing.py) --------------------------------------------------
    def set_statistics(self, pose3d_mean, pose3d_std, pose2d_mean, pose2d_std) -> None:
        """Per-joint training statistics: pose3d_* (17, 3) mm of root-relative poses,
        pose2d_* (17, 2) of screen-normalised poses (the root rows are not used)."""
        self.normalizer.set_statistics(pose3d_mean, pose3d_std, pose2d_mean, pose2d_std)

    def _statistics_from_datamodule(self, required: bool) -> None:
        stats = getattr(getattr(self.trainer, "datamodule", None), "train_statistics", None)
        if not bool(self.normalizer.has_statistics) and stats is not None:
            self.set_statistics(**{f"{k}_{s}": stats[f"{k}_{s}"] for k in ("pose3d", "pose2d")
                                   for s in ("mean", "std")})  # fmt: skip
        if required and not bool(self.normalizer.has_statistics):
            raise RuntimeError(
                "CrossModalVAE needs the training pose statistics: use a DataModule with "
                "`train_statistics` (e.g. H36MImageDataModule) or call model.set_statistics(...)"
            )

    def on_fit_start(self) -> None:
        self._statistics_from_datamodule(required=True)

    def on_validation_start(self) -> None:
        self._statistics_from_datamodule(required=False)

    on_test_start = on_predict_start = on_validation_start

    def setup(self, stage: str) -> None:
        path = self.hparams.backbone_weights
        if stage == "fit" and path and "rgb" in self.encoders:
            self.encoders["rgb"].backbone.load_torchvision_weights(path)

    def normalize(self, modality: str, x: torch.Tensor) -> torch.Tensor:
        """Batch units -> network units: images unchanged (checked), poses by the normalizer."""
        size = self.hparams.image_size
        if modality == "rgb" and (x.dim() != 4 or x.shape[1:] != (3, size, size)):
            raise ValueError(f"images of shape {tuple(x.shape)}; expected (B, 3, {size}, {size})")
        return x if modality == "rgb" else self.normalizer(x)

    # --- the model ----------------------------------------------------------------------------
    def _latent(self, modality: str, normalized: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoders[modality](normalized)
        return mu, logvar.clamp(max=self.hparams.logvar_max)

    def posterior(self, x: torch.Tensor, modality: str) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) of x in batch units: (mu, logvar), each (B, Z), logvar clamped at
        ``logvar_max``; in the current mode, with autograd."""
        modality = "rgb" if modality == "image" else modality
        if modality not in self.encoders:
            raise ValueError(
                f"no {modality!r} encoder: this model's pairs are "
                f"{self.hparams.pairs} (encoders {list(self.encoders)})"
            )
        return self._latent(modality, self.normalize(modality, x))

    @evaluating
    def encode(self, x: torch.Tensor, modality: str = "rgb") -> torch.Tensor:
        """Posterior mean (B, Z) of x in batch units (``modality`` ``"rgb"``, ``"2d"``, ``"3d"``)."""
        return self.posterior(x.to(self.device), modality)[0]

    def _decoder(self, target: str) -> nn.Module:
        if target not in self.decoders:
            raise ValueError(f"no {target!r} decoder: this model's pairs are {self.hparams.pairs}")
        return self.decoders[target]

    def _batch_units(self, target: str, out: torch.Tensor) -> torch.Tensor:
        """Decoder output -> pose3d (B, 17, 3) mm root-relative, or images clamped to [-1, 1]."""
        if target == "3d":
            return self.normalizer.pose3d_mm(out)
        return (imagenet_denormalize(out) if self.imagenet_units else out).clamp(-1, 1)

    @property
    def imagenet_units(self) -> bool:
        return self.hparams.image_units == "imagenet"

    def _target(self, target: str, normalized: torch.Tensor) -> torch.Tensor:
        """A decoder's target from the normalised input: poses as they are; images in the
        decoder's units (``image_units``)."""
        return (
            imagenet_normalize(normalized)
            if target == "rgb" and self.imagenet_units
            else normalized
        )

    def _kl_elements(self, target: str, x: torch.Tensor) -> int:
        """KL divisor of a pair (``kl_normalization``): the target's elements per sample, or
        the reference's constants 256 * 256 (images) and 16 * 3 (poses)."""
        if self.hparams.kl_normalization == "hpe3d":
            return 256 * 256 if target == "rgb" else 16 * 3
        return x[0].numel()

    def _translate(self, source: str, target: str, x: torch.Tensor) -> torch.Tensor:
        decoder = self._decoder(target)
        return self._batch_units(target, decoder(self.posterior(x, source)[0]))

    @evaluating
    def translate(self, source: str, target: str, x: torch.Tensor) -> torch.Tensor:
        """Cross-generation with z = mean: x in batch units -> the target in batch units (pose3d
        (B, 17, 3) mm root-relative, image (B, 3, H, W) clamped to [-1, 1])."""
        return self._translate(source, target, x.to(self.device))

    def forward(
        self, pose2d: torch.Tensor | None = None, image: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Exactly one of pose2d (B, 17, 2) screen-normalised or image (B, 3, H, W) in [-1, 1]
        -> pose3d (B, 17, 3) mm, root-relative (2d->3d or rgb->3d at the posterior mean)."""
        if (image is None) == (pose2d is None):
            raise ValueError(
                "forward / predict_3d take exactly one of image=(B, 3, H, W) or pose2d=(B, 17, 2)"
            )
        return self._translate(*(("rgb", "3d", image) if pose2d is None else ("2d", "3d", pose2d)))

    @evaluating
    def predict_3d(self, image: torch.Tensor | None = None, pose2d: torch.Tensor | None = None):
        """:meth:`forward` in eval mode without gradients, on the model's device."""
        image, pose2d = (None if x is None else x.to(self.device) for x in (image, pose2d))
        return self(pose2d=pose2d, image=image)

    @evaluating
    def generate(self, n: int, target: str = "rgb") -> torch.Tensor:
        """n samples decoded from z ~ N(0, I): images (n, 3, H, W) in [-1, 1] (``"rgb"``) or
        poses (n, 17, 3) mm root-relative (``"3d"``)."""
        decoder = self._decoder(target)
        z = torch.randn(n, self.hparams.latent_dim, device=self.device)
        return self._batch_units(target, decoder(z))

    def generate_image(self, pose3d: torch.Tensor) -> torch.Tensor:
        """pose3d (B, 17, 3) mm -> images (B, 3, H, W) in [-1, 1] (3d->rgb, z = mean)."""
        return self.translate("3d", "rgb", pose3d)

    def beta(self, epoch: int | None = None) -> float:
        """KL weight at ``epoch`` (default: the current one), by ``beta_schedule``: constant;
        linear (HPE3D ``beta_annealing``): 0 for ``beta_warmup_epochs``, then up to beta over
        ``beta_anneal_epochs``; cyclical (``beta_cycling``): restarts at 0 every
        ``beta_cycle_epochs``, reaching beta after ``beta_cycle_ratio`` of a cycle."""
        h = self.hparams
        return kl_weight_at(
            self.current_epoch if epoch is None else epoch, h.beta, h.beta_schedule,
            delay_epochs=h.beta_warmup_epochs, warmup_epochs=max(h.beta_anneal_epochs, 1),
            cycle_epochs=h.beta_cycle_epochs, cycle_ratio=h.beta_cycle_ratio,
        )  # fmt: skip

    def pair_terms(self, pair, inputs, latents, beta: float, sample: bool) -> dict:
        """Loss terms of one pair from normalised ``inputs`` and ``latents[source] = (mu,
        logvar)``: ``recon``, ``kl`` (per target element), ``loss`` = recon + beta kl; with the
        discriminator also ``gan`` (L_GAN) and ``generator`` (non-saturating)."""
        source, target = pair
        mu, logvar = latents[source]
        decoder = self.decoders[target]
        out = decoder(reparameterize(mu, logvar) if sample else mu)
        x, terms, h = self._target(target, inputs[target]), {}, self.hparams
        with torch.autocast(device_type=x.device.type, enabled=False):
            kl = (gaussian_kl(mu, logvar).sum(-1) / self._kl_elements(target, x)).mean()
            if target == "rgb" and self.discriminator is not None:
                terms = self.discriminator(x, out, decoder(torch.randn_like(mu)))
                recon = terms.pop("recon")
            elif (h.pose_loss if target == "3d" else h.image_loss) == "mse":
                recon = F.mse_loss(out.float(), x.float())
            else:
                recon = F.l1_loss(out.float(), x.float())
        return {"recon": recon, "kl": kl, "loss": recon + beta * kl, **terms}

    def _inputs_and_latents(self, batch: dict, sources) -> tuple[dict, dict]:
        modalities = set(sources) | {t for _, t in self.pairs}
        inputs = {m: self.normalize(m, batch[BATCH_KEYS[m]]) for m in modalities}
        return inputs, {s: self._latent(s, inputs[s]) for s in set(sources)}

    # --- training -----------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        active = range(len(self.pairs))
        if self.hparams.schedule == "epoch":
            active = [self.current_epoch % len(self.pairs)]
        optimizers = self.optimizers()
        optimizers = optimizers if isinstance(optimizers, list) else [optimizers]
        beta = self.beta()
        self.log("train/beta", beta, on_step=True, on_epoch=False)
        total = 0.0
        for i in active:
            pair = self.pairs[i]
            inputs, latents = self._inputs_and_latents(self._augment(batch, pair), [pair[0]])
            terms = self.pair_terms(pair, inputs, latents, beta, sample=True)
            self.log_terms(
                "train",
                {f"{self.tag(pair)}/{k}": v for k, v in terms.items()},
                batch_size=len(batch["pose3d"]),
            )
            self._update(i, pair, terms, optimizers)
            total += terms["loss"].detach()
        return total

    def _augment(self, batch: dict, pair: tuple[str, str]) -> dict:
        """The batch a training pair sees: with ``hue_augmentation`` and an ``rgb`` source,
        each image's hue turned by its own uniform random angle."""
        if not (self.hparams.hue_augmentation and pair[0] == "rgb"):
            return batch
        images = batch["image"]
        angles = torch.rand(len(images), device=images.device) * (2 * math.pi)
        return {**batch, "image": rotate_hue(images, angles)}

    def _update(self, i: int, pair, terms: dict, optimizers: list) -> None:
        """The pair's optimiser on recon + beta KL; with the discriminator, the decoder also on
        gan_weight x generator and the discriminator (last optimiser) on L_GAN, each loss into
        its own parameters only (as VAEGAN)."""
        opt = optimizers[i]
        opt.zero_grad(set_to_none=True)
        if "gan" not in terms:
            self.manual_backward(terms["loss"])
            opt.step()
            return
        disc_opt = optimizers[-1]
        disc_opt.zero_grad(set_to_none=True)
        params = [p for g in opt.param_groups for p in g["params"]]
        decoder = [p for p in self.decoders[pair[1]].parameters() if p.requires_grad]
        self.manual_backward(terms["loss"], inputs=params, retain_graph=True)
        self.manual_backward(
            self.hparams.gan_weight * terms["generator"], inputs=decoder, retain_graph=True
        )
        self.manual_backward(terms["gan"], inputs=list(self.discriminator.parameters()))
        opt.step()
        disc_opt.step()

    def configure_optimizers(self):
        h, optimizers = self.hparams, []
        for source, target in self.pairs:
            modules = (self.encoders[source], self.decoders[target])
            params = {id(p): p for m in modules for p in m.parameters() if p.requires_grad}
            optimizers.append(torch.optim.Adam(params.values(), lr=h.lr))
        schedulers = [
            torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, factor=h.lr_plateau_factor, patience=h.lr_plateau_patience, threshold=1e-5
            )
            for opt in optimizers
        ]
        if self.discriminator is not None:
            optimizers.append(torch.optim.Adam(self.discriminator.parameters(), lr=h.lr))
        return optimizers, schedulers

    # --- evaluation ---------------------------------------------------------------------------
    def _common_step(self, batch, stage: str) -> None:
        """Validation / test at z = mean: every pair's ``<stage>/<pair>/recon``, ``kl`` and
        ``loss``, and MPJPE / P-MPJPE of every source decoded to 3D."""
        inputs, latents = self._inputs_and_latents(batch, [s for s, _ in self.pairs])
        beta, b = self.beta(), len(batch["pose3d"])
        metrics = self.stage_metrics(stage)
        for pair in self.pairs:
            terms = self.pair_terms(pair, inputs, latents, beta, sample=False)
            tag = self.tag(pair)
            self.log_terms(stage, {f"{tag}/{k}": terms[k] for k in ("recon", "kl")}, batch_size=b)
            metrics[f"{tag}/loss"].update(terms["loss"], weight=b)
        for source in self.pose_sources:
            pred = self.normalizer.pose3d_mm(self.decoders["3d"](latents[source][0]))
            for name in ("mpjpe", "p_mpjpe"):
                metrics[f"{name}_{source}"].update(
                    pred.float(), batch["pose3d"].float(), batch.get("action")
                )

    def predict_step(self, batch, batch_idx, dataloader_idx=0) -> dict[str, torch.Tensor]:
        """``{"pose3d_<source>": (B, 17, 3) mm}`` for every source decoded to 3D."""
        return {
            f"pose3d_{s}": self.translate(s, "3d", batch[BATCH_KEYS[s]]) for s in self.pose_sources
        }

    def _log_stage_metrics(self, stage: str) -> dict[str, torch.Tensor]:
        return self.log_metrics(stage, prog_bar=[f"mpjpe_{s}" for s in self.pose_sources])

    def on_validation_epoch_end(self) -> None:
        results = self._log_stage_metrics("val")
        if self.trainer.sanity_checking or not self.lr_schedulers():
            return
        schedulers = self.lr_schedulers()
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        for scheduler, pair in zip(schedulers, self.pairs):
            scheduler.step(results[f"{self.tag(pair)}/loss"])

    def on_test_epoch_end(self) -> None:
        metrics = self.stage_metrics("test")
        self.per_action_results = {}
        for source in self.pose_sources:
            per_action = {
                name: metrics[f"{name}_{source}"].compute_per_action().cpu()
                for name in ("mpjpe", "p_mpjpe")
            }
            self.per_action_results[source] = per_action
            for name, values in per_action.items():
                self.log(f"test/{name}_{source}_action_mean", values.nanmean())
            rank_zero_info(f"\n{source}->3d\n" + format_action_table(per_action, self.action_names))
            for logger in self.loggers:
                add_text = getattr(logger.experiment, "add_text", None)
                if add_text is not None:
                    table = format_action_table(per_action, self.action_names, markdown=True)
                    add_text(f"test/per_action_{source}", table, self.global_step)
        self._log_stage_metrics("test")

    # --- UMAP of the shared latent (motionzoo.viz.latents.LatentUMAPCallback) -----------------
    def umap_latents(self, batch) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Posterior means of every encoder, labelled by action and modality (rgb 0, 2d 1, 3d 2)."""
        groups = []
        for m in self.encoders:
            mu = self.encode(batch[BATCH_KEYS[m]], m)
            modality = torch.full((len(mu),), MODALITIES.index(m), dtype=torch.long)
            groups.append((mu, {"action": batch["action"], "modality": modality}))
        return groups

    def umap_label_names(self, name: str) -> list[str] | None:
        return {"action": list(self.action_names), "modality": list(MODALITIES)}.get(name)
