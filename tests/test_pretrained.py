"""Pretrained checkpoints: manifest round trip, sha256 refusal, the shipped checkpoints load; the
one checkpoint loader (`load_model`) takes names, zoo weights files and Lightning checkpoints and
runs no pickled code."""

from __future__ import annotations

import json

import pytest
import torch

import motionzoo
from motionzoo.models.linear import LinearLifter
from motionzoo.pretrained import (
    ChecksumError,
    load_model,
    load_pretrained,
    read_manifest,
    save_pretrained,
)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = LinearLifter(width=16, num_joints=16).eval()
    save_pretrained(
        model,
        "tiny",
        config="configs/linear/h36m_synthetic.yaml",
        training_data="none",
        metrics={"test/mpjpe": 1.5},
        directory=tmp_path,
    )
    return model, tmp_path


def test_round_trip_restores_weights_and_hparams(saved):
    model, directory = saved
    loaded = load_pretrained("tiny", directory=directory)
    assert isinstance(loaded, LinearLifter) and not loaded.training
    assert loaded.hparams.width == 16 and loaded.hparams.num_joints == 16
    x = torch.randn(5, 16, 2)
    torch.testing.assert_close(loaded(x), model(x))
    entry = read_manifest(directory)["tiny"]
    assert entry["class_path"] == "motionzoo.models.linear.LinearLifter"
    assert entry["metrics"] == {"test/mpjpe": 1.5}


def test_tampered_checkpoint_is_refused(saved):
    _, directory = saved
    path = directory / "tiny.ckpt"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="tiny.ckpt: sha256 .* does not match"):
        load_pretrained("tiny", directory=directory)


def test_unknown_name_lists_the_available_ones(saved):
    _, directory = saved
    with pytest.raises(KeyError, match="available: \\['tiny'\\]"):
        load_pretrained("nope", directory=directory)


def test_weights_file_is_weights_only(saved):
    _, directory = saved
    payload = torch.load(directory / "tiny.ckpt", weights_only=True)
    assert set(payload) == {"state_dict", "hyper_parameters"}


@pytest.mark.parametrize("name", motionzoo.list_pretrained())
def test_shipped_checkpoints_match_manifest_and_load(name):
    info = motionzoo.pretrained_info(name)
    model = motionzoo.load_pretrained(name)
    assert sum(p.numel() for p in model.parameters()) > 0
    assert info["metrics"], f"{name}: the manifest must record the achieved metrics"
    json.dumps(info)


def test_half_precision_storage_halves_the_file_and_loads_as_float32(tmp_path):
    torch.manual_seed(0)
    model = LinearLifter(width=64, num_joints=16).eval()
    kwargs = dict(config="c", training_data="none", metrics={"m": 1.0}, directory=tmp_path)
    full = save_pretrained(model, "full", **kwargs)
    half = save_pretrained(model, "half", storage_dtype=torch.float16, **kwargs)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert read_manifest(tmp_path)["half"]["storage_dtype"] == "float16"
    loaded = load_pretrained("half", directory=tmp_path)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    x = torch.randn(4, 16, 2)
    torch.testing.assert_close(loaded(x), model(x), atol=2.0, rtol=1e-2)  # mm


def test_load_model_takes_a_zoo_weights_file_and_checks_the_manifest_beside_it(saved):
    model, directory = saved
    x = torch.randn(3, 16, 2)
    torch.testing.assert_close(load_model(directory / "tiny.ckpt")(x), model(x))
    path = directory / "tiny.ckpt"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="tiny.ckpt"):
        load_model(path)


def test_load_model_takes_a_lightning_checkpoint(tiny_checkpoint):
    model = load_model(tiny_checkpoint)
    assert isinstance(model, LinearLifter) and not model.training
    state = torch.load(tiny_checkpoint, weights_only=True)["state_dict"]
    torch.testing.assert_close(model.state_dict(), state)


class _Payload:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_load_model_runs_no_pickled_code(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"x": _Payload(marker)}}, path)
    with pytest.raises(ValueError, match="evil.ckpt: not a readable checkpoint"):
        load_model(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "class_path", ["os.system", "torch.nn.Linear", "motionzoo.pretrained.Path"]
)
def test_load_model_imports_only_zoo_models(tmp_path, class_path):
    path = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {}, "hyper_parameters": {"_class_path": class_path}}, path)
    with pytest.raises(ValueError, match="class_path"):
        load_model(path)


def test_load_model_names_what_it_accepts(tmp_path):
    with pytest.raises(FileNotFoundError, match="neither a pretrained name"):
        load_model(tmp_path / "missing.ckpt")
    (tmp_path / "empty.ckpt").write_bytes(b"")
    with pytest.raises(ValueError, match="empty.ckpt"):
        load_model(tmp_path / "empty.ckpt")


def test_the_weights_and_the_manifest_are_package_data():
    from pathlib import Path

    from motionzoo.pretrained import checkpoint_dir

    assert checkpoint_dir() == Path(motionzoo.__file__).resolve().parent / "checkpoints"
    repository_link = Path(__file__).resolve().parents[1] / "checkpoints"
    assert repository_link.resolve() == checkpoint_dir()
    shipped = [entry["file"] for entry in read_manifest().values() if "url" not in entry]
    assert shipped and all((checkpoint_dir() / file).is_file() for file in shipped)


@pytest.mark.parametrize("name", motionzoo.list_pretrained())
def test_the_manifest_config_rebuilds_the_weights_architecture(name, monkeypatch):
    from motionzoo.cli import build_cli, packaged_config
    from motionzoo.pretrained import _read_weights, checkpoint_dir

    monkeypatch.setattr("sys.argv", ["motionzoo"])
    info = motionzoo.pretrained_info(name)
    config = packaged_config(info["config"])
    cli = build_cli(["--config", str(config), "--trainer.logger", "false"], run=False)
    built = type(cli.model)
    assert f"{built.__module__}.{built.__qualname__}" == info["class_path"]
    weights = _read_weights(checkpoint_dir() / info["file"], "cpu")["state_dict"]
    shapes = {k: v.shape for k, v in cli.model.state_dict().items()}
    assert shapes == {k: v.shape for k, v in weights.items()}


def test_ckpt_path_pretrained_tests_the_published_weights(tmp_path, monkeypatch):
    from motionzoo.cli import build_cli

    monkeypatch.setattr("sys.argv", ["motionzoo"])
    monkeypatch.chdir(tmp_path)
    args = ["test", "--config", "linear/h36m_synthetic_pretrained", "--trainer.logger", "false"]
    args += ["--trainer.limit_test_batches", "2", "--trainer.enable_progress_bar", "false"]
    cli = build_cli(args + ["--ckpt_path", "pretrained:linear-h36m-synthetic"])
    published = load_pretrained("linear-h36m-synthetic").state_dict()
    torch.testing.assert_close(cli.model.state_dict(), published)
    assert cli.trainer.callback_metrics["test/mpjpe"] > 0
    from motionzoo.pretrained import checkpoint_dir

    weights_file = str(checkpoint_dir() / "linear-h36m-synthetic.ckpt")  # sha256-checked too
    cli = build_cli(args + ["--ckpt_path", weights_file])
    torch.testing.assert_close(cli.model.state_dict(), published)
    with pytest.raises(ValueError, match="--config configs/linear/h36m_synthetic_pretrained.yaml"):
        build_cli(
            ["test", "--config", "linear/h36m_synthetic", "--trainer.logger", "false"]
            + ["--ckpt_path", "pretrained:linear-h36m-synthetic"]
        )
