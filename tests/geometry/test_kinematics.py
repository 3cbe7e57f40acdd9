"""Forward kinematics against scipy rotations and a plain per-joint numpy loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.geometry.kinematics import (
    axis_angle_to_matrix,
    expmap_to_joints,
    forward_kinematics,
    matrix_to_axis_angle,
    tree_levels,
)
from motionzoo.skeleton import H36M_32, h36m_offsets

PARENTS = H36M_32.parents
OFFSETS = h36m_offsets()


def hri_expmap2rotmat(r: np.ndarray) -> np.ndarray:
    """HisRepItself data_utils.expmap2rotmat, verbatim in numpy."""
    theta = np.linalg.norm(r)
    r0 = np.divide(r, theta + np.finfo(np.float32).eps)
    r0x = np.array([0, -r0[2], r0[1], 0, 0, -r0[0], 0, 0, 0]).reshape(3, 3)
    r0x = r0x - r0x.T
    return np.eye(3, 3) + np.sin(theta) * r0x + (1 - np.cos(theta)) * (r0x).dot(r0x)


def loop_fk(rotations: np.ndarray, offsets: np.ndarray, parents, trans, convention: str):
    """One pose, one joint at a time: rotations (J, 3, 3), offsets (J, 3) -> (J, 3)."""
    xyz = np.zeros((len(parents), 3))
    rot = np.zeros((len(parents), 3, 3))
    for i, p in enumerate(parents):
        if p == -1:
            xyz[i], rot[i] = offsets[i] + trans, rotations[i]
        elif convention == "row":
            xyz[i] = offsets[i] @ rot[p] + xyz[p]
            rot[i] = rotations[i] @ rot[p]
        else:
            xyz[i] = rot[p] @ offsets[i] + xyz[p]
            rot[i] = rot[p] @ rotations[i]
    return xyz


def test_rodrigues_matches_scipy_and_hri():
    r = np.random.default_rng(0).normal(size=(200, 3)) * 1.5
    ours = axis_angle_to_matrix(torch.from_numpy(r)).numpy()
    np.testing.assert_allclose(ours, Rotation.from_rotvec(r).as_matrix(), atol=1e-12)
    # HRI's expmap2rotmat is the same matrix as scipy's from_rotvec: the row convention then
    # rotates row vectors by R^T (v @ R == (R^T v^T)^T), i.e. an exp-map r turns children by -r.
    np.testing.assert_allclose(ours[:5], np.stack([hri_expmap2rotmat(x) for x in r[:5]]), atol=1e-6)
    v = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(v @ ours[0], Rotation.from_rotvec(-r[0]).apply(v), atol=1e-12)


def test_rodrigues_exact_and_differentiable_at_zero():
    r = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    m = axis_angle_to_matrix(r)
    assert torch.equal(m.detach(), torch.eye(3, dtype=torch.float64).expand(4, 3, 3))
    (m * torch.randn(4, 3, 3, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(r.grad).all()
    # small angles: the Taylor branch agrees with the closed form across the switch
    tiny = torch.tensor([[1e-3, -2e-3, 5e-4], [0.011, 0.0, 0.0]], dtype=torch.float64)
    expected = Rotation.from_rotvec(tiny.numpy()).as_matrix()
    np.testing.assert_allclose(axis_angle_to_matrix(tiny).numpy(), expected, atol=1e-15)


def test_matrix_to_axis_angle_roundtrip_including_pi():
    rng = np.random.default_rng(1)
    axes = rng.normal(size=(300, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([rng.uniform(0, np.pi, 297), [0.0, np.pi, np.pi - 1e-9]])
    r = torch.from_numpy(axes * angles[:, None])
    back = matrix_to_axis_angle(axis_angle_to_matrix(r))
    np.testing.assert_allclose(
        axis_angle_to_matrix(back).numpy(), axis_angle_to_matrix(r).numpy(), atol=1e-9
    )
    np.testing.assert_allclose(back.norm(dim=-1).numpy()[:297], angles[:297], atol=1e-9)


@pytest.mark.parametrize("convention", ["row", "column"])
def test_fk_matches_per_joint_loop(convention):
    rng = np.random.default_rng(2)
    rotvecs = rng.normal(size=(6, 32, 3)) * 0.8
    trans = rng.normal(size=(6, 3)) * 500
    rotations = Rotation.from_rotvec(rotvecs.reshape(-1, 3)).as_matrix().reshape(6, 32, 3, 3)
    ours = forward_kinematics(
        torch.from_numpy(rotations),
        torch.from_numpy(OFFSETS),
        PARENTS,
        torch.from_numpy(trans),
        convention=convention,
    ).numpy()
    expected = np.stack(
        [loop_fk(rotations[b], OFFSETS, PARENTS, trans[b], convention) for b in range(6)]
    )
    np.testing.assert_allclose(ours, expected, atol=1e-9)


def test_row_fk_equals_column_fk_with_transposed_rotations():
    r = torch.randn(3, 4, 32, 3, dtype=torch.float64)
    rot = axis_angle_to_matrix(r)
    offsets = torch.from_numpy(OFFSETS) * torch.rand(3, 1, 32, 1, dtype=torch.float64)
    row = forward_kinematics(rot, offsets, PARENTS, convention="row")
    column = forward_kinematics(rot.transpose(-1, -2), offsets, PARENTS, convention="column")
    torch.testing.assert_close(row, column)


def test_expmap_to_joints_layout_and_rest_pose():
    frames = torch.zeros(2, 99, dtype=torch.float64)
    frames[1, :3] = torch.tensor([10.0, 20.0, 30.0])
    joints = expmap_to_joints(frames)
    cumulative = np.zeros((32, 3))
    for i, p in enumerate(PARENTS):
        cumulative[i] = OFFSETS[i] + (cumulative[p] if p >= 0 else 0)
    np.testing.assert_allclose(joints[0].numpy(), cumulative, atol=1e-12)
    np.testing.assert_allclose(joints[1].numpy(), cumulative + [10.0, 20.0, 30.0], atol=1e-12)

    # column 3+3i is joint i: against HRI's fkl run joint by joint with expmap2rotmat
    rng = np.random.default_rng(3)
    frame = rng.normal(size=99) * 0.5
    rotations = np.stack([hri_expmap2rotmat(frame[3 + 3 * i : 6 + 3 * i]) for i in range(32)])
    expected = loop_fk(rotations, OFFSETS, PARENTS, frame[:3], "row")
    ours = expmap_to_joints(torch.from_numpy(frame)).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-3)

    zeroed = expmap_to_joints(torch.from_numpy(frame), zero_global=True).numpy()
    frame[:6] = 0
    np.testing.assert_allclose(zeroed, expmap_to_joints(torch.from_numpy(frame)).numpy())


def test_bone_lengths_constant_over_random_motion():
    frames = torch.randn(50, 99, dtype=torch.float64)
    frames[:, :3] *= 1000
    lengths = H36M_32.bone_lengths(expmap_to_joints(frames))
    expected = np.linalg.norm(OFFSETS[1:], axis=1)
    np.testing.assert_allclose(lengths.numpy(), np.broadcast_to(expected, (50, 31)), atol=1e-9)


def test_depth_levels_and_gradients():
    levels = tree_levels(PARENTS)
    assert sorted(j for joints, _ in levels for j in joints) == list(range(32))
    for (joints, where), (previous, _) in zip(levels[1:], levels[:-1]):
        assert all(PARENTS[j] == previous[w] for j, w in zip(joints, where))
    assert len(levels) == 9  # Hips -> Spine -> Spine1 -> LeftShoulder -> ... -> thumb site
    r = (0.1 * torch.randn(2, 99, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: expmap_to_joints(x)[..., 20:, :], (r,))


def test_errors_name_the_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 99\)"):
        expmap_to_joints(torch.zeros(3, 96))
    with pytest.raises(ValueError, match="convention"):
        forward_kinematics(torch.eye(3).expand(32, 3, 3), torch.zeros(32, 3), PARENTS, None, "x")
