"""Pose metrics against numpy references: overall, per action, across batches and processes;
the papers' per-action table."""

import numpy as np
import pytest
import torch

from motionzoo.metrics import AUC3D, MPJPE, PCK3D, PMPJPE
from motionzoo.metrics.pose import format_action_table
from motionzoo.skeleton import H36M_ACTIONS

NUM_ACTIONS = 5


def make_poses(n: int = 60, joints: int = 17, seed: int = 0):
    """Targets ~ a body (metres apart), predictions a noisy, shifted, rotated copy with errors
    spread over 0-300 mm so that the PCK thresholds matter; actions include -1 and leave
    action 3 unseen."""
    rng = np.random.default_rng(seed)
    target = rng.normal(scale=400.0, size=(n, joints, 3))
    pred = target + rng.normal(scale=rng.uniform(10, 120, size=(n, 1, 1)), size=(n, joints, 3))
    pred += rng.normal(scale=200.0, size=(n, 1, 3))  # a global offset root alignment removes
    action = rng.choice([-1, 0, 1, 2, 4], size=n)
    return pred, target, action


# --- numpy references ---------------------------------------------------------------------------


def np_root_errors(pred, target, root=0):
    pred = pred - pred[:, root : root + 1]
    target = target - target[:, root : root + 1]
    return np.linalg.norm(pred - target, axis=-1)  # (N, J)


def np_procrustes(pred, target):
    """Pose by pose, VideoPose3D p_mpjpe style (normalised, SVD, sign fix)."""
    out = np.empty_like(pred)
    for i, (x, y) in enumerate(zip(pred, target)):
        x0, y0 = x - x.mean(0), y - y.mean(0)
        nx, ny = np.linalg.norm(x0), np.linalg.norm(y0)
        u, s, vt = np.linalg.svd((y0 / ny).T @ (x0 / nx))
        r = vt.T @ u.T
        if np.linalg.det(r) < 0:
            vt[-1] *= -1
            s[-1] *= -1
            r = vt.T @ u.T
        a = s.sum() * ny / nx
        out[i] = a * x0 @ r + y.mean(0)
    return out


def np_scores(name, pred, target):
    if name == "MPJPE":
        return np_root_errors(pred, target).mean(-1)
    if name == "PMPJPE":
        return np.linalg.norm(np_procrustes(pred, target) - target, axis=-1).mean(-1)
    if name == "PCK3D":
        return (np_root_errors(pred, target) < 150.0).mean(-1)
    if name == "AUC3D":
        errors = np_root_errors(pred, target)
        return np.mean([(errors < t).mean(-1) for t in np.arange(0, 151, 5)], axis=0)
    raise KeyError(name)


METRICS = {"MPJPE": MPJPE, "PMPJPE": PMPJPE, "PCK3D": PCK3D, "AUC3D": AUC3D}


def t(x):
    return torch.from_numpy(np.asarray(x))


# --- overall ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", METRICS)
def test_matches_numpy_reference(name):
    pred, target, _ = make_poses()
    metric = METRICS[name]()
    metric.update(t(pred).float(), t(target).float())
    expected = np_scores(name, pred, target).mean()
    assert metric.compute().item() == pytest.approx(expected, rel=1e-5)


def test_reference_values_are_in_a_useful_range():
    """Guards the test data itself: PCK neither 0 nor 1, P-MPJPE below MPJPE."""
    pred, target, _ = make_poses()
    pck = np_scores("PCK3D", pred, target).mean()
    assert 0.2 < pck < 0.95
    assert np_scores("PMPJPE", pred, target).mean() < np_scores("MPJPE", pred, target).mean()


def test_mpjpe_options():
    pred, target, _ = make_poses(seed=1)
    raw = MPJPE(align_root=False)
    raw.update(t(pred), t(target))
    expected = np.linalg.norm(pred - target, axis=-1).mean()
    assert raw.compute().item() == pytest.approx(expected, rel=1e-6)
    other_root = MPJPE(root_index=7)
    other_root.update(t(pred), t(target))
    expected = np_root_errors(pred, target, root=7).mean()
    assert other_root.compute().item() == pytest.approx(expected, rel=1e-6)


def test_pck_and_auc_thresholds():
    pred, target, _ = make_poses(seed=2)
    errors = np_root_errors(pred, target)
    pck = PCK3D(threshold=50.0)
    pck.update(t(pred), t(target))
    assert pck.compute().item() == pytest.approx((errors < 50.0).mean(), rel=1e-6)
    auc = AUC3D(max_threshold=100.0, num_thresholds=11)
    auc.update(t(pred), t(target))
    expected = np.mean([(errors < th).mean() for th in np.linspace(0, 100, 11)])
    assert auc.compute().item() == pytest.approx(expected, rel=1e-6)


def test_perfect_prediction():
    _, target, _ = make_poses(n=4)
    for name, best in [("MPJPE", 0.0), ("PMPJPE", 0.0), ("PCK3D", 1.0), ("AUC3D", 30 / 31)]:
        metric = METRICS[name]()
        metric.update(t(target), t(target))
        # AUC: the threshold 0 counts no joint (error < 0 never holds).
        assert metric.compute().item() == pytest.approx(best, abs=1e-4), name


@pytest.mark.parametrize("name", METRICS)
def test_batches_accumulate_like_one(name):
    pred, target, action = make_poses()
    whole, parts = METRICS[name](num_actions=NUM_ACTIONS), METRICS[name](num_actions=NUM_ACTIONS)
    whole.update(t(pred), t(target), t(action))
    for chunk in np.array_split(np.arange(len(pred)), [7, 8, 30]):
        parts.update(t(pred[chunk]), t(target[chunk]), t(action[chunk]))
    torch.testing.assert_close(parts.compute(), whole.compute())
    torch.testing.assert_close(
        parts.compute_per_action(), whole.compute_per_action(), equal_nan=True
    )


def test_leading_dims_are_poses():
    """Motion (B, T, J, 3) with a per-sequence action (B,)."""
    pred, target, _ = make_poses(n=12)
    action = np.array([0, 1, 4])
    metric = MPJPE(num_actions=NUM_ACTIONS)
    metric.update(t(pred).reshape(3, 4, 17, 3), t(target).reshape(3, 4, 17, 3), t(action))
    scores = np_scores("MPJPE", pred, target).reshape(3, 4).mean(-1)
    assert metric.compute().item() == pytest.approx(scores.mean(), rel=1e-6)
    np.testing.assert_allclose(metric.compute_per_action().numpy()[[0, 1, 4]], scores, rtol=1e-6)


# --- per action ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", METRICS)
def test_per_action_matches_groupby(name):
    pred, target, action = make_poses(seed=3)
    metric = METRICS[name](num_actions=NUM_ACTIONS)
    metric.update(t(pred), t(target), t(action))
    scores = np_scores(name, pred, target)
    expected = np.array(
        [scores[action == a].mean() if (action == a).any() else np.nan for a in range(NUM_ACTIONS)]
    )
    per_action = metric.compute_per_action().numpy()
    assert np.isnan(per_action[3]) and np.isnan(expected[3])  # action 3 never seen
    np.testing.assert_allclose(per_action, expected, rtol=1e-5)
    # "Avg" column: actions weighted equally; the overall mean also counts action -1.
    assert metric.compute_action_mean().item() == pytest.approx(np.nanmean(expected), rel=1e-5)
    assert metric.compute().item() == pytest.approx(scores.mean(), rel=1e-5)
    assert (action == -1).any()


def test_without_action_labels():
    pred, target, _ = make_poses()
    metric = MPJPE(num_actions=NUM_ACTIONS)
    metric.update(t(pred), t(target))  # counts overall only
    assert torch.isnan(metric.compute_per_action()).all()
    assert torch.isfinite(metric.compute())
    with pytest.raises(ValueError, match="num_actions=0"):
        MPJPE().compute_per_action()


def test_bad_action_labels_raise():
    pred, target, _ = make_poses(n=4)
    metric = MPJPE(num_actions=2)
    with pytest.raises(ValueError, match=r"\[-1, 2\)"):
        metric.update(t(pred), t(target), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="does not match"):
        metric.update(t(pred), t(target), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="same shape"):
        metric.update(t(pred), t(target)[:, :16])


# --- distributed --------------------------------------------------------------------------------


def two_ranks():
    pred, target, action = make_poses(seed=4)
    a, b = slice(0, 25), slice(25, None)
    return pred, target, action, a, b


@pytest.mark.parametrize("name", METRICS)
def test_merge_state_equals_single_process(name):
    pred, target, action, a, b = two_ranks()
    single = METRICS[name](num_actions=NUM_ACTIONS)
    single.update(t(pred), t(target), t(action))
    rank0, rank1 = METRICS[name](num_actions=NUM_ACTIONS), METRICS[name](num_actions=NUM_ACTIONS)
    rank0.update(t(pred[a]), t(target[a]), t(action[a]))
    rank1.update(t(pred[b]), t(target[b]), t(action[b]))
    rank0.merge_state(rank1)
    torch.testing.assert_close(rank0.compute(), single.compute())
    torch.testing.assert_close(
        rank0.compute_per_action(), single.compute_per_action(), equal_nan=True
    )


def test_per_action_methods_gather_across_ranks():
    """With a fake two-process gather, compute_per_action syncs like compute and restores the
    local state afterwards."""
    pred, target, action, a, b = two_ranks()
    rank1 = MPJPE(num_actions=NUM_ACTIONS)
    rank1.update(t(pred[b]), t(target[b]), t(action[b]))
    remote = iter([])

    def gather(tensor, group=None):
        return [tensor, next(remote)]

    rank0 = MPJPE(
        num_actions=NUM_ACTIONS, dist_sync_fn=gather, distributed_available_fn=lambda: True
    )
    rank0.update(t(pred[a]), t(target[a]), t(action[a]))
    single = MPJPE(num_actions=NUM_ACTIONS)
    single.update(t(pred), t(target), t(action))
    local = rank0.metric_state["action_pose_count"].clone()

    for method in ("compute", "compute_per_action", "compute_action_mean"):
        remote = iter(rank1.metric_state.values())
        result = getattr(rank0, method)()
        torch.testing.assert_close(result, getattr(single, method)(), equal_nan=True)
        torch.testing.assert_close(rank0.metric_state["action_pose_count"], local)


def test_action_table_layout():
    per_action = {
        "mpjpe": torch.arange(15.0) + 30,
        "p_mpjpe": torch.full((15,), float("nan")),
        "pck": torch.full((15,), 0.9),
    }
    per_action["p_mpjpe"][0] = 20.0
    lines = format_action_table(per_action, H36M_ACTIONS, auc=0.5).splitlines()
    assert lines[0].split() == [
        "Dir.", "Disc.", "Eat", "Greet", "Phone", "Photo", "Pose", "Purch.", "Sit", "SitD.",
        "Smoke", "Wait", "WalkD.", "Walk", "WalkT.", "Avg",
    ]  # fmt: skip
    assert lines[1].split()[-1] == "37.0"  # the mean of 30..44
    assert lines[2].split()[-2:] == ["-", "20.0"]  # absent actions shown as '-'
    assert "3D-PCK (150 mm): 90.0 %" in lines[3] and "AUC (0-150 mm): 50.0 %" in lines[3]
