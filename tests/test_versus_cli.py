"""scripts/versus.py, the side-by-side timing against the reference implementations: what its
command line promises without a reference checkout (the timing itself needs the checkouts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "versus.py"
# the pairs of issue 22's table: the lifters, HGVAE's step / imputation / scoring, the sequence VAEs
PAIRS = {
    "graphsh_preagg": "tamasino52/GraphSH",
    "graphsh_semantic": "tamasino52/GraphSH",
    "semgcn": "garyzhao/SemGCN",
    "semgcn_nonlocal": "garyzhao/SemGCN",
    "martinez": "garyzhao/SemGCN",
    "hgvae": "bouracha/generative_imputation",
    "hgvae_impute": "bouracha/generative_imputation",
    "hgvae_impute_joint": "bouracha/generative_imputation",
    "hgvae_posterior": "bouracha/generative_imputation",
    "dsvae": "yatindandi/Disentangled-Sequential-Autoencoder",
    "halo": "MdAsifKhan/HALO",
}


def versus(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


def test_help_lists_every_pair_with_its_reference_and_defaults():
    out = versus("--help")
    assert out.returncode == 0, out.stderr
    listed = out.stdout.split("pairs (reference repository", 1)[1].splitlines()[1:]
    names = {line.split()[0] for line in listed[::2]}
    assert names == set(PAIRS)
    for label, details in zip(listed[::2], listed[1::2]):
        name = label.split()[0]
        assert details.split(";")[0].strip() == PAIRS[name]
    assert "batch 256, 5 + 30" in out.stdout  # a lifting pair's defaults
    assert "batch 8, 2 + 5" in out.stdout  # dsvae's: a step takes seconds


@pytest.mark.parametrize("pair", ["graphsh_preagg", "halo"])
def test_a_folder_that_is_not_the_reference_checkout_is_refused_by_path(tmp_path, pair):
    missing = tmp_path / "not_a_checkout"
    out = versus(pair, str(missing), "--rounds", "1")
    assert out.returncode == 2
    assert str(missing) in out.stderr
    assert PAIRS[pair] in out.stderr
    assert "Traceback" not in out.stderr


def test_an_unknown_pair_is_refused_with_the_choices():
    out = versus("graphsh", ".")
    assert out.returncode == 2
    assert "invalid choice: 'graphsh'" in out.stderr
    assert "graphsh_preagg" in out.stderr
