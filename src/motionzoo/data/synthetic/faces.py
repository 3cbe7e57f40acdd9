"""Procedural faces written in the MUG Facial Expression Database layout.

A stand-in for MUG (``reference/datasets.md`` section 4): each subject is an identity (skin tone,
face shape, eye size / spacing / colour, hair colour and style, eyebrows), filmed in several takes
of the six expressions, each take animated from a neutral face to the expression's apex and held
there. The frames are drawn in numpy and written as image files::

    <root>/subjects3/<3-digit subject>/<expression>/take<3 digits>/img_<4 digits>.<jpg|png>

so the MUG loader (:mod:`motionzoo.data.mug`) reads them like the real database: takes are
``size`` x ``size`` (128 by default, larger than the 64x64 the loader produces) and the head sits
at a different position and scale in every take, so the loader's crop and resize do real work.

Expressions are parameterised by action-unit-like controls at apex (brow raise and slant, eye
opening, mouth curvature / opening / width / asymmetry, nose wrinkle, cheek raise, flush):
anger (brows down and drawn together, narrowed eyes, pressed lips, flush), disgust (wrinkled
nose, lip raised on one side), happiness (broad open smile with teeth, raised cheeks), fear
(brows up and together, wide eyes, stretched open mouth), sadness (inner brows up, mouth corners
down), surprise (brows high, eyes wide, round open mouth).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from motionzoo.data.progress import progress

EXPRESSIONS = ("anger", "disgust", "happiness", "fear", "sadness", "surprise")  # label order

# apex controls: brow_raise, brow_slant (+ inner ends down), eye_open, mouth_curve (+ corners up),
# mouth_open, mouth_width, mouth_asym, nose_wrinkle, cheek, flush
_CONTROLS = (
    "brow_raise", "brow_slant", "eye_open", "mouth_curve", "mouth_open",
    "mouth_width", "mouth_asym", "nose_wrinkle", "cheek", "flush",
)  # fmt: skip
_NEUTRAL = dict(zip(_CONTROLS, (0.0, 0.0, 1.0, 0.05, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)))
_APEX = {
    "anger": dict(brow_raise=-0.08, brow_slant=0.15, eye_open=0.5, mouth_curve=-0.3,
                  mouth_width=0.7, flush=0.4),
    "disgust": dict(brow_raise=-0.04, brow_slant=0.05, eye_open=0.65, mouth_curve=-0.3,
                    mouth_open=0.3, mouth_asym=1.0, nose_wrinkle=1.0),
    "happiness": dict(eye_open=0.7, mouth_curve=1.0, mouth_open=0.5, mouth_width=1.35, cheek=1.0),
    "fear": dict(brow_raise=0.12, brow_slant=-0.12, eye_open=1.6, mouth_curve=-0.3,
                 mouth_open=0.45, mouth_width=1.4),
    "sadness": dict(brow_raise=0.03, brow_slant=-0.16, eye_open=0.65, mouth_curve=-1.0,
                    mouth_width=0.9),
    "surprise": dict(brow_raise=0.2, eye_open=1.7, mouth_open=1.1, mouth_width=0.6),
}  # fmt: skip

SKIN = [
    (250, 222, 196),
    (232, 190, 150),
    (200, 150, 105),
    (160, 110, 70),
    (120, 80, 50),
    (85, 58, 40),
]
HAIR = [(30, 25, 22), (95, 60, 30), (200, 160, 80), (150, 50, 25), (170, 170, 175), (240, 225, 170)]
IRIS = [(70, 45, 25), (60, 110, 170), (60, 130, 70), (110, 110, 120)]
HAIR_STYLES = ("short", "long", "fringe", "receding")


def identity(subject: int, seed: int = 0) -> dict:
    """Appearance of subject ``subject`` (0-based): categorical traits assigned so that up to 36
    subjects differ in (skin, hair colour), plus seeded continuous face-shape traits."""
    rng = np.random.default_rng([seed, subject])
    return {
        "skin": np.array(SKIN[subject % 6], float),
        "hair": np.array(HAIR[(subject // 6 + subject) % 6], float),
        "hair_style": (subject // 36 + subject // 2) % len(HAIR_STYLES),
        "iris": np.array(IRIS[subject % 4], float),
        "aspect": rng.uniform(0.68, 0.86),  # face width / height
        "jaw": rng.uniform(0.0, 0.35),  # how much the lower face narrows
        "eye_size": rng.uniform(0.13, 0.18),
        "eye_gap": rng.uniform(0.34, 0.42),
        "brow_width": rng.uniform(0.025, 0.045),
        "background": np.array([70, 92, 125], float) + rng.uniform(-8, 8, 3),
    }


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0, 1)
    return t * t * (3 - 2 * t)


def render_take(
    who: dict,
    expression: int,
    frames: int = 24,
    size: int = 128,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One take: ``frames`` frames from neutral to the apex of ``expression`` (held to the end),
    head position / scale, intensity and onset drawn from ``rng``. -> (frames, size, size, 3) uint8."""
    rng = rng or np.random.default_rng(0)
    n = frames
    onset = rng.uniform(0.05, 0.2) * n
    ramp = rng.uniform(0.2, 0.35) * n
    e = _smoothstep((np.arange(n) - onset) / ramp) * rng.uniform(0.85, 1.1)  # (F,) intensity
    apex = {**_NEUTRAL, **_APEX[EXPRESSIONS[expression]]}
    c = {k: (_NEUTRAL[k] + e * (apex[k] - _NEUTRAL[k]))[:, None, None] for k in _CONTROLS}

    r = size * rng.uniform(0.27, 0.33)  # face half-height in pixels
    cx = size / 2 + rng.uniform(-0.08, 0.08) * size
    cy = size / 2 + rng.uniform(-0.04, 0.08) * size
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    u, v = ((xx - cx) / r)[None], ((yy - cy) / r)[None]  # face units, (1, H, W); v down

    img = np.broadcast_to(who["background"].astype(np.float32), (n, size, size, 3)).copy()

    def paint(mask, colour, alpha=1.0):
        """Blend ``colour`` (3,) or per frame (F, 3) over the pixels of ``mask`` with opacity
        ``alpha`` (scalar or per frame (F, 1, 1))."""
        at = np.nonzero(np.broadcast_to(mask, img.shape[:3]))
        colour = np.asarray(colour, np.float32)
        colour = colour[at[0]] if colour.ndim == 2 else colour
        alpha = np.asarray(alpha, np.float32)
        alpha = alpha.reshape(-1)[at[0], None] if alpha.ndim else alpha
        img[at] = img[at] * (1 - alpha) + alpha * colour

    skin, hair = who["skin"], who["hair"]
    a = who["aspect"]
    width = a * (1 - who["jaw"] * np.clip(v, 0, 1) ** 2)  # narrower towards the chin
    face = (u / width) ** 2 + v**2 <= 1
    style = HAIR_STYLES[who["hair_style"]]
    if style == "long":
        paint(((u / (a + 0.25)) ** 2 + ((v - 0.15) / 1.15) ** 2 <= 1) & (v < 1.2), hair)
    paint((np.abs(u) < 0.3) & (v > 0.6) & (v < 1.3), skin * 0.85)  # neck
    flushed = skin[None] * (1 - 0.35 * e[:, None]) + np.array([225, 60, 50]) * 0.35 * e[:, None]
    paint(face, np.where(apex["flush"] > 0, flushed, skin[None].repeat(n, 0)))
    top = (u / (a + 0.06)) ** 2 + ((v + 0.05) / 1.08) ** 2 <= 1
    hairline = {"short": -0.55, "long": -0.5, "fringe": -0.3, "receding": -0.75}[style]
    paint(top & (v < hairline - 0.08 * np.cos(3 * u)), hair)
    if style == "fringe":
        paint(top & (v < -0.3) & (np.abs(u) < a * 0.9), hair)

    # cheeks (happiness) and nose wrinkle (disgust)
    for side in (-1, 1):
        paint(((u - side * 0.45) / 0.17) ** 2 + ((v - 0.25) / 0.11) ** 2 <= 1,
              (235, 120, 120), 0.6 * c["cheek"])  # fmt: skip
        for k in range(2):
            line = np.abs(v + 0.02 - 0.06 * k - 0.25 * np.abs(u - side * 0.12)) < 0.018
            paint(line & (np.abs(u - side * 0.12) < 0.1), skin * 0.55, c["nose_wrinkle"])
    paint((np.abs(u) < 0.05 + 0.25 * np.clip(v - 0.05, 0, 1)) & (v > 0.05) & (v < 0.27), skin * 0.8)

    # eyes: white, iris, pupil, opening scaled by eye_open
    gap, es = who["eye_gap"], who["eye_size"]
    for side in (-1, 1):
        ex, ey = side * gap, -0.12
        ry = 0.55 * es * c["eye_open"]
        white = ((u - ex) / es) ** 2 + ((v - ey) / ry) ** 2 <= 1
        paint(white, (245, 245, 240))
        paint(white & ((u - ex) ** 2 + (v - ey) ** 2 <= (0.5 * es) ** 2), who["iris"])
        paint(white & ((u - ex) ** 2 + (v - ey) ** 2 <= (0.22 * es) ** 2), (15, 15, 15))
        # brow: from the inner end (u = side*0.1) to the outer end; slant moves the inner end
        t = np.clip((u - side * 0.12) / (side * (gap + es - 0.12)), 0, 1)
        brow_v = ey - 0.2 - c["brow_raise"] + c["brow_slant"] * (1 - t) - 0.03 * np.sin(np.pi * t)
        brow = (np.abs(v - brow_v) < who["brow_width"]) & (t > 0) & (t < 1)
        paint(brow & (side * u > 0.1), hair * 0.7)

    # mouth: a centre line bent by mouth_curve, opened by mouth_open, raised on one side
    w = 0.3 * c["mouth_width"]
    s = np.clip(u / w, -1, 1)
    inside = np.abs(u) < w
    centre = 0.52 - 0.15 * c["mouth_curve"] * s**2 - 0.14 * c["mouth_asym"] * np.clip(s, 0, 1)
    half = 0.2 * c["mouth_open"] * np.sqrt(np.clip(1 - s**2, 0, 1))
    paint(inside & (np.abs(v - centre) < half + 0.035), (170, 70, 70))  # lips
    opening = inside & (np.abs(v - centre) < half)
    paint(opening, (60, 20, 25))
    paint(opening & (v < centre - 0.35 * half), (240, 240, 235), np.clip(c["mouth_curve"], 0, 1))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def iter_takes(
    num_subjects: int = 8, takes: int = 2, frames: int = 24, size: int = 128, seed: int = 0
) -> Iterator[tuple[str, str, str, np.ndarray]]:
    """Yield ``(subject, expression, take, video (frames, size, size, 3) uint8)`` in the MUG
    naming (subjects "001", ..., takes "take000", ...), one take at a time."""
    for subject in range(num_subjects):
        who = identity(subject, seed)
        for label, name in enumerate(EXPRESSIONS):
            for take in range(takes):
                rng = np.random.default_rng([seed, subject, label, take])
                video = render_take(who, label, frames, size, rng)
                yield f"{subject + 1:03d}", name, f"take{take:03d}", video


def write_mug(
    root: str | os.PathLike,
    num_subjects: int = 8,
    takes: int = 2,
    frames: int = 24,
    size: int = 128,
    image_format: str = "jpg",
    seed: int = 0,
) -> int:
    """Write the takes of :func:`iter_takes` as ``root/subjects3/<subject>/<expression>/<take>/
    img_0001.<jpg|png>`` ...; returns the number of takes written."""
    if image_format not in ("jpg", "png"):
        raise ValueError(f"image_format must be 'jpg' or 'png'; got {image_format!r}")
    options = {"quality": 95} if image_format == "jpg" else {}
    count = 0
    videos = iter_takes(num_subjects, takes, frames, size, seed)
    total = num_subjects * len(EXPRESSIONS) * takes
    for subject, expression, take, video in progress(videos, "takes", total):
        folder = Path(root) / "subjects3" / subject / expression / take
        folder.mkdir(parents=True, exist_ok=True)
        for i, frame in enumerate(video):
            Image.fromarray(frame).save(folder / f"img_{i + 1:04d}.{image_format}", **options)
        count += 1
    return count
