"""Per-frame image metrics of generated sequences: SSIM, PSNR and MSE (HamiltonianVAE, Table 1),
and the image-gradient energy that tells sharp reconstructions from blurry ones (VAEGAN).

Each metric scores every frame of ``preds`` against the same frame of ``target`` and averages the
per-frame scores (not, e.g., PSNR of the mean MSE), as the papers report "per-frame SSIM / PSNR".
With ``per_frame=True`` the metric returns one mean per time index instead, the curve over the
generated horizon.

SSIM is Wang et al. (2004) with an 11-tap gaussian window (sigma 1.5), population covariances,
K1 = 0.01, K2 = 0.03, averaged over the pixels whose window lies inside the image (no padding)
and over channels: exactly ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=R, channel_axis=...)``. PSNR is
``10 log10(R^2 / MSE)`` per frame, as ``skimage.metrics.peak_signal_noise_ratio``; a frame
identical to its target scores ``inf``. ``data_range`` R is the span of the values: 2 for the
zoo's frames in [-1, 1] (the default), 1 for [0, 1], 255 for bytes. MSE is in the units of the
inputs (frames in [-1, 1] give 4 times the MSE of the same frames in [0, 1]).

Written in torch on top of torchmetrics' :class:`~torchmetrics.Metric` core only, because
``torchmetrics[image]`` pulls in torchvision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torchmetrics import Metric


def gaussian_window(sigma: float = 1.5, truncate: float = 3.5, dtype=torch.float64) -> torch.Tensor:
    """The normalised 1D gaussian of ``scipy.ndimage.gaussian_filter`` (radius
    ``int(truncate * sigma + 0.5)``, 11 taps for sigma 1.5)."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=dtype)
    w = torch.exp(-0.5 * (x / sigma) ** 2)
    return w / w.sum()


def _as_frames(preds: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T, C, H, W) or (B, C, H, W) -> (B, T, C, H, W)."""
    if preds.shape != target.shape:
        raise ValueError(f"preds {tuple(preds.shape)} and target {tuple(target.shape)} differ")
    if preds.ndim == 4:
        preds, target = preds[:, None], target[:, None]
    if preds.ndim != 5:
        raise ValueError(
            f"expected frames (B, T, C, H, W) or images (B, C, H, W); got {tuple(preds.shape)}"
        )
    return preds, target


def ssim_per_frame(
    preds: torch.Tensor,
    target: torch.Tensor,
    data_range: float = 2.0,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
) -> torch.Tensor:
    """SSIM of every frame: preds, target (B, T, C, H, W) or (B, C, H, W) -> (B, T) or (B,).

    Computed in float64 with a separable gaussian filter and no padding (skimage's ``crop``)."""
    squeeze = preds.ndim == 4
    x, y = _as_frames(preds, target)
    b, t = x.shape[:2]
    x = rearrange(x.double(), "b t c h w -> (b t c) 1 h w")
    y = rearrange(y.double(), "b t c h w -> (b t c) 1 h w")
    w = gaussian_window(sigma, dtype=x.dtype).to(x.device)
    if min(x.shape[-2:]) < len(w):
        raise ValueError(f"frames {tuple(x.shape[-2:])} are smaller than the SSIM window {len(w)}")

    def blur(z: torch.Tensor) -> torch.Tensor:  # valid (unpadded) separable gaussian filter
        z = F.conv2d(z, w.view(1, 1, -1, 1))
        return F.conv2d(z, w.view(1, 1, 1, -1))

    # all five filtered maps in one batched pass
    maps = blur(torch.cat([x, y, x * x, y * y, x * y], dim=1).flatten(0, 1)[:, None])
    ux, uy, uxx, uyy, uxy = rearrange(maps, "(n k) 1 h w -> k n h w", k=5)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    out = rearrange(s.mean(dim=(-2, -1)), "(b t c) -> b t c", b=b, t=t).mean(-1)
    return out[:, 0] if squeeze else out


def mse_per_frame(preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error of every frame: (B, T, C, H, W) -> (B, T), (B, C, H, W) -> (B,)."""
    x, y = _as_frames(preds, target)
    out = (x.double() - y.double()).pow(2).mean(dim=(-3, -2, -1))
    return out[:, 0] if preds.ndim == 4 else out


def gradient_energy(images: torch.Tensor) -> torch.Tensor:
    """Image-gradient energy per image: mean of squared horizontal and vertical finite
    differences over pixels and channels. images (B, C, H, W) -> (B,) (float64); a blurry
    reconstruction has less of it than its target."""
    x = images.double()
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean(dim=(-3, -2, -1))
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean(dim=(-3, -2, -1))
    return dx + dy


def psnr_per_frame(
    preds: torch.Tensor, target: torch.Tensor, data_range: float = 2.0
) -> torch.Tensor:
    """PSNR in dB of every frame, ``10 log10(data_range^2 / MSE)``: (B, T, ...) -> (B, T)."""
    return 10 * torch.log10(data_range**2 / mse_per_frame(preds, target))


class _PerFrameMean(Metric):
    """Mean of a per-frame score over all frames seen, or per time index (``per_frame=True``)."""

    is_differentiable = False
    full_state_update = False

    def __init__(self, per_frame: bool = False, max_frames: int = 64, **kwargs):
        super().__init__(**kwargs)
        self.per_frame = per_frame
        self.max_frames = max_frames
        # per time index, so that both the overall and the per-frame mean come from one state
        self.add_state("total", torch.zeros(max_frames, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.zeros(max_frames, dtype=torch.float64), dist_reduce_fx="sum")

    def score(self, preds: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, preds: torch.Tensor, target: torch.Tensor) -> None:
        """preds, target: frames (B, T, C, H, W) or images (B, C, H, W)."""
        scores = self.score(*_as_frames(preds, target))  # (B, T)
        t = scores.shape[1]
        if t > self.max_frames:
            raise ValueError(f"{t} frames per sequence; raise max_frames ({self.max_frames})")
        self.total[:t] += scores.sum(0)
        self.count[:t] += scores.shape[0]

    def compute(self) -> torch.Tensor:
        if self.per_frame:
            seen = self.count > 0
            return (self.total[seen] / self.count[seen]).float()
        return (self.total.sum() / self.count.sum()).float()


class FrameSSIM(_PerFrameMean):
    """Mean per-frame SSIM (see the module docstring); ``data_range`` 2 for frames in [-1, 1]."""

    higher_is_better = True

    def __init__(self, data_range: float = 2.0, sigma: float = 1.5, **kwargs):
        super().__init__(**kwargs)
        self.data_range, self.sigma = data_range, sigma

    def score(self, preds, target):
        return ssim_per_frame(preds, target, self.data_range, self.sigma)


class FramePSNR(_PerFrameMean):
    """Mean per-frame PSNR in dB; ``data_range`` 2 for frames in [-1, 1]."""

    higher_is_better = True

    def __init__(self, data_range: float = 2.0, **kwargs):
        super().__init__(**kwargs)
        self.data_range = data_range

    def score(self, preds, target):
        return psnr_per_frame(preds, target, self.data_range)


class FrameMSE(_PerFrameMean):
    """Mean per-frame MSE, in the units of the inputs."""

    higher_is_better = False

    def score(self, preds, target):
        return mse_per_frame(preds, target)
