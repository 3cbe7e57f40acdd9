"""Procedural Sprites: 64x64 characters written as the DSVAE ``sprites_{X,A,D}_{split}.npy`` files.

A stand-in for the LPC Sprites of DSVAE/S3VAE (``reference/datasets.md`` section 3) drawn in numpy:
a character is one of 6^4 = 1296 combinations of four attributes with 6 values each, in the real
row order ``[body, bottom, top, hair]``:

- body: skin colour (light, tanned, dark, dark-elf violet, orc green, blue);
- bottom: trousers colour and cut (long, shorts, skirt, belted, wide, striped capri);
- top: shirt colour and cut (t-shirt, striped, long sleeves, vest, v-neck, shoulder pads);
- hair: colour and style (short, long, mohawk, bun, spiky, ponytail).

Each character performs 3 actions (walk: legs alternate and arms swing; spellcard: arms raised
around a pulsing glow; slash: one arm swings a blade) seen from 3 directions (front; left: side
view; right: the left view mirrored), 8 frames of one period each. Pixels are drawn as bytes and
written as the real files are: ``X = bytes / 256`` (float32, values in [0, 255/256]), attributes
``A`` (N, 8, 4, 6) one-hot float32, action x direction ``D`` (N, 8, 9) one-hot float64 with
``label = 3 * action + direction``. ``num_characters`` are split 1000 : 296 into train and test
characters as the real data is (all 1296 give exactly the real split, see
:func:`split_characters`), and each split's sequences are shuffled with ``seed`` as
``load_sprites.sprites_act`` does.
"""

from __future__ import annotations

import os
from itertools import product
from pathlib import Path

import numpy as np

from motionzoo.data.cache import atomic_write
from motionzoo.data.progress import progress

ACTIONS = ("walk", "spellcard", "slash")
DIRECTIONS = ("front", "left", "right")
ATTRIBUTES = ("body", "bottom", "top", "hair")
NUM_VALUES = 6
NUM_FRAMES = 8
SIZE = 64
TOTAL_CHARACTERS = NUM_VALUES ** len(ATTRIBUTES)  # 1296
TRAIN_SHARE = 1000 / 1296

# palettes: skin tones kept away from the clothes' colours, so the body reads from the face/hands
SKIN = [
    (255, 228, 200),
    (215, 150, 95),
    (120, 72, 42),
    (165, 105, 180),
    (120, 185, 95),
    (135, 165, 230),
]
BOTTOM = [
    (40, 60, 170),
    (70, 70, 80),
    (205, 35, 40),
    (30, 110, 50),
    (235, 235, 235),
    (135, 45, 175),
]
TOP = [
    (245, 140, 25),
    (25, 175, 175),
    (235, 225, 55),
    (125, 20, 45),
    (120, 120, 135),
    (245, 120, 195),
]
HAIR = [(45, 30, 25), (245, 212, 85), (180, 60, 15), (240, 240, 240), (45, 85, 230), (60, 210, 80)]
SHOE, EYE, BLADE = (40, 40, 48), (15, 15, 30), (200, 205, 215)
WHITE, DARK = (250, 250, 250), (20, 20, 20)
GLOW_CORE, GLOW_RING = (255, 250, 175), (110, 235, 255)

_Y, _X = (g[None].astype(np.float32) + 0.5 for g in np.mgrid[0:SIZE, 0:SIZE])  # (1, H, W)


def _f(v) -> np.ndarray:
    """A per-frame parameter (F,) or scalar -> broadcastable (F, 1, 1) / scalar."""
    v = np.asarray(v, dtype=np.float32)
    return v.reshape(-1, 1, 1) if v.ndim else v


def _ellipse(cx, cy, rx, ry) -> np.ndarray:
    return ((_X - _f(cx)) / _f(rx)) ** 2 + ((_Y - _f(cy)) / _f(ry)) ** 2 <= 1


def _rect(x0, y0, x1, y1) -> np.ndarray:
    return (_X >= _f(x0)) & (_X < _f(x1)) & (_Y >= _f(y0)) & (_Y < _f(y1))


def _capsule(a, b, r) -> np.ndarray:
    """Pixels within ``r`` of the segment a-b; a, b = (x, y) of per-frame arrays."""
    ax, ay, bx, by = _f(a[0]), _f(a[1]), _f(b[0]), _f(b[1])
    dx, dy = bx - ax, by - ay
    t = np.clip(((_X - ax) * dx + (_Y - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-6), 0, 1)
    return (_X - ax - t * dx) ** 2 + (_Y - ay - t * dy) ** 2 <= r * r


def _lerp(a, b, t=0.5, shift=(0.0, 0.0)):
    return (a[0] + t * (b[0] - a[0]) + shift[0], a[1] + t * (b[1] - a[1]) + shift[1])


def _pose(action: str, side: bool, n: int) -> dict[str, tuple]:
    """Joint positions (x, y) as per-frame arrays for one period of ``action``.

    Front view: limbs "l" (viewer's left) and "r". Side view (facing left): "l" is the far limb,
    "r" the near one."""
    phi = 2 * np.pi * np.arange(n) / n
    s, c = np.sin(phi), np.cos(phi)
    one = np.ones(n)
    p: dict[str, tuple] = {}
    if side:
        p["shoulder_l"] = p["shoulder_r"] = (32 * one, 29 * one)
        p["hip_l"] = p["hip_r"] = (32 * one, 42 * one)
    else:
        p["shoulder_l"], p["shoulder_r"] = (23.5 * one, 29 * one), (40.5 * one, 29 * one)
        p["hip_l"], p["hip_r"] = (28.5 * one, 42 * one), (35.5 * one, 42 * one)
    if action == "walk":
        if side:  # legs swing along x; the swinging foot lifts
            p["foot_l"] = (32 + 7 * s, 56 - 2.5 * np.maximum(0, -c))
            p["foot_r"] = (32 - 7 * s, 56 - 2.5 * np.maximum(0, c))
            p["hand_l"], p["hand_r"] = (32 - 6 * s, 40 * one), (32 + 6 * s, 40 * one)
        else:  # feet lift alternately, arms swing in counter-phase
            p["foot_l"] = (28.5 * one, 56 - 3.5 * np.maximum(0, s))
            p["foot_r"] = (35.5 * one, 56 - 3.5 * np.maximum(0, -s))
            p["hand_l"], p["hand_r"] = (21.5 * one, 41 - 2.5 * s), (42.5 * one, 41 + 2.5 * s)
    else:
        if side:
            p["foot_l"], p["foot_r"] = (35 * one, 56 * one), (29 * one, 56 * one)
        else:
            spread = 1.5 if action == "slash" else 0.0
            p["foot_l"] = ((28.5 - spread) * one, 56 * one)
            p["foot_r"] = ((35.5 + spread) * one, 56 * one)
    if action == "spellcard":  # both hands up around a pulsing glow
        pulse = 3 + 1.5 * (1 + s) / 2
        if side:
            p["hand_l"], p["hand_r"] = (23 * one, 22 + 1.5 * s), (21 * one, 20 + 1.5 * s)
            p["glow"] = (15 * one, 17 * one, pulse)
        else:
            p["hand_l"], p["hand_r"] = (25 * one, 8 + 1.5 * s), (39 * one, 8 + 1.5 * s)
            p["glow"] = (32 * one, 5 * one, pulse)
        p["elbow_l"] = _lerp(p["shoulder_l"], p["hand_l"], 0.5, (-3.0, 0.0) if not side else (0, 2))
        p["elbow_r"] = _lerp(p["shoulder_r"], p["hand_r"], 0.5, (3.0, 0.0) if not side else (0, 2))
    if action == "slash":  # the near / right arm swings a blade down and back up
        swing = (1 - c) / 2
        theta = np.deg2rad(260 - 110 * swing) if side else np.deg2rad(-100 + 150 * swing)
        d = (np.cos(theta), np.sin(theta))
        sh = p["shoulder_r"]
        p["hand_r"] = (sh[0] + 11 * d[0], sh[1] + 11 * d[1])
        p["blade"] = (p["hand_r"], (sh[0] + 23 * d[0], sh[1] + 23 * d[1]))
        p["hand_l"] = (34 * one, 40 * one) if side else (22 * one, 41 * one)
    for limb in ("l", "r"):
        p.setdefault(f"elbow_{limb}", _lerp(p[f"shoulder_{limb}"], p[f"hand_{limb}"]))
        knee_shift = (-1.5, 0.0) if side else (0.0, 0.0)
        p[f"knee_{limb}"] = _lerp(p[f"hip_{limb}"], p[f"foot_{limb}"], 0.5, knee_shift)
    return p


def _hair(style: int, side: bool) -> np.ndarray:
    """Hair mask (1, H, W) drawn over the head (centre (32, 19))."""
    if side:  # facing left: the hair covers the top and the back of the head
        cap = _ellipse(33, 18, 7.5, 9) & ((_Y < 15) | (_X > 34)) & (_Y < 23)
        extra = [
            np.zeros_like(cap),
            _rect(33, 14, 40, 31),
            _ellipse(33, 11, 7, 4) & (_Y < 12),
            _ellipse(38, 10, 3.5, 3.5),
            (_Y >= 6 + 2 * np.abs(((_X - 26) % 5) - 2.5)) & (_Y < 13) & (_X > 25) & (_X < 41),
            _capsule((39, 14), (44, 27), 2.2),
        ][style]
    else:
        cap = _ellipse(32, 18, 8, 9) & (_Y < 16)
        extra = [
            np.zeros_like(cap),
            _ellipse(32, 21, 9.5, 11) & (_Y < 31) & (np.abs(_X - 32) > 5.5),
            _rect(29.5, 5, 34.5, 16),
            _ellipse(32, 8.5, 3.5, 3),
            (_Y >= 5 + 2 * np.abs(((_X - 24) % 5) - 2.5)) & (_Y < 13) & (_X > 24) & (_X < 40),
            _capsule((38, 15), (43, 27), 2.2),
        ][style]
    return cap | extra


def render_sequence(
    body: int,
    bottom: int,
    top: int,
    hair: int,
    action: int,
    direction: int,
    frames: int = NUM_FRAMES,
) -> np.ndarray:
    """One character doing one action from one direction: (frames, 64, 64, 3) uint8."""
    name, view = ACTIONS[action], DIRECTIONS[direction]
    side = view != "front"
    p = _pose(name, side, frames)
    img = np.zeros((frames, SIZE, SIZE, 3), np.uint8)  # black, as transparent LPC pixels read

    def paint(mask, colour):
        img[np.broadcast_to(mask, img.shape[:3])] = colour

    skin, trousers, shirt = SKIN[body], BOTTOM[bottom], TOP[top]
    leg_r = 4.3 if bottom == 4 else 3.0
    upper_sleeve = top in (0, 1, 2, 5)  # t-shirt, striped, long sleeves, pads cover the upper arm

    def arm(limb):
        sh, el, ha = p[f"shoulder_{limb}"], p[f"elbow_{limb}"], p[f"hand_{limb}"]
        paint(_capsule(el, ha, 2.2), shirt if top == 2 else skin)
        paint(_capsule(sh, el, 2.5), shirt if upper_sleeve else skin)
        paint(_ellipse(ha[0], ha[1], 2, 2), skin)
        if top == 5:
            paint(_ellipse(sh[0], sh[1], 4, 3), tuple(v // 2 for v in shirt))

    def leg(limb):
        hip, knee, foot = p[f"hip_{limb}"], p[f"knee_{limb}"], p[f"foot_{limb}"]
        paint(_capsule(knee, foot, leg_r), skin if bottom in (1, 2) else trousers)
        if bottom == 5:  # capri: bare ankles, white stripes
            paint(_capsule(knee, foot, leg_r) & (_Y > _f(foot[1]) - 4), skin)
        paint(_capsule(hip, knee, leg_r), trousers)
        if bottom == 5:
            paint((_capsule(hip, foot, leg_r) & (_Y % 4 < 1) & (_Y < _f(foot[1]) - 4)), WHITE)
        paint(_ellipse(foot[0] - (1.5 if side else 0), foot[1] + 0.5, 3.2, 1.8), SHOE)

    torso = _rect(27, 27, 37, 43) if side else _rect(24, 27, 40, 43)
    x0, x1 = (27, 37) if side else (24, 40)
    if side:  # the far limbs go behind the body
        arm("l")
        leg("l")
        leg("r")
    else:
        leg("l")
        leg("r")
    paint(_rect(x0, 39, x1, 44), trousers)
    if bottom == 2:  # skirt: a trapezoid from the hips to the knees
        paint(
            (_Y >= 39) & (_Y < 50) & (np.abs(_X - 32) < (6 if side else 9) + 0.5 * (_Y - 39)),
            trousers,
        )
    paint(_rect(30, 24, 34, 28), skin)  # neck
    paint(torso, shirt)
    if top == 1:
        paint(torso & (_Y % 4 < 1.5), DARK)
    elif top == 3:  # vest over a white shirt
        paint(_rect(30, 27, 34, 43) if not side else _rect(27, 29, 30, 43), WHITE)
    elif top == 4:  # v-neck
        paint(torso & (_Y < 35) & (np.abs(_X - (29 if side else 32)) < (35 - _Y) / 2), skin)
    if bottom == 3:  # belt and buckle
        paint(_rect(x0, 42, x1, 44), DARK)
        paint(_rect(30 if not side else 27, 41.5, 34 if not side else 30, 44.5), (240, 200, 40))
    arm("r")
    if not side:
        arm("l")
    if side:
        paint(_ellipse(32, 19, 6.5, 8) | _ellipse(25.5, 20, 1.5, 1.5), skin)  # head, nose
        paint(_ellipse(28, 18, 1, 1.3), EYE)
    else:
        paint(_ellipse(32, 19, 7, 8), skin)
        paint(_ellipse(29, 19, 1, 1.3) | _ellipse(35, 19, 1, 1.3), EYE)
    paint(_hair(hair, side), HAIR[hair])
    if "glow" in p:
        gx, gy, r = p["glow"]
        paint(_ellipse(gx, gy, r + 1, r + 1), GLOW_RING)
        paint(_ellipse(gx, gy, r, r), GLOW_CORE)
    if "blade" in p:
        paint(_capsule(*p["blade"], 1.3), BLADE)
        paint(_ellipse(p["hand_r"][0], p["hand_r"][1], 2, 2), skin)
    if view == "right":
        img = np.ascontiguousarray(img[:, :, ::-1])
    return img


def _balanced(rows: np.ndarray, n: int) -> np.ndarray:
    """Indices of ``n`` of ``rows`` (m, 4), picked greedily in order so that every pair of
    attribute values occurs about equally often (no attribute predicts another one)."""
    pairs = [(i, j) for i in range(len(ATTRIBUTES)) for j in range(i + 1, len(ATTRIBUTES))]
    score = np.zeros(len(rows))
    chosen = []
    for _ in range(n):
        score[chosen] = np.inf
        k = int(np.argmin(score))  # the first of the least represented, in the given order
        chosen.append(k)
        for i, j in pairs:  # each candidate's score: how often its value pairs were chosen
            score += (rows[:, i] == rows[k, i]) & (rows[:, j] == rows[k, j])
    return np.asarray(chosen)


def split_characters(num_characters: int) -> dict[str, np.ndarray]:
    """Character attribute rows (n, 4) of the train and test splits.

    All 1296 characters: the real split (``np.random.seed(423)`` permutation, first 1000 to
    train). Fewer: taken from that permutation so that, within each split, every pair of
    attribute values is about equally frequent; a random subset would let, e.g., white hair
    stand for light skin in a small training set, and a classifier would learn that shortcut."""
    if not 2 <= num_characters <= TOTAL_CHARACTERS:
        raise ValueError(f"num_characters must be in [2, {TOTAL_CHARACTERS}]; got {num_characters}")
    order = np.random.RandomState(423).permutation(TOTAL_CHARACTERS)
    rows = np.stack(np.unravel_index(order, (NUM_VALUES,) * len(ATTRIBUTES)), axis=1)
    n_train = min(max(1, round(num_characters * TRAIN_SHARE)), num_characters - 1)
    if num_characters == TOTAL_CHARACTERS:
        return {"train": rows[:n_train], "test": rows[n_train:]}
    train = _balanced(rows, n_train)
    rest = np.delete(rows, train, axis=0)
    test = _balanced(rest, num_characters - n_train)
    return {"train": rows[train], "test": rest[test]}


def make_sprites(num_characters: int = 22, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """The arrays of the real files for both splits: ``{"train": {"X", "A", "D"}, "test": ...}``.

    X (N, 8, 64, 64, 3) float32 = bytes / 256; A (N, 8, 4, 6) float32; D (N, 8, 9) float64;
    N = 9 x characters, grouped by ``label = 3 * action + direction`` then shuffled with ``seed``."""
    rng = np.random.RandomState(seed)
    out = {}
    for split, rows in split_characters(num_characters).items():
        xs, labels, attrs = [], [], []
        sequences = list(product(range(len(ACTIONS) * len(DIRECTIONS)), rows))
        for label, row in progress(sequences, f"{split} sequences"):
            xs.append(render_sequence(*row, label // 3, label % 3))
            labels.append(label)
            attrs.append(row)
        order = rng.permutation(len(xs))
        x = np.stack(xs)[order]
        eye6, eye9 = np.eye(NUM_VALUES, dtype=np.float32), np.eye(9, dtype=np.float64)
        a = np.repeat(eye6[np.stack(attrs)[order]][:, None], NUM_FRAMES, axis=1)
        d = np.repeat(eye9[np.asarray(labels)[order]][:, None], NUM_FRAMES, axis=1)
        out[split] = {"X": (x / 256.0).astype(np.float32), "A": a, "D": d}
    return out


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file handle: np.save would otherwise append ".npy"
        np.save(f, array)


def write_sprites(root: str | os.PathLike, num_characters: int = 22, seed: int = 0) -> list[Path]:
    """Write ``sprites_{X,A,D}_{train,test}.npy`` under ``root`` (each file atomically)."""
    root = Path(root)
    paths = []
    for split, arrays in make_sprites(num_characters, seed).items():
        for key, array in arrays.items():
            path = root / f"sprites_{key}_{split}.npy"
            atomic_write(path, lambda tmp, a=array: _save_npy(tmp, a))
            paths.append(path)
    return paths
