"""Does a generated image show the subject of the synthetic Human3.6M renders, in its colour and
its pose? (Issue 19: the cross-modal VAE's rgb->rgb and 3d->rgb renders.)

The synthetic renders (:mod:`motionzoo.data.synthetic.h36m_images`) paint a subject in
saturated colours of its own hue on a muted grey gradient (HSV saturation below 0.2) and black
outside the frame, so the subject's silhouette is the set of pixels whose saturation
(max - min) / max of their RGB in [0, 1] exceeds ``threshold`` (0.3; the lightest limb colour
has 0.45). Against the target render, per image:

- ``iou``: intersection over union of the two silhouettes (the pose: where the limbs are);
  0 for a generated image without a saturated pixel, 1 for the same silhouette;
- ``colour_error``: mean absolute RGB error inside the target's silhouette, in 0-255 levels
  (the subject's colour where the subject is: a grey or wrongly coloured figure scores high).

A vertical smear in the mean figure's place scores an IoU of about 0.45 on these crops and a
colour error of 45-75 levels; a faithful reconstruction, IoU near 1 and a few levels.
"""

from __future__ import annotations

import torch


def silhouette(images: torch.Tensor, threshold: float = 0.3) -> torch.Tensor:
    """images (B, 3, H, W) in [-1, 1] -> (B, H, W) bool, True where the HSV saturation of the
    pixel exceeds ``threshold``."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"images of shape {tuple(images.shape)}; expected (B, 3, H, W) in [-1, 1]")
    rgb = (images.float().clamp(-1, 1) + 1) / 2
    high, low = rgb.amax(1), rgb.amin(1)
    return (high - low) > threshold * high.clamp_min(1e-6)


def render_scores(
    preds: torch.Tensor, target: torch.Tensor, threshold: float = 0.3
) -> dict[str, torch.Tensor]:
    """preds, target (B, 3, H, W) in [-1, 1] -> ``{"iou": (B,), "colour_error": (B,)}`` (see
    the module docstring); a target without a silhouette gives NaN colour error."""
    if preds.shape != target.shape:
        raise ValueError(
            f"render_scores: preds {tuple(preds.shape)} and target {tuple(target.shape)} differ"
        )
    mask_p, mask_t = silhouette(preds, threshold), silhouette(target, threshold)
    union = (mask_p | mask_t).sum((1, 2))
    iou = (mask_p & mask_t).sum((1, 2)) / union.clamp_min(1)
    levels = (preds.float() - target.float()).abs().mean(1) * 127.5  # [-1, 1] -> 0-255 levels
    inside = mask_t.sum((1, 2))
    colour = (levels * mask_t).sum((1, 2)) / inside
    return {"iou": torch.where(union > 0, iou, torch.ones_like(iou)), "colour_error": colour}
