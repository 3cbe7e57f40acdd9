"""Encoders and decoders of the cross-modal VAE (Budaraju KTH thesis, after Spurr et al. 2018;
reference code bsridatta/HPE3D @b37ad62, ``reference/papers.md`` section 3).

Every encoder maps its modality to the mean and log-variance of one shared latent (100-d in the
thesis text, 500 in its code); every decoder maps a latent back. Poses enter and leave flattened
per sample: (B, J, C) <-> (B, J*C).

- :class:`ImageEncoder` (``EncoderRGB``): torchvision-compatible ResNet-18 + mean / logvar heads.
- :class:`ImageDecoder` (``DecoderRGB``): FC to (256, s, s), 5 transposed convs to the image.
- :class:`PoseEncoder` / :class:`PoseDecoder`: the thesis' MLPs, 5 x (Linear + ReLU) of 512, or
  HPE3D's residual LBAD trunk (:func:`pose_trunk`).
- :class:`PoseNormalizer`: the thesis' root removal and z-scoring with training statistics.
- :class:`DiscriminatorSimilarity`: VAEGAN's discriminator feature similarity as image loss.
"""

from __future__ import annotations

import torch
from einops import rearrange
from torch import nn

from motionzoo.nn.linear import LinearBlock, ResidualLinearBlock
from motionzoo.nn.resnet import ResNet18

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _mlp(in_features: int, hidden: int, num_blocks: int) -> tuple[nn.Sequential, int]:
    """``num_blocks`` x (Linear + ReLU); returns the stack and its output width."""
    layers, width = [], in_features
    for _ in range(num_blocks):
        layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
        width = hidden
    return nn.Sequential(*layers), width


ResidualPair = ResidualLinearBlock  # HPE3D's residual pair (``LBAD_1``, ``LBAD_2``)


def pose_trunk(
    in_features: int, hidden: int, num_blocks: int, residual: bool, dropout: float
) -> tuple[nn.Sequential, int]:
    """The hidden layers of a pose encoder / decoder; returns the stack and its output width.

    ``residual=False``: the thesis text's ``num_blocks`` x (Linear + ReLU). ``residual=True``:
    HPE3D's code (``Encoder2D`` / ``Decoder3D`` @b37ad62): an input LBAD (Linear, BatchNorm,
    ReLU, Dropout) to ``hidden``, then ``num_blocks`` :class:`ResidualPair` (the reference: 1).
    """
    if not residual:
        return _mlp(in_features, hidden, num_blocks)
    pairs = [ResidualPair(hidden, dropout) for _ in range(num_blocks)]
    return nn.Sequential(LinearBlock(in_features, hidden, dropout), *pairs), hidden


def imagenet_normalize(images: torch.Tensor) -> torch.Tensor:
    """images (B, 3, H, W) in [-1, 1] -> ImageNet-normalised ((x01 - mean) / std, the input of
    torchvision's weights and albumentations' ``Normalize()``)."""
    mean, std = (images.new_tensor(v).view(3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return ((images + 1) / 2 - mean) / std


def imagenet_denormalize(images: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`imagenet_normalize`: ImageNet-normalised -> [-1, 1] units."""
    mean, std = (images.new_tensor(v).view(3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
    return (images * std + mean) * 2 - 1


def rotate_hue(images: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """images (B, 3, H, W) in [-1, 1], angles (B,) radians -> the images with their colours
    rotated by ``angles`` about the grey axis (1, 1, 1) of RGB space (Rodrigues' formula):
    greys stay, hues turn, saturation and brightness are kept up to the clamp to [-1, 1]."""
    k = images.new_full((3,), 3**-0.5)
    cross = images.new_tensor([[0, -1, 1], [1, 0, -1], [-1, 1, 0]]) * k[0]  # [k]_x
    cos, sin = angles.cos()[:, None, None], angles.sin()[:, None, None]
    rotation = (
        cos * torch.eye(3, device=images.device) + sin * cross + (1 - cos) * torch.outer(k, k)
    )
    return torch.einsum("bij,bjhw->bihw", rotation.to(images.dtype), images).clamp(-1, 1)


class ImageEncoder(nn.Module):
    """images (B, 3, H, W) in [-1, 1] -> (mu, logvar), each (B, latent_dim): a ResNet-18 without
    ``fc`` (:mod:`motionzoo.nn.resnet`) + ``fc_mean`` / ``fc_logvar`` Linear(512 -> latent).
    The images are mapped to ImageNet-normalised input (mean / std of torchvision's weights)
    inside, so loaded ImageNet weights see what they expect.

    Args:
        latent_dim: size of the shared latent.
        width: ResNet-18 width (64 = torchvision's, whose weights then load into ``backbone``).
        freeze_backbone: train only ``backbone.layer4`` (the reference's ``train_last_block``,
            with ImageNet weights).
    """

    def __init__(self, latent_dim: int = 100, width: int = 64, freeze_backbone: bool = False):
        super().__init__()
        self.backbone = ResNet18(num_classes=0, width=width)
        self.fc_mean = nn.Linear(self.backbone.num_features, latent_dim)
        self.fc_logvar = nn.Linear(self.backbone.num_features, latent_dim)
        if freeze_backbone:
            for name, p in self.backbone.named_parameters():
                p.requires_grad_(name.startswith("layer4."))

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.backbone.features(imagenet_normalize(images))
        return self.fc_mean(h), self.fc_logvar(h)


class ImageDecoder(nn.Module):
    """z (B, latent_dim) -> images (B, 3, image_size, image_size): Linear(latent -> 256 s s) BN
    ReLU, reshape (256, s, s), 5 x ConvTranspose2d(4, 2, 1) 256 -> 128 -> 64 -> 32 -> 16 -> 3,
    BN + ReLU after the first three, BN + Tanh after the fourth, no activation on the output;
    s = image_size / 32 (8 for the thesis' 256 px, 2 for 64 px).

    Args:
        channels: the five transposed convs' input widths (256, 128, 64, 32, 16); output 3.
        image_size: a multiple of 32 (5 doublings of s = image_size / 32).
    """

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 256,
        channels: tuple[int, ...] = (256, 128, 64, 32, 16),
    ):
        super().__init__()
        if image_size % 32 or len(channels) != 5:
            raise ValueError(
                f"ImageDecoder: image_size {image_size} must be a multiple of 32 and channels "
                f"{tuple(channels)} must list 5 widths (5 transposed convs double s = size / 32)"
            )
        self.side, self.start_channels = image_size // 32, channels[0]
        start = channels[0] * self.side**2
        self.fc = nn.Sequential(nn.Linear(latent_dim, start), nn.BatchNorm1d(start), nn.ReLU(True))
        ups = []
        for i, (c_in, c_out) in enumerate(zip(channels, (*channels[1:], 3))):
            ups.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1))
            if i < 4:
                act = nn.Tanh() if i == 3 else nn.ReLU(True)
                ups += [nn.BatchNorm2d(c_out), act]
        self.deconv = nn.Sequential(*ups)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = rearrange(self.fc(z), "b (c h w) -> b c h w", c=self.start_channels, h=self.side)
        return self.deconv(h)


class PoseEncoder(nn.Module):
    """poses (B, J, C) -> (mu, logvar), each (B, latent_dim): :func:`pose_trunk` (thesis text:
    5 x (Linear + ReLU) of 512; ``residual``: HPE3D's ``Encoder2D``, 1024 units, 1 residual
    pair, dropout 0.2), then the two linear heads ``fc_mean`` / ``fc_logvar``. The 2D encoder;
    the 3D encoder is the same network on 3D input."""

    def __init__(
        self,
        num_joints: int = 16,
        channels: int = 2,
        latent_dim: int = 100,
        hidden: int = 512,
        num_blocks: int = 5,
        residual: bool = False,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.blocks, width = pose_trunk(
            num_joints * channels, hidden, num_blocks, residual, dropout
        )
        self.fc_mean = nn.Linear(width, latent_dim)
        self.fc_logvar = nn.Linear(width, latent_dim)

    def forward(self, poses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.blocks(rearrange(poses, "b j c -> b (j c)"))
        return self.fc_mean(h), self.fc_logvar(h)


class PoseDecoder(nn.Module):
    """z (B, latent_dim) -> poses (B, J, C): :func:`pose_trunk`, then Linear ``out``
    (``num_blocks=0`` without ``residual``: a single linear map; ``residual``: HPE3D's
    ``Decoder3D``)."""

    def __init__(
        self,
        num_joints: int = 16,
        channels: int = 3,
        latent_dim: int = 100,
        hidden: int = 512,
        num_blocks: int = 5,
        residual: bool = False,
        dropout: float = 0.2,
    ):
        super().__init__()
        self.channels = channels
        self.blocks, width = pose_trunk(latent_dim, hidden, num_blocks, residual, dropout)
        self.out = nn.Linear(width, num_joints * channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return rearrange(self.out(self.blocks(z)), "b (j c) -> b j c", c=self.channels)


class PoseNormalizer(nn.Module):
    """The thesis' pose normalisation (HPE3D ``processing.py``) with the training statistics as
    buffers: 3D poses (B, J, 3) mm are root-centred, the root dropped and z-scored per joint
    -> (B, J-1, 3); 2D poses (B, J, 2) keep their root offset (perspective) but drop the root
    joint -> (B, J-1, 2), z-scored. :meth:`pose3d_mm` inverts the 3D map with a zero root.

    Statistics (J, C) are those of the batch poses (root rows unused); until
    :meth:`set_statistics` is called they are mean 0, std 1 and ``has_statistics`` is False.
    """

    def __init__(self, num_joints: int = 17):
        super().__init__()
        self.num_joints = num_joints
        for key, c in (("pose3d", 3), ("pose2d", 2)):
            self.register_buffer(f"{key}_mean", torch.zeros(num_joints, c))
            self.register_buffer(f"{key}_std", torch.ones(num_joints, c))
        self.register_buffer("has_statistics", torch.tensor(False))

    def set_statistics(self, pose3d_mean, pose3d_std, pose2d_mean, pose2d_std) -> None:
        given = dict(
            pose3d_mean=pose3d_mean, pose3d_std=pose3d_std,
            pose2d_mean=pose2d_mean, pose2d_std=pose2d_std,
        )  # fmt: skip
        for key, value in given.items():
            buffer = getattr(self, key)
            value = torch.as_tensor(value, dtype=buffer.dtype, device=buffer.device)
            if value.shape != buffer.shape:
                raise ValueError(
                    f"set_statistics: {key} of shape {tuple(value.shape)}, expected "
                    f"{tuple(buffer.shape)} (per joint of the {self.num_joints}-joint poses)"
                )
            buffer.copy_(value.clamp_min(1e-6) if key.endswith("std") else value)
        self.has_statistics.fill_(True)

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) mm or (B, J, 2) screen-normalised -> (B, J-1, C) z-scores."""
        c = poses.shape[-1]
        if poses.dim() != 3 or poses.shape[1] != self.num_joints or c not in (2, 3):
            raise ValueError(
                f"poses of shape {tuple(poses.shape)}; expected (B, {self.num_joints}, 3) "
                f"(pose3d, mm) or (B, {self.num_joints}, 2) (pose2d)"
            )
        if c == 3:
            poses = poses - poses[:, :1]
            mean, std = self.pose3d_mean, self.pose3d_std
        else:
            mean, std = self.pose2d_mean, self.pose2d_std
        return (poses[:, 1:] - mean[1:]) / std[1:]

    def pose3d_mm(self, z: torch.Tensor) -> torch.Tensor:
        """(B, J-1, 3) z-scores -> (B, J, 3) mm with the root (zero) re-inserted."""
        pose = z * self.pose3d_std[1:] + self.pose3d_mean[1:]
        return torch.cat([pose.new_zeros(len(pose), 1, 3), pose], 1)


class DiscriminatorSimilarity(nn.Module):
    """VAEGAN's learned image similarity (Larsen et al. 2016 eq. 2.12; thesis section 2.1.6) on
    a :class:`~motionzoo.nn.conv.ConvDiscriminator` ``net``: for images x, reconstructions x~
    and prior samples x_p (B, 3, H, W), one discriminator pass over [x, x~, x_p]
    (:meth:`~motionzoo.nn.conv.ConvDiscriminator.adversarial_terms`, as VAEGAN) gives

    - ``recon`` 0.5 (Dis_l(x) - Dis_l(x~))^2, mean over features and batch;
    - ``gan`` L_GAN = BCE(D(x), 1) + BCE(D(x~), 0) + BCE(D(x_p), 0) (the discriminator's loss);
    - ``generator`` BCE(D(x~), 1) + BCE(D(x_p), 1) (non-saturating, the decoder's GAN loss).
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x, recon, sampled) -> dict[str, torch.Tensor]:
        terms = self.net.adversarial_terms(x, recon, sampled)
        return {
            "recon": 0.5 * (terms["features_real"] - terms["features_recon"]).pow(2).mean(),
            "gan": terms["bce_real"] + terms["bce_recon"] + terms["bce_sampled"],
            "generator": terms["generator"],
        }
