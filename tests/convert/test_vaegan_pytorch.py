"""Reference equivalence (DESIGN.md section 8): VAEGAN IS lucabergamini/VAEGAN-PYTORCH's
``network.VaeGan``. The fixture holds the reference's own (perturbed) weights at 1/32 of its
widths, two images, two latents and its eval-mode encoder, decoder and discriminator outputs,
written by ``scripts/fixtures_vaegan_pytorch.py`` (the commit is in the fixture); here they are
converted and run through our model."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

import motionzoo
from motionzoo.convert import convert, main, save_converted
from motionzoo.models.vaegan import VAEGAN

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CONFIGS = Path(motionzoo.__file__).resolve().parent / "configs"


def fixture() -> dict:
    return torch.load(FIXTURES / "vaegan_pytorch_small.pt", weights_only=True)


def outputs(model: VAEGAN, x: torch.Tensor, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """Our model's counterparts of the fixture's ``output`` (the reference's sigmoid
    probability is the sigmoid of our logit)."""
    with torch.no_grad():
        mu, logvar = model.encoder(x)
        logit, features = model.discriminator(x)
        return {
            "mu": mu,
            "logvar": logvar,
            "decoded": model.decoder(z),
            "probability": logit.sigmoid(),
            "features": features,
        }


def test_converted_model_computes_the_reference_function():
    data = fixture()
    assert data["reference"] == {
        "repo": "lucabergamini/VAEGAN-PYTORCH",
        "commit": "fa75275d743ef27075aaf198cf4abff5ffbba540",
    }
    model, info = convert(data["state_dict"], "vaegan_pytorch")
    assert not model.training
    assert sorted(info["mapping"]) == sorted(data["state_dict"])  # every reference key used
    assert info["config"]["z_dim"] == 8 and info["config"]["feature_layer"] == 3
    ours = outputs(model, data["input"]["x"], data["input"]["z"])
    for name, expected in data["output"].items():
        diff = (ours[name] - expected).abs().max().item()
        assert diff < 1e-5, f"{name}: max abs difference {diff:.3g} from the reference"
    # outputs that vary (perturbed BatchNorms; the tanh not saturated)
    assert all(data["output"][k].std() > 0.01 for k in ("decoded", "features", "mu"))
    assert data["output"]["decoded"].abs().max() < 0.99


def test_a_pytorch_0_2_state_dict_without_batch_counters_converts():
    state = {k: v for k, v in fixture()["state_dict"].items() if "num_batches_tracked" not in k}
    model, info = convert(state, "vaegan_pytorch")
    expected, _ = convert(fixture()["state_dict"], "vaegan_pytorch")
    x = fixture()["input"]["x"]
    torch.testing.assert_close(model(x), expected(x), rtol=0, atol=0)


def test_save_converted_round_trips_and_the_command_line_converts(tmp_path, capsys):
    data = fixture()
    src = tmp_path / "vaegan.pth"
    torch.save(data["state_dict"], src)  # what torch.save(net.state_dict(), ...) writes
    assert main(["--from", "vaegan_pytorch", str(src), str(tmp_path / "out.ckpt")]) == 0
    assert "VAEGAN(z_dim=8" in capsys.readouterr().out
    converted, _ = convert(data["state_dict"], "vaegan_pytorch")
    x = data["input"]["x"]
    for loaded in (
        motionzoo.load_model(tmp_path / "out.ckpt"),
        VAEGAN.load_from_checkpoint(tmp_path / "out.ckpt").eval(),
    ):
        assert loaded.hparams.bn_momentum == 0.9 and not loaded.hparams.gan_recon_term
        with torch.no_grad():
            assert torch.equal(loaded(x), converted(x))
    path = save_converted(converted, tmp_path / "again.ckpt", source="vaegan_pytorch")
    assert torch.load(path, weights_only=True)["converted_from"]["source"] == "vaegan_pytorch"
    assert main(["--from", "semgcn", str(src), str(tmp_path / "bad.ckpt")]) == 2
    assert "not a semgcn state_dict" in capsys.readouterr().err
    assert not (tmp_path / "bad.ckpt").exists()


def test_reference_config_has_the_reference_parameter_count():
    """lucabergamini/VAEGAN-PYTORCH at main.py's defaults (z_size 128, 64x64), counted from its
    code by scripts/fixtures_vaegan_pytorch.py: encoder 18,071,360, decoder 4,693,155,
    discriminator 10,953,857."""
    config = yaml.safe_load((CONFIGS / "vaegan" / "sprites_reference.yaml").read_text())
    with torch.device("meta"):
        model = VAEGAN(**config["model"]["init_args"])
    count = {n: sum(p.numel() for p in getattr(model, n).parameters()) for n in ("encoder", "decoder", "discriminator")}  # fmt: skip
    assert count == {"encoder": 18_071_360, "decoder": 4_693_155, "discriminator": 10_953_857}
    assert sum(p.numel() for p in model.parameters()) == 33_718_372


def test_convert_then_test_from_the_command_line(tmp_path, motionzoo_convert, motionzoo_test):
    """A reference-format file -> ``motionzoo convert`` -> ``motionzoo test --ckpt_path`` on the
    synthetic Sprites frames, with the reference config at the fixture's widths."""
    data = fixture()
    src, dst = tmp_path / "vaegan.pth", tmp_path / "vaegan.ckpt"
    torch.save({"state_dict": data["state_dict"]}, src)
    motionzoo_convert("vaegan_pytorch", src, dst)
    _, info = convert(data["state_dict"], "vaegan_pytorch")
    widths = [f"--model.init_args.{k}={v}" for k, v in info["config"].items()]
    source = "--data.init_args.source.init_args"
    cli = motionzoo_test(
        "vaegan/sprites_reference",
        dst,
        *widths,
        *[f"{source}.root", str(tmp_path / "sprites"), f"{source}.synthetic_into_root", "true"],
        *[f"{source}.synthetic_characters", "3", "--trainer.callbacks", "[]"],
        batches=1,
    )
    converted, _ = convert(data["state_dict"], "vaegan_pytorch")
    torch.testing.assert_close(cli.model.state_dict(), converted.state_dict())
    assert 0 < cli.trainer.callback_metrics["test/ssim"] <= 1
