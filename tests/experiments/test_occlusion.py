import pytest
import torch

from motionzoo.experiments.occlusion import format_table, occlusion_table, random_masks
from motionzoo.experiments.stochastic_depth import depth_table
from motionzoo.models.hgvae import HGVAE


@pytest.fixture(autouse=True)
def one_thread():
    """Small models: one thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_random_masks_have_exactly_k_entries():
    mask = random_masks((7, 8, 4, 3), 10, seed=1)
    assert (mask.flatten(1).sum(1) == 10).all()
    assert torch.equal(mask, random_masks((7, 8, 4, 3), 10, seed=1))
    assert random_masks((2, 8, 4, 3), 5000).all()


def tiny():
    torch.manual_seed(0)
    return HGVAE(num_joints=4, num_frames=8, levels=[[None, 8], [1, 8]], residual_features=8).eval()


def test_occlusion_table_rows_and_mean_baseline():
    model = tiny()
    motion = torch.randn(6, 8, 4, 3) * 30
    mean = motion.mean(0)
    rows = occlusion_table(model, motion, mean, ks=(1, 96), steps=0, batch_size=4)
    assert [r["k"] for r in rows] == [1, 96]
    # with 0 steps MAP = mean imputation; with all 96 entries occluded the error is the variance
    assert all(abs(r["change_pct"]) < 1e-6 for r in rows)
    expected = (motion - mean).square().flatten(1).sum(1).mean()
    assert abs(rows[1]["mse_mean"] - expected) / expected < 1e-5
    assert "| 96 |" in format_table(rows)


def test_stochastic_depth_table():
    rows = depth_table(tiny(), torch.randn(5, 8, 4, 3) * 30)
    assert [r["stochastic_levels"] for r in rows] == [0, 1, 2]
    assert rows[0]["kl"] == 0.0


def test_pretrained_amass_map_beats_mean_imputation_and_score_falls_with_k():
    """The shipped checkpoint on its held-out synthetic test split: the occlusion table of the
    manifest is reproduced (same seeded masks); MAP lowers the mean-imputation MSE for every
    k < 2700 (at k = 2700 nothing is observed and MAP keeps the train mean: change 0); and the
    mean log posterior of the mean-filled input falls strictly as k grows."""
    from motionzoo.experiments.occlusion import (
        KS,
        load_model_and_data,
        test_tensors,
        train_mean,
    )
    from motionzoo.pretrained import checkpoint_dir, pretrained_info

    model, dm = load_model_and_data(
        str(checkpoint_dir() / "hgvae-amass-synthetic.ckpt"), "amass", None
    )
    motion, _ = test_tensors(dm)
    mean = train_mean(model, dm)
    metrics = pretrained_info("hgvae-amass-synthetic")["metrics"]
    rows = occlusion_table(model, motion, mean, ks=(10, 1000))
    for row in rows:
        assert row["change_pct"] < -20
        assert abs(row["change_pct"] - metrics[f"occlusion/change_pct_k{row['k']}"]) < 0.5
    assert all(metrics[f"occlusion/change_pct_k{k}"] < 0 for k in KS if k < 2700)
    assert abs(metrics["occlusion/change_pct_k2700"]) < 0.5
    scores = []
    for k in KS:
        filled = torch.where(random_masks(motion.shape, k), mean.expand_as(motion), motion)
        scores.append(model.log_posterior(filled).mean().item())
    assert all(a > b for a, b in zip(scores, scores[1:])), scores
