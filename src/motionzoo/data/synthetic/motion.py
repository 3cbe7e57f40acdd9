"""Procedural Human3.6M actions: exp-map joint-angle programs on the real 32-joint skeleton.

Each of the 15 canonical actions is a small program of named degrees of freedom (hip flexion,
elbow flexion, pelvis heading, ...) as functions of time at 50 Hz, vectorised over frames. The
degrees of freedom become local joint rotations, the rotations become the exp-map columns of the
motion files (the source of truth), and the positions are the forward kinematics of those
exp-maps on the subject's bone lengths, placed in Human3.6M's Z-up world.

Frames. The exp-map skeleton is Y-up with the actor facing +z and the actor's left at +x
(right leg offset -x). Human3.6M's world (cameras, ``data_3d_h36m.npz``) is Z-up with the floor
at z = 0, so positions are rotated by ``SKELETON_TO_WORLD`` (+90 degrees about x, a proper
rotation: left stays left). The root translation (exp-map columns 0:3) is in the skeleton
frame; its vertical part is chosen per frame so that the lowest foot point touches the floor.

Local rotations are designed in the column convention (``v_parent = Q v_child``, joint axes
= rest-pose axes: x left, y up, z forward); the exp-map files use the row convention of
HisRepItself's ``fkl``, whose matrix acts as its transpose, so each joint's exp-map is
``-log(Q)`` (see ``motionzoo.geometry.kinematics``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from motionzoo.geometry.kinematics import (
    axis_angle_to_matrix,
    forward_kinematics,
    matrix_to_axis_angle,
)
from motionzoo.skeleton import H36M_32, H36M_ACTIONS, h36m_offsets

FPS = 50
# Y-up skeleton frame -> Z-up Human3.6M world: (x, y, z) -> (x, -z, y).
SKELETON_TO_WORLD = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
FOOT_JOINTS = (3, 4, 5, 8, 9, 10)  # ankles, toe bases, toe sites
LEG_LENGTH = 896.0  # hip-to-ankle of the standard skeleton, mm

Dofs = dict[str, np.ndarray | float]


@dataclass(frozen=True)
class Style:
    """Per-sequence variation drawn from the sequence's seed."""

    tempo: float  # speed factor of every rhythm
    amplitude: float  # scale of every gesture
    phase: float  # start phase, in cycles
    heading: float  # facing direction, rad (0 = facing world -y)
    start: np.ndarray  # (2,) ground position in world mm
    turn: int  # +1 / -1: walking counter-clockwise / clockwise
    variant: np.ndarray  # (8,) uniform [0, 1) numbers a program may use


def subject_offsets(subject: str) -> np.ndarray:
    """(32, 3) bone offsets in mm of a synthetic subject: the standard skeleton scaled by a
    per-subject factor in [0.92, 1.08] with legs, torso and arms each varied by +-3 %
    (left/right symmetric). Deterministic per subject name, independent of any seed."""
    rng = np.random.default_rng([20240607, *subject.encode()])
    scale = rng.uniform(0.92, 1.08)
    legs, torso, arms = rng.uniform(0.97, 1.03, size=3)
    factor = np.full(32, scale)
    factor[[2, 3, 4, 5, 7, 8, 9, 10]] *= legs
    factor[[11, 12, 13, 14, 15, 16, 24]] *= torso  # 16, 24: spine to the clavicles' origin
    factor[[17, 18, 19, 20, 21, 22, 23, 25, 26, 27, 28, 29, 30, 31]] *= arms
    return h36m_offsets() * factor[:, None]


# --- elementary rotations and envelopes (vectorised over frames) --------------------------


def _rot(axis: int, angle) -> np.ndarray:
    """(T,) or scalar angle -> (T, 3, 3) / (3, 3) right-handed rotation about axis 0/1/2."""
    angle = np.asarray(angle, dtype=np.float64)
    c, s = np.cos(angle), np.sin(angle)
    m = np.zeros((*angle.shape, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    m[..., axis, axis] = 1
    m[..., i, i], m[..., j, j] = c, c
    m[..., i, j], m[..., j, i] = -s, s
    return m


def _rx(a):
    return _rot(0, a)


def _ry(a):
    return _rot(1, a)


def _rz(a):
    return _rot(2, a)


def _smooth(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _pulse(u: np.ndarray, knots: tuple[float, float, float, float]) -> np.ndarray:
    """Periodic smooth pulse on cycle position u: 0 until knots[0], rises to 1 at knots[1],
    holds until knots[2], back to 0 at knots[3] (all fractions of a cycle)."""
    a, b, c, d = knots
    return _smooth(np.interp(np.mod(u, 1.0), [0, a, b, c, d, 1], [0, 0, 1, 1, 0, 0]))


def _wave(t: np.ndarray, s: Style, hz: float, offset: float = 0.0) -> np.ndarray:
    return np.sin(2 * np.pi * (hz * s.tempo * t + s.phase + offset))


# --- action programs ----------------------------------------------------------------------


# Arm poses relative to the chest: (flexion, abduction, horizontal, internal twist, elbow) rad.
# The hand targets (ear, mouth, face, hip, crossed) were solved once by least squares on the
# standard skeleton; "rest" hangs with a slightly bent elbow.
ARM_POSES = {
    "rest": (0.0, 0.12, 0.0, 0.0, 0.15),
    "ear": (0.7, 0.74, -0.46, -0.43, 2.7),
    "mouth": (0.79, -0.1, -0.07, 0.82, 2.45),
    "camera": (1.03, 0.53, -0.09, -0.02, 2.22),
    "hip": (-0.49, 0.47, -0.62, 0.76, 1.12),
    "cross_over": (0.56, 0.28, -0.77, 0.64, 1.27),
    "cross_under": (0.6, -0.03, -0.31, 1.23, 1.44),
    "overhead": (0.1, 2.6, 0.0, 0.2, 0.2),
    "sideways": (0.1, 1.5, 0.0, 0.0, 0.1),
    "biceps": (0.0, 1.4, 0.0, -1.2, 2.2),
    "point": (1.35, 0.1, 0.4, 0.0, 0.1),
    "wave": (0.35, 1.5, -0.3, -1.4, 1.3),
    "table": (0.55, 0.15, 0.0, 0.3, 1.45),
    "thigh": (0.45, 0.1, 0.0, 0.2, 1.1),
    "leash": (0.65, 0.15, 0.0, 0.0, 0.45),
    "linked": (0.25, 0.35, 0.0, 0.3, 1.4),
    "carry": (0.45, 0.15, 0.0, 0.3, 1.25),
    "gesture": (0.45, 0.25, 0.0, 0.0, 1.4),
}
_ARM_DOFS = ("shoulder_flex", "shoulder_abd", "shoulder_horiz", "shoulder_twist", "elbow")


def _arm(dofs: Dofs, side: str, pose: str, weight=1.0, base: str = "rest") -> None:
    """Set one arm to `base` blended towards `pose` by `weight` (scalar or (T,))."""
    for name, a, b in zip(_ARM_DOFS, ARM_POSES[base], ARM_POSES[pose]):
        dofs[f"{side}_{name}"] = a + (b - a) * np.asarray(weight)


def _gait(t: np.ndarray, s: Style, hz: float, swing: float, arms: tuple[float, float]) -> Dofs:
    """Walking round a circle of radius 0.7-1.1 m near the origin; hip swing `swing` rad, arm
    swing factors (left, right); the feet stay on the floor through the pelvis height rule."""
    a = swing * s.amplitude
    f = hz * s.tempo
    phi = 2 * np.pi * (f * t + s.phase)
    speed = 4 * LEG_LENGTH * np.sin(a) * f * 0.9  # mm/s, about two step lengths per cycle
    radius = 700.0 + 400.0 * s.variant[0]
    centre = 200.0 * (s.variant[1:3] - 0.5)
    psi = s.heading + s.turn * speed * t / radius
    x, y = centre[0] + radius * np.cos(psi), centre[1] + radius * np.sin(psi)
    heading = np.arctan2(-s.turn * np.sin(psi), -s.turn * np.cos(psi))  # along the circle
    dofs: Dofs = {"x": x, "y": y, "heading": heading + 0.08 * np.sin(phi), "pitch": 0.06}
    dofs["spine_twist"] = -0.12 * np.sin(phi)
    dofs["roll"] = 0.04 * np.sin(2 * phi)
    for side, leg in (("r", phi), ("l", phi + np.pi)):
        dofs[f"{side}_hip_flex"] = 0.05 + a * np.sin(leg)
        knee = np.maximum(np.cos(leg - 0.2), 0) ** 2  # swing phase, peak near mid-swing
        dofs[f"{side}_knee"] = 0.1 + 0.85 * s.amplitude * knee
        dofs[f"{side}_ankle"] = 0.15 * np.cos(leg)
        swing_arm = arms[0] if side == "l" else arms[1]
        _arm(dofs, side, "rest")
        dofs[f"{side}_shoulder_flex"] = -swing_arm * 0.9 * a * np.sin(leg)
        dofs[f"{side}_elbow"] = 0.3 + swing_arm * 0.2 * (1 - np.sin(leg))
    return dofs


def _walking(t, s):
    return _gait(t, s, hz=0.9, swing=0.42, arms=(1.0, 1.0))


def _walk_dog(t, s):
    dofs = _gait(t, s, hz=0.85, swing=0.36, arms=(1.0, 0.0))
    tug = _pulse(t * s.tempo / 3.0 + s.phase, (0.1, 0.15, 0.2, 0.3))
    _arm(dofs, "r", "leash")
    dofs["r_shoulder_flex"] = dofs["r_shoulder_flex"] + 0.25 * tug
    dofs["neck_bend"] = 0.3  # looking down at the dog
    return dofs


def _walk_together(t, s):
    dofs = _gait(t, s, hz=0.72, swing=0.28, arms=(0.0, 0.5))
    _arm(dofs, "l", "linked")
    dofs["neck_turn"] = 0.4 + 0.15 * _wave(t, s, 0.2)  # towards the partner
    return dofs


def _stand(s: Style) -> Dofs:
    dofs: Dofs = {"x": s.start[0], "y": s.start[1], "heading": s.heading}
    _arm(dofs, "l", "rest")
    _arm(dofs, "r", "rest")
    return dofs


def _seated(dofs: Dofs, amount, lean=0.0) -> Dofs:
    """Chair sitting: hips and knees flexed by `amount` (0 standing .. 1 seated), trunk leaning
    forward by `lean` rad from the hips (the hips compensate so the legs keep their angle)."""
    for side in "lr":
        dofs[f"{side}_hip_flex"] = 1.5 * amount + lean
        dofs[f"{side}_knee"] = 1.55 * amount
        dofs[f"{side}_ankle"] = 0.2 * amount
        dofs[f"{side}_hip_abd"] = 0.12 * amount
    dofs["pitch"] = lean
    return dofs


def _weight_shift(dofs: Dofs, t, s: Style, hz: float, amount: float) -> None:
    """Sway from foot to foot: pelvis roll, lateral hip angles and the unloaded knee bending."""
    w = _wave(t, s, hz)
    dofs["roll"] = 0.06 * amount * w
    dofs["spine_side"] = -0.05 * amount * w
    for side, sign in (("l", 1.0), ("r", -1.0)):
        dofs[f"{side}_hip_abd"] = -sign * 0.06 * amount * w
        dofs[f"{side}_knee"] = 0.05 + 0.25 * amount * np.maximum(sign * w, 0)
        dofs[f"{side}_hip_flex"] = 0.12 * amount * np.maximum(sign * w, 0)


def _sitting_down(t, s):
    amount = _pulse(t * s.tempo / 7.0 + s.phase, (0.1, 0.35, 0.75, 0.95))
    transition = np.sin(np.pi * amount)
    dofs = _seated(_stand(s), amount, lean=0.55 * transition * s.amplitude)
    dofs["spine_bend"] = 0.25 * transition
    _arm(dofs, "l", "thigh", amount)
    _arm(dofs, "r", "thigh", amount)
    return dofs


def _sitting(t, s):
    dofs = _seated(_stand(s), 1.0, lean=-0.12)
    _arm(dofs, "l", "thigh")
    _arm(dofs, "r", "gesture")
    dofs["r_shoulder_flex"] = 0.55 + 0.3 * s.amplitude * _wave(t, s, 0.35)
    dofs["r_shoulder_abd"] = 0.25 + 0.15 * _wave(t, s, 0.23, 0.3)
    dofs["r_elbow"] = 1.4 + 0.35 * s.amplitude * _wave(t, s, 0.5, 0.1)
    dofs["neck_turn"] = 0.3 * _wave(t, s, 0.12)
    return dofs


def _eating(t, s):
    dofs = _seated(_stand(s), 1.0, lean=0.15)
    bite = _pulse(t * s.tempo / 3.0 + s.phase, (0.15, 0.35, 0.5, 0.7)) * s.amplitude
    _arm(dofs, "r", "mouth", bite, base="table")
    _arm(dofs, "l", "table")
    dofs["neck_bend"] = 0.25 - 0.15 * bite
    return dofs


def _smoking(t, s):
    dofs = _stand(s)
    puff = _pulse(t * s.tempo / 6.5 + s.phase, (0.2, 0.35, 0.55, 0.7)) * s.amplitude
    _arm(dofs, "r", "mouth", puff)
    _arm(dofs, "l", "cross_under", 0.7)
    dofs["neck_bend"] = -0.1 * puff
    _weight_shift(dofs, t, s, 0.1, amount=0.5)
    return dofs


def _phoning(t, s):
    dofs = _stand(s)
    _arm(dofs, "r", "ear")
    _arm(dofs, "l", "gesture", 0.5 + 0.5 * s.amplitude * _wave(t, s, 0.3))
    dofs["neck_tilt"] = 0.2
    dofs["heading"] = s.heading + 0.4 * _wave(t, s, 0.07)
    _weight_shift(dofs, t, s, 0.15, amount=0.7)
    return dofs


def _greeting(t, s):
    dofs = _stand(s)
    raised = _pulse(t * s.tempo / 5.0 + s.phase, (0.1, 0.2, 0.75, 0.85))
    wave = 0.35 * s.amplitude * np.sin(2 * np.pi * 2.5 * s.tempo * t) * raised
    _arm(dofs, "r", "wave", raised)
    dofs["r_elbow"] = dofs["r_elbow"] + wave
    dofs["r_shoulder_twist"] = dofs["r_shoulder_twist"] + 0.5 * wave
    dofs["spine_bend"] = 0.15 * raised
    dofs["neck_bend"] = 0.1 * raised
    return dofs


def _directions(t, s):
    dofs = _stand(s)
    u = t * s.tempo / 4.0 + s.phase
    point_r = _pulse(u, (0.05, 0.15, 0.45, 0.55)) * s.amplitude
    point_l = _pulse(u + 0.5, (0.05, 0.15, 0.4, 0.5)) * 0.7 * s.amplitude
    sweep = 0.7 * _wave(t, s, 0.15)
    _arm(dofs, "r", "point", point_r)
    _arm(dofs, "l", "point", point_l)
    dofs["r_shoulder_horiz"] = dofs["r_shoulder_horiz"] + sweep * point_r
    dofs["l_shoulder_horiz"] = dofs["l_shoulder_horiz"] - sweep * point_l
    dofs["spine_twist"] = 0.35 * sweep * (point_l - point_r)
    dofs["neck_turn"] = 0.5 * sweep * (point_l - point_r)
    return dofs


def _photo(t, s):
    dofs = _stand(s)
    up = _pulse(t * s.tempo / 6.0 + s.phase, (0.05, 0.15, 0.8, 0.9))
    _arm(dofs, "l", "camera", up)
    _arm(dofs, "r", "camera", up)
    dofs["spine_twist"] = 0.4 * s.amplitude * _wave(t, s, 0.1)  # panning
    dofs["neck_bend"] = 0.1 * up
    crouch = 0.35 * (1 - up) * s.variant[3]  # thighs forward, shins back: trunk stays upright
    for side in "lr":
        dofs[f"{side}_hip_flex"], dofs[f"{side}_knee"] = crouch, 2 * crouch
        dofs[f"{side}_ankle"] = crouch
    return dofs


# Posing: (left arm, right arm, spine side bend, stance width) held in turn.
POSES = (
    ("overhead", "overhead", 0.0, 0.2),
    ("hip", "hip", 0.0, 0.1),
    ("hip", "overhead", 0.15, 0.15),
    ("sideways", "sideways", 0.0, 0.25),
    ("biceps", "biceps", 0.0, 0.15),
    ("rest", "hip", -0.1, 0.05),
)


def _posing(t, s):
    dofs = _stand(s)
    table = {name: np.array([ARM_POSES[p[k]] for p in POSES]) for k, name in ((0, "l"), (1, "r"))}
    extra = np.array([p[2:] for p in POSES])
    order = np.argsort(s.variant[: len(POSES)])  # this sequence's order of poses
    u = t * s.tempo / 2.5 + s.phase * len(POSES)
    k = np.floor(u).astype(np.int64)
    w = _smooth((u - k) / 0.35)[:, None]
    now, nxt = order[k % len(POSES)], order[(k + 1) % len(POSES)]
    for side, values in table.items():
        pose = (1 - w) * values[now] + w * values[nxt]
        for col, name in enumerate(_ARM_DOFS):
            dofs[f"{side}_{name}"] = pose[:, col]
    pose = (1 - w) * extra[now] + w * extra[nxt]
    dofs["spine_side"] = pose[:, 0] * s.amplitude
    dofs["l_hip_abd"] = dofs["r_hip_abd"] = pose[:, 1]
    return dofs


def _purchases(t, s):
    dofs = _stand(s)
    u = t * s.tempo / 5.0 + s.phase
    bend = _pulse(u, (0.15, 0.35, 0.5, 0.7)) * s.amplitude
    carry = (1 - _pulse(u, (0.0, 0.05, 0.8, 0.9))) * (1 - bend)
    dofs["heading"] = s.heading + 0.7 * np.sin(np.pi * np.floor(u))  # turn between items
    dofs["pitch"] = 0.9 * bend
    dofs["spine_bend"] = 0.3 * bend
    for side in "lr":
        dofs[f"{side}_hip_flex"] = 1.25 * bend
        dofs[f"{side}_knee"] = 0.9 * bend
        dofs[f"{side}_ankle"] = 0.55 * bend  # shins lean forward, feet stay flat
        _arm(dofs, side, "carry", carry)
        dofs[f"{side}_shoulder_flex"] = dofs[f"{side}_shoulder_flex"] + 0.8 * bend
    return dofs


def _discussion(t, s):
    dofs = _stand(s)
    a = s.amplitude
    for side, off in (("l", 0.0), ("r", 0.37)):
        _arm(dofs, side, "gesture")
        dofs[f"{side}_shoulder_flex"] = 0.45 + 0.3 * a * _wave(t, s, 0.4, off)
        dofs[f"{side}_shoulder_abd"] = 0.25 + 0.2 * a * _wave(t, s, 0.27, off + 0.2)
        dofs[f"{side}_elbow"] = 1.4 + 0.45 * a * _wave(t, s, 0.61, off + 0.5)
        dofs[f"{side}_shoulder_twist"] = -0.3 * a * _wave(t, s, 0.33, off)
    dofs["spine_twist"] = 0.3 * a * _wave(t, s, 0.18)
    dofs["neck_turn"] = 0.35 * _wave(t, s, 0.18, 0.1)
    _weight_shift(dofs, t, s, 0.12, amount=0.6)
    return dofs


def _waiting(t, s):
    dofs = _stand(s)
    _arm(dofs, "r", "cross_over")
    _arm(dofs, "l", "cross_under")
    dofs["neck_turn"] = 0.5 * _wave(t, s, 0.08)
    _weight_shift(dofs, t, s, 0.15, amount=1.0 * s.amplitude)
    return dofs


ACTION_PROGRAMS: dict[str, Callable[[np.ndarray, Style], Dofs]] = {
    "Directions": _directions,
    "Discussion": _discussion,
    "Eating": _eating,
    "Greeting": _greeting,
    "Phoning": _phoning,
    "Photo": _photo,
    "Posing": _posing,
    "Purchases": _purchases,
    "Sitting": _sitting,
    "SittingDown": _sitting_down,
    "Smoking": _smoking,
    "Waiting": _waiting,
    "WalkDog": _walk_dog,
    "Walking": _walking,
    "WalkTogether": _walk_together,
}


# --- degrees of freedom -> local rotations -> exp-maps -> positions -------------------------


def local_rotations(dofs: Dofs, num_frames: int) -> np.ndarray:
    """Named degrees of freedom -> (T, 32, 3, 3) local joint rotations (column convention)."""

    def get(name: str) -> np.ndarray:
        return np.broadcast_to(np.asarray(dofs.get(name, 0.0), dtype=np.float64), (num_frames,))

    q = np.broadcast_to(np.eye(3), (num_frames, 32, 3, 3)).copy()
    q[:, 0] = _ry(get("heading")) @ _rx(get("pitch")) @ _rz(get("roll"))
    spine = _ry(get("spine_twist") / 2) @ _rx(get("spine_bend") / 2) @ _rz(get("spine_side") / 2)
    q[:, 11] = q[:, 12] = spine
    q[:, 13] = _ry(get("neck_turn")) @ _rx(get("neck_bend")) @ _rz(get("neck_tilt"))
    # (hip, knee, ankle, clavicle, shoulder, elbow, wrist) joints; m mirrors outward motions.
    for side, m, (hip, knee, ankle, clavicle, shoulder, elbow, wrist) in (
        ("l", 1.0, (6, 7, 8, 16, 17, 18, 19)),
        ("r", -1.0, (1, 2, 3, 24, 25, 26, 27)),
    ):
        q[:, hip] = (
            _rz(m * get(f"{side}_hip_abd"))
            @ _rx(-get(f"{side}_hip_flex"))
            @ _ry(m * get(f"{side}_hip_rot"))
        )
        q[:, knee] = _rx(get(f"{side}_knee"))
        q[:, ankle] = _rx(-get(f"{side}_ankle"))
        # The rest skeleton's arms point up from the neck: the clavicle turns its bone sideways
        # and slightly down, the arm is then oriented relative to the chest and hangs down
        # (Rz(pi)) at zero angles; elbow flexion brings the forearm forward.
        q[:, clavicle] = _rz(-m * (np.radians(95) - get(f"{side}_shrug")))
        arm = (
            _ry(m * get(f"{side}_shoulder_horiz"))
            @ _rz(m * get(f"{side}_shoulder_abd"))
            @ _rx(-get(f"{side}_shoulder_flex"))
            @ _rz(np.pi)
            @ _ry(m * get(f"{side}_shoulder_twist"))
        )
        q[:, shoulder] = np.swapaxes(q[:, clavicle], -1, -2) @ arm
        q[:, elbow] = _rx(get(f"{side}_elbow"))
        q[:, wrist] = _rx(get(f"{side}_wrist"))
    return q


def _style(rng: np.random.Generator) -> Style:
    r = 800.0 * np.sqrt(rng.uniform())  # uniform over a disc of radius 0.8 m
    angle = rng.uniform(0, 2 * np.pi)
    return Style(
        tempo=rng.uniform(0.85, 1.15),
        amplitude=rng.uniform(0.8, 1.2),
        phase=rng.uniform(),
        heading=rng.uniform(-np.pi, np.pi),
        start=np.array([r * np.cos(angle), r * np.sin(angle)]),
        turn=int(rng.choice([-1, 1])),
        variant=rng.uniform(size=8),
    )


def generate_sequence(
    action: str, subject: str, take: int, num_frames: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """One synthetic Human3.6M sequence at 50 Hz.

    Args:
        action: canonical action name (``motionzoo.skeleton.H36M_ACTIONS``).
        subject: e.g. ``"S9"``; sets the bone lengths (``subject_offsets``).
        take: take index (0, 1, ...); different takes vary tempo, amplitude, phase, facing
            direction and position.
        num_frames: T.
        seed: dataset seed; the sequence is a pure function of (action, subject, take, seed).

    Returns:
        ``expmap`` (T, 99) float64: root translation (skeleton frame, mm) and 32 exp-maps,
        ``positions`` (T, 32, 3) float64: world joints in mm (Z-up, floor at z = 0),
        ``offsets`` (32, 3): the subject's bone offsets used for ``positions``.
    """
    if action not in ACTION_PROGRAMS:
        raise ValueError(f"unknown Human3.6M action {action!r}; expected one of {H36M_ACTIONS}")
    rng = np.random.default_rng([seed, H36M_ACTIONS.index(action), take, *subject.encode()])
    style = _style(rng)
    t = np.arange(num_frames) / FPS
    dofs = ACTION_PROGRAMS[action](t, style)
    rotations = local_rotations(dofs, num_frames)
    expmap = np.zeros((num_frames, 99))
    rotvec = matrix_to_axis_angle(torch.from_numpy(rotations)).numpy()
    expmap[:, 3:] = -rotvec.reshape(num_frames, 96)  # row convention: R(r) = Q^T
    ground = np.stack(np.broadcast_arrays(dofs["x"], dofs["y"], np.zeros(num_frames)), -1)
    expmap[:, :3] = ground @ SKELETON_TO_WORLD  # world ground -> skeleton frame
    offsets = subject_offsets(subject)
    positions = _positions(expmap, offsets)
    expmap[:, 1] = -positions[:, FOOT_JOINTS, 2].min(axis=1)  # lowest foot point on the floor
    positions = _positions(expmap, offsets)
    return {"expmap": expmap, "positions": positions, "offsets": offsets}


def _positions(expmap: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Row-convention FK of exp-map frames (T, 99) on `offsets`, in world mm (T, 32, 3)."""
    frames = torch.from_numpy(expmap)
    rotations = axis_angle_to_matrix(frames[:, 3:].reshape(-1, 32, 3))
    joints = forward_kinematics(
        rotations, torch.from_numpy(offsets), H36M_32.parents, frames[:, :3], "row"
    )
    return joints.numpy() @ SKELETON_TO_WORLD.T
