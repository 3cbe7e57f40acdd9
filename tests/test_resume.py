"""A training run killed with SIGKILL (TMPDIR on another folder than the logs) leaves only
checkpoints that load, and ``motionzoo fit --ckpt_path last`` continues it in its own version
folder to the step count of an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

BIN = Path(sys.executable).parent
STEPS_PER_EPOCH, EPOCHS = 30, 3


def fit_command(logs: Path, *extra: str) -> list[str]:
    return [
        str(BIN / "motionzoo"), "fit", "--config", "linear/h36m_synthetic",
        "--trainer.max_epochs", str(EPOCHS),
        "--trainer.limit_train_batches", str(STEPS_PER_EPOCH),
        "--trainer.limit_val_batches", "2",
        "--trainer.enable_progress_bar", "false",
        "--checkpoint.every_n_train_steps", "2",
        "--trainer.logger.init_args.save_dir", str(logs), *extra,
    ]  # fmt: skip


def test_sigkill_mid_run_then_resume(tmp_path):
    logs, other_tmp = tmp_path / "logs", tmp_path / "other_tmp"
    other_tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(other_tmp), "OMP_NUM_THREADS": "1"}
    run = logs / "linear_h36m_synthetic"
    process = subprocess.Popen(
        fit_command(logs), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 180
    while not list(run.glob("version_0/checkpoints/*.ckpt")) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint written in 180 s"
        time.sleep(0.02)
    time.sleep(0.3)  # checkpoints of ~50 MB are written every 2 steps: kill amid one
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate()
    if process.returncode != -signal.SIGKILL:
        pytest.fail(f"the run ended before the kill ({process.returncode}): {stderr[-2000:]}")

    checkpoints = sorted(run.rglob("*.ckpt"))
    assert checkpoints, "the kill left no checkpoint"
    for path in checkpoints:  # every checkpoint file present after the kill loads
        torch.load(path, map_location="cpu", weights_only=True)
    killed_at = torch.load(run / "version_0/checkpoints/last.ckpt", weights_only=True)
    assert killed_at["global_step"] < EPOCHS * STEPS_PER_EPOCH
    staged = [p for p in other_tmp.rglob("*") if p.is_file() and p.stat().st_size > 1_000_000]
    assert not staged, "checkpoints were staged in TMPDIR"

    resumed = subprocess.run(
        fit_command(logs, "--ckpt_path", "last"), cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming" in resumed.stderr
    final = torch.load(run / "version_0/checkpoints/last.ckpt", weights_only=True)
    assert final["global_step"] == EPOCHS * STEPS_PER_EPOCH  # an uninterrupted run's count
    assert [p.name for p in run.iterdir()] == ["version_0"]  # the same version folder
    assert not list((run / "version_0/checkpoints").glob(".*.tmp"))  # the killed write swept


def test_resume_without_a_run_says_so_in_one_line(tmp_path):
    result = subprocess.run(
        fit_command(tmp_path / "logs", "--ckpt_path", "last"), cwd=tmp_path,
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("motionzoo fit: error: --ckpt_path last: no run to resume under")
    )
