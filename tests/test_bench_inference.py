"""benchmarks/bench_inference.py: every user-facing inference verb of every model is timed, and a
case gives one row per verb with samples/s and the peak RSS rise."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

import motionzoo.models
from motionzoo.cli import packaged_config

ROOT = Path(__file__).resolve().parents[1]
VERBS = ("generate", "reconstruct", "swap_motion", "predict_3d", "log_posterior")


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT))
    from benchmarks import bench_inference

    return bench_inference


def test_every_inference_verb_of_every_model_has_a_row(bench):
    timed = {}  # class name -> verbs timed
    for case in bench.CASES:
        class_path = yaml.safe_load(packaged_config(case.config).read_text())["model"]["class_path"]
        timed.setdefault(class_path.rpartition(".")[2], set()).update(
            verb.split("(")[0] for verb in case.verbs
        )
    expected = {
        name: {verb for verb in VERBS if hasattr(getattr(motionzoo.models, name), verb)}
        for name in motionzoo.models.__all__
        if isinstance(getattr(motionzoo.models, name), type)
    }
    assert {name: verbs for name, verbs in expected.items() if verbs} == timed
    assert timed["CrossModalVAE"] == {"predict_3d", "generate"}  # the check is not vacuous


def test_a_case_gives_samples_per_second_and_peak_memory_per_verb(bench):
    case = bench.Case("fcvae/amass_synthetic", bench._motion, bench.MOTION, 4, "its only config")
    rows = bench.run([case], threads=1)
    assert [row["benchmark"] for row in rows] == [
        f"FCVAE: {verb}, batch 4" for verb in ("generate", "reconstruct", "log_posterior")
    ]
    for row in rows:
        assert row["unit"] == "samples/s"
        assert math.isfinite(row["value"]) and row["value"] > 0
        assert row["peak_rss_rise_mb"] >= 0
        assert row["config"] == "fcvae/amass_synthetic (its only config)"


def test_an_unknown_config_is_named(bench):
    with pytest.raises(ValueError, match="no packaged config 'fcvae/nope'"):
        bench.build("fcvae/nope")
