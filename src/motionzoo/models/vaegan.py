"""VAEGAN: a VAE whose reconstruction error is measured in a learned discriminator's feature
space (Larsen et al. 2016, "Autoencoding beyond pixels"; thesis section 2.1.6, eq. 2.9-2.13).

Per batch x of images (B, 3, 64, 64) in [-1, 1], x~ = Dec(z), z ~ q(z|x), x_p = Dec(z_p), z_p ~
N(0, I), batch means in float32:

- ``prior``  L_prior = KL(q(z|x) || N(0, I)), summed over z;
- ``llike``  L_llike^{Dis_l} = 0.5 ||Dis_l(x) - Dis_l(x~)||^2, -log N(Dis_l(x) | Dis_l(x~), I)
  up to its constant (eq. 2.12);
- ``gan``    L_GAN = BCE(D(x), 1) + BCE(D(x~), 0) + BCE(D(x_p), 0), the negative of eq. 2.13.

Updates (Algorithm 1), each objective back-propagated into its own network only, then one RMSProp
step each: encoder <- L_prior + L_llike; decoder <- gamma L_llike - L_GAN; discriminator <- L_GAN.
Options beyond the paper (off by default): ``generator_loss="non_saturating"``, the
``equilibrium`` / ``margin`` balancing of the public PyTorch code (lucabergamini/VAEGAN-PYTORCH)
and a pixel term in L_llike (``pixel_weight``; the published Sprites model uses the first and the
last, docs/models/vaegan.md "Diagnosis"). ``bn_momentum=0.9`` and ``gan_recon_term=False``
reproduce that code's two defects (its converted weights: ``motionzoo.convert.vaegan_pytorch``).
"""

from __future__ import annotations

from typing import Literal

import torch

from motionzoo.models.families.image_vae import ImageVAE
from motionzoo.nn.conv import ConvDiscriminator
from motionzoo.nn.distributions import gaussian_kl, reparameterize

MODULES = ("encoder", "decoder", "discriminator")
GROUPS = ("real", "recon", "sampled")


class VAEGAN(ImageVAE):
    """VAE/GAN on 64x64 images; manual optimisation with one RMSProp per network.

    Args:
        z_dim: latent size (128). encoder_channels / encoder_hidden, decoder_channels /
            decoder_start_channels, discriminator_channels / discriminator_stem /
            discriminator_hidden: widths (defaults: the paper's table in DESIGN.md).
        feature_layer: l, the discriminator's strided conv block (1-based) whose pre-BN output
            is Dis_l (3: the paper's 256x8x8 features).
        gamma: weight of L_llike against the GAN term in the decoder's objective.
        generator_loss: ``"minimax"`` (the paper's ``-L_GAN``) or ``"non_saturating"``.
        equilibrium, margin: the public PyTorch code's balancing (not in the paper; off when
            ``equilibrium`` is None): the discriminator skips its step while its BCE on any of
            the three groups is below ``equilibrium - margin`` (it is too far ahead), and the
            decoder leaves out its GAN term while one is above ``equilibrium + margin`` (the
            discriminator is too weak to learn from); when both hold, both train.
        pixel_weight: w of a pixel-space term added to the encoder's and decoder's L_llike,
            ``llike + w * pixel`` with ``pixel`` = 0.5 ||x - x~||^2 (not in the paper; 0: off).
            Dis_l alone is a metric learned by a discriminator that only tells real from fake:
            early in training (or on small data) it is blind to what tells characters apart
            (colours), so reconstructions lose them (docs/models/vaegan.md, "Diagnosis").
        bn_momentum: BatchNorm momentum of all three networks, PyTorch's convention (0.1);
            0.9 reproduces lucabergamini/VAEGAN-PYTORCH, whose ``momentum=0.9`` meant Keras'
            convention but makes the running statistics ~ the last training batch's.
        gan_recon_term: L_GAN includes BCE(D(x~), 0) (eq. 2.13); False reproduces the same
            code, whose discriminator never sees reconstructions (its equilibrium then checks
            the real and sampled groups only).
        lr: RMSProp learning rate of all three networks (3e-4).
        image_key: batch key of the images.
        judge, judge_heads: a classifier (pretrained name or path) and the heads of it whose
            accuracy / entropy / feature distance are logged at val / test (None: off; see
            :mod:`motionzoo.models.families.image_vae`).
    """

    def __init__(
        self,
        z_dim: int = 128,
        encoder_channels: list[int] | tuple[int, ...] = (64, 128, 256),
        encoder_hidden: int = 2048,
        decoder_channels: list[int] | tuple[int, ...] = (256, 128, 32),
        decoder_start_channels: int = 256,
        discriminator_channels: list[int] | tuple[int, ...] = (128, 256, 256),
        discriminator_stem: int = 32,
        discriminator_hidden: int = 512,
        feature_layer: int = 3,
        gamma: float = 1e-2,
        generator_loss: Literal["minimax", "non_saturating"] = "minimax",
        equilibrium: float | None = None,
        margin: float = 0.35,
        pixel_weight: float = 0.0,
        bn_momentum: float = 0.1,
        gan_recon_term: bool = True,
        image_size: int = 64,
        lr: float = 3e-4,
        image_key: str = "image",
        judge: str | None = None,
        judge_heads: list[str] | tuple[str, ...] | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        self.automatic_optimization = False
        if generator_loss not in ("minimax", "non_saturating"):
            raise ValueError(
                f"generator_loss {generator_loss!r}; expected 'minimax' or 'non_saturating'"
            )
        if equilibrium is not None and not 0 <= margin < equilibrium:
            raise ValueError(
                f"margin {margin} with equilibrium {equilibrium}; expected 0 <= margin < "
                "equilibrium (the reference code: equilibrium 0.68, margin 0.35)"
            )
        self._build_autoencoder()
        self.discriminator = ConvDiscriminator(
            tuple(discriminator_channels),
            discriminator_stem,
            discriminator_hidden,
            feature_layer,
            image_size,
            bn_momentum=bn_momentum,
        )

    def loss_terms(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One forward pass of all three networks on images x (B, 3, H, W).

        Returns the batch-mean losses ``prior``, ``llike``, ``pixel`` (0.5 ||x - x~||^2, used
        with ``pixel_weight``), ``gan`` (L_GAN as the
        discriminator's BCE), ``generator`` (the decoder's GAN term: ``-gan`` or the
        non-saturating BCE), the discriminator's BCE per group ``bce_real``, ``bce_recon``,
        ``bce_sampled`` and its accuracies ``acc_real``, ``acc_recon``, ``acc_sampled``."""
        mu, logvar = self.encoder(x)
        recon = self.decoder(reparameterize(mu, logvar))
        sampled = self.decoder(torch.randn_like(mu))
        d = self.discriminator.adversarial_terms(x, recon, sampled)
        with torch.autocast(device_type=x.device.type, enabled=False):
            llike = 0.5 * (d["features_real"] - d["features_recon"]).pow(2).sum(-1).mean()
            pixel = 0.5 * (x.float() - recon.float()).pow(2).flatten(1).sum(-1).mean()
            gan = d["bce_real"] + d["bce_sampled"]
            if self.hparams.gan_recon_term:
                gan = gan + d["bce_recon"]
        minimax = self.hparams.generator_loss == "minimax"
        return {
            "prior": gaussian_kl(mu, logvar).sum(-1).mean(),
            "llike": llike,
            "pixel": pixel,
            "gan": gan,
            "generator": -gan if minimax else d["generator"],
            **{f"bce_{k}": d[f"bce_{k}"].detach() for k in GROUPS},
            **{f"acc_{k}": d[f"acc_{k}"] for k in GROUPS},
        }

    def objectives(self, terms: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What each network descends (paper Algorithm 1); with ``equilibrium`` set, the
        discriminator's objective is None on steps it skips and the decoder's GAN term is left
        out on steps it is too weak (``terms["bce_real"]`` etc.: its BCE per group)."""
        train_dis, train_gan = True, True
        if self.hparams.equilibrium is not None:
            groups = GROUPS if self.hparams.gan_recon_term else ("real", "sampled")
            low, high = torch.stack([terms[f"bce_{k}"] for k in groups]).aminmax()
            train_dis = bool(low >= self.hparams.equilibrium - self.hparams.margin)
            train_gan = bool(high <= self.hparams.equilibrium + self.hparams.margin)
            if not (train_dis or train_gan):
                train_dis = train_gan = True
        w = self.hparams.pixel_weight
        llike = terms["llike"] + w * terms["pixel"] if w else terms["llike"]
        decoder = self.hparams.gamma * llike
        return {
            "encoder": terms["prior"] + llike,
            "decoder": decoder + terms["generator"] if train_gan else decoder,
            "discriminator": terms["gan"] if train_dis else None,
        }

    def training_step(self, batch, batch_idx):
        x = self.images(batch)
        terms = self.loss_terms(x)
        objectives = self.objectives(terms)
        logged = dict(terms)
        if self.hparams.equilibrium is not None:
            logged["dis_trained"] = x.new_tensor(float(objectives["discriminator"] is not None))
        self.log_terms("train", logged, batch_size=x.shape[0])
        optimizers = dict(zip(MODULES, self.optimizers()))
        stepping = [name for name in MODULES if objectives[name] is not None]
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        # every objective into its own network only; all gradients before any step (the
        # steps change the parameters in place, which the later backward passes would read)
        for i, name in enumerate(stepping):
            params = [p for p in getattr(self, name).parameters() if p.requires_grad]
            self.manual_backward(
                objectives[name], inputs=params, retain_graph=i < len(stepping) - 1
            )
        for name in stepping:
            optimizers[name].step()
        return objectives["encoder"].detach()

    def configure_optimizers(self):
        lr = self.hparams.lr
        return [torch.optim.RMSprop(getattr(self, name).parameters(), lr=lr) for name in MODULES]
