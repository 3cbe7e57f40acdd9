"""Skeletons as data: invariants that every skeleton of ``motionzoo.skeleton`` must satisfy
(parents before children, unique names, left/right lists that mirror each other by name and by
bone, the documented adjacency, pooling tables that partition each level and respect the
left/right symmetry, connected coarse graphs), and the GraphSH / VideoPose3D layouts against the
tables of DESIGN.md section 4 and the published code."""

from __future__ import annotations

import re

import pytest
import torch

import motionzoo.skeleton as skeleton_module
from motionzoo.skeleton import H36M_16, H36M_17, H36M_32, SHORT_NAMES, Skeleton

# Every Skeleton of the module, private building blocks (``_H36M_17_BASE``, ...) included.
ALL = {name: s for name, s in vars(skeleton_module).items() if isinstance(s, Skeleton)}
PUBLIC = {name: s for name, s in ALL.items() if not name.startswith("_")}
POOLED = {name: s for name, s in ALL.items() if s.pool_groups}

# Layouts that drop the root and the joints joining the limbs to it (HisRepItself's joint
# selections) are forests; their roots, by name. Every other skeleton is one tree rooted at 0.
FOREST_ROOTS = {
    "h36m_22": ("RightLeg", "LeftLeg", "Spine1"),
    "amass_18": ("l_knee", "r_knee", "spine2"),
}

# A side prefix and its mirror: "LeftArm" / "RightArm", "L_Wrist_End", "l_hip", "LHip".
SIDE = re.compile(r"^(Left|Right|L_|R_|l_|r_|L(?=[A-Z])|R(?=[A-Z]))")
MIRROR = {"Left": "Right", "L_": "R_", "l_": "r_", "L": "R"}
MIRROR |= {right: left for left, right in MIRROR.items()}


def side(name: str) -> str | None:
    """'left', 'right' or None (a joint on the midline)."""
    match = SIDE.match(name)
    if match is None:
        return None
    return "left" if match.group(1).lower().startswith("l") else "right"


def mirror(name: str) -> str:
    """The name of the joint on the other side: 'LHip' -> 'RHip', 'l_knee' -> 'r_knee'."""
    prefix = SIDE.match(name).group(1)
    return MIRROR[prefix] + name[len(prefix) :]


def parametrize(skeletons: dict[str, Skeleton]):
    return pytest.mark.parametrize("skeleton", list(skeletons.values()), ids=list(skeletons))


def test_the_module_holds_the_documented_skeletons():
    names = {s.name for s in PUBLIC.values()}
    assert {"h36m_32", "h36m_17", "h36m_16", "h36m_22", "amass_22", "amass_18"} <= names
    assert len(names) == len(PUBLIC), "two public skeletons share a name"


@parametrize(ALL)
def test_per_joint_fields_have_one_entry_per_joint(skeleton):
    n = skeleton.num_joints
    assert len(skeleton.parents) == n
    assert skeleton.from_32 is None or len(skeleton.from_32) == n
    assert skeleton.offsets is None or len(skeleton.offsets) == n


@parametrize(ALL)
def test_parents_come_before_their_children_and_joint_0_is_a_root(skeleton):
    assert skeleton.parents[0] == -1
    for child, parent in enumerate(skeleton.parents[1:], start=1):
        assert -1 <= parent < child, f"{skeleton.name}: joint {child} has parent {parent}"
    roots = tuple(skeleton.joint_names[j] for j, p in enumerate(skeleton.parents) if p == -1)
    assert roots == FOREST_ROOTS.get(skeleton.name, skeleton.joint_names[:1])


@parametrize(ALL)
def test_joint_names_are_unique(skeleton):
    assert len(set(skeleton.joint_names)) == skeleton.num_joints


@parametrize(PUBLIC)
def test_left_and_right_lists_mirror_each_other_by_name(skeleton):
    left, right = skeleton.joints_left, skeleton.joints_right
    assert len(left) == len(right) > 0
    assert not set(left) & set(right)
    names = skeleton.joint_names
    for j, k in zip(left, right):
        assert (side(names[j]), side(names[k])) == ("left", "right"), (names[j], names[k])
        assert mirror(names[j]) == names[k]
    # every joint named for a side is in the lists; the rest lie on the midline
    sided = {j for j, name in enumerate(names) if side(name) is not None}
    assert sided == set(left) | set(right)


@parametrize(PUBLIC)
def test_flipping_is_an_involution_that_maps_bones_to_bones(skeleton):
    flip = skeleton.flip_permutation
    assert sorted(flip) == list(range(skeleton.num_joints))
    assert all(flip[flip[j]] == j for j in range(skeleton.num_joints))
    parents = skeleton.parents
    for j, p in enumerate(parents):
        assert parents[flip[j]] == (p if p == -1 else flip[p]), skeleton.joint_names[j]


@parametrize(ALL)
def test_adjacency_is_the_symmetric_bone_graph_row_normalised_as_documented(skeleton):
    n, edges = skeleton.num_joints, skeleton.edges
    bones = skeleton.adjacency(self_loops=False, normalize=False)
    expected = torch.zeros(n, n)
    for child, parent in edges:
        expected[child, parent] = expected[parent, child] = 1.0
    torch.testing.assert_close(bones, expected)
    assert len(edges) == n - sum(p == -1 for p in skeleton.parents)
    # D^-1 (A + I): each row of A + I divided by its degree (self included); rows sum to 1.
    a_hat = skeleton.adjacency()
    with_self = expected + torch.eye(n)
    torch.testing.assert_close(a_hat, with_self / with_self.sum(dim=1, keepdim=True))
    torch.testing.assert_close(a_hat.sum(dim=1), torch.ones(n))
    assert torch.equal(a_hat > 0, (a_hat > 0).T)
    torch.testing.assert_close(skeleton.adjacency(normalize=False), with_self)


def level_sizes(skeleton: Skeleton) -> list[int]:
    """Nodes at each level of the pooling hierarchy, finest first."""
    return [skeleton.num_joints, *(len(groups) for groups in skeleton.pool_groups)]


@parametrize(POOLED)
def test_pooling_groups_partition_the_nodes_of_each_level(skeleton):
    for groups, n in zip(skeleton.pool_groups, level_sizes(skeleton)):
        members = [j for group in groups for j in group]
        assert all(len(group) > 0 for group in groups)
        assert sorted(members) == list(range(n))


def induced_flips(skeleton: Skeleton) -> list[list[int]]:
    """The left/right flip at each level: the fine flip, then for each pooling step the coarse
    node whose group is the mirror image of coarse node k's group."""
    flips = [list(skeleton.flip_permutation)]
    for groups in skeleton.pool_groups:
        index = {frozenset(g): k for k, g in enumerate(groups)}
        mirrored = [frozenset(flips[-1][j] for j in group) for group in groups]
        assert all(m in index for m in mirrored), f"{skeleton.name}: a group has no mirror"
        flips.append([index[m] for m in mirrored])
    return flips


@parametrize(POOLED)
def test_pooling_respects_the_left_right_symmetry(skeleton):
    flips = induced_flips(skeleton)  # asserts that each group's mirror image is a group
    for edges, flip in zip(skeleton.coarse_edges, flips[1:]):
        undirected = {frozenset(e) for e in edges}
        assert {frozenset((flip[a], flip[b])) for a, b in edges} == undirected


def connected(n: int, edges) -> bool:
    reached, frontier = {0}, [0]
    while frontier:
        node = frontier.pop()
        for a, b in edges:
            for here, there in ((a, b), (b, a)):
                if here == node and there not in reached:
                    reached.add(there)
                    frontier.append(there)
    return len(reached) == n


@parametrize({name: s for name, s in ALL.items() if s.coarse_edges})
def test_coarse_edges_connect_each_coarse_graph(skeleton):
    assert len(skeleton.coarse_edges) == len(skeleton.pool_groups)
    for edges, n in zip(skeleton.coarse_edges, level_sizes(skeleton)[1:]):
        assert all(0 <= a < n and 0 <= b < n and a != b for a, b in edges)
        assert len({frozenset(e) for e in edges}) == len(edges), "an edge is listed twice"
        assert connected(n, edges)


# --- the 16-joint GraphSH layout (DESIGN.md section 4) --------------------------------------

DESIGN_16_NAMES = (
    "Hip RHip RKnee RFoot LHip LKnee LFoot Spine Thorax Head "
    "LShoulder LElbow LWrist RShoulder RElbow RWrist"
).split()
DESIGN_16_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14)
DESIGN_16_TO_8 = (
    ("RKnee", "RFoot"),
    ("LKnee", "LFoot"),
    ("RHip", "LHip"),
    ("Hip", "Spine"),
    ("Thorax", "Head"),
    ("RElbow", "RWrist"),
    ("LElbow", "LWrist"),
    ("LShoulder", "RShoulder"),
)
# 8 -> 4 in words: legs, hips + torso, arms, thorax/head + shoulders; here as the 16 joints each
# of the 4 nodes covers.
DESIGN_4_COVERS = (
    {"RKnee", "RFoot", "LKnee", "LFoot"},
    {"RHip", "LHip", "Hip", "Spine"},
    {"RElbow", "RWrist", "LElbow", "LWrist"},
    {"Thorax", "Head", "LShoulder", "RShoulder"},
)


def test_h36m_16_is_the_design_layout():
    assert H36M_16.joint_names == tuple(DESIGN_16_NAMES)
    assert H36M_16.parents == DESIGN_16_PARENTS


def test_h36m_16_pooling_groups_are_the_design_groups():
    fine_to_mid, mid_to_low = H36M_16.pool_groups
    names = H36M_16.joint_names
    assert tuple(tuple(names[j] for j in group) for group in fine_to_mid) == DESIGN_16_TO_8
    covers = tuple({names[j] for k in group for j in fine_to_mid[k]} for group in mid_to_low)
    assert covers == DESIGN_4_COVERS


def test_h36m_16_coarse_graphs():
    mid, low = ({frozenset(e) for e in edges} for edges in H36M_16.coarse_edges)
    # 8 nodes: the public port's adj_mid (tamasino52/GraphSH ``_Hourglass``), shoulders as hub.
    assert mid == {frozenset(e) for e in [(0, 2), (1, 2), (2, 3), (3, 7), (4, 7), (5, 7), (6, 7)]}
    # 4 nodes: the 8-node graph contracted by the 8 -> 4 groups,
    # legs - hips/torso - thorax/shoulders - arms.
    owner = {j: k for k, group in enumerate(H36M_16.pool_groups[1]) for j in group}
    contracted = {frozenset((owner[a], owner[b])) for a, b in mid if owner[a] != owner[b]}
    assert low == contracted == {frozenset(e) for e in [(0, 1), (1, 3), (3, 2)]}


def test_h36m_16_is_h36m_17_without_the_nose():
    nose = H36M_17.index("Neck/Nose")
    keep = [j for j in range(H36M_17.num_joints) if j != nose]
    assert H36M_16.joint_names == tuple(H36M_17.joint_names[j] for j in keep)
    # the Head, which hangs from the nose in the 17, hangs from the nose's parent (Thorax)
    lifted = [H36M_17.parents[p] if p == nose else p for p in H36M_17.parents]
    renumber = {j: k for k, j in enumerate(keep)} | {-1: -1}
    assert H36M_16.parents == tuple(renumber[lifted[j]] for j in keep)
    assert H36M_16.parents[H36M_16.index("Head")] == H36M_16.index("Thorax")


def test_h36m_17_is_videopose3ds_layout():
    # VideoPose3D common/h36m_dataset.py, after remove_joints and the shoulder rewiring.
    assert H36M_17.parents == (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
    assert H36M_17.joints_left == (4, 5, 6, 11, 12, 13)
    assert H36M_17.joints_right == (1, 2, 3, 14, 15, 16)


def ancestors(j: int) -> set[int]:
    """Joints on the path from joint j of H36M_32 to the root."""
    out = set()
    while (j := H36M_32.parents[j]) != -1:
        out.add(j)
    return out


# VideoPose3D's layouts, with short names (SHORT_NAMES), hang both shoulders from the Thorax
# (the 32-layout "Neck") instead of the Spine1.
VIDEOPOSE3D = {"h36m_17", "h36m_16"}
REWIRED = {"LeftArm": "Neck", "RightArm": "Neck"}
FROM_32 = {name: s for name, s in ALL.items() if s.from_32 is not None}


@pytest.mark.parametrize("skeleton", list(FROM_32.values()), ids=list(FROM_32))
def test_layouts_from_32_keep_the_names_and_the_ancestry_of_the_32_joints(skeleton):
    names32 = [H36M_32.joint_names[j] for j in skeleton.from_32]
    short = set(skeleton.joint_names) <= set(SHORT_NAMES.values())  # the public 17 and 16
    assert list(skeleton.joint_names) == [SHORT_NAMES[n] if short else n for n in names32]
    for j, p in enumerate(skeleton.parents):
        if p == -1:
            continue
        child, parent = skeleton.from_32[j], skeleton.from_32[p]
        if skeleton.name in VIDEOPOSE3D and names32[j] in REWIRED:
            assert H36M_32.joint_names[parent] == REWIRED[names32[j]]
        else:  # the nearest kept ancestor
            assert parent in ancestors(child)
            between = ancestors(child) - ancestors(parent) - {parent}
            assert not between & set(skeleton.from_32)
