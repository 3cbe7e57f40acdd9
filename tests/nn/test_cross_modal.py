"""Encoders, decoders, pose normalisation and discriminator similarity of the cross-modal VAE:
the architecture of the thesis / reference code, shapes at 64 and 256 px, and invariants."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from motionzoo.nn.conv import ConvDiscriminator
from motionzoo.nn.cross_modal import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DiscriminatorSimilarity,
    ImageDecoder,
    ImageEncoder,
    PoseDecoder,
    PoseEncoder,
    PoseNormalizer,
    ResidualPair,
    imagenet_denormalize,
    imagenet_normalize,
)
from motionzoo.nn.resnet import ResNet18


def test_image_encoder_is_a_torchvision_backbone_with_mean_and_logvar_heads():
    torch.manual_seed(0)
    encoder = ImageEncoder(latent_dim=100, width=8).eval()
    assert list(encoder.backbone.state_dict()) == list(ResNet18(0, width=8).state_dict())
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    mu, logvar = encoder(x)
    assert mu.shape == logvar.shape == (2, 100)
    # [-1, 1] images enter the backbone ImageNet-normalised
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    h = encoder.backbone.features(((x + 1) / 2 - mean) / std)
    torch.testing.assert_close(mu, encoder.fc_mean(h))
    torch.testing.assert_close(logvar, encoder.fc_logvar(h))


def test_frozen_backbone_trains_only_layer4_and_the_heads():
    encoder = ImageEncoder(width=8, freeze_backbone=True)
    trainable = {n.split(".")[0] + "." + n.split(".")[1] for n, p in encoder.named_parameters()
                 if p.requires_grad}  # fmt: skip
    assert trainable == {"backbone.layer4", "fc_mean.weight", "fc_mean.bias",
                         "fc_logvar.weight", "fc_logvar.bias"}  # fmt: skip


def test_image_decoder_is_five_transposed_convs_as_the_reference():
    decoder = ImageDecoder(latent_dim=100, image_size=256)
    layers = [type(m) for m in decoder.deconv]
    block = [nn.ConvTranspose2d, nn.BatchNorm2d]
    assert layers == [*block, nn.ReLU] * 3 + [*block, nn.Tanh] + [nn.ConvTranspose2d]
    convs = [m for m in decoder.deconv if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (256, 128), (128, 64), (64, 32), (32, 16), (16, 3)
    ]  # fmt: skip
    assert all(
        c.kernel_size == (4, 4) and c.stride == (2, 2) and c.padding == (1, 1) for c in convs
    )
    assert decoder.fc[0].out_features == 256 * 8 * 8
    small = ImageDecoder(latent_dim=10, image_size=64, channels=(16, 8, 8, 4, 4))
    assert small(torch.randn(3, 10)).shape == (3, 3, 64, 64)
    with pytest.raises(ValueError, match="multiple of 32"):
        ImageDecoder(image_size=48)


def test_pose_encoder_has_five_linear_relu_blocks_of_512():
    encoder = PoseEncoder(num_joints=16, channels=2, latent_dim=100)
    linears = [m for m in encoder.blocks if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 512)] + [(512, 512)] * 4
    assert sum(isinstance(m, nn.ReLU) for m in encoder.blocks) == 5
    mu, logvar = encoder(torch.randn(4, 16, 2))
    assert mu.shape == logvar.shape == (4, 100)
    assert PoseDecoder(16, 3, 100)(mu).shape == (4, 16, 3)


def test_residual_pose_networks_are_hpe3ds_lbad_trunk():
    """HPE3D's Encoder2D / Decoder3D: Linear-BN-ReLU-Dropout to 1024, then x + LBAD(LBAD(x))."""
    torch.manual_seed(0)
    encoder = PoseEncoder(16, 2, 500, hidden=1024, num_blocks=1, residual=True).eval()
    first, pair = encoder.blocks
    assert [type(m) for m in first] == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout]
    assert (first[0].in_features, first[0].out_features, first[3].p) == (32, 1024, 0.2)
    assert isinstance(pair, ResidualPair) and len(pair.layers) == 2
    x = torch.randn(4, 16, 2)
    h = first(x.flatten(1))
    mu, _ = encoder(x)
    torch.testing.assert_close(mu, encoder.fc_mean(h + pair.layers[1](pair.layers[0](h))))
    decoder = PoseDecoder(16, 3, 500, hidden=1024, num_blocks=1, residual=True)
    assert decoder(mu).shape == (4, 16, 3) and decoder.out.in_features == 1024


def test_imagenet_units_round_trip():
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    y = imagenet_normalize(x)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    torch.testing.assert_close(y, ((x + 1) / 2 - mean) / torch.tensor(IMAGENET_STD).view(3, 1, 1))
    torch.testing.assert_close(imagenet_denormalize(y), x)


def test_pose_decoder_without_blocks_is_affine():
    torch.manual_seed(0)
    decoder = PoseDecoder(num_joints=16, channels=3, latent_dim=8, num_blocks=0)
    a, b = torch.randn(2, 8).unbind()
    f = lambda z: decoder(z[None])[0]  # noqa: E731
    torch.testing.assert_close(f(a + b) - f(b), f(a) - f(torch.zeros(8)))


def poses(n: int = 50, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    pose3d = torch.randn(n, 17, 3, generator=g) * 150 + torch.randn(17, 3, generator=g) * 300
    pose2d = torch.randn(n, 17, 2, generator=g) * 0.1 + torch.randn(17, 2, generator=g) * 0.3
    return pose3d - pose3d[:, :1], pose2d


def test_normalizer_z_scores_without_the_root_and_inverts():
    pose3d, pose2d = poses()
    norm = PoseNormalizer(17)
    assert not norm.has_statistics
    norm.set_statistics(pose3d.mean(0), pose3d.std(0), pose2d.mean(0), pose2d.std(0))
    assert norm.has_statistics
    z3, z2 = norm(pose3d), norm(pose2d)
    assert z3.shape == (50, 16, 3) and z2.shape == (50, 16, 2)
    for z in (z3, z2):  # z-scores on the statistics' own data
        torch.testing.assert_close(z.mean(0), torch.zeros_like(z[0]), atol=1e-5, rtol=0)
        torch.testing.assert_close(z.std(0), torch.ones_like(z[0]))
    torch.testing.assert_close(norm.pose3d_mm(z3), pose3d, atol=1e-3, rtol=0)
    # 3D poses are root-centred first (translation-invariant); 2D poses keep their offset
    torch.testing.assert_close(
        norm(pose3d + torch.tensor([10.0, -5.0, 300.0])), z3, atol=1e-5, rtol=0
    )
    shifted = norm(pose2d + torch.tensor([0.1, 0.0]))
    torch.testing.assert_close(
        shifted[..., 0] - z2[..., 0], (0.1 / pose2d.std(0)[1:, 0]).expand(50, -1)
    )


def test_normalizer_errors_name_the_shapes():
    norm = PoseNormalizer(17)
    with pytest.raises(ValueError, match=r"pose3d_std of shape \(16, 3\), expected \(17, 3\)"):
        norm.set_statistics(
            torch.zeros(17, 3), torch.ones(16, 3), torch.zeros(17, 2), torch.ones(17, 2)
        )
    with pytest.raises(ValueError, match=r"poses of shape \(2, 16, 3\); expected \(B, 17, 3\)"):
        norm(torch.zeros(2, 16, 3))


def test_discriminator_similarity_is_vaegans_feature_loss_and_gan_terms():
    torch.manual_seed(0)
    net = ConvDiscriminator((4, 8, 8), 4, 16, 3, size=64)
    similarity = DiscriminatorSimilarity(net)
    x, recon, sampled = (torch.rand(3, 2, 3, 64, 64) * 2 - 1).unbind()
    terms = similarity(x, recon, sampled)
    logits, features = net(torch.cat([x, recon, sampled]))
    expected = 0.5 * (features[:2] - features[2:4]).pow(2).mean()
    torch.testing.assert_close(terms["recon"], expected)
    log_d = F.logsigmoid(logits)
    log_not_d = F.logsigmoid(-logits)  # log(1 - D)
    torch.testing.assert_close(
        terms["gan"], -(log_d[:2].mean() + log_not_d[2:4].mean() + log_not_d[4:].mean())
    )
    torch.testing.assert_close(terms["generator"], -(log_d[2:4].mean() + log_d[4:].mean()))
    assert similarity(x, x, sampled)["recon"] == 0
