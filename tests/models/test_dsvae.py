"""DSVAE (Li & Mandt 2018): shapes, the ELBO's KL terms against torch.distributions, the prior's
teacher forcing against a step-by-step LSTM, motion swap, training, save/load, configs, the
reference layout and the options reproducing the reference's defects (equality with the
reference itself: tests/convert/test_dsvae.py)."""

from pathlib import Path

import pytest
import torch
import yaml
from torch.distributions import Normal, kl_divergence

from motionzoo.models.baselines import dsvae as dsvae_module
from motionzoo.models.baselines.dsvae import DSVAE
from motionzoo.nn.distributions import gaussian_kl

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "dsvae"
TINY = dict(f_dim=6, z_dim=3, hidden_dim=8, encoder_channels=[4, 4, 4], encoder_strides=[2, 2, 2],
            encoder_hidden=16, conv_dim=8, decoder_hidden=16, decoder_start_channels=4,
            decoder_channels=[4, 4, 4])  # fmt: skip


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one thread avoids inter-thread waits on a busy machine."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def tiny(seed=0, **kwargs) -> DSVAE:
    torch.manual_seed(seed)
    return DSVAE(**{**TINY, **kwargs})


def frames(b=3, t=5, seed=0):
    return torch.rand(b, t, 3, 64, 64, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize("factorised", [False, True])
def test_shapes_of_every_method(factorised):
    model = tiny(factorised=factorised)
    x = frames()
    f, z = model.encode(x)
    assert f.shape == (3, 6) and z.shape == (3, 5, 3)
    assert model.encode_content(x).shape == (3, 6)
    assert model.reconstruct(x).shape == x.shape
    ab, ba = model.swap_motion(x, frames(seed=1))
    assert ab.shape == ba.shape == x.shape
    assert model.resample_content(x).shape == x.shape
    # longer than the 5 frames seen: the LSTM prior runs on
    assert model.generate(2, length=16).shape == (2, 16, 3, 64, 64)
    assert model.generate(3, length=16, content_frames=x).shape == (3, 16, 3, 64, 64)
    out = model.generate(3, length=7)
    assert out.min() >= -1 and out.max() <= 1
    assert model.training  # the task methods restore the mode


@pytest.mark.parametrize("pooling", ["lstm", "mean"])
def test_content_pooling_mean_ignores_frame_order_and_lstm_does_not(pooling):
    model = tiny(content_pooling=pooling)
    x = frames()
    shuffled = x[:, torch.tensor([3, 0, 4, 2, 1])]
    same = torch.allclose(model.encode_content(x), model.encode_content(shuffled), atol=1e-6)
    assert same == (pooling == "mean")


def test_generate_refuses_an_action_and_mismatched_content():
    model = tiny()
    with pytest.raises(ValueError, match="unconditional"):
        model.generate(2, action=torch.tensor([0, 1]), length=8)
    with pytest.raises(ValueError, match=r"= \(2, T, 3, 64, 64\) expected"):
        model.generate(2, length=8, content_frames=frames(b=3))
    assert not hasattr(model, "image_to_sequence")


def test_decoder_output_is_tanh_of_the_last_conv_without_batch_norm():
    """As DSVAE's decoder: a BatchNorm before tanh would pin the batch mean of every output
    channel to its bias (0 at the start), far from the mostly black (-1) frames."""
    model = tiny().train()  # batch statistics, as in training
    last = [m for m in model.decoder.conv if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last.bias.fill_(-4.0)  # a dark image: tanh(-4 + small) ~ -1
        x = model.decode(torch.randn(4, 6), torch.randn(4, 2, 3))
    assert x.mean() < -0.9


def test_prior_is_the_lstm_run_on_the_previous_posterior_samples():
    model = tiny()
    z = torch.randn(2, 6, 3)
    mu, logvar = model.prior(z)
    state, inp = None, torch.zeros(2, 1, 3)  # z_0 = 0
    for t in range(6):
        out, state = model.prior_lstm(inp, state)
        m, lv = model.prior_head(out[:, 0]).chunk(2, -1)
        torch.testing.assert_close(mu[:, t], m)
        torch.testing.assert_close(logvar[:, t], lv)
        inp = z[:, t : t + 1]


def test_loss_terms_match_an_independent_computation():
    """recon / KL_f / KL_z rebuilt from the posterior and prior networks with the same noise,
    the KLs by torch.distributions (KL_z: against p(z_t | z_<t) at the sampled z_<t)."""
    model = tiny().eval()  # batch-norm statistics fixed, so both passes see the same network
    x = frames()
    torch.manual_seed(5)
    terms = model.loss_terms(x)
    torch.manual_seed(5)
    h = model.features(x)
    f_mu, f_logvar = model.content(h)
    f = f_mu + torch.randn_like(f_mu) * (0.5 * f_logvar).exp()
    z_mu, z_logvar = model.motion_posterior(h, f)
    z = z_mu + torch.randn_like(z_mu) * (0.5 * z_logvar).exp()
    p_mu, p_logvar = model.prior(z)
    q_f = Normal(f_mu, (0.5 * f_logvar).exp())
    kl_f = kl_divergence(q_f, Normal(0.0, 1.0)).sum(-1).mean()
    q_z, p_z = Normal(z_mu, (0.5 * z_logvar).exp()), Normal(p_mu, (0.5 * p_logvar).exp())
    kl_z = kl_divergence(q_z, p_z).sum((1, 2)).mean()
    recon = (model.decode(f, z) - x).pow(2).sum((1, 2, 3, 4)).mean()
    torch.testing.assert_close(terms["kl_f"], kl_f)
    torch.testing.assert_close(terms["kl_z"], kl_z)
    torch.testing.assert_close(terms["recon"], recon)
    torch.testing.assert_close(terms["loss"], recon + kl_f + kl_z)
    assert terms["kl_z"] > 0 and terms["kl_f"] > 0


def test_swap_motion_pairs_content_with_the_other_motion():
    model = tiny()
    a, b = frames(seed=1), frames(seed=2)
    ab, ba = model.swap_motion(a, b)
    (fa, za), (fb, zb) = model.encode(a), model.encode(b)
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(ab, model.decode(fa, zb))
        torch.testing.assert_close(ba, model.decode(fb, za))
    # swapping a sequence with itself is its reconstruction; the order of the pair matters
    aa, _ = model.swap_motion(a, a)
    torch.testing.assert_close(aa, model.reconstruct(a))
    torch.testing.assert_close(model.swap_motion(b, a)[0], ba)
    assert not torch.allclose(ab, ba)


def test_training_steps_lower_the_loss_and_reach_every_parameter():
    model = tiny(lr=3e-3)
    x = frames(b=4, t=4)
    opt = model.configure_optimizers()
    assert opt.defaults["betas"] == (0.9, 0.999)
    first = None
    for _ in range(8):
        opt.zero_grad()
        loss = model.loss_terms(x)["loss"]
        loss.backward()
        first = first or loss.item()
        opt.step()
    assert torch.isfinite(loss)
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum()]
    assert missing == []
    model.eval()  # deterministic comparison: posterior noise differs between calls
    with torch.no_grad():
        assert model.loss_terms(x)["recon"] < first


@pytest.mark.parametrize("name", ["sprites_synthetic", "sprites", "mug_synthetic"])
def test_configs_build_through_the_cli(name, tmp_path, monkeypatch):
    from motionzoo.cli import build_cli
    from motionzoo.viz.sequences import SequenceModelCallback

    monkeypatch.setattr("sys.argv", ["motionzoo"])
    args = ["--config", str(CONFIGS / f"{name}.yaml"),
            "--trainer.logger.init_args.save_dir", str(tmp_path)]  # fmt: skip
    cli = build_cli(args, run=False)
    assert isinstance(cli.model, DSVAE)
    assert cli.trainer.checkpoint_callback.monitor == "val/loss"
    assert any(isinstance(c, SequenceModelCallback) for c in cli.trainer.callbacks)
    if name == "sprites":  # the paper's widths: the reference network (tests/convert/test_dsvae.py)
        params = sum(p.numel() for p in cli.model.parameters())
        assert cli.model.hparams.f_dim == 256 and params == 178_231_689


def test_fast_dev_run_through_the_cli(tmp_path, monkeypatch):
    """The synthetic config trains, validates (image metrics) and draws with the callback."""
    from motionzoo.cli import build_cli

    monkeypatch.setattr("sys.argv", ["motionzoo"])
    monkeypatch.chdir(tmp_path)  # Lightning's fast_dev_run puts last.ckpt under ./checkpoints
    args = ["fit", "--config", str(CONFIGS / "sprites_synthetic.yaml"),
            "--trainer.fast_dev_run", "true", "--trainer.accelerator", "cpu",
            "--trainer.default_root_dir", str(tmp_path),
            "--trainer.logger.init_args.save_dir", str(tmp_path),
            "--data.init_args.root", str(tmp_path / "sprites"),
            "--data.init_args.synthetic_into_root", "true", "--data.init_args.synthetic_characters", "3",
            "--data.init_args.batch_size", "4"] + [
            f"--model.init_args.{k}={v}" for k, v in TINY.items()]  # fmt: skip
    cli = build_cli(args)
    logged = set(cli.trainer.callback_metrics)
    assert {"train/loss", "train/kl_z", "val/loss", "val/ssim", "val/psnr", "val/mse"} <= logged
    assert -1 <= cli.trainer.callback_metrics["val/ssim"] <= 1
    assert not (Path.cwd() / "checkpoints").exists() or Path.cwd() == tmp_path


def test_reference_layout_moves_parameters_where_the_reference_has_them():
    """At the paper's widths our default network has 12,538 parameters more than the reference:
    7,168 fewer in the encoder (no biases before BatchNorm: 4 x 256 conv + 4096 + 2048 FC) and
    19,706 more in the decoder (BatchNorm scale and shift instead of a bias in both FC layers,
    20,480; no conv biases before BatchNorm, -768; no BatchNorm before the tanh, -6)."""
    init_args = yaml.safe_load((CONFIGS / "sprites.yaml").read_text())["model"]["init_args"]
    with torch.device("meta"):  # shapes only
        paper, ours = DSVAE(**init_args), DSVAE()

    def count(module):
        return sum(p.numel() for p in module.parameters())

    assert count(ours.encoder) - count(paper.encoder) == -7_168
    assert count(ours.decoder) - count(paper.decoder) == 19_706
    assert count(ours) - count(paper) == 12_538
    fc = [type(m).__name__ for m in paper.decoder.fc]
    assert fc == ["Linear", "Identity", "LeakyReLU"] * 2
    assert isinstance(paper.decoder.conv[-2], torch.nn.BatchNorm2d)  # before the tanh


def test_leaky_content_heads_is_the_leaky_relu_of_the_affine_heads():
    affine, leaky = tiny(), tiny(leaky_content_heads=True)
    x = frames()
    with torch.no_grad():
        h = affine.features(x)
        mu, logvar = affine.content_posterior(h)
        leaky_mu, leaky_logvar = leaky.content_posterior(h)
    torch.testing.assert_close(leaky_mu, torch.nn.functional.leaky_relu(mu, 0.2))
    torch.testing.assert_close(leaky_logvar, torch.nn.functional.leaky_relu(logvar, 0.2))
    assert (mu < 0).any() and not torch.allclose(mu, leaky_mu)


def test_free_running_prior_takes_kl_z_against_the_prior_chain(monkeypatch):
    """The reference's KL_z: the prior's own chain (its means in eval mode), whatever the
    posterior; the paper's (default) conditions on the posterior's z_<t."""
    free, forced = tiny(free_running_prior=True).eval(), tiny().eval()
    monkeypatch.setattr(dsvae_module, "reparameterize", lambda mu, logvar: mu)
    x = frames()
    with torch.no_grad():
        h = free.features(x)
        z_mu, z_logvar = free.motion_posterior(h, free.content_posterior(h)[0])
        p_mu, p_logvar, p_z = free.unroll_prior(3, 5, sample=False)
        expected = gaussian_kl(z_mu, z_logvar, p_mu, p_logvar).sum((1, 2)).mean()
        torch.testing.assert_close(free.loss_terms(x)["kl_z"], expected)
        torch.testing.assert_close(p_z, p_mu)  # the chain feeds its means back
        torch.testing.assert_close(free.prior(p_z), (p_mu, p_logvar))
        assert not torch.allclose(forced.loss_terms(x)["kl_z"], expected)
    monkeypatch.undo()
    torch.manual_seed(0)
    drawn = free.unroll_prior(3, 5)[2]  # sample=True: draws
    assert not torch.allclose(drawn, p_mu)


def test_the_fused_optimiser_takes_the_plain_adam_step():
    """configure_optimizers fuses Adam on CPU (speed); the update is torch's per-tensor Adam."""
    model = tiny()
    fused = model.configure_optimizers()
    assert fused.defaults["fused"]
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]
    plain = torch.optim.Adam(params, lr=model.hparams.lr, betas=model.hparams.betas, fused=False)
    for _ in range(3):
        for p, q in zip(model.parameters(), params):
            p.grad = torch.randn_like(p)
            q.grad = p.grad.clone()
        fused.step()
        plain.step()
    for p, q in zip(model.parameters(), params):
        torch.testing.assert_close(p.detach(), q.detach(), rtol=1e-5, atol=1e-7)
