"""SMPL body forward kinematics against scipy rotations in a plain per-joint loop, and the
AMASS / motion skeleton layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.data.amass import smpl_body_joints
from motionzoo.skeleton import (
    AMASS_18,
    AMASS_18_FROM_22,
    AMASS_22,
    H36M_22,
    H36M_32,
    SMPL_BODY_PARENTS,
    SMPL_TEMPLATE_22,
    smpl_offsets,
    smpl_template,
)


def scipy_ang2joint(pose: np.ndarray, template: np.ndarray) -> np.ndarray:
    """HisRepItself ``ang2joint`` for one frame, one joint at a time with scipy rotations:
    G_0 = [R_0 | J_0], G_i = G_parent [R_i | J_i - J_parent]. pose (22, 3) -> (22, 3)."""
    position = np.zeros((22, 3))
    orientation: list[Rotation] = []
    for i, p in enumerate(SMPL_BODY_PARENTS):
        local = Rotation.from_rotvec(pose[i])
        if p < 0:
            position[i], glob = template[i], local
        else:
            position[i] = orientation[p].apply(template[i] - template[p]) + position[p]
            glob = orientation[p] * local
        orientation.append(glob)
    return position


def test_template_is_the_published_p3d0():
    template = smpl_template()
    assert template.shape == (22, 3) and np.array_equal(template, np.array(SMPL_TEMPLATE_22))
    np.testing.assert_allclose(template[21], [-0.69369143, 0.4523733, -0.07745281])
    np.testing.assert_allclose(smpl_template("mm"), template * 1000)
    # Y up, the subject's left at +x: left joints mirror the right ones
    left, right = list(AMASS_22.joints_left), list(AMASS_22.joints_right)
    assert (template[left, 0] > 0).all() and (template[right, 0] < 0).all()
    np.testing.assert_allclose(template[left, 1], template[right, 1], atol=0.01)
    assert template[15, 1] > template[12, 1] > template[9, 1] > 0 > template[4, 1] > template[7, 1]
    # offsets rebuild the template along the tree
    offsets, rebuilt = smpl_offsets(), np.zeros((22, 3))
    for i, p in enumerate(SMPL_BODY_PARENTS):
        rebuilt[i] = offsets[i] + (rebuilt[p] if p >= 0 else 0)
    np.testing.assert_allclose(rebuilt, template, atol=1e-12)


def test_fk_matches_scipy_per_joint_loop():
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.6, size=(6, 22, 3))
    ours = smpl_body_joints(torch.from_numpy(poses.reshape(6, 66))).numpy()
    expected = np.stack([scipy_ang2joint(p, smpl_template()) for p in poses])
    np.testing.assert_allclose(ours, expected, atol=1e-12)
    # (..., 22, 3) input and extra batch dims give the same joints
    again = smpl_body_joints(torch.from_numpy(poses).reshape(2, 3, 22, 3)).reshape(6, 22, 3)
    np.testing.assert_allclose(again.numpy(), ours, atol=1e-12)


def test_zero_root_and_rest_pose():
    rng = np.random.default_rng(1)
    poses = torch.from_numpy(rng.normal(0, 0.5, size=(4, 66)))
    zeroed = poses.clone()
    zeroed[:, :3] = 0
    np.testing.assert_allclose(
        smpl_body_joints(poses, zero_root=True).numpy(), smpl_body_joints(zeroed).numpy()
    )
    rest = smpl_body_joints(torch.zeros(1, 66, dtype=torch.float64))[0].numpy()
    np.testing.assert_allclose(rest, smpl_template(), atol=1e-15)
    # a root rotation turns the whole body rigidly about the pelvis
    turned = smpl_body_joints(poses).numpy()
    root = Rotation.from_rotvec(poses[:, :3].numpy())
    for t in range(4):
        np.testing.assert_allclose(
            turned[t], root[t].apply(smpl_body_joints(zeroed[t : t + 1])[0].numpy()), atol=1e-12
        )


def test_bone_lengths_constant_over_time():
    t = np.linspace(0, 4, 100)[:, None, None]
    rng = np.random.default_rng(2)
    amplitude, speed = rng.normal(0, 0.8, (1, 22, 3)), rng.uniform(0.5, 3, (1, 22, 3))
    poses = torch.from_numpy(amplitude * np.sin(speed * t))  # (100, 22, 3), large angles
    joints = smpl_body_joints(poses)
    lengths = AMASS_22.bone_lengths(joints)
    rest = np.linalg.norm(smpl_offsets()[1:], axis=1)
    np.testing.assert_allclose(lengths.numpy(), np.broadcast_to(rest, lengths.shape), atol=1e-12)
    assert (joints.std(0) > 0.01).any(), "the motion moves"


def test_bad_pose_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 66\)"):
        smpl_body_joints(torch.zeros(3, 63))


def test_motion_layouts():
    assert AMASS_22.num_joints == 22 and AMASS_22.parents == SMPL_BODY_PARENTS
    assert AMASS_18.num_joints == 18 and AMASS_18_FROM_22 == tuple(range(4, 22))
    assert AMASS_18.joint_names == AMASS_22.joint_names[4:]
    # without hips and spine1, knees and spine2 start their own trees
    roots = [AMASS_18.joint_names[i] for i, p in enumerate(AMASS_18.parents) if p < 0]
    assert roots == ["l_knee", "r_knee", "spine2"]
    names = AMASS_18.joint_names
    assert names[AMASS_18.parents[names.index("l_wrist")]] == "l_elbow"
    for skeleton in (AMASS_18, AMASS_22, H36M_22):
        flip = skeleton.flip_permutation
        for left, right in zip(skeleton.joints_left, skeleton.joints_right):
            assert flip[left] == right
            pair = skeleton.joint_names[left], skeleton.joint_names[right]
            assert pair[0].lower().startswith("l") and pair[1].lower().startswith("r"), pair

    assert H36M_22.from_32 == (2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19, 21, 22, 25,
                               26, 27, 29, 30)  # fmt: skip
    # every kept joint hangs from its nearest kept ancestor in the 32-joint tree
    for k, p in enumerate(H36M_22.parents):
        ancestor = H36M_32.parents[H36M_22.from_32[k]]
        while ancestor >= 0 and ancestor not in H36M_22.from_32:
            ancestor = H36M_32.parents[ancestor]
        assert p == (H36M_22.from_32.index(ancestor) if ancestor >= 0 else -1)
