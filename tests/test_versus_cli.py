"""scripts/versus.py, the side-by-side timing against the reference implementations: what its
command line promises without a reference checkout (the timing itself needs the checkouts)."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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


@pytest.mark.parametrize(
    "option, value", [("--threads", "0"), ("--rounds", "0"), ("--batch", "0"), ("--warmup", "-1")]
)
def test_numbers_out_of_range_are_refused_by_name_before_anything_is_built(tmp_path, option, value):
    out = versus("hgvae", str(tmp_path), option, value)
    assert out.returncode == 2
    assert f"{option} >=" in out.stderr and "got" in out.stderr
    assert value in out.stderr.split("got", 1)[1].strip().split(", ")  # the value given, echoed
    assert str(tmp_path) not in out.stderr  # refused before the checkout was looked at
    assert "Traceback" not in out.stderr


def test_flops_with_profile_is_refused_before_anything_is_built(tmp_path):
    out = versus("hgvae", str(tmp_path), "--flops", "--profile", "20")
    assert out.returncode == 2
    assert "--flops needs the timing" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux /proc only")
def test_alone_forgets_the_other_side_and_counts_its_own_peak():
    """``--only``: the other side's memory is handed back and the peak restarts from there, so a
    side's numbers do not include the other network (which also slowed the references' steps)."""
    code = f"""
import runpy, torch
versus = runpy.run_path({str(SCRIPT)!r}, run_name="versus")
other = torch.ones(128 * 2**20)  # 512 MiB held by "the other side"
before = versus["_resident_mib"]()
del other
versus["_forget_the_other_side"]()
after, peak = versus["_resident_mib"](), versus["_resident_mib"](peak=True)
mine = torch.ones(64 * 2**20)  # 256 MiB of "this side"
del mine
print(before - after, peak - after, versus["_resident_mib"](peak=True) - after)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    freed, peak_at_start, peak_after = map(float, out.stdout.split())
    assert freed > 480  # the other side's 512 MiB went back to the system
    assert peak_at_start < 32  # the peak restarted from the resident memory
    assert 240 < peak_after < 300  # and then counts this side's 256 MiB


def test_flops_counts_the_products_of_a_step_and_rates_them_against_the_roof():
    """``--flops``: forward and backward FLOPs of the products and convolutions of one step, in
    closed form here: the linear layer's forward, input and weight gradients; the first
    convolution's forward and weight gradient only (its input needs no gradient)."""
    versus = runpy.run_path(str(SCRIPT), run_name="versus")
    torch.manual_seed(0)
    conv, linear = torch.nn.Conv2d(3, 8, 5, padding=2), torch.nn.Linear(8 * 16 * 16, 10)
    frames = torch.randn(2, 3, 16, 16)

    def step():
        linear(conv(frames).flatten(1)).square().sum().backward()

    conv_flops = 2 * 2 * 8 * 3 * 25 * 16 * 16
    linear_flops = 2 * 2 * (8 * 16 * 16) * 10
    assert versus["products_flops"](step) == 2 * conv_flops + 3 * linear_flops
    assert conv.weight.grad is not None  # the step ran
    line = versus["_products"]("ours", 2 * 10**9, 0.02, 2 * 10**11)
    assert "2.00 GFLOP per step, 100 GFLOP/s" in line
    assert "= 50% of this machine's sgemm 200 GFLOP/s" in line
    assert "would take 0.01 s of the step's 0.02 s" in line
    assert 0 < versus["sgemm_rate"](side=64, repeats=2) < float("inf")  # timing: not its value
