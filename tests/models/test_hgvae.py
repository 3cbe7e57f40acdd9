"""HGVAE: shapes, configurable hierarchy, consistent likelihood, ELBO bound, imputation."""

import math

import pytest
import pytorch_lightning as pl
import torch

from motionzoo.models.families.motion_vae import MotionVAE
from motionzoo.models.hgvae import HGVAE
from motionzoo.nn.distributions import gaussian_kl, gaussian_log_prob


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models: one thread is faster, and immune to a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = dict(num_joints=4, num_frames=8, levels=[[None, 8], [3, 8], [1, 8]], residual_features=16)


def tiny(**kwargs) -> HGVAE:
    torch.manual_seed(0)
    model = HGVAE(**{**TINY, **kwargs})
    # break the ReZero symmetry so that every level influences the output
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("alpha"):
                p.fill_(0.5)
    return model


def motion(b=5, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 8, 4, 3, generator=g) * 50


def test_default_is_the_reference_hierarchy():
    model = HGVAE()
    assert model.latent_sizes == [(1, 256), (8, 128), (24, 128), (54, 128)]
    assert model.nodes == 54 and model.features == 50


@pytest.mark.parametrize("levels", [[[1, 8]], [[None, 8], [1, 8]], [[None, 4]] * 7 + [[1, 4]]])
def test_number_of_levels_is_config(levels):
    model = HGVAE(**{**TINY, "levels": levels})
    out = model(motion())
    assert out["mu"].shape == (5, 12, 8)
    assert len(out["kl"]) == len(levels) and all(k.shape == (5,) for k in out["kl"])


def test_dct_truncation():
    model = HGVAE(**{**TINY, "dct_coefficients": 5})
    assert model(motion())["mu"].shape == (5, 12, 5)
    assert model.reconstruct(motion()).shape == (5, 8, 4, 3)


@pytest.mark.parametrize("transposed_dct", [False, True])
@pytest.mark.parametrize("raw_reshape", [False, True])
def test_features_round_trip_under_the_reference_layouts(transposed_dct, raw_reshape):
    """The reference's layouts (tests/convert/test_generative_imputation.py) are invertible:
    features -> motion gives the motion back."""
    model = tiny(transposed_dct=transposed_dct, raw_reshape=raw_reshape)
    x = motion(2)
    h = model.to_features(x)
    torch.testing.assert_close(model.to_motion(h), x, rtol=1e-5, atol=1e-3)
    if raw_reshape:  # node n holds entries n*T .. n*T + T - 1 of the flattened window
        torch.testing.assert_close(model.to_nodes(x)[:, 1], x.flatten(1)[:, 8:16] / 100)


def test_unused_top_residual_adds_parameters_not_function():
    ours, with_unused = tiny(), tiny(unused_top_residual=True)
    extra = {k: v for k, v in with_unused.state_dict().items() if k not in ours.state_dict()}
    assert sorted(extra) == [
        "enc_gate.2.alpha",
        "enc_residual.2.S",
        "enc_residual.2.W",
        "enc_residual.2.b",
    ]
    with_unused.load_state_dict({**ours.state_dict(), **extra})
    with torch.no_grad():
        extra["enc_residual.2.W"].normal_()
        x = motion(2)
        torch.testing.assert_close(
            with_unused(x, sample=False)["mu"], ours(x, sample=False)["mu"], rtol=0, atol=0
        )


@pytest.mark.parametrize("centre", [True, False])
def test_centre_false_keeps_raw_millimetres_at_fit_start(centre):
    """The paper config (``centre=False``) takes the DataModule's std and train mean but not
    its mean pose as offset: model units stay the reference's raw millimetres."""
    from types import SimpleNamespace

    model = tiny(centre=centre, scale_mm=1.0)
    mean = torch.full((4, 3), 7.0)
    dm = SimpleNamespace(mean=mean, train_mean=torch.ones(8, 4, 3), std=torch.full((4, 3), 3.0))
    model._trainer = SimpleNamespace(datamodule=dm)
    model.on_fit_start()
    torch.testing.assert_close(model.offset, mean if centre else torch.zeros(4, 3))
    torch.testing.assert_close(model.std, dm.std)


def test_likelihood_is_the_time_domain_density():
    """A diagonal Gaussian on orthonormal DCT coefficients = the time-domain Gaussian with
    covariance D^T diag(var) D (|det D| = 1): the likelihood is consistent in both domains."""
    model = tiny()
    x = motion(2)
    h = model.to_features(x)
    mu, logvar = torch.randn_like(h), torch.randn_like(h) * 0.3
    ours = gaussian_log_prob(h, mu, logvar).flatten(1).sum(1)
    d = model.dct.matrix.double()
    signal = model.dct.inverse(h).double()  # (B, N, T) time domain
    mean_t = model.dct.inverse(mu).double()
    cov = d.T @ torch.diag_embed(logvar.double().exp()) @ d  # (B, N, T, T)
    exact = torch.distributions.MultivariateNormal(mean_t, cov).log_prob(signal).sum(1)
    torch.testing.assert_close(ours.double(), exact, atol=1e-3, rtol=1e-5)


def test_elbo_below_exact_log_likelihood_linear_gaussian():
    """p(z) = N(0, I), p(x|z) = N(Wz + b, s^2 I): log p(x) = log N(x; b, W W^T + s^2 I) exactly.
    The ELBO computed with the model's log-likelihood and KL functions is below it for any q
    and equal to it at the exact posterior."""
    torch.manual_seed(0)
    dz, dx, s2 = 3, 5, 0.3
    w, b, x = torch.randn(dx, dz).double(), torch.randn(dx).double(), torch.randn(dx).double()
    exact = torch.distributions.MultivariateNormal(b, w @ w.T + s2 * torch.eye(dx)).log_prob(x)

    def elbo(mu, cov_diag):  # q = N(mu, diag); E_q log p(x|z) in closed form
        lik = gaussian_log_prob(x, w @ mu + b, torch.full((dx,), math.log(s2))).sum().double()
        lik = lik - 0.5 * (w.square() @ cov_diag).sum() / s2
        return lik - gaussian_kl(mu, cov_diag.log()).sum().double()

    for _ in range(20):
        assert elbo(torch.randn(dz).double(), torch.rand(dz).double() + 0.1) <= exact + 1e-6
    # the exact posterior is Gaussian with full covariance; with diagonal q the gap is the KL to
    # it. For an orthogonal-column W the posterior is diagonal and the bound is tight:
    q, _ = torch.linalg.qr(torch.randn(dx, dz).double())
    w = q * torch.tensor([1.0, 2.0, 0.5]).double()
    exact = torch.distributions.MultivariateNormal(b, w @ w.T + s2 * torch.eye(dx)).log_prob(x)
    precision = torch.eye(dz).double() + w.T @ w / s2
    post_cov = torch.linalg.inv(precision)
    post_mu = post_cov @ w.T @ (x - b) / s2
    torch.testing.assert_close(elbo(post_mu, post_cov.diagonal()), exact, atol=1e-5, rtol=1e-6)


def test_turned_off_levels_have_no_kl_and_are_deterministic():
    model = tiny(stochastic_levels=1).train()
    x = motion()
    out = model(x)
    assert out["kl"][0].abs().sum() > 0
    assert all(k.abs().sum() == 0 for k in out["kl"][1:])
    off = tiny(stochastic_levels=0).train()
    assert all(k.abs().sum() == 0 for k in off(x)["kl"])
    torch.manual_seed(3)
    a = off(x)["mu"]
    torch.manual_seed(4)
    torch.testing.assert_close(off(x)["mu"], a)
    g = model.generate(4, level=0)
    torch.testing.assert_close(g[0], g[3])  # all means: no randomness left
    assert not torch.allclose(model.generate(2)[0], model.generate(2)[1])


def test_conditional_generation_depends_on_action():
    model = tiny(num_actions=3, action_names=["walk", "sit", "wave"]).eval()
    torch.manual_seed(0)
    a = model.generate(2, action=0, level=0)
    b = model.generate(2, action=2, level=0)
    assert a.shape == (2, 8, 4, 3) and not torch.allclose(a, b)
    # an action name, or one per sample
    torch.testing.assert_close(model.generate(2, action="wave", level=0), b)
    mixed = model.generate(2, action=torch.tensor([0, 2]), level=0)
    torch.testing.assert_close(mixed, torch.stack([a[0], b[1]]))
    torch.testing.assert_close(model.generate(2, action=["walk", 2], level=0), mixed)
    # unknown action (-1) is the zero vector
    out = model(motion(2), action=torch.tensor([1, -1]))
    assert out["mu"].shape == (2, 12, 8)
    unknown = model.generate(1, action=-1, level=0)
    assert not torch.allclose(unknown[0], a[0])


def test_generation_needs_an_action_exactly_when_conditional():
    conditional = tiny(num_actions=3).eval()
    with pytest.raises(ValueError, match="conditional on 3 actions"):
        conditional.generate(2)
    with pytest.raises(ValueError, match="unknown action name"):
        conditional.generate(2, action="walk")  # no names known
    with pytest.raises(ValueError, match=r"-1\.\.2"):
        conditional.generate(2, action=3)
    with pytest.raises(ValueError, match="unconditional"):
        tiny().generate(2, action=1)


def test_encode_is_the_flattened_z0_posterior_mean():
    model = tiny()
    x = motion(3)
    codes = model.encode(x)
    assert codes.shape == (3, 8)  # z0: 1 node x 8 features
    mu_z0, _ = model.top_posterior(model.bottom_up(model.to_features(x))[0])
    torch.testing.assert_close(codes, mu_z0.flatten(1))
    # a mean in eval mode: no dropout noise, and the model's mode is left as it was
    noisy = tiny(dropout=0.5).train()
    torch.testing.assert_close(noisy.encode(x), noisy.encode(x))
    assert noisy.training


def test_training_step_logs_kl_per_level_and_warmup():
    model = tiny(kl_warmup_epochs=4)
    logged = {}
    model.log_terms = lambda stage, terms, **kw: logged.update(
        {f"{stage}/{k}": v for k, v in terms.items()}
    )
    loss = model.training_step({"motion": motion(), "action": torch.full((5,), -1)}, 0)
    loss.backward()
    assert torch.isfinite(loss)
    assert {"train/kl_0", "train/kl_1", "train/kl_2", "train/nll"} <= set(logged)
    assert model.kl_weight() == pytest.approx(1e-3)
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads)


def quiet_trainer(**kwargs) -> pl.Trainer:
    """A CPU Trainer with the paper's gradient clipping and nothing written or printed."""
    quiet = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    return pl.Trainer(
        **quiet, enable_model_summary=False, gradient_clip_val=100, accelerator="cpu", **kwargs
    )


def test_fit_one_epoch_and_checkpoint_roundtrip(tmp_path):
    model = tiny()
    data = [{"motion": motion(4, seed=i), "action": torch.full((4,), -1)} for i in range(3)]
    trainer = quiet_trainer(max_epochs=1)
    loader = torch.utils.data.DataLoader(data, batch_size=None)
    trainer.fit(model, loader, loader)
    model.set_statistics(torch.ones(4, 3), torch.full((8, 4, 3), 2.0))
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    loaded = HGVAE.load_from_checkpoint(tmp_path / "m.ckpt")
    torch.testing.assert_close(loaded.train_mean, model.train_mean)
    model.eval(), loaded.eval()
    torch.testing.assert_close(loaded.reconstruct(motion()), model.reconstruct(motion()))


@pytest.mark.parametrize("precision, fused", [("32-true", True), ("bf16-mixed", False)])
def test_adam_is_fused_where_lightning_clips_it(precision, fused):
    """Full precision takes Adam's fused kernel; mixed precision, whose gradient clipping refuses a
    fused optimiser, the per-tensor loop: both fit with the paper's clipping."""
    model = tiny()
    data = [{"motion": motion(4, seed=i), "action": torch.full((4,), -1)} for i in range(2)]
    trainer = quiet_trainer(max_steps=2, precision=precision)
    before = model.out_head.mean.W.detach().clone()
    trainer.fit(model, torch.utils.data.DataLoader(data, batch_size=None))
    assert trainer.optimizers[0].param_groups[0]["fused"] is fused
    assert not torch.equal(model.out_head.mean.W.detach(), before)


def test_impute_keeps_observed_never_worsens_and_is_batched():
    model = tiny()
    x = motion(6)
    mask = torch.rand(x.shape, generator=torch.Generator().manual_seed(0)) < 0.3
    init = x.mean(0)
    start = torch.where(mask, init.expand_as(x), x)
    before = model.log_joint(start)
    imputed, best = model.impute(x, mask, steps=10, init=init, return_objective=True)
    assert torch.equal(imputed[~mask], x[~mask])
    assert (best >= before - 1e-4).all()
    torch.testing.assert_close(model.log_joint(imputed), best, atol=1e-3, rtol=1e-5)
    assert (best > before + 1e-3).any()  # it moves
    # batched result = one sample at a time (Adam is element-wise; the objective a sum)
    single = torch.cat([model.impute(x[i : i + 1], mask[i : i + 1], init=init) for i in range(6)])
    torch.testing.assert_close(imputed, single, atol=1e-3, rtol=1e-5)
    # the model is left as it was: trainable, in training mode
    assert model.training and all(p.requires_grad for p in model.parameters())
    assert all(p.grad is None for p in model.parameters())


def test_impute_restores_mode_and_requires_grad_when_it_fails():
    model = tiny()
    model.top_in.W.requires_grad_(False)

    def broken(*args, **kwargs):
        raise RuntimeError("objective failed")

    model.log_joint_terms = broken
    with pytest.raises(RuntimeError, match="objective failed"):
        model.impute(motion(2), torch.ones(2, 8, 4, 3, dtype=torch.bool))
    assert model.training
    assert [n for n, p in model.named_parameters() if not p.requires_grad] == ["top_in.W"]


def test_impute_keeps_freed_cpu_memory_within_and_leaves_it_on_failure(monkeypatch):
    """The steps reuse their large blocks (motionzoo.allocator); the setting ends with the call,
    also when the objective raises."""
    from motionzoo import allocator
    from motionzoo.models.families import motion_vae

    entered: list[bool] = []

    def recording(enabled: bool = True):
        entered.append(enabled)
        return allocator.retained_cpu_memory(enabled)

    monkeypatch.setattr(motion_vae, "retained_cpu_memory", recording)
    model = tiny()
    model.impute(motion(2), torch.ones(2, 8, 4, 3, dtype=torch.bool), steps=2)
    model.log_joint_terms = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("failed"))
    with pytest.raises(RuntimeError, match="failed"):
        model.impute(motion(2), torch.ones(2, 8, 4, 3, dtype=torch.bool))
    assert entered == [True, True] and allocator._depth == 0


def test_impute_steps_are_in_train_std_units():
    """Adam's first step moves every occluded entry by lr in units of its coordinate's train
    std: with std 1 mm on x and 20 mm on y and z, lr 0.5 moves them by 0.5 and 10 mm."""
    model = tiny()
    std = torch.tensor([1.0, 20.0, 20.0]).expand(4, 3)
    model.set_statistics(torch.zeros(4, 3), torch.zeros(8, 4, 3), std)
    x = motion(3)
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, 2:5] = True
    start = torch.where(mask, torch.zeros(()), x)
    step = (model.impute(x, mask, steps=1, lr=0.5) - start).abs()
    assert (step[~mask] == 0).all()
    step = step[mask].view(3, 3, 4, 3)
    kept = step.flatten(1).amax(1) > 0  # per sample: step 1 kept, or the start if it was better
    assert kept.any()
    expected = (0.5 * std).expand_as(step[kept])
    torch.testing.assert_close(step[kept], expected, rtol=1e-3, atol=0)


def test_log_posterior_and_log_joint():
    """log_posterior: sum of log p(z*_l | z*_<l) at the posterior means over all levels but the
    bottom one (the reference's cal_posterior, the OoD score); log_joint: log p(x | z*) plus
    every level (the default imputation objective)."""
    model, x = tiny(), motion(3)
    h = model.to_features(x)
    out = model.top_down_pass(model.bottom_up(h), sample=False)
    log_lik = gaussian_log_prob(h, out["mu"], out["logvar"]).flatten(1).sum(1)
    levels = torch.stack(out["log_prior"], 1)  # (3, 3): z0, z1, bottom
    torch.testing.assert_close(model.log_posterior(x), levels[:, :2].sum(1))
    torch.testing.assert_close(model.log_joint(x), log_lik + levels.sum(1))
    one_level = HGVAE(**{**TINY, "levels": [[1, 8]]})
    out = one_level.top_down_pass(one_level.bottom_up(one_level.to_features(x)), sample=False)
    torch.testing.assert_close(one_level.log_posterior(x), out["log_prior"][0])
    # the reference's objective: imputation ascends log_posterior
    reference = tiny(imputation_objective="posterior")
    mask = torch.zeros_like(x, dtype=torch.bool)
    mask[:, 3] = True
    imputed, best = reference.impute(x, mask, steps=2, init=x.mean(0), return_objective=True)
    torch.testing.assert_close(best, reference.log_posterior(imputed))
    with pytest.raises(ValueError, match="imputation_objective"):
        tiny(imputation_objective="elbo")


def _recording(method, calls: list):
    def recorded(*args, **kwargs):
        calls.append(method)
        return method(*args, **kwargs)

    return recorded


def test_log_posterior_stops_above_the_bottom_level():
    """The OoD score and the reference's imputation objective skip the bottom level and the
    output block (they do not depend on them): same value and input gradient as the full pass,
    and those modules never run."""
    model, x = tiny(), motion(3).requires_grad_()
    ran = []
    bottom = model.top_down[-1]
    for module in (bottom.stream_block, bottom.posterior_block, model.out_block, model.out_head):
        module.node_major = _recording(module.node_major, ran)
    value = model.log_upper_priors(x)
    (gradient,) = torch.autograd.grad(value.sum(), x)
    assert ran == []
    full = MotionVAE.log_upper_priors(model, x)  # the family's: the full pass, sliced
    (full_gradient,) = torch.autograd.grad(full.sum(), x)
    assert len(ran) == 4  # each of them runs in the full pass
    torch.testing.assert_close(value, full)
    torch.testing.assert_close(gradient, full_gradient)


def test_umap_latents_are_z0_posterior_means_with_actions():
    model = tiny().eval()
    batch = {"motion": motion(5), "action": torch.tensor([0, 1, 2, -1, 1])}
    [(codes, labels)] = model.umap_latents(batch)
    assert codes.shape == (5, 8)
    torch.testing.assert_close(codes, model.encode(batch["motion"]))
    assert torch.equal(labels["action"], batch["action"])


def test_impute_default_start_is_the_train_mean():
    model = tiny()
    model.set_statistics(torch.zeros(4, 3), torch.full((8, 4, 3), 7.0))
    x, mask = motion(2), torch.zeros(2, 8, 4, 3, dtype=torch.bool)
    mask[:, 0, 0, 0] = True
    out = model.impute(x, mask, steps=0)
    assert (out[:, 0, 0, 0] == 7.0).all()


def test_out_of_distribution_threshold():
    model = tiny()
    with pytest.raises(RuntimeError, match="fit_ood_threshold"):
        model.is_out_of_distribution(motion())
    threshold = model.fit_ood_threshold(motion(50), quantile=0.05)
    assert math.isfinite(threshold)
    scores = model.log_posterior(motion(50))
    assert (model.is_out_of_distribution(motion(50)) == (scores < threshold)).all()
    assert model.is_out_of_distribution(motion(50)).float().mean() <= 0.1
