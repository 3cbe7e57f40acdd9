import torch

from motionzoo.models.baselines import FCVAE


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_on_2700_inputs():
    model = FCVAE(num_joints=18, num_frames=50)
    # independent count: Linear in*out+out, BatchNorm 2 per unit, two heads at each end
    lin = lambda i, o: i * o + o  # noqa: E731
    widths = [2700, 2000, 1000, 500, 100]
    enc = sum(lin(i, o) + 2 * o for i, o in zip(widths[:-1], widths[1:])) + 2 * lin(100, 50)
    back = [50, 100, 500, 1000, 2000]
    dec = sum(lin(i, o) + 2 * o for i, o in zip(back[:-1], back[1:])) + 2 * lin(2000, 2700)
    assert n_params(model) == enc + dec == 21_342_100
    # the paper quotes 20.81M: within 3%
    assert abs(n_params(model) / 20.81e6 - 1) < 0.03


def tiny(**kw):
    torch.manual_seed(0)
    return FCVAE(num_joints=4, num_frames=8, hidden=[32, 16], latent=4, **kw)


def test_shapes_training_step_and_generation():
    model = tiny(num_actions=3)
    x = torch.randn(6, 8, 4, 3) * 50
    model.log_terms = lambda *a, **k: None
    loss = model.training_step({"motion": x, "action": torch.tensor([0, 1, 2, -1, 0, 1])}, 0)
    loss.backward()
    assert torch.isfinite(loss)
    model.eval()
    assert model.reconstruct(x).shape == x.shape
    assert model.generate(5, action=1).shape == (5, 8, 4, 3)
    g = model.generate(2, action=0, level=0)
    torch.testing.assert_close(g[0], g[1])


def test_impute_batched_equals_single_and_never_worse():
    model = tiny()
    x = torch.randn(5, 8, 4, 3) * 50
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < 0.4
    init = torch.zeros(8, 4, 3)
    model.eval()
    before = model.log_posterior(torch.where(mask, init, x))
    out, best = model.impute(x, mask, init=init, return_objective=True)
    assert (best >= before - 1e-5).all()
    assert torch.equal(out[~mask], x[~mask])
    single = torch.cat([model.impute(x[i : i + 1], mask[i : i + 1], init=init) for i in range(5)])
    torch.testing.assert_close(out, single, atol=1e-3, rtol=1e-5)
