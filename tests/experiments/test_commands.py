"""``motionzoo experiment <name>`` (motionzoo.experiments.__main__): a pretrained name or a file
runs an experiment end to end with progress on stderr, every subcommand explains itself in full
sentences with each option's default, and a misspelt checkpoint is one line and exit status 2."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
import torch

from motionzoo.experiments import command
from motionzoo.experiments.__main__ import EXPERIMENTS, main
from motionzoo.pretrained import checkpoint_dir


@pytest.fixture(autouse=True)
def keep_threads():
    """The commands set torch's thread count (``--threads``); the test session keeps its own."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_occlusion_by_pretrained_name_prints_its_table(capsys):
    status = main(["occlusion", "--checkpoint", "hgvae-amass-synthetic", "--ks", "1", "30",
                   "--limit", "8", "--steps", "3"])  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0
    header, _, k1, k30 = out.strip().splitlines()
    assert header.startswith("| k | MSE mean-imputed (mm^2) | MSE MAP (mm^2) | change % |")
    assert k1.startswith("| 1 |") and k30.startswith("| 30 |")
    assert float(k30.split("|")[4]) < 0  # MAP beats mean imputation
    # progress: the verified weights, the test windows, one line per k
    assert "hgvae-amass-synthetic.ckpt, sha256" in err and "checked" in err
    assert "8 test windows of 50 frames x 18 joints" in err
    assert "k = 1 [1/2" in err and "k = 30 [2/2" in err


def test_stochastic_depth_by_checkpoint_path(capsys):
    path = checkpoint_dir() / "hgvae-amass-synthetic.ckpt"
    assert main(["stochastic-depth", "--checkpoint", str(path), "--limit", "4"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("| stochastic levels | NLL | MSE (mm^2) | KL |")
    assert f"sha256 checked against {path.parent / 'manifest.json'}" in err
    assert "stochastic levels = 0 [1/" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["occlusion", "--checkpoint", "hgvae-amass-synthetc"],
        ["stochastic-depth", "--checkpoint", "hgvae-amass-synthetc"],
        ["disentangle", "--checkpoint", "hgvae-amass-synthetc", "--classifier", "x"],
        ["cross-modal", "--checkpoint", "hgvae-amass-synthetc"],
    ],
    ids=lambda argv: argv[0],
)
def test_a_misspelt_checkpoint_is_one_line_naming_the_pretrained_ones(argv, capsys):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith(f"motionzoo experiment {argv[0]}: error: hgvae-amass-synthetc:")
    assert "'hgvae-amass-synthetic'" in line and "'graphsh-synthetic'" in line


def test_the_traceback_on_request(monkeypatch):
    argv = ["occlusion", "--checkpoint", "nowhere.ckpt"]
    with pytest.raises(command.CommandError) as error:
        main([*argv, "--traceback"])
    assert isinstance(error.value.__cause__, FileNotFoundError)
    monkeypatch.setenv(command.TRACEBACK_ENV, "1")
    with pytest.raises(command.CommandError):
        main(argv)


def test_a_model_the_experiment_cannot_use_is_refused_in_one_line(capsys):
    assert main(["stochastic-depth", "--checkpoint", "graphsh-synthetic"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "motionzoo experiment stochastic-depth: error: graphsh-synthetic is a GraphSH, which has "
        "no top_down_pass, num_levels; stochastic depth needs a hierarchical VAE (HGVAE, HMVAE)"
    )


def test_disentangle_help_holds_the_first_paragraph_in_full(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["disentangle", "--help"])
    assert exited.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    assert text.startswith("usage: motionzoo experiment disentangle [-h] --checkpoint")
    assert "Score image quality and disentanglement. These are Tables 1 and 2" in text
    # the last sentence of the docstring's first paragraph
    assert (
        "Table 2 scores the sequences of each generation protocol with the pretrained "
        "--classifier: the accuracy and the entropies of their action, and the accuracy of "
        "their content." in text
    )
    assert "--batch-size BATCH_SIZE sequences per batch (default: 64)" in text


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_every_subcommand_explains_itself(name, capsys):
    with pytest.raises(SystemExit) as exited:
        main([name, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: motionzoo experiment {name} [-h]")
    assert "--checkpoint NAME_OR_PATH" in text and "examples:" in text
    assert f"python -m pydoc {EXPERIMENTS[name].__name__}" in text
    parser = command.configure(argparse.ArgumentParser(), EXPERIMENTS[name])
    for action in parser._actions:
        help_text = parser._get_formatter()._get_help_string(action)
        assert help_text, f"{name} {action.option_strings} has no help text"
        if not any(action.default is nothing for nothing in (None, False, argparse.SUPPRESS)):
            assert "(default: " in help_text, f"{name} {action.option_strings}"


def test_the_list_of_experiments_has_one_line_each(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name, module in EXPERIMENTS.items():
        assert f"{name} {command.summary(module)}" in text
    assert "occlusion Compare MAP with mean imputation of k occluded entries." in text


def test_cross_modal_takes_checkpoint_not_pretrained(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["cross-modal", "--pretrained", "cross-modal-vae-h36m-synthetic"])
    assert exited.value.code == 2
    assert "unrecognized arguments: --pretrained" in capsys.readouterr().err


def test_the_python_m_forms():
    """``python -m motionzoo.experiments`` and ``python -m motionzoo.experiments.<module>``: the
    same parser, the same one-line error and exit status."""
    for argv, prog in (
        (["motionzoo.experiments", "occlusion"], "motionzoo experiment occlusion"),
        (["motionzoo.experiments.occlusion"], "python -m motionzoo.experiments.occlusion"),
    ):
        done = subprocess.run([sys.executable, "-m", *argv, "--checkpoint", "nowhere.ckpt"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 2 and done.stdout == ""
        [line] = done.stderr.splitlines()
        assert line.startswith(f"{prog}: error: nowhere.ckpt: neither a pretrained name (")
