"""The render measure (silhouette IoU, colour error inside the subject) on hand-made images and
on the synthetic renders themselves."""

from __future__ import annotations

import pytest
import torch

from motionzoo.data.synthetic.h36m_images import background, subject_colours
from motionzoo.metrics.render import render_scores, silhouette


def unit(rgb255) -> torch.Tensor:
    return torch.as_tensor(rgb255, dtype=torch.float32) / 127.5 - 1


def figure(colour, box, size: int = 32) -> torch.Tensor:
    """A camera-0 background with a rectangle ``box`` (y0, y1, x0, x1) of ``colour`` (0-255)."""
    image = unit(background(0, size, size)).permute(2, 0, 1).clone()
    y0, y1, x0, x1 = box
    image[:, y0:y1, x0:x1] = unit(colour).view(3, 1, 1)
    return image


def test_the_subject_is_saturated_and_the_backgrounds_are_not():
    for camera in range(4):
        assert not silhouette(unit(background(camera, 64, 64)).permute(2, 0, 1)[None]).any()
    for subject in ("S1", "S5", "S9", "S11"):
        for colour in subject_colours(subject).values():
            assert silhouette(unit(colour).view(1, 3, 1, 1)).all(), (subject, colour)
    assert not silhouette(-torch.ones(1, 3, 4, 4)).any()  # black outside the frame


def test_iou_and_colour_error_of_known_figures():
    blue, orange = subject_colours("S9")["centre"], subject_colours("S5")["centre"]
    target = figure(blue, (4, 28, 12, 20))[None]
    same = render_scores(target, target)
    assert same["iou"].item() == 1.0 and same["colour_error"].item() == 0.0
    # half the figure, right colour: IoU 1/2, colour error = the background's distance on half
    half = figure(blue, (4, 16, 12, 20))[None]
    scores = render_scores(half, target)
    assert scores["iou"].item() == pytest.approx(0.5)
    inside = (half - target).abs().mean(1)[0, 4:28, 12:20] * 127.5
    assert scores["colour_error"].item() == pytest.approx(inside.mean().item(), rel=1e-5)
    # the right place in the wrong colour: IoU 1, colour error the mean |blue - orange|
    wrong = render_scores(figure(orange, (4, 28, 12, 20))[None], target)
    assert wrong["iou"].item() == 1.0
    expected = (torch.tensor(blue, dtype=torch.float32) - torch.tensor(orange)).abs().mean()
    assert wrong["colour_error"].item() == pytest.approx(expected.item(), abs=1e-3)
    # no figure at all
    empty = render_scores(figure(blue, (0, 0, 0, 0))[None], target)
    assert empty["iou"].item() == 0.0 and empty["colour_error"].item() > 50


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        silhouette(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="differ"):
        render_scores(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 9))
