import torch

from motionzoo.models.baselines.hmvae import HMVAE


def test_two_levels_54_and_18_nodes_and_kl_weight():
    model = HMVAE(levels=[[None, 8], [18, 8]], residual_features=16)
    assert model.latent_sizes == [(18, 8), (54, 8)]
    assert model.kl_weight() == 0.003
    out = model(torch.randn(3, 50, 18, 3) * 50)
    assert out["mu"].shape == (3, 54, 50) and len(out["kl"]) == 2


def test_methods_and_checkpoint(tmp_path):
    torch.manual_seed(0)
    model = HMVAE(num_joints=4, num_frames=8, levels=[[None, 8], [6, 8]], residual_features=8)
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
    clone = HMVAE(**payload["hparams"])
    clone.load_state_dict(payload["state_dict"])
    assert clone.latent_sizes == model.latent_sizes
