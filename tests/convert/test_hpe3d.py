"""Reference equivalence (DESIGN.md section 8): CrossModalVAE with ``pose_style="residual"``,
``kl_normalization="hpe3d"`` and ``image_units="imagenet"`` IS bsridatta/HPE3D's cross-modal
VAE (@b37ad62: ``EncoderRGB``, ``DecoderRGB``, ``Encoder2D``, ``Decoder3D``). The fixture holds
the reference's own weights (small sizes), fixed inputs and its eval-mode outputs and loss
terms, written by ``scripts/fixtures_hpe3d.py``; here they are converted and run through ours."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import motionzoo
from motionzoo.convert import convert, main, save_converted
from motionzoo.convert.hpe3d import combine
from motionzoo.models.cross_modal_vae import CrossModalVAE
from motionzoo.models.families.lifting import count_parameters

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "hpe3d_small.pt"
PAPER_CONFIG = Path(motionzoo.__file__).parent / "configs" / "cross_modal_vae" / "h36m.yaml"


@pytest.fixture(scope="module")
def fixture() -> dict:
    return torch.load(FIXTURE, weights_only=True)


@pytest.fixture(scope="module")
def converted(fixture):
    model, info = convert(fixture["state_dict"], "hpe3d")
    # the reference's units: poses already z-scored with the root removed -> identity statistics
    model.set_statistics(
        torch.zeros(17, 3), torch.ones(17, 3), torch.zeros(17, 2), torch.ones(17, 2)
    )
    return model, info


def batch_units(fixture) -> dict[str, torch.Tensor]:
    """The fixture's inputs as a motionzoo batch: a zero root row in front of the 16 joints."""
    x = fixture["input"]
    pad = {
        k: torch.cat([torch.zeros(len(x[k]), 1, x[k].shape[-1]), x[k]], 1)
        for k in ("pose2d", "pose3d")
    }
    return {"image": x["image"], **pad}


def test_converted_model_computes_the_reference_function(fixture, converted):
    model, info = converted
    ref = fixture["reference"]
    assert ref["repo"] == "bsridatta/HPE3D" and ref["commit"].startswith("b37ad62")
    assert not model.training
    assert sorted(info["mapping"]) == sorted(fixture["state_dict"])  # every reference key used
    assert info["config"]["pairs"] == ["rgb->rgb", "2d->3d", "rgb->3d"]
    out, batch = fixture["output"], batch_units(fixture)
    with torch.no_grad():
        ours = {}
        for m, key in (("rgb", "image"), ("2d", "pose2d")):
            ours[f"mean_{m}"], ours[f"logvar_{m}"] = model.posterior(batch[key], m)
        ours["2d_3d"] = model.decoders["3d"](ours["mean_2d"]).flatten(1)
        ours["rgb_3d"] = model.decoders["3d"](ours["mean_rgb"]).flatten(1)
        ours["rgb_rgb"] = model.decoders["rgb"](ours["mean_rgb"])
        inputs, latents = model._inputs_and_latents(batch, ["rgb", "2d"])
        for pair in model.pairs:
            terms = model.pair_terms(pair, inputs, latents, beta=0.0, sample=False)
            tag = model.tag(pair)
            ours[f"recon_{tag}"], ours[f"kld_{tag}"] = terms["recon"], terms["kl"]
    assert sorted(ours) == sorted(out)
    diffs = {k: (ours[k] - out[k]).abs().max().item() for k in out}
    assert max(diffs.values()) < 1e-5, diffs
    # in batch units: 3D in mm (identity statistics: the z-scores), images back in [-1, 1]
    with torch.no_grad():
        pose = model.translate("2d", "3d", batch["pose2d"])
        image = model.translate("rgb", "rgb", batch["image"])
    torch.testing.assert_close(pose[:, 1:].flatten(1), out["2d_3d"], atol=1e-5, rtol=0)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    expected = ((out["rgb_rgb"] * std + mean) * 2 - 1).clamp(-1, 1)
    torch.testing.assert_close(image, expected, atol=1e-5, rtol=0)


def test_paper_config_has_the_reference_parameter_count():
    """HPE3D @b37ad62 at train.py's latent 500, 1024 units, 256 px, torchvision's ResNet-18:
    EncoderRGB 11,689,512 + DecoderRGB 8,938,963 + Encoder2D 3,164,136 + Decoder3D 2,667,568
    (counted from its code by scripts/fixtures_hpe3d.py)."""
    import yaml

    args = yaml.safe_load(PAPER_CONFIG.read_text())["model"]["init_args"]
    model = CrossModalVAE(**args)
    assert count_parameters(model) == 26_460_179
    parts = {
        "encoders.rgb": 11_689_512,
        "decoders.rgb": 8_938_963,
        "encoders.2d": 3_164_136,
        "decoders.3d": 2_667_568,
    }
    for name, expected in parts.items():
        assert count_parameters(model.get_submodule(name)) == expected, name


def test_combine_reads_the_reference_per_module_files(tmp_path, fixture):
    state = fixture["state_dict"]
    for name in ("EncoderRGB", "DecoderRGB", "Encoder2D", "Decoder3D"):
        own = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"{name}.")}
        checkpoint = {
            "epoch": 7,
            "val_loss": 0.25,
            "model_state_dict": own,
            "optimizer_state_dict": {},
        }
        torch.save(checkpoint, tmp_path / f"divine-bird_{name}.pt")
    path = combine(tmp_path / "divine-bird", tmp_path / "run.pt")
    model, info = convert(path, "hpe3d")
    assert (info["epoch"], info["error"]) == (7, 0.25)
    with pytest.raises(FileNotFoundError, match="none found"):
        combine(tmp_path / "other-run", tmp_path / "x.pt")


def test_fewer_modules_give_fewer_pairs(fixture):
    state = {
        k: v
        for k, v in fixture["state_dict"].items()
        if k.split(".")[0] in ("Encoder2D", "Decoder3D")
    }
    model, info = convert(state, "hpe3d")
    assert info["config"]["pairs"] == ["2d->3d"] and set(model.encoders) == {"2d"}


def test_modules_that_form_no_pair_are_refused(fixture):
    lonely = {k: v for k, v in fixture["state_dict"].items() if k.startswith("Encoder2D.")}
    with pytest.raises(ValueError, match="form none of the pairs"):
        convert(lonely, "hpe3d")


def test_save_converted_round_trips_through_load_model(tmp_path, fixture, converted):
    model, info = converted
    path = save_converted(model, tmp_path / "converted.ckpt", source="hpe3d", info=info)
    loaded = motionzoo.load_model(path)
    assert isinstance(loaded, CrossModalVAE) and loaded.hparams.image_units == "imagenet"
    again = CrossModalVAE.load_from_checkpoint(path).eval()
    image = fixture["input"]["image"]
    with torch.no_grad():
        assert torch.equal(loaded.encode(image), model.encode(image))
        assert torch.equal(
            again.translate("rgb", "rgb", image), model.translate("rgb", "rgb", image)
        )


def test_convert_then_test_from_the_command_line(
    tmp_path, fixture, motionzoo_convert, motionzoo_test
):
    """A reference-format file -> ``motionzoo convert`` -> ``motionzoo test --ckpt_path`` on the
    synthetic renders (64 px, as the fixture's decoder)."""
    src, dst = tmp_path / "run.pt", tmp_path / "cross_modal.ckpt"
    torch.save({"state_dict": fixture["state_dict"], "epoch": 3}, src)
    assert main(["--from", "semgcn", str(src), str(tmp_path / "bad.ckpt")]) == 2
    motionzoo_convert("hpe3d", src, dst)
    cli = motionzoo_test("cross_modal_vae/h36m_synthetic", dst, "--trainer.callbacks", "[]")
    converted, _ = convert(fixture["state_dict"], "hpe3d")
    ours = {k: v for k, v in cli.model.state_dict().items() if not k.startswith("normalizer.")}
    torch.testing.assert_close(ours, {k: v for k, v in converted.state_dict().items() if k in ours})
    assert bool(cli.model.normalizer.has_statistics)  # from the DataModule
    assert cli.trainer.callback_metrics["test/mpjpe_rgb"] > 0
