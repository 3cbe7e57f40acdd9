"""CrossModalVAE: one latent space shared by images, 2D poses and 3D poses (Budaraju, KTH thesis
"3D Human Pose Estimation", after Spurr et al. CVPR 2018 "Cross-modal deep variational hand pose
estimation"; reference code bsridatta/HPE3D @b37ad62, ``reference/papers.md`` section 3).

Modalities ``rgb`` (image crops (B, 3, H, W) in [-1, 1]), ``2d`` and ``3d`` (poses) each have an
encoder to the shared latent; ``3d`` and ``rgb`` have decoders (:mod:`motionzoo.nn.cross_modal`).
Training is a list of (encoder, decoder) ``pairs`` such as ``["2d->3d", "rgb->rgb", "rgb->3d"]``
(the reference's variant 4), each with its own Adam optimiser over its encoder and decoder
(manual optimisation); since pairs share module objects they share the latent. With
``schedule="batch"`` every batch gives each pair one step, in list order; ``"epoch"`` trains
one pair per epoch in turn, as the reference's ``training_epoch``.

Loss of a pair, per batch (reference ``train_utils.get_inp_target_criterion`` / ``model_utils.KLD``):
``recon + beta * KL / N``, where recon is the mean over the target's elements (pose ``mse`` as
the thesis text or ``l1`` as its code; image ``l1``, or ``discriminator``: the VAEGAN feature
similarity 0.5 (Dis_l(x) - Dis_l(x~))^2, Larsen et al. eq. 2.12, with the discriminator trained
on L_GAN by its own optimiser and the decoder also descending ``gan_weight`` x the
non-saturating GAN loss), KL the analytic KL to N(0, I) summed over the latent, N the target's
elements per sample (16 * 3 for 3D, 3 * H * W for images). logvar is clamped at ``logvar_max``
(30, the reference). ``beta`` follows ``beta_schedule`` (:func:`beta_at`).

Poses (thesis ``processing.py``): 17 H3.6M joints, root-centred, root removed (16), z-scored per
joint with the training statistics (buffers, from the DataModule's ``train_statistics`` or
:meth:`CrossModalVAE.set_statistics`); 2D poses keep their root offset (perspective) but drop the
root joint. Validation uses z = mean. Metrics, after de-normalisation with a zero root
re-inserted (17 joints, as VideoPose3D): MPJPE (Protocol #1) and P-MPJPE (#2) in mm per source,
``val/mpjpe_rgb``, ``val/mpjpe_2d``, ``val/p_mpjpe_rgb``, ...; per action at test.

Batch (DESIGN.md section 3, cross-modal): ``pose2d`` (B, 17, 2) screen-normalised, ``pose3d``
(B, 17, 3) root-relative mm, ``action`` (B,), ``image`` (B, 3, H, W) in [-1, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from pytorch_lightning.utilities import rank_zero_info
from torch import nn
from torchmetrics import MeanMetric

from motionzoo.metrics.pose import MPJPE, PMPJPE
from motionzoo.models.base import ZooModule
from motionzoo.models.conv_vae import gaussian_kl, reparameterize
from motionzoo.models.lifting import format_action_table
from motionzoo.nn.conv import ConvDiscriminator
from motionzoo.nn.cross_modal import (
    DiscriminatorSimilarity,
    ImageDecoder,
    ImageEncoder,
    PoseDecoder,
    PoseEncoder,
    PoseNormalizer,
)
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


def beta_at(
    epoch: int,
    beta: float,
    schedule: str = "constant",
    warmup_epochs: int = 10,
    anneal_epochs: int = 40,
    cycle_epochs: int = 40,
    cycle_ratio: float = 0.5,
) -> float:
    """KL weight at ``epoch`` (0-based). ``constant``: beta. ``linear`` (reference
    ``beta_annealing``): 0 for ``warmup_epochs``, then rising linearly to beta over
    ``anneal_epochs``. ``cyclical`` (``beta_cycling``): restarts at 0 every ``cycle_epochs``,
    rises linearly to beta over the first ``cycle_ratio`` of the cycle, then stays at beta."""
    if schedule == "constant":
        return beta
    if schedule == "linear":
        return beta * min(1.0, max(0, epoch - warmup_epochs) / max(anneal_epochs, 1))
    if schedule == "cyclical":
        phase = (epoch % cycle_epochs) / cycle_epochs
        return beta * min(1.0, phase / cycle_ratio)
    raise ValueError(f"beta_schedule {schedule!r}; expected 'constant', 'linear' or 'cyclical'")


class CrossModalVAE(ZooModule):
    """Cross-modal VAE over images, 2D and 3D poses with a shared latent (see module docstring).

    Args:
        pairs: (encoder, decoder) pairs trained, each ``"source->target"``.
        schedule: ``"batch"`` (each pair one step per batch) or ``"epoch"`` (a pair per epoch).
        latent_dim: shared latent size (thesis 100). num_joints: 17 (H3.6M; root removed inside).
        image_size: crop side (thesis 256; a multiple of 32). backbone_width: ResNet-18 width
            (64 = torchvision, whose weights ``backbone_weights`` (a file path) loads at fit
            start); freeze_backbone: train only layer4 of it.
        image_decoder_channels: the five transposed convs' widths.
        pose_hidden, pose_encoder_blocks, pose_decoder_blocks: pose MLPs (thesis 512, 5 blocks).
        pose_loss: ``"mse"`` (thesis) or ``"l1"`` (its code). image_loss: ``"l1"`` or
            ``"discriminator"`` (+ ``discriminator_*`` widths, ``feature_layer``, ``gan_weight``).
        beta, beta_schedule, beta_warmup_epochs, beta_anneal_epochs, beta_cycle_epochs,
            beta_cycle_ratio: KL weight and its annealing (:func:`beta_at`).
        logvar_max: clamp of the encoders' log-variances (reference 30).
        lr: Adam learning rate of every pair (reference 4e-4); lr_plateau_patience /
            lr_plateau_factor: each pair's ReduceLROnPlateau on its validation loss (10, 0.3).
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
        pose_loss: Literal["mse", "l1"] = "mse",
        image_loss: Literal["l1", "discriminator"] = "l1",
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
                                     ("image_loss", image_loss, ("l1", "discriminator"))):  # fmt: skip
            if value not in allowed:
                raise ValueError(f"{name} {value!r}; expected one of {allowed}")
        beta_at(0, beta, beta_schedule)  # validates the schedule name
        self.action_names = tuple(action_names)
        j = num_joints - 1  # root removed
        sources, targets = ({pair[i] for pair in self.pairs} for i in (0, 1))
        builders = {
            "rgb": lambda: ImageEncoder(latent_dim, backbone_width, freeze_backbone),
            "2d": lambda: PoseEncoder(j, 2, latent_dim, pose_hidden, pose_encoder_blocks),
            "3d": lambda: PoseEncoder(j, 3, latent_dim, pose_hidden, pose_encoder_blocks),
        }
        self.encoders = nn.ModuleDict({m: builders[m]() for m in MODALITIES if m in sources})
        decoders = {
            "rgb": lambda: ImageDecoder(latent_dim, image_size, tuple(image_decoder_channels)),
            "3d": lambda: PoseDecoder(j, 3, latent_dim, pose_hidden, pose_decoder_blocks),
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
        # metrics: 3D error per source encoder whose latent is decoded to 3D
        self.pose_sources = [s for s, t in self.pairs if t == "3d"]
        self.val_metrics = self._pose_metrics()
        self.test_metrics = self._pose_metrics()
        self.val_losses = nn.ModuleDict({self.tag(p): MeanMetric() for p in self.pairs})

    @staticmethod
    def tag(pair: tuple[str, str]) -> str:
        return f"{pair[0]}_{pair[1]}"

    def _pose_metrics(self) -> nn.ModuleDict:
        """MPJPE and P-MPJPE per source decoded to 3D: ``mpjpe_rgb``, ``p_mpjpe_2d``, ..."""
        n = len(self.action_names)
        return nn.ModuleDict(
            {f"{name}_{s}": cls(num_actions=n) for s in self.pose_sources
             for name, cls in (("mpjpe", MPJPE), ("p_mpjpe", PMPJPE))}
        )  # fmt: skip

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
    def encode(self, modality: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x in batch units (image [-1, 1], pose2d screen-normalised, pose3d mm) -> (mu, logvar)."""
        modality = "rgb" if modality == "image" else modality
        if modality not in self.encoders:
            raise ValueError(
                f"no {modality!r} encoder: this model's pairs are "
                f"{self.hparams.pairs} (encoders {list(self.encoders)})"
            )
        mu, logvar = self.encoders[modality](self.normalize(modality, x))
        return mu, logvar.clamp(max=self.hparams.logvar_max)

    @torch.no_grad()
    def translate(self, source: str, target: str, x: torch.Tensor) -> torch.Tensor:
        """Cross-generation with z = mean (eval mode): x in batch units -> the target in batch
        units (pose3d (B, 17, 3) mm root-relative, image (B, 3, H, W) clamped to [-1, 1])."""
        if target not in self.decoders:
            raise ValueError(f"no {target!r} decoder: this model's pairs are {self.hparams.pairs}")
        was = self.training
        self.eval()
        try:
            out = self.decoders[target](self.encode(source, x.to(self.device))[0])
        finally:
            self.train(was)
        return self.normalizer.pose3d_mm(out) if target == "3d" else out.clamp(-1, 1)

    def predict_3d(self, image: torch.Tensor | None = None, pose2d: torch.Tensor | None = None):
        """Exactly one of image (B, 3, H, W) in [-1, 1] or pose2d (B, 17, 2) screen-normalised
        -> pose3d (B, 17, 3) mm, root-relative (rgb->3d or 2d->3d with z = mean)."""
        if (image is None) == (pose2d is None):
            raise ValueError(
                "predict_3d takes exactly one of image=(B, 3, H, W) or pose2d=(B, 17, 2)"
            )
        return self.translate(*(("rgb", "3d", image) if pose2d is None else ("2d", "3d", pose2d)))

    def generate_image(self, pose3d: torch.Tensor) -> torch.Tensor:
        """pose3d (B, 17, 3) mm -> images (B, 3, H, W) in [-1, 1] (3d->rgb, z = mean)."""
        return self.translate("3d", "rgb", pose3d)

    def beta(self) -> float:
        h = self.hparams
        schedule = dict(warmup_epochs=h.beta_warmup_epochs, anneal_epochs=h.beta_anneal_epochs,
                        cycle_epochs=h.beta_cycle_epochs, cycle_ratio=h.beta_cycle_ratio)  # fmt: skip
        return beta_at(self.current_epoch, h.beta, h.beta_schedule, **schedule)

    def pair_terms(self, pair, inputs, latents, beta: float, sample: bool) -> dict:
        """Loss terms of one pair from normalised ``inputs`` and ``latents[source] = (mu,
        logvar)``: ``recon``, ``kl`` (per target element), ``loss`` = recon + beta kl; with the
        discriminator also ``gan`` (L_GAN) and ``generator`` (non-saturating)."""
        source, target = pair
        mu, logvar = latents[source]
        decoder = self.decoders[target]
        out = decoder(reparameterize(mu, logvar) if sample else mu)
        x, terms = inputs[target], {}
        with torch.autocast(device_type=x.device.type, enabled=False):
            kl = (gaussian_kl(mu, logvar) / x[0].numel()).mean()
            if target == "rgb" and self.discriminator is not None:
                terms = self.discriminator(x, out, decoder(torch.randn_like(mu)))
                recon = terms.pop("recon")
            elif target == "3d" and self.hparams.pose_loss == "mse":
                recon = F.mse_loss(out.float(), x.float())
            else:
                recon = F.l1_loss(out.float(), x.float())
        return {"recon": recon, "kl": kl, "loss": recon + beta * kl, **terms}

    def _inputs_and_latents(self, batch: dict, sources) -> tuple[dict, dict]:
        modalities = set(sources) | {t for _, t in self.pairs}
        inputs = {m: self.normalize(m, batch[BATCH_KEYS[m]]) for m in modalities}
        latents = {s: self.encoders[s](inputs[s]) for s in set(sources)}
        latents = {
            s: (mu, lv.clamp(max=self.hparams.logvar_max)) for s, (mu, lv) in latents.items()
        }
        return inputs, latents

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
            inputs, latents = self._inputs_and_latents(batch, [pair[0]])
            terms = self.pair_terms(pair, inputs, latents, beta, sample=True)
            self.log_terms(
                "train",
                {f"{self.tag(pair)}/{k}": v for k, v in terms.items()},
                batch_size=len(batch["pose3d"]),
            )
            self._update(i, pair, terms, optimizers)
            total += terms["loss"].detach()
        return total

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
    def _evaluate(self, batch, stage: str, metrics: nn.ModuleDict) -> None:
        inputs, latents = self._inputs_and_latents(batch, [s for s, _ in self.pairs])
        beta, b = self.beta(), len(batch["pose3d"])
        for pair in self.pairs:
            terms = self.pair_terms(pair, inputs, latents, beta, sample=False)
            terms = {k: terms[k] for k in ("recon", "kl", "loss")}
            self.log_terms(
                stage, {f"{self.tag(pair)}/{k}": v for k, v in terms.items()}, batch_size=b
            )
            if stage == "val":
                self.val_losses[self.tag(pair)].update(terms["loss"], weight=b)
        for source in self.pose_sources:
            pred = self.normalizer.pose3d_mm(self.decoders["3d"](latents[source][0]))
            for name in ("mpjpe", "p_mpjpe"):
                metrics[f"{name}_{source}"].update(
                    pred.float(), batch["pose3d"].float(), batch.get("action")
                )

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val", self.val_metrics)

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test", self.test_metrics)

    def predict_step(self, batch, batch_idx, dataloader_idx=0) -> dict[str, torch.Tensor]:
        """``{"pose3d_<source>": (B, 17, 3) mm}`` for every source decoded to 3D."""
        return {
            f"pose3d_{s}": self.translate(s, "3d", batch[BATCH_KEYS[s]]) for s in self.pose_sources
        }

    def _log_metrics(self, stage: str, metrics: nn.ModuleDict) -> None:
        for name, metric in metrics.items():
            self.log(f"{stage}/{name}", metric.compute(), prog_bar=name.startswith("mpjpe"))

    def on_validation_epoch_end(self) -> None:
        self._log_metrics("val", self.val_metrics)
        losses = {tag: metric.compute() for tag, metric in self.val_losses.items()}
        for metric in (*self.val_losses.values(), *self.val_metrics.values()):
            metric.reset()
        if self.trainer.sanity_checking or not self.lr_schedulers():
            return
        schedulers = self.lr_schedulers()
        schedulers = schedulers if isinstance(schedulers, list) else [schedulers]
        for scheduler, pair in zip(schedulers, self.pairs):
            scheduler.step(losses[self.tag(pair)])

    def on_test_epoch_end(self) -> None:
        self._log_metrics("test", self.test_metrics)
        self.per_action_results = {}
        for source in self.pose_sources:
            per_action = {
                name: self.test_metrics[f"{name}_{source}"].compute_per_action().cpu()
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
        for metric in self.test_metrics.values():
            metric.reset()

    # --- UMAP of the shared latent (motionzoo.viz.latents.LatentUMAPCallback) -----------------
    def umap_latents(self, batch) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
        """Posterior means of every encoder, labelled by action and modality (rgb 0, 2d 1, 3d 2)."""
        groups = []
        for m in self.encoders:
            mu = self.encode(m, batch[BATCH_KEYS[m]])[0]
            modality = torch.full((len(mu),), MODALITIES.index(m), dtype=torch.long)
            groups.append((mu, {"action": batch["action"], "modality": modality}))
        return groups

    def umap_label_names(self, name: str) -> list[str] | None:
        return {"action": list(self.action_names), "modality": list(MODALITIES)}.get(name)
