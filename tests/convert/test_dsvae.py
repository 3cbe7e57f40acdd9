"""Reference equivalence (DESIGN.md section 8): DSVAE with the reference layout and its two defects
reproduced IS yatindandi/Disentangled-Sequential-Autoencoder's ``DisentangledVAE``, full and
factorised q. The fixtures hold the reference's own (perturbed) weights, a fixed input and its
eval-mode outputs (posterior means and log-variances, the prior's chain, the reconstruction and
``trainer.py``'s loss terms), written by ``scripts/fixtures_dsvae.py`` (the commit is in each
fixture); here they are converted and run through our model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import motionzoo
from motionzoo.convert import convert, main
from motionzoo.models.baselines import dsvae as dsvae_module
from motionzoo.models.baselines.dsvae import DSVAE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "dsvae"
CASES = ["dsvae_small.pt", "dsvae_factorised_small.pt"]
# the reference's full-size DisentangledVAE() (f 256, z 32, conv_dim 2048, step 256, hidden 512),
# counted from its code by scripts/fixtures_dsvae.py
REFERENCE_PARAMETERS = {False: 178_231_689, True: 166_950_793}  # factorised -> count


def load_fixture(name: str) -> dict:
    return torch.load(FIXTURES / name, weights_only=True)


def max_diff(ours: torch.Tensor, reference: torch.Tensor) -> float:
    assert ours.shape == reference.shape
    return (ours - reference).abs().max().item()


def outputs_of(model: DSVAE, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Our eval-mode counterparts of the fixture's ``outputs``; the loss at the posterior means
    (the reference's eval mode does not sample)."""
    with torch.no_grad():
        h = model.features(x)
        f_mean, f_logvar = model.content_posterior(h)
        z_mean, z_logvar = model.motion_posterior(h, f_mean)
        prior_mean, prior_logvar, prior_z = model.unroll_prior(len(x), x.shape[1], sample=False)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dsvae_module, "reparameterize", lambda mu, logvar: mu)
            terms = model.loss_terms(x)
        return {
            "f_mean": f_mean, "f_logvar": f_logvar, "z_mean": z_mean, "z_logvar": z_logvar,
            "prior_mean": prior_mean, "prior_logvar": prior_logvar, "prior_z": prior_z,
            "recon": model(x), "loss": terms["loss"], "kld_f": terms["kl_f"],
            "kld_z": terms["kl_z"], "mse": terms["recon"],
        }  # fmt: skip


@pytest.mark.parametrize("fixture", CASES)
def test_converted_model_computes_the_reference_function(fixture):
    data = load_fixture(fixture)
    reference, config = data["outputs"], data["config"]
    assert data["reference"]["repo"] == "yatindandi/Disentangled-Sequential-Autoencoder"
    assert len(data["reference"]["commit"]) == 40
    model, info = convert(data["state_dict"], "dsvae")
    assert not model.training
    assert info["config"]["factorised"] == config["factorised"]
    assert info["config"]["image_size"] == config["in_size"]
    # every reference tensor used (q(z)'s and the prior's mean / logvar pairs fused)
    assert {part for key in info["mapping"] for part in key.split("+")} == set(data["state_dict"])
    x = data["input"].float()
    ours = outputs_of(model, x)
    assert ours.keys() == reference.keys()
    for name, value in ours.items():
        # 1e-5 absolute; the loss terms (sums over ~10^4 pixels, ~10^4 in size) relative
        tolerance = 1e-5 * max(1.0, reference[name].abs().item()) if value.ndim == 0 else 1e-5
        diff = max_diff(value, reference[name])
        assert diff <= tolerance, f"{fixture} {name}: max abs difference {diff:.3g}"
    # the family's verbs: posterior means, the decoder at them
    f, z = model.encode(x)
    assert max_diff(f, reference["f_mean"]) < 1e-5 and max_diff(z, reference["z_mean"]) < 1e-5
    assert max_diff(model.reconstruct(x), reference["recon"]) < 1e-5
    # the prior of the paper (teacher-forced) meets the reference's chain at its own means
    mean, logvar = model.prior(reference["prior_z"])
    assert max_diff(mean, reference["prior_mean"]) < 1e-5
    assert max_diff(logvar, reference["prior_logvar"]) < 1e-5


def test_the_defect_options_are_what_reproduces_the_reference():
    """Converted weights in the paper's model (both defects fixed): q(f)'s heads are affine (the
    reference's output is their LeakyReLU) and KL_z is taken at the posterior's z_<t, which
    changes it; everything else is unchanged."""
    data = load_fixture("dsvae_small.pt")
    reference = data["outputs"]
    converted, info = convert(data["state_dict"], "dsvae")
    fixed = {**info["config"], "leaky_content_heads": False, "free_running_prior": False}
    model = DSVAE(**fixed).eval()
    model.load_state_dict(converted.state_dict())
    ours = outputs_of(model, data["input"].float())
    leaky = torch.nn.functional.leaky_relu(ours["f_mean"], 0.2)
    assert max_diff(leaky, reference["f_mean"]) < 1e-5
    assert max_diff(ours["f_mean"], reference["f_mean"]) > 1e-2  # negative entries differ
    assert abs(ours["kld_z"] - reference["kld_z"]) > 1e-2
    assert max_diff(ours["prior_mean"], reference["prior_mean"]) < 1e-5


@pytest.mark.parametrize("factorised", [False, True])
def test_paper_config_has_the_reference_parameter_count(factorised):
    init_args = yaml.safe_load((CONFIGS / "sprites.yaml").read_text())["model"]["init_args"]
    with torch.device("meta"):  # 178M parameters: shapes only
        model = DSVAE(**{**init_args, "factorised": factorised})
    assert sum(p.numel() for p in model.parameters()) == REFERENCE_PARAMETERS[factorised]


def test_a_missing_half_of_a_fused_pair_is_named():
    state = dict(load_fixture("dsvae_small.pt")["state_dict"])
    del state["z_logvar.bias"]
    with pytest.raises(ValueError, match="key 'z_logvar.bias' missing .* 'z_mean.bias'"):
        convert(state, "dsvae")


def reference_checkpoint(path: Path, state: dict) -> Path:
    """A file as the reference's ``trainer.py`` saves it (losses: numpy float64)."""
    losses = [np.mean([812.5, 790.25]), np.mean([701.0])]
    torch.save({"epoch": 2, "state_dict": state, "optimizer": {}, "losses": losses}, path)
    return path


def test_convert_load_and_test_from_the_command_line(tmp_path, capsys, motionzoo_test):
    """A reference-format file -> ``motionzoo convert`` -> ``load_model`` /
    ``load_from_checkpoint`` -> ``motionzoo test --ckpt_path`` on the synthetic Sprites."""
    data = load_fixture("dsvae_factorised_small.pt")  # 64 x 64 frames, as Sprites
    src = reference_checkpoint(tmp_path / "model.pth", data["state_dict"])
    dst = tmp_path / "dsvae.ckpt"
    assert main(["--from", "dsvae", str(src), str(dst)]) == 0
    assert "factorised=True" in capsys.readouterr().out
    converted, _ = convert(src, "dsvae")
    x = data["input"].float()
    for loaded in (motionzoo.load_model(dst), DSVAE.load_from_checkpoint(dst).eval()):
        assert loaded.hparams.leaky_content_heads and loaded.hparams.free_running_prior
        with torch.no_grad():
            assert max_diff(loaded(x), data["outputs"]["recon"]) < 1e-5
    cli = motionzoo_test(
        CONFIGS / "sprites_synthetic.yaml",
        dst,
        *["--trainer.accelerator", "cpu", "--data.init_args.root", str(tmp_path / "sprites")],
        *["--data.init_args.synthetic_into_root", "true"],
        *["--data.init_args.synthetic_characters", "3", "--data.init_args.batch_size", "4"],
    )
    torch.testing.assert_close(cli.model.state_dict(), converted.state_dict())
    metrics = cli.trainer.callback_metrics
    assert metrics["test/loss"] > 0 and 0 < metrics["test/psnr"]


def test_main_reports_a_wrong_source(tmp_path, capsys):
    src = reference_checkpoint(tmp_path / "model.pth", load_fixture("dsvae_small.pt")["state_dict"])
    assert main(["--from", "martinez", str(src), str(tmp_path / "bad.ckpt")]) == 2
    assert "not a martinez state_dict" in capsys.readouterr().err
    assert not (tmp_path / "bad.ckpt").exists()
