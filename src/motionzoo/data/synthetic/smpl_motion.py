"""Procedural SMPL body motion: the 15 Human3.6M action programs retargeted to the SMPL tree.

The programs of :mod:`.motion` give local joint rotations of the 32-joint Human3.6M skeleton
(column convention, joint axes = rest axes: x left, y up, z forward), evaluated at any frame
rate. SMPL's template (``motionzoo.skeleton.SMPL_TEMPLATE_22``) uses the same axes but another
rest pose (a T-pose; the Human3.6M rest skeleton has its arms pointing up), so rotations cannot
be copied joint by joint. Retargeting goes through global orientations instead:

- every SMPL joint k follows one Human3.6M joint m(k) (``SMPL_FROM_H36M``), and gets the global
  orientation ``G_k = G_m(k) @ A_k``, where ``A_k`` is the fixed rotation that turns SMPL's rest
  direction of the bone k -> child into Human3.6M's rest direction of m(k) -> child. Every mapped
  bone therefore points where the Human3.6M bone points, with SMPL's bone lengths;
- the local rotations are ``R_k = G_parent(k)^T G_k`` (column convention, SMPL's), written as
  axis-angle in AMASS's ``poses`` layout (52 joints x 3; the 30 finger joints stay 0).

The root orientation is expressed in AMASS's Z-up world (``SKELETON_TO_WORLD @ G_0``, as real
AMASS files carry a ~90 degree root rotation about x) and ``trans`` places the pelvis over the
program's ground path with the lowest foot joint ``FOOT_CLEARANCE`` above the floor; both are
removed by the loader, as in HisRepItself.
"""

from __future__ import annotations

import numpy as np
import torch

from motionzoo.data.synthetic.motion import (
    ACTION_PROGRAMS,
    SKELETON_TO_WORLD,
    _style,
    local_rotations,
)
from motionzoo.geometry.kinematics import (
    axis_angle_to_matrix,
    forward_kinematics,
    matrix_to_axis_angle,
)
from motionzoo.skeleton import (
    H36M_32,
    H36M_ACTIONS,
    SMPL_BODY_PARENTS,
    h36m_offsets,
    smpl_offsets,
    smpl_template,
)

SMPLH_JOINTS = 52  # 22 body + 2 x 15 finger joints: ``poses`` has 156 columns
FOOT_CLEARANCE = 0.03  # m, height of the lowest ankle / foot joint
FOOT_JOINTS_SMPL = (7, 8, 10, 11)

# Human3.6M joint whose orientation each SMPL body joint follows (pelvis <- Hips, l_hip <-
# LeftUpLeg, spine1 <- Spine, spine2 and spine3 <- Spine1, l_collar <- LeftShoulder, l_shoulder
# <- LeftArm, l_elbow <- LeftForeArm, l_wrist <- LeftHand, ...).
SMPL_FROM_H36M = (0, 6, 1, 11, 7, 2, 12, 8, 3, 12, 9, 4, 13, 16, 24, 14, 17, 25, 18, 26, 19, 27)
# Bone used to align the rest poses: SMPL joint -> (SMPL child, Human3.6M child of m(k)).
_ALIGN_BONES = {
    1: (4, 7),
    2: (5, 2),
    3: (6, 12),
    4: (7, 8),
    5: (8, 3),
    6: (9, 13),
    7: (10, 9),
    8: (11, 4),
    9: (12, 13),
    12: (15, 14),
    13: (16, 17),
    14: (17, 25),
    16: (18, 18),
    17: (19, 26),
    18: (20, 19),
    19: (21, 27),
}
# Leaves of the 22-joint body take their parent's alignment; the pelvis keeps the identity.
_ALIGN_AS_PARENT = {10: 7, 11: 8, 15: 12, 20: 18, 21: 19}


def _minimal_rotation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation (3, 3) turning direction a into direction b."""
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    angle = np.arctan2(np.linalg.norm(axis), a @ b)
    axis = axis / max(np.linalg.norm(axis), 1e-12)
    return axis_angle_to_matrix(torch.from_numpy(axis * angle)).numpy()


def rest_alignment() -> np.ndarray:
    """(22, 3, 3) rotations A_k from SMPL's rest bone directions to Human3.6M's."""
    template, offsets = smpl_template(), h36m_offsets()
    align = np.broadcast_to(np.eye(3), (22, 3, 3)).copy()
    for k, (smpl_child, h36m_child) in _ALIGN_BONES.items():
        align[k] = _minimal_rotation(template[smpl_child] - template[k], offsets[h36m_child])
    for k, parent in _ALIGN_AS_PARENT.items():
        align[k] = align[parent]
    return align


def h36m_global_rotations(local: np.ndarray) -> np.ndarray:
    """(T, 32, 3, 3) local rotations (column convention) -> global orientations."""
    glob = np.empty_like(local)
    for j, p in enumerate(H36M_32.parents):
        glob[:, j] = local[:, j] if p < 0 else glob[:, p] @ local[:, j]
    return glob


def retarget_to_smpl(local_h36m: np.ndarray) -> np.ndarray:
    """(T, 32, 3, 3) Human3.6M local rotations -> (T, 22, 3, 3) SMPL local rotations (root in the
    Y-up skeleton frame)."""
    glob = h36m_global_rotations(local_h36m)[:, list(SMPL_FROM_H36M)] @ rest_alignment()
    parents = np.array(SMPL_BODY_PARENTS)
    parent_glob = np.concatenate(
        [np.broadcast_to(np.eye(3), glob[:, :1].shape), glob[:, parents[1:]]], axis=1
    )
    return np.swapaxes(parent_glob, -1, -2) @ glob


def generate_smpl_sequence(
    action: str, subject: str, take: int, num_frames: int, rate: float, seed: int = 0
) -> dict[str, np.ndarray]:
    """One synthetic AMASS sequence: a Human3.6M action program on the SMPL body.

    Args:
        action: canonical action name (``H36M_ACTIONS``).
        subject: subject folder name; with ``take`` and ``seed`` it draws the style (tempo,
            amplitude, phase, heading, path) of the sequence.
        take: take index within (subject, action).
        num_frames: T.
        rate: frame rate in Hz (``mocap_framerate``); the program runs in seconds, so the same
            motion is sampled at any rate.
        seed: dataset seed.

    Returns:
        ``poses`` (T, 156) float64 SMPL-H axis-angle (root orientation in the Z-up world, 21 body
        joints, 30 finger joints at 0), ``trans`` (T, 3) float64 pelvis position in metres
        (Z-up world), ``body_pose`` (T, 22, 3) the first 66 columns as joints.
    """
    if action not in ACTION_PROGRAMS:
        raise ValueError(f"unknown Human3.6M action {action!r}; expected one of {H36M_ACTIONS}")
    rng = np.random.default_rng([seed, 52, H36M_ACTIONS.index(action), take, *subject.encode()])
    style = _style(rng)
    t = np.arange(num_frames) / rate
    dofs = ACTION_PROGRAMS[action](t, style)
    local = retarget_to_smpl(local_rotations(dofs, num_frames))
    local[:, 0] = SKELETON_TO_WORLD @ local[:, 0]  # Y-up body -> Z-up world, as AMASS
    body = matrix_to_axis_angle(torch.from_numpy(local)).numpy()
    poses = np.zeros((num_frames, SMPLH_JOINTS * 3))
    poses[:, :66] = body.reshape(num_frames, 66)

    # Pelvis over the program's ground path (world mm -> m), feet just above the floor.
    joints = forward_kinematics(
        axis_angle_to_matrix(torch.from_numpy(body)),
        torch.from_numpy(smpl_offsets()),
        SMPL_BODY_PARENTS,
        convention="column",
    ).numpy()
    trans = np.zeros((num_frames, 3))
    trans[:, 0] = np.broadcast_to(dofs["x"], (num_frames,)) / 1000
    trans[:, 1] = np.broadcast_to(dofs["y"], (num_frames,)) / 1000
    trans[:, 2] = FOOT_CLEARANCE - joints[:, FOOT_JOINTS_SMPL, 2].min(axis=1)
    return {"poses": poses, "trans": trans, "body_pose": body}
