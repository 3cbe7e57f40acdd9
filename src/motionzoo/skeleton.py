"""Skeletons as data: joint names, parents, left/right lists, pooling groups, adjacency.

A skeleton is a frozen dataclass; layouts derived from the 32-joint Human3.6M mocap skeleton
carry the indices of their joints in the 32-joint layout (``from_32``), so converting data is
one gather: ``pose32[..., H36M_17.from_32, :]``.

Sources (see ``shared/reference/datasets.md``): the 32-joint names, parents and bone offsets are
those of the exp-map motion files (HisRepItself ``forward_kinematics.py``; VideoPose3D has the
same parents); the 17-joint reduction is VideoPose3D's ``h36m_dataset.py``; the 16-joint layout
(no Neck/Nose) is SemGCN's, which GraphSH uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree.

    Attributes:
        name: short identifier, e.g. ``"h36m_17"``.
        joint_names: one name per joint, index order.
        parents: parent index per joint, ``-1`` for the root.
        joints_left, joints_right: indices of left / right joints, pairwise mirrored.
        from_32: for layouts derived from the 32-joint H3.6M skeleton, the 32-layout index of
            each joint; ``None`` otherwise.
        pool_groups: for skeletal pooling (GraphSH), one table per pooling step; each table is a
            tuple of joint groups of the finer level, in the order of the coarse nodes.
        coarse_edges: undirected edges of each coarse level's graph (one tuple per step).
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    joints_left: tuple[int, ...] = ()
    joints_right: tuple[int, ...] = ()
    from_32: tuple[int, ...] | None = None
    pool_groups: tuple[tuple[tuple[int, ...], ...], ...] = ()
    coarse_edges: tuple[tuple[tuple[int, int], ...], ...] = ()
    offsets: tuple[tuple[float, float, float], ...] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        if len(self.parents) != n:
            raise ValueError(f"{self.name}: {n} joint names but {len(self.parents)} parents")
        for i, p in enumerate(self.parents):
            if p >= i and p != -1:
                raise ValueError(
                    f"{self.name}: parent of joint {i} is {p}; parents must come first"
                )
        if len(self.joints_left) != len(self.joints_right):
            raise ValueError(f"{self.name}: left/right joint lists differ in length")
        if self.from_32 is not None and len(self.from_32) != n:
            raise ValueError(f"{self.name}: from_32 has {len(self.from_32)} entries, expected {n}")

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs of every bone."""
        return tuple((i, p) for i, p in enumerate(self.parents) if p >= 0)

    @property
    def flip_permutation(self) -> tuple[int, ...]:
        """Joint permutation that swaps left and right (for mirroring augmentation)."""
        perm = list(range(self.num_joints))
        for left, right in zip(self.joints_left, self.joints_right):
            perm[left], perm[right] = right, left
        return tuple(perm)

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(
                f"{self.name}: no joint named {name!r}; joints are {self.joint_names}"
            ) from None

    def adjacency(self, self_loops: bool = True, normalize: bool = True) -> torch.Tensor:
        """Dense (J, J) adjacency of the bone graph: symmetric A (+ I), row-normalised D^-1 (A+I)
        when ``normalize`` (SemGCN ``adj_mx_from_skeleton``)."""
        return edges_to_adjacency(self.edges, self.num_joints, self_loops, normalize)

    def bone_lengths(self, joints: torch.Tensor) -> torch.Tensor:
        """joints: (..., J, 3) -> (..., J-1) length of every bone in ``edges`` order."""
        child, parent = zip(*self.edges)
        return (joints[..., list(child), :] - joints[..., list(parent), :]).norm(dim=-1)


def edges_to_adjacency(
    edges: tuple[tuple[int, int], ...],
    num_nodes: int,
    self_loops: bool = True,
    normalize: bool = True,
) -> torch.Tensor:
    """Symmetric dense adjacency from undirected edges, optionally with I and row-normalised."""
    a = torch.zeros(num_nodes, num_nodes)
    if edges:
        i, j = torch.tensor(edges).T
        a[i, j] = 1.0
        a[j, i] = 1.0
    if self_loops:
        a = a + torch.eye(num_nodes)
    if normalize:
        a = a / a.sum(dim=1, keepdim=True).clamp_min(1e-12)
    return a


def _derive(
    base: Skeleton, name: str, keep: list[int], reparent: dict[str, str], **extra
) -> Skeleton:
    """A sub-skeleton of ``base`` keeping joints ``keep``: each kept joint's parent is its
    nearest kept ancestor, unless ``reparent`` names another joint (VideoPose3D's shoulder
    rewiring). ``from_32`` is composed through ``base``'s (None when ``base`` has none)."""
    names = tuple(base.joint_names[i] for i in keep)
    position = {j: k for k, j in enumerate(keep)}
    parents = []
    for j in keep:
        p = base.parents[j]
        while p != -1 and p not in position:
            p = base.parents[p]
        parents.append(position[p] if p != -1 else -1)
    for child, parent in reparent.items():
        parents[names.index(child)] = names.index(parent)
    from_32 = None if base.from_32 is None else tuple(base.from_32[j] for j in keep)
    return Skeleton(name=name, joint_names=names, parents=tuple(parents), from_32=from_32, **extra)


# Bone offsets (mm) of the exp-map skeleton, HisRepItself forward_kinematics.py, reshaped (32, 3).
_H36M_32_OFFSETS = (
    (0.0, 0.0, 0.0),
    (-132.948591, 0.0, 0.0),
    (0.0, -442.894612, 0.0),
    (0.0, -454.206447, 0.0),
    (0.0, 0.0, 162.767078),
    (0.0, 0.0, 74.999437),
    (132.948826, 0.0, 0.0),
    (0.0, -442.894413, 0.0),
    (0.0, -454.206590, 0.0),
    (0.0, 0.0, 162.767426),
    (0.0, 0.0, 74.999948),
    (0.0, 0.1, 0.0),
    (0.0, 233.383263, 0.0),
    (0.0, 257.077681, 0.0),
    (0.0, 121.134938, 0.0),
    (0.0, 115.002227, 0.0),
    (0.0, 257.077681, 0.0),
    (0.0, 151.034226, 0.0),
    (0.0, 278.882773, 0.0),
    (0.0, 251.733451, 0.0),
    (0.0, 0.0, 0.0),
    (0.0, 0.0, 99.999627),
    (0.0, 100.000188, 0.0),
    (0.0, 0.0, 0.0),
    (0.0, 257.077681, 0.0),
    (0.0, 151.031437, 0.0),
    (0.0, 278.892924, 0.0),
    (0.0, 251.728680, 0.0),
    (0.0, 0.0, 0.0),
    (0.0, 0.0, 99.999888),
    (0.0, 137.499922, 0.0),
    (0.0, 0.0, 0.0),
)

H36M_32 = Skeleton(
    name="h36m_32",
    joint_names=(
        "Hips",
        "RightUpLeg",
        "RightLeg",
        "RightFoot",
        "RightToeBase",
        "RightSite",
        "LeftUpLeg",
        "LeftLeg",
        "LeftFoot",
        "LeftToeBase",
        "LeftSite",
        "Spine",
        "Spine1",
        "Neck",
        "Head",
        "HeadSite",
        "LeftShoulder",
        "LeftArm",
        "LeftForeArm",
        "LeftHand",
        "LeftHandThumb",
        "LeftThumbSite",
        "L_Wrist_End",
        "LeftWristSite",
        "RightShoulder",
        "RightArm",
        "RightForeArm",
        "RightHand",
        "RightHandThumb",
        "RightThumbSite",
        "R_Wrist_End",
        "RightWristSite",
    ),
    parents=(
        -1,
        0,
        1,
        2,
        3,
        4,
        0,
        6,
        7,
        8,
        9,
        0,
        11,
        12,
        13,
        14,
        12,
        16,
        17,
        18,
        19,
        20,
        19,
        22,
        12,
        24,
        25,
        26,
        27,
        28,
        27,
        30,
    ),
    joints_left=(6, 7, 8, 9, 10, 16, 17, 18, 19, 20, 21, 22, 23),
    joints_right=(1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29, 30, 31),
    from_32=tuple(range(32)),
    offsets=_H36M_32_OFFSETS,
)

# VideoPose3D 17-joint layout, renamed to the common short names (MHB H36M_NAMES).
_H36M_17_BASE = _derive(
    H36M_32,
    "h36m_17",
    [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27],
    reparent={"LeftArm": "Neck", "RightArm": "Neck"},
)
SHORT_NAMES = {
    "Hips": "Hip",
    "RightUpLeg": "RHip",
    "RightLeg": "RKnee",
    "RightFoot": "RFoot",
    "LeftUpLeg": "LHip",
    "LeftLeg": "LKnee",
    "LeftFoot": "LFoot",
    "Spine1": "Spine",
    "Neck": "Thorax",
    "Head": "Neck/Nose",
    "HeadSite": "Head",
    "LeftArm": "LShoulder",
    "LeftForeArm": "LElbow",
    "LeftHand": "LWrist",
    "RightArm": "RShoulder",
    "RightForeArm": "RElbow",
    "RightHand": "RWrist",
}
H36M_17 = Skeleton(
    name="h36m_17",
    joint_names=tuple(SHORT_NAMES[n] for n in _H36M_17_BASE.joint_names),
    parents=_H36M_17_BASE.parents,
    joints_left=(4, 5, 6, 11, 12, 13),
    joints_right=(1, 2, 3, 14, 15, 16),
    from_32=_H36M_17_BASE.from_32,
)

# SemGCN / GraphSH 16-joint layout: the 17 without Neck/Nose.
_H36M_16_BASE = _derive(
    H36M_32,
    "h36m_16",
    [0, 1, 2, 3, 6, 7, 8, 12, 13, 15, 17, 18, 19, 25, 26, 27],
    reparent={"LeftArm": "Neck", "RightArm": "Neck"},
)
H36M_16 = Skeleton(
    name="h36m_16",
    joint_names=tuple(SHORT_NAMES[n] for n in _H36M_16_BASE.joint_names),
    parents=_H36M_16_BASE.parents,
    joints_left=(4, 5, 6, 10, 11, 12),
    joints_right=(1, 2, 3, 13, 14, 15),
    from_32=_H36M_16_BASE.from_32,
    # GraphSH skeletal pooling. 16 -> 8: coarse nodes 0 RLeg, 1 LLeg, 2 Hips, 3 Pelvis/Spine,
    # 4 Thorax/Head, 5 RArm, 6 LArm, 7 Shoulders. 8 -> 4: legs, hips+torso, arms,
    # thorax/head+shoulders. Pool and unpool both read these tables (no left/right swap).
    pool_groups=(
        ((2, 3), (5, 6), (1, 4), (0, 7), (8, 9), (14, 15), (11, 12), (10, 13)),
        ((0, 1), (2, 3), (5, 6), (4, 7)),
    ),
    coarse_edges=(
        ((0, 2), (1, 2), (2, 3), (3, 7), (4, 7), (5, 7), (6, 7)),
        # legs - hips/torso - thorax/shoulders - arms (the public port chains torso to arms).
        ((0, 1), (1, 3), (2, 3)),
    ),
)

# The tables of the public GraphSH port (tamasino52/GraphSH ``models/graph_sh.py``) where they
# differ from H36M_16's, kept only to run its weights (``GraphSH(port_leg_swap=True,
# port_coarse_graph=True)``). Its unpooling 8 -> 16 (``inv_mid``) copies coarse node 0 (right
# knee/foot) to the LEFT knee and foot and node 1 to the right ones, although pooling grouped
# them the other way; its 4-node graph (``adj_low``) is the chain legs - hips/torso - arms -
# thorax/head+shoulders, joining the torso to the arms and the arms to the shoulders' group.
H36M_16_PORT_UNPOOL_GROUPS = (
    ((5, 6), (2, 3), *H36M_16.pool_groups[0][2:]),
    H36M_16.pool_groups[1],
)
H36M_16_PORT_COARSE_EDGES = (H36M_16.coarse_edges[0], ((0, 1), (1, 2), (2, 3)))

# The 15 Human3.6M actions in their canonical (file) spelling, the order of VideoPose3D /
# 3d-pose-baseline tables; the index is the zoo's action label.
H36M_ACTIONS = (
    "Directions",
    "Discussion",
    "Eating",
    "Greeting",
    "Phoning",
    "Photo",
    "Posing",
    "Purchases",
    "Sitting",
    "SittingDown",
    "Smoking",
    "Waiting",
    "WalkDog",
    "Walking",
    "WalkTogether",
)
# Names that appear in other releases (original .cdf files) for the same actions.
H36M_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}


def h36m_action_index(key: str) -> int:
    """Action label of a file key such as ``'Directions 1'``, ``'WalkDog'`` or ``'TakingPhoto 2'``;
    -1 when the key names no Human3.6M action (e.g. ``'_ALL'``)."""
    base = key.split(" ")[0].split("_")[0]
    base = H36M_ACTION_ALIASES.get(base, base)
    return H36M_ACTIONS.index(base) if base in H36M_ACTIONS else -1


def h36m_offsets(skeleton: Skeleton = H36M_32) -> np.ndarray:
    """(J, 3) bone offsets in mm, float64."""
    if skeleton.offsets is None:
        raise ValueError(f"{skeleton.name} carries no bone offsets")
    return np.asarray(skeleton.offsets, dtype=np.float64)


# --- motion layouts: Human3.6M exp-map 22 joints, AMASS / SMPL body ------------------------

# The 22 joints of the exp-map motion files that motion-prediction papers keep (HisRepItself
# ``main_h36m_3d.py`` ``dim_used``; the other 10 are the root, hips, spine base and duplicates).
# ``pool_groups``: the 6 body parts of HM-VAE's top level (right leg, left leg, spine, head,
# left arm, right arm), one pooling step 22 -> 6.
H36M_22 = _derive(
    H36M_32,
    "h36m_22",
    [2, 3, 4, 5, 7, 8, 9, 10, 12, 13, 14, 15, 17, 18, 19, 21, 22, 25, 26, 27, 29, 30],
    reparent={},
    joints_left=(4, 5, 6, 7, 12, 13, 14, 15, 16),
    joints_right=(0, 1, 2, 3, 17, 18, 19, 20, 21),
    pool_groups=(
        ((0, 1, 2, 3), (4, 5, 6, 7), (8, 9), (10, 11), (12, 13, 14, 15, 16), (17, 18, 19, 20, 21)),
    ),
)

# SMPL body joints 0..21 (the standard SMPL names; SMPL-H adds 30 finger joints on the wrists).
SMPL_BODY_NAMES = (
    "pelvis",
    "l_hip",
    "r_hip",
    "spine1",
    "l_knee",
    "r_knee",
    "spine2",
    "l_ankle",
    "r_ankle",
    "spine3",
    "l_foot",
    "r_foot",
    "neck",
    "l_collar",
    "r_collar",
    "head",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
)
SMPL_BODY_PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# Rest-pose joint positions (metres; Y up, facing +z, the subject's left at +x, pelvis at the
# origin) of the 22 body joints: ``p3d0[0, :22]`` of ``body_models/smpl_skeleton.npz`` in
# HisRepItself / bouracha generative_imputation, built from the SMPL-H neutral model with mean
# betas (see shared/reference/datasets.md section 2). AMASS forward kinematics runs on this one
# template, whatever the sequence's ``betas``.
SMPL_TEMPLATE_22 = (
    (0.0, 0.0, 0.0),
    (0.07255565, -0.09037101, -0.00495077),
    (-0.07099167, -0.08991066, -0.00426378),
    (-0.00292576, 0.10815094, -0.02796105),
    (0.11065675, -0.47893494, -0.0071666),
    (-0.11376222, -0.48391396, -0.01153006),
    (0.00358458, 0.24725547, -0.02511322),
    (0.09839528, -0.88786942, -0.05057588),
    (-0.09959169, -0.89208156, -0.05400277),
    (0.0053301, 0.3033044, -0.00013979),
    (0.13125376, -0.94634873, 0.07010725),
    (-0.12920429, -0.94181341, 0.07120585),
    (0.00247584, 0.52505881, -0.03788543),
    (0.086329, 0.42872718, -0.03441524),
    (-0.07779355, 0.42385256, -0.04039495),
    (0.00819868, 0.59696209, 0.0186698),
    (0.1792331, 0.46250752, -0.0439232),
    (-0.17389143, 0.45845675, -0.05004761),
    (0.44708058, 0.44718486, -0.07230864),
    (-0.43255565, 0.44320309, -0.07316223),
    (0.70520467, 0.45867163, -0.07272986),
    (-0.69369143, 0.4523733, -0.07745281),
)

AMASS_22 = Skeleton(
    name="amass_22",
    joint_names=SMPL_BODY_NAMES,
    parents=SMPL_BODY_PARENTS,
    joints_left=(1, 4, 7, 10, 13, 16, 18, 20),
    joints_right=(2, 5, 8, 11, 14, 17, 19, 21),
)

# AMASS joints 4..21 (HisRepItself ``joint_used = np.arange(4, 22)``): without the pelvis, hips
# and spine1, the shins and the torso are three separate trees (roots l_knee, r_knee, spine2).
_AMASS_18_BASE = _derive(AMASS_22, "amass_18", list(range(4, 22)), reparent={})
# ``pool_groups``: the 6 body parts of HM-VAE's top level, 3 joints each (one step 18 -> 6):
# left leg (knee, ankle, foot), right leg, spine (spine2, spine3, neck), head + collars,
# left arm (shoulder, elbow, wrist), right arm.
AMASS_18 = Skeleton(
    name="amass_18",
    joint_names=_AMASS_18_BASE.joint_names,
    parents=_AMASS_18_BASE.parents,
    joints_left=(0, 3, 6, 9, 12, 14, 16),
    joints_right=(1, 4, 7, 10, 13, 15, 17),
    pool_groups=(((0, 3, 6), (1, 4, 7), (2, 5, 8), (11, 9, 10), (12, 14, 16), (13, 15, 17)),),
)
AMASS_18_FROM_22 = tuple(range(4, 22))


def smpl_template(unit: str = "m") -> np.ndarray:
    """(22, 3) float64 rest-pose joints of the SMPL body (``SMPL_TEMPLATE_22``), in ``"m"`` or
    ``"mm"``."""
    if unit not in ("m", "mm"):
        raise ValueError(f"unit must be 'm' or 'mm', got {unit!r}")
    return np.asarray(SMPL_TEMPLATE_22, dtype=np.float64) * (1000.0 if unit == "mm" else 1.0)


def smpl_offsets(unit: str = "m") -> np.ndarray:
    """(22, 3) float64 bone vectors of the SMPL body template (joint minus parent; the root's
    is its rest position), the ``offsets`` of ``forward_kinematics(..., convention="column")``."""
    template = smpl_template(unit)
    parents = np.array(SMPL_BODY_PARENTS)
    return template - np.where(parents[:, None] >= 0, template[parents], 0.0)
