"""Reference equivalence (DESIGN.md section 8): HamiltonianVAE with HALO's options IS
MdAsifKhan/HALO's ``SubspaceVAE``. The fixture holds the reference's own (perturbed) weights at a
small width, fixed frames and its eval-mode outputs without noise, written by
``scripts/fixtures_halo.py`` from a HALO checkout (the commit is in the fixture); here they are
converted and run through our model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import motionzoo
import motionzoo.models.hamiltonian_vae as hvae
from motionzoo.convert import convert, main, save_converted
from motionzoo.convert.halo import build_halo, halo_key
from motionzoo.models.hamiltonian_vae import HamiltonianVAE

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "halo_small.pt"
CONFIGS = Path(motionzoo.__file__).parent / "configs" / "hamiltonian_vae"


@pytest.fixture(scope="module")
def fixture() -> dict:
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def converted(fixture):
    return convert(fixture["state_dict"], "halo")


def close(ours: torch.Tensor, reference: torch.Tensor, name: str, tol: float = 1e-5) -> None:
    diff = (ours - reference).abs().max().item()
    assert diff < tol, f"{name}: max abs difference {diff:.3g} from HALO"


def test_the_fixture_is_halos_network_at_a_small_width(fixture, converted):
    model, info = converted
    assert fixture["reference"]["repo"] == "MdAsifKhan/HALO"
    assert len(fixture["reference"]["commit"]) == 40
    assert not model.training
    # every reference key was used (W_p.net.* are HALO's second names of W_p.conv1 / conv2)
    used = set(info["mapping"]) | {k for k in fixture["state_dict"] if k.startswith("W_p.net.")}
    assert used == set(fixture["state_dict"])
    options = {"action_subspace": False, "normalize_means": False, "action_head": False}
    assert options.items() <= info["config"].items()
    assert (info["config"]["num_actions"], info["config"]["subspace_dim"]) == (3, 4)


def test_posterior_operators_trajectory_and_decoder_equal_halos(fixture, converted):
    model, _ = converted
    out, frames = fixture["outputs"], fixture["input"]["frames"]
    t = fixture["config"]["t_generate"]
    with torch.no_grad():
        post = model.posterior(frames)
        for ours, theirs in [("z", "z"), ("q", "q"), ("p", "p")]:
            close(post[f"{ours}_mu"], out[f"mu_{theirs}"], f"mu_{theirs}")
            close(post[f"{ours}_logvar"], out[f"logvar_{theirs}"], f"logvar_{theirs}")
        close(model.operator.generators(), out["hamiltonian"], "H")
        close(model.operator.exponentials([1])[:, 0], out["exp_hamiltonian"], "exp(H)")
        # HALO's generate: the raw means, the operators from frame t forward and backward
        means = model._mean_state(post, None)
        trajectory = model.operator.rollout(means[:, t], torch.full((len(frames),), t), 6)
        close(trajectory, out["trajectory"], "trajectory")
        close(model(frames), out["reconstruction"], "reconstruction")
        close(model.reconstruct(frames), out["reconstruction"], "reconstruct()")
        generation = model.decode(post["z_mu"], trajectory.flatten(2))
        close(generation, out["generation"], "generation")


def test_loss_terms_equal_halos_update(fixture, converted, monkeypatch):
    """HALO's ``update`` at zero noise, the trajectory from frame ``t_loss``: its summed squared
    error is our Gaussian term at alpha = 1/sqrt(2)."""
    model, _ = converted
    monkeypatch.setattr(hvae, "reparameterize", lambda mu, logvar: mu)
    frames, action = fixture["input"]["frames"], fixture["input"]["action"]
    with torch.no_grad():
        terms = model.loss_terms(frames, action, t_ref=fixture["config"]["t_loss"])
    ours = [terms["recon_gen"], terms["recon_enc"], terms["state"], terms["kl_z"],
            terms["kl_q"] + terms["kl_p"], terms["loss"]]  # fmt: skip
    torch.testing.assert_close(torch.stack(ours), fixture["outputs"]["loss"], rtol=1e-5, atol=1e-5)


def test_the_paper_config_has_halos_parameter_count():
    """HALO's SubspaceVAE with its configs/sprites.yaml: 158,320,653 parameters, counted from its
    code by scripts/fixtures_halo.py; the paper config and the converter's HALO options build it."""
    import yaml

    args = yaml.safe_load((CONFIGS / "sprites.yaml").read_text())["model"]["init_args"]
    with torch.device("meta"):
        paper = HamiltonianVAE(**args)
        halo = HamiltonianVAE(**{**args, "action_subspace": False, "normalize_means": False})
    for model in (paper, halo):
        assert sum(p.numel() for p in model.parameters()) == 158_320_653


def reference_state(model: HamiltonianVAE) -> dict[str, torch.Tensor]:
    """Our weights under HALO's keys, as ``vae.state_dict()`` lists them (W_p's twin names)."""
    state = {halo_key(k)[0]: v for k, v in model.state_dict().items() if "prior_" not in k}
    for twin, conv in (("net.0", "conv1"), ("net.4", "conv2")):
        for leaf in ("bias", "weight_g", "weight_v"):
            state[f"W_p.{twin}.{leaf}"] = state[f"W_p.{conv}.{leaf}"]
    return state


def test_halos_save_model_file_and_its_parts_are_refused(fixture):
    state = fixture["state_dict"]
    saved = {"encoder": {}, "decoder": {}, "lds": {}, "actions": {}}  # trainer.save_model
    with pytest.raises(ValueError, match="'encoder' holds a dict .* checkpoint of parts"):
        convert(saved, "halo")
    other = {k: v for k, v in state.items() if k.startswith(("encoder.", "decoder."))}
    with pytest.raises(ValueError, match="not a halo state_dict: key 'lds.H'"):
        convert(other, "halo")
    conditioned = {**state, "contentMotion.subspaceV.0.weight": torch.zeros(24, 19)}
    with pytest.raises(ValueError, match="condnSonU: True"):
        convert(conditioned, "halo")


def test_save_converted_round_trips_through_load_model(tmp_path, converted, fixture):
    model, info = converted
    path = save_converted(model, tmp_path / "halo.ckpt", source="halo", info=info)
    frames = fixture["input"]["frames"]
    with torch.no_grad():
        expected = model(frames)
        for loaded in (motionzoo.load_model(path), HamiltonianVAE.load_from_checkpoint(path)):
            assert not loaded.hparams.action_subspace and not loaded.hparams.normalize_means
            assert torch.equal(loaded.eval()(frames), expected)
    assert torch.load(path, weights_only=True)["converted_from"]["source"] == "halo"


def test_convert_then_test_from_the_command_line(
    tmp_path, capsys, motionzoo_convert, motionzoo_test
):
    """A HALO-format state_dict (64 x 64 frames, narrow) -> ``motionzoo convert`` ->
    ``motionzoo test --ckpt_path`` on the synthetic Sprites."""
    torch.manual_seed(0)
    config = {**build_halo(torch.load(FIXTURE, weights_only=True)["state_dict"])[1],
              "image_size": 64}  # fmt: skip
    state = reference_state(HamiltonianVAE(**config))
    src, dst = tmp_path / "halo_vae.pt", tmp_path / "halo.ckpt"
    torch.save(state, src)
    assert main(["--from", "halo", str(src), str(tmp_path / "direct.ckpt")]) == 0
    assert "action_subspace=False" in capsys.readouterr().out
    motionzoo_convert("halo", src, dst)
    cli = motionzoo_test(
        "hamiltonian_vae/sprites_synthetic",
        dst,
        *["--data.batch_size", "4", "--data.root", str(tmp_path / "sprites")],
        *["--data.synthetic_into_root", "true", "--data.synthetic_characters", "3"],
        batches=1,
    )
    converted, _ = convert(state, "halo")
    torch.testing.assert_close(cli.model.state_dict(), converted.state_dict())
    assert 0 < cli.trainer.callback_metrics["test/mse"] < 4
