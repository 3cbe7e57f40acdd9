import inspect

import pytest
import torch

from motionzoo.models.baselines.hmvae import HMVAE
from motionzoo.skeleton import AMASS_18, H36M_22


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_two_levels_54_and_18_nodes_and_kl_weight():
    model = HMVAE(levels=[[None, 8], [18, 8]], residual_features=16)
    assert model.latent_sizes == [(18, 8), (54, 8)]
    assert model.kl_weight() == 0.003
    out = model(torch.randn(3, 50, 18, 3) * 50)
    assert out["mu"].shape == (3, 54, 50) and len(out["kl"]) == 2


@pytest.mark.parametrize("skeleton", [AMASS_18, H36M_22])
def test_six_fixed_body_parts_cover_the_skeleton(skeleton):
    (parts,) = skeleton.pool_groups
    assert len(parts) == 6
    assert sorted(j for part in parts for j in part) == list(range(skeleton.num_joints))
    # the legs and arms are one side each
    sides = [set(part) <= set(skeleton.joints_left) for part in parts]
    sides += [set(part) <= set(skeleton.joints_right) for part in parts]
    assert sum(sides) == 4


def test_pooling_is_the_fixed_part_average_not_learned():
    torch.manual_seed(0)
    model = HMVAE(levels=[[None, 4], [18, 4]], residual_features=8)
    pool, unpool = model.enc_reduce[1].S, model.top_in.S
    assert "enc_reduce.1.S" not in dict(model.named_parameters())
    assert "top_in.S" not in dict(model.named_parameters())
    assert "enc_reduce.0.S" in dict(model.named_parameters())  # within a level: learned
    # node (part p, coordinate c) is the mean of coordinate c over the part's joints
    x = torch.randn(2, 54, 4)
    joints = x.view(2, 18, 3, 4)
    for p, part in enumerate(AMASS_18.pool_groups[0]):
        expected = joints[:, list(part)].mean(1)  # (2, 3, 4)
        torch.testing.assert_close((pool @ x)[:, 3 * p : 3 * p + 3], expected)
    # unpooling copies each part back to its joints
    top = torch.randn(2, 18, 4)
    back = (unpool @ top).view(2, 18, 3, 4)
    for p, part in enumerate(AMASS_18.pool_groups[0]):
        for j in part:
            torch.testing.assert_close(back[:, j], top[:, 3 * p : 3 * p + 3])


def test_groups_must_match_the_top_level():
    with pytest.raises(ValueError, match="3 x 2 body-part nodes"):
        HMVAE(num_joints=4, levels=[[None, 8], [18, 8]], body_parts=[[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="exactly once"):
        HMVAE(num_joints=4, levels=[[None, 8], [6, 8]], body_parts=[[0, 1], [1, 3]])
    with pytest.raises(ValueError, match="no body-part grouping for 5 joints"):
        HMVAE(num_joints=5, levels=[[None, 8], [6, 8]])


def test_methods_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = HMVAE(
        num_joints=4,
        num_frames=8,
        levels=[[None, 8], [6, 8]],
        residual_features=8,
        body_parts=[[0, 1], [2, 3]],
    )
    x = torch.randn(4, 8, 4, 3) * 50
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, :2] = True
    out, best = model.impute(x, mask, init=torch.zeros(8, 4, 3), return_objective=True)
    assert out.shape == x.shape and torch.isfinite(best).all()
    assert model.generate(2).shape == (2, 8, 4, 3)
    torch.save(
        {"state_dict": model.state_dict(), "hparams": dict(model.hparams)}, tmp_path / "m.pt"
    )
    payload = torch.load(tmp_path / "m.pt")
    assert payload["hparams"]["body_parts"] == [[0, 1], [2, 3]]
    clone = HMVAE(**payload["hparams"])
    clone.load_state_dict(payload["state_dict"])
    clone.eval(), model.eval()
    torch.testing.assert_close(clone.reconstruct(x), model.reconstruct(x))


def test_cli_lists_every_option_with_the_hmvae_defaults():
    """HMVAE forwards HGVAE's other arguments as **kwargs; LightningCLI (jsonargparse) still
    lists each of them, with HMVAE's own defaults where they differ."""
    from jsonargparse import ArgumentParser

    from motionzoo.models.hgvae import HGVAE

    parser = ArgumentParser()
    parser.add_class_arguments(HMVAE, "model")
    defaults = parser.get_defaults().model
    hgvae = inspect.signature(HGVAE).parameters
    assert set(hgvae) | {"body_parts"} == set(vars(defaults))
    assert defaults.kl_weight_start == defaults.kl_weight_end == 0.003
    assert defaults.kl_warmup_epochs == 0 and defaults.levels == ((None, 128), (18, 128))
    assert defaults.dropout == hgvae["dropout"].default and defaults.num_frames == 50
