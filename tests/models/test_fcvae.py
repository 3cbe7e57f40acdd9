import pytest
import torch

from motionzoo.models.baselines import FCVAE


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_on_2700_inputs_is_the_reference_networks():
    """The reference's models/VAE.py with hidden_layers [2000, 1000, 500, 100, 50], n_z 50,
    batch norm and output variance: 21.34M (the paper quotes 20.81M; docs/models/fcvae.md)."""
    model = FCVAE(num_joints=18, num_frames=50)
    # independent count: Linear in*out+out, BatchNorm 2 per unit, two Gaussian heads at each end
    lin = lambda i, o: i * o + o  # noqa: E731
    widths = [2700, 2000, 1000, 500, 100, 50]
    enc = sum(lin(i, o) + 2 * o for i, o in zip(widths[:-1], widths[1:])) + 2 * lin(50, 50)
    back = [50, 50, 100, 500, 1000, 2000]
    dec = sum(lin(i, o) + 2 * o for i, o in zip(back[:-1], back[1:])) + 2 * lin(2000, 2700)
    assert n_params(model) == enc + dec == 21_344_900
    assert abs(n_params(model) / 20.81e6 - 1) < 0.03  # the paper's 20.81M, within 3%
    # a conditional decoder adds the one-hot's weights only
    assert n_params(FCVAE(num_actions=15)) - n_params(model) == 15 * 50


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
    before = model.log_joint(torch.where(mask, init, x))
    out, best = model.impute(x, mask, init=init, return_objective=True)
    assert (best >= before - 1e-5).all()
    assert torch.equal(out[~mask], x[~mask])
    single = torch.cat([model.impute(x[i : i + 1], mask[i : i + 1], init=init) for i in range(5)])
    torch.testing.assert_close(out, single, atol=1e-3, rtol=1e-5)


def test_units_and_objectives():
    model = tiny().eval()
    model.set_statistics(torch.full((4, 3), 10.0), torch.zeros(8, 4, 3), torch.full((4, 3), 5.0))
    x = torch.randn(3, 8, 4, 3) * 50
    features = model.to_features(x).view(3, 4, 3, 8).permute(0, 3, 1, 2)
    torch.testing.assert_close(features, (x - 10) / 100)
    torch.testing.assert_close(model.to_motion(model.to_features(x)), x)
    log_lik, log_prior = model.log_joint_terms(x)
    torch.testing.assert_close(model.log_joint(x), log_lik + log_prior.sum(1))
    mu_z = model.encode(x)
    torch.testing.assert_close(mu_z, model.posterior(model.to_features(x))[0])
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(mu_z).sum(1)
    torch.testing.assert_close(model.log_posterior(x), expected)
