"""Per-frame SSIM / PSNR / MSE equal scikit-image's, frame by frame, on random and generated images."""

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from motionzoo.data.synthetic.faces import identity, render_take
from motionzoo.data.synthetic.sprites import render_sequence
from motionzoo.metrics.image import (
    FrameMSE,
    FramePSNR,
    FrameSSIM,
    gradient_energy,
    mse_per_frame,
    psnr_per_frame,
    ssim_per_frame,
)


def skimage_scores(preds: np.ndarray, target: np.ndarray, data_range: float):
    """Reference per-frame scores of (B, T, C, H, W) arrays: (ssim, psnr) each (B, T)."""
    ssim = np.zeros(preds.shape[:2])
    psnr = np.zeros(preds.shape[:2])
    for b, t in np.ndindex(*preds.shape[:2]):
        x, y = target[b, t].transpose(1, 2, 0), preds[b, t].transpose(1, 2, 0)
        ssim[b, t] = structural_similarity(
            x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=data_range, channel_axis=-1,
        )  # fmt: skip
        psnr[b, t] = peak_signal_noise_ratio(x, y, data_range=data_range)
    return ssim, psnr


@pytest.mark.parametrize("noise", [0.05, 0.5])
def test_random_frames_match_skimage(noise):
    rng = np.random.default_rng(0)
    target = rng.uniform(-1, 1, (2, 3, 3, 32, 40))
    preds = np.clip(target + rng.normal(0, noise, target.shape), -1, 1)
    ref_ssim, ref_psnr = skimage_scores(preds, target, 2.0)
    p, t = torch.from_numpy(preds), torch.from_numpy(target)
    np.testing.assert_allclose(ssim_per_frame(p, t).numpy(), ref_ssim, atol=1e-4)
    np.testing.assert_allclose(psnr_per_frame(p, t).numpy(), ref_psnr, atol=1e-4)
    np.testing.assert_allclose(
        mse_per_frame(p, t).numpy(), ((preds - target) ** 2).mean((2, 3, 4)), atol=1e-12
    )


def test_generated_frames_match_skimage_in_float32():
    """Sprites and MUG frames (as the loaders give them: float32 in [-1, 1]) against a shifted
    version of themselves: the zoo's usual inputs."""
    sprite = render_sequence(2, 3, 1, 4, action=0, direction=1)  # (8, 64, 64, 3) uint8
    face = render_take(identity(3), 2, frames=8, size=64, rng=np.random.default_rng(1))
    target = np.stack([sprite, face]).transpose(0, 1, 4, 2, 3) / 127.5 - 1  # (2, 8, 3, 64, 64)
    preds = np.roll(target, 1, axis=1)  # each frame against the previous one
    ref_ssim, ref_psnr = skimage_scores(preds, target, 2.0)
    p, t = (torch.from_numpy(a).float() for a in (preds, target))
    np.testing.assert_allclose(ssim_per_frame(p, t).numpy(), ref_ssim, atol=1e-4)
    np.testing.assert_allclose(psnr_per_frame(p, t).numpy(), ref_psnr, atol=1e-4)
    assert ref_ssim.min() < 0.99  # the test compares frames that really differ


def test_scores_do_not_depend_on_the_value_scale_given_data_range():
    rng = np.random.default_rng(1)
    a = torch.from_numpy(rng.integers(0, 256, (1, 2, 3, 24, 24))).double()
    b = torch.from_numpy(rng.integers(0, 256, (1, 2, 3, 24, 24))).double()
    # scale-invariant (not shift-invariant: SSIM's luminance term sees the mean)
    torch.testing.assert_close(ssim_per_frame(a, b, 255.0), ssim_per_frame(a / 255, b / 255, 1.0))
    torch.testing.assert_close(psnr_per_frame(a, b, 255.0), psnr_per_frame(a / 255, b / 255, 1.0))


def test_metrics_average_frames_over_batches_and_per_time_step():
    rng = np.random.default_rng(2)
    target = torch.from_numpy(rng.uniform(-1, 1, (5, 4, 3, 16, 16))).float()
    preds = (target + 0.2 * torch.randn_like(target)).clamp(-1, 1)
    per_frame = ssim_per_frame(preds, target)  # (5, 4)
    metric, curve = FrameSSIM(), FrameSSIM(per_frame=True)
    for m in (metric, curve):
        m.update(preds[:2], target[:2])
        m.update(preds[2:], target[2:])
    torch.testing.assert_close(metric.compute(), per_frame.mean().float())
    torch.testing.assert_close(curve.compute(), per_frame.mean(0).float())
    psnr = FramePSNR()
    psnr.update(preds, target)
    torch.testing.assert_close(psnr.compute(), psnr_per_frame(preds, target).mean().float())
    mse = FrameMSE()
    mse.update(preds[:, 0], target[:, 0])  # single images (B, C, H, W) are one-frame sequences
    torch.testing.assert_close(mse.compute(), ((preds[:, 0] - target[:, 0]) ** 2).mean())


def test_identical_frames():
    x = torch.rand(2, 3, 3, 16, 16) * 2 - 1
    torch.testing.assert_close(ssim_per_frame(x, x), torch.ones(2, 3, dtype=torch.float64))
    assert torch.isinf(psnr_per_frame(x, x)).all()
    assert (mse_per_frame(x, x) == 0).all()


def test_shape_errors():
    with pytest.raises(ValueError, match="differ"):
        ssim_per_frame(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 17))
    with pytest.raises(ValueError, match="smaller than the SSIM window"):
        ssim_per_frame(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_gradient_energy_of_a_constant_is_zero_and_of_a_ramp_is_its_slope_squared():
    flat = torch.zeros(1, 3, 16, 16)
    assert gradient_energy(flat).item() == 0
    ramp = torch.arange(16.0).repeat(1, 3, 16, 1) * 0.1  # horizontal slope 0.1
    torch.testing.assert_close(gradient_energy(ramp), torch.tensor([0.01], dtype=torch.float64))
