"""Forward kinematics of joint-angle skeletons, batched over any leading dims.

Two conventions meet in this zoo:

- ``"row"``: the Human3.6M exp-map files (HisRepItself / Martinez ``forward_kinematics.fkl``).
  Positions are row vectors multiplied from the right: ``xyz_i = offset_i @ Rot_parent +
  xyz_parent`` and ``Rot_i = R_i @ Rot_parent``; the root is ``xyz_0 = offset_0 + trans``,
  ``Rot_0 = R_0``. With ``R = axis_angle_to_matrix(r)`` (Rodrigues, the same matrix as
  ``expmap2rotmat``), the rotation that acts on column vectors is ``Rot^T``, so a joint's
  exp-map ``r`` turns its children by ``-r``.
- ``"column"``: SMPL / AMASS. ``G_i = G_parent @ [R_i | J_i - J_parent]``, i.e. world position
  ``R_global_parent @ offset_i + pos_parent`` and ``R_global_i = R_global_parent @ R_i``.

Row FK with rotations ``R`` equals column FK with ``R^T`` (transpose the two recursions).

Joints are processed one tree depth at a time (all joints of a depth in one batched matmul),
never one joint at a time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch

from motionzoo.skeleton import H36M_32, Skeleton

__all__ = [
    "axis_angle_to_matrix",
    "matrix_to_axis_angle",
    "forward_kinematics",
    "expmap_to_joints",
    "tree_levels",
]


def _skew(r: torch.Tensor) -> torch.Tensor:
    """(..., 3) -> (..., 3, 3) cross-product matrix [r]_x."""
    x, y, z = r.unbind(-1)
    zero = torch.zeros_like(x)
    rows = (zero, -z, y, z, zero, -x, -y, x, zero)
    return torch.stack(rows, dim=-1).reshape(*r.shape, 3)


def axis_angle_to_matrix(r: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: axis-angle / exp-map (..., 3) -> rotation matrices (..., 3, 3).

    R = I + sin(t)/t K + (1 - cos t)/t^2 K^2 with K = [r]_x and t = |r|. The two coefficients
    use their Taylor series for t^2 < 1e-4, so the map is exact (R = I) and has finite gradients
    at r = 0; (1 - cos t) / t^2 is written as 0.5 (sin(t/2) / (t/2))^2 to avoid cancellation.
    """
    if r.shape[-1] != 3:
        raise ValueError(f"axis_angle_to_matrix expects (..., 3), got {tuple(r.shape)}")
    t2 = r.square().sum(-1)
    small = t2 < 1e-4
    t = torch.where(small, torch.ones_like(t2), t2).sqrt()
    a = torch.where(small, 1 - t2 / 6 + t2.square() / 120, torch.sin(t) / t)
    half = torch.sin(t / 2) / (t / 2)
    b = torch.where(small, 0.5 - t2 / 24 + t2.square() / 720, 0.5 * half.square())
    k = _skew(r)
    eye = torch.eye(3, dtype=r.dtype, device=r.device)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    """Rotation matrices (..., 3, 3) -> axis-angle (..., 3) with angle in [0, pi].

    Goes through the unit quaternion (Shepperd's branch choice: the largest of w, x, y, z is
    computed from the trace, the others from off-diagonal sums), which is stable at every
    angle including pi.
    """
    if m.shape[-2:] != (3, 3):
        raise ValueError(f"matrix_to_axis_angle expects (..., 3, 3), got {tuple(m.shape)}")
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    # Four candidate quaternions (w, x, y, z) scaled by 4 * their pivot component.
    candidates = torch.stack(
        [
            torch.stack([1 + m00 + m11 + m22, m21 - m12, m02 - m20, m10 - m01], -1),
            torch.stack([m21 - m12, 1 + m00 - m11 - m22, m01 + m10, m02 + m20], -1),
            torch.stack([m02 - m20, m01 + m10, 1 - m00 + m11 - m22, m12 + m21], -1),
            torch.stack([m10 - m01, m02 + m20, m12 + m21, 1 - m00 - m11 + m22], -1),
        ],
        dim=-2,
    )  # (..., 4 candidates, 4)
    pivots = torch.stack([candidates[..., i, i] for i in range(4)], -1)
    best = pivots.argmax(-1, keepdim=True)
    q = torch.gather(candidates, -2, best[..., None].expand(*best.shape, 4)).squeeze(-2)
    q = q / q.norm(dim=-1, keepdim=True)
    q = torch.where(q[..., :1] < 0, -q, q)  # w >= 0: angle in [0, pi]
    w, v = q[..., 0], q[..., 1:]
    s = v.norm(dim=-1)
    angle = 2 * torch.atan2(s, w)
    # angle / sin(angle / 2) -> 2 as s -> 0
    scale = torch.where(s < 1e-7, 2 / w.clamp_min(1e-12), angle / s.clamp_min(1e-12))
    return v * scale[..., None]


@functools.lru_cache(maxsize=64)
def tree_levels(parents: tuple[int, ...]) -> tuple[tuple[tuple[int, ...], tuple[int, ...]], ...]:
    """Joints grouped by tree depth: per depth d, (joints at depth d, position of each joint's
    parent within depth d-1's joint tuple). Depth 0 holds the roots; their parent positions
    are -1."""
    depth: list[int] = []
    for j, p in enumerate(parents):
        if p >= j:
            raise ValueError(f"parents must list every parent before its children: {parents}")
        depth.append(0 if p < 0 else depth[p] + 1)
    levels: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
    for d in range(max(depth, default=-1) + 1):
        joints = tuple(j for j in range(len(parents)) if depth[j] == d)
        if d == 0:
            where = (-1,) * len(joints)
        else:
            position = {j: k for k, j in enumerate(levels[-1][0])}
            where = tuple(position[parents[j]] for j in joints)
        levels.append((joints, where))
    return tuple(levels)


@functools.lru_cache(maxsize=64)
def _level_tensors(
    parents: tuple[int, ...],
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
    """tree_levels as index tensors, and the permutation from level order back to joint order."""
    levels = tree_levels(parents)
    tensors = [(torch.tensor(j), torch.tensor(w)) for j, w in levels]
    order = [j for joints, _ in levels for j in joints]
    return tensors, torch.from_numpy(np.argsort(order))


def forward_kinematics(
    rotations: torch.Tensor,
    offsets: torch.Tensor,
    parents: Sequence[int],
    root_position: torch.Tensor | None = None,
    convention: str = "row",
) -> torch.Tensor:
    """Joint positions from local joint rotations.

    Args:
        rotations: (..., J, 3, 3) local rotation of every joint.
        offsets: (J, 3) or (..., J, 3) bone vector from each joint's parent to the joint, in the
            parent's rest frame (the root's offset is its rest position).
        parents: parent index per joint, -1 for roots; parents come before children.
        root_position: (..., 3) translation added to every root (``trans``), or None.
        convention: ``"row"`` (Human3.6M exp-map files) or ``"column"`` (SMPL); see the module
            docstring.

    Returns:
        (..., J, 3) joint positions in the units of ``offsets``.
    """
    if convention not in ("row", "column"):
        raise ValueError(f"convention must be 'row' or 'column', got {convention!r}")
    parents = tuple(int(p) for p in parents)
    num_joints = len(parents)
    if rotations.shape[-3:] != (num_joints, 3, 3):
        raise ValueError(
            f"rotations must be (..., {num_joints}, 3, 3) for {num_joints} parents, "
            f"got {tuple(rotations.shape)}"
        )
    if offsets.shape[-2:] != (num_joints, 3):
        raise ValueError(f"offsets must be (..., {num_joints}, 3), got {tuple(offsets.shape)}")
    batch = torch.broadcast_shapes(rotations.shape[:-3], offsets.shape[:-2])
    if root_position is not None:
        batch = torch.broadcast_shapes(batch, root_position.shape[:-1])
    rotations = rotations.expand(*batch, num_joints, 3, 3)
    offsets = offsets.to(rotations).expand(*batch, num_joints, 3)

    device = rotations.device
    levels, inverse = _level_tensors(parents)
    positions: list[torch.Tensor] = []
    globals_: list[torch.Tensor] = []
    for d, (idx, where) in enumerate(levels):
        idx = idx.to(device)
        local, offset = rotations[..., idx, :, :], offsets[..., idx, :]
        if d == 0:
            pos = offset if root_position is None else offset + root_position[..., None, :]
            glob = local
        else:
            pidx = where.to(device)
            parent_pos, parent_rot = positions[-1][..., pidx, :], globals_[-1][..., pidx, :, :]
            if convention == "row":
                pos = (offset[..., None, :] @ parent_rot).squeeze(-2) + parent_pos
                glob = local @ parent_rot
            else:
                pos = (parent_rot @ offset[..., :, None]).squeeze(-1) + parent_pos
                glob = parent_rot @ local
        positions.append(pos)
        globals_.append(glob)
    return torch.cat(positions, dim=-2)[..., inverse.to(device), :]


def expmap_to_joints(
    frames: torch.Tensor, skeleton: Skeleton = H36M_32, zero_global: bool = False
) -> torch.Tensor:
    """Human3.6M exp-map frames (..., 99) -> joint positions (..., 32, 3) in mm.

    Columns 0:3 are the root translation, joint i's exp-map is columns [3 + 3i, 6 + 3i); FK is
    HisRepItself's ``fkl`` ("row" convention) on ``skeleton.offsets``. ``zero_global`` zeroes
    columns 0:6 (global translation and rotation) first, as the motion-prediction papers do.
    """
    num_joints = skeleton.num_joints
    width = 3 + 3 * num_joints
    if frames.shape[-1] != width:
        raise ValueError(
            f"expected exp-map frames (..., {width}) for {skeleton.name}, got {tuple(frames.shape)}"
        )
    if skeleton.offsets is None:
        raise ValueError(f"{skeleton.name} carries no bone offsets")
    if zero_global:
        frames = torch.cat([torch.zeros_like(frames[..., :6]), frames[..., 6:]], dim=-1)
    offsets = torch.as_tensor(skeleton.offsets, dtype=frames.dtype, device=frames.device)
    rotations = axis_angle_to_matrix(frames[..., 3:].unflatten(-1, (num_joints, 3)))
    return forward_kinematics(rotations, offsets, skeleton.parents, frames[..., :3], "row")
