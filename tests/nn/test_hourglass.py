"""Skeletal pool / unpool from one grouping table (each joint gets its own group's feature
back: a left/right swap fails), the hourglass's shapes and size, and the SE block."""

from __future__ import annotations

import pytest
import torch

from motionzoo.nn.hourglass import GraphHourglass, SkeletalPool, SkeletalUnpool, SqueezeExcitation
from motionzoo.skeleton import H36M_16, edges_to_adjacency

FINE_TO_MID, MID_TO_LOW = H36M_16.pool_groups


def group_indicator(groups) -> torch.Tensor:
    """(N, N): row j is 1 on the members of the group that contains fine node j."""
    n = sum(len(g) for g in groups)
    out = torch.zeros(n, n)
    for group in groups:
        for j in group:
            out[j, list(group)] = 1.0
    return out


def round_trip(unpool_index: torch.Tensor, groups) -> torch.Tensor:
    """Pool one-hot joint features with ``groups``, copy back with ``unpool_index``: row j holds
    the indicator of the joints whose features reached joint j."""
    n = len(unpool_index)
    one_hot = torch.eye(n).unsqueeze(1)  # (J, B=1, C=J), node-major
    return SkeletalPool(groups)(one_hot).index_select(0, unpool_index).squeeze(1)


@pytest.mark.parametrize("groups", [FINE_TO_MID, MID_TO_LOW], ids=["16->8", "8->4"])
def test_pool_then_unpool_returns_each_joint_its_own_group(groups):
    unpool = SkeletalUnpool(groups)
    torch.testing.assert_close(round_trip(unpool.parent, groups), group_indicator(groups))


def test_the_right_leg_gets_the_right_leg_back():
    back = round_trip(SkeletalUnpool(FINE_TO_MID).parent, FINE_TO_MID)
    r_knee, r_foot, l_knee, l_foot = (
        H36M_16.index(n) for n in ("RKnee", "RFoot", "LKnee", "LFoot")
    )
    assert back[r_knee, r_foot] == 1 and back[r_knee, l_foot] == 0
    assert back[l_foot, l_knee] == 1 and back[l_foot, r_knee] == 0


def test_the_public_ports_inverse_table_fails_this_check():
    # tamasino52/GraphSH hard-codes unpooling as inv_mid, which swaps the legs: the round trip
    # above detects it.
    inv_mid = torch.tensor([3, 2, 1, 1, 2, 0, 0, 3, 4, 4, 7, 6, 6, 7, 5, 5])
    back = round_trip(inv_mid, FINE_TO_MID)
    assert not torch.equal(back, group_indicator(FINE_TO_MID))
    assert back[H36M_16.index("RKnee"), H36M_16.index("LKnee")] == 1


def test_pool_is_the_max_over_each_group_and_routes_the_gradient_to_it():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 5, requires_grad=True)
    pooled = SkeletalPool(FINE_TO_MID)(x)
    expected = torch.stack([x[list(g)].amax(dim=0) for g in FINE_TO_MID])
    torch.testing.assert_close(pooled, expected)
    pooled.sum().backward()
    assert x.grad.sum() == 8 * 3 * 5  # one unit of gradient per pooled entry, on its argmax


def test_groups_of_unequal_size_pad_without_changing_the_max():
    x = torch.tensor([1.0, 5.0, 2.0, -1.0]).view(4, 1, 1)
    out = SkeletalPool([(0, 1, 2), (3,)])(x)
    assert out.flatten().tolist() == [5.0, -1.0]


@pytest.mark.parametrize("bad", [[(0, 1), (1, 2)], [(0, 1), (3,)], [(0,), ()]])
def test_tables_that_do_not_partition_the_joints_are_refused(bad):
    with pytest.raises(ValueError, match="partition"):
        SkeletalPool(bad)
    with pytest.raises(ValueError, match="partition"):
        SkeletalUnpool(bad)


def adjacencies():
    return [
        H36M_16.adjacency(),
        *(edges_to_adjacency(e, len(g)) for e, g in zip(H36M_16.coarse_edges, H36M_16.pool_groups)),
    ]


def test_hourglass_keeps_shape_and_has_the_papers_layer_sizes():
    torch.manual_seed(0)
    hourglass = GraphHourglass(adjacencies(), H36M_16.pool_groups, (64, 96, 128), "vanilla")
    out = hourglass(torch.randn(16, 4, 64))
    assert out.shape == (16, 4, 64)
    sizes = [(u.conv.in_features, u.conv.out_features, u.conv.num_nodes) for u in hourglass.down]
    sizes += [
        (u.conv.in_features, u.conv.out_features, u.conv.num_nodes) for u in reversed(hourglass.up)
    ]
    assert sizes == [(64, 96, 16), (96, 128, 8), (128, 128, 4), (128, 96, 8), (96, 64, 16)]
    # Coupled vanilla: weights + biases + BatchNorm affine of the five GConvs.
    weights = 64 * 96 + 96 * 128 + 128 * 128 + 128 * 96 + 96 * 64
    assert sum(p.numel() for p in hourglass.parameters()) == weights + 3 * (
        96 + 128 + 128 + 96 + 64
    )


def test_hourglass_rejects_mismatched_tables():
    with pytest.raises(ValueError, match="pooling table"):
        GraphHourglass(adjacencies()[::-1], H36M_16.pool_groups, (8, 8, 8))


def test_squeeze_excitation_scales_channels_by_a_gate_of_the_node_mean():
    torch.manual_seed(0)
    se = SqueezeExcitation(16, reduction=8)
    x = torch.randn(16, 3, 16)
    with torch.no_grad():
        for p in se.parameters():
            p.zero_()
    torch.testing.assert_close(se(x), x / 2)  # sigmoid(0) = 1/2
    se = SqueezeExcitation(16, reduction=8)
    permutation = torch.randperm(16)
    torch.testing.assert_close(se(x[permutation]), se(x)[permutation])
    assert sum(p.numel() for p in se.parameters()) == 16 * 2 + 2 + 2 * 16 + 16
