"""The command line: `motionzoo` and `lightning` run the zoo's configs; DDP on 2 CPU processes
logs the same MPJPE as one process."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from motionzoo.cli import (
    build_cli,
    main,
    packaged_config,
    packaged_configs,
    resolve_config_arguments,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "linear" / "h36m_synthetic.yaml"
BIN = Path(sys.executable).parent


def _run(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, (
        f"{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    )
    return result


@pytest.mark.parametrize(
    "config", sorted((REPO / "configs").glob("*/*.yaml")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_config_builds(config, tmp_path):
    cli = build_cli(
        ["--config", str(config), "--trainer.logger.init_args.save_dir", str(tmp_path)], run=False
    )
    assert cli.trainer.checkpoint_callback.save_last
    assert cli.trainer.checkpoint_callback.monitor, f"{config}: set checkpoint.monitor"
    assert cli.model.hparams, f"{config}: the model must save its hyper-parameters"


def test_print_config_of_a_packaged_config_from_another_folder(tmp_path):
    result = _run(
        [str(BIN / "motionzoo"), "fit", "--config", "linear/h36m_synthetic", "--print_config"],
        tmp_path,
        120,
    )
    assert "class_path: motionzoo.models.linear.LinearLifter" in result.stdout
    assert "precision: auto" in result.stdout
    assert "args parameter" not in result.stderr  # LightningCLI's warning when given args twice


def test_packaged_configs_are_the_repository_configs():
    assert packaged_configs() == sorted(
        f"{p.parent.name}/{p.stem}" for p in (REPO / "configs").glob("*/*.yaml")
    )
    for name in ("linear/h36m_synthetic", "configs/linear/h36m_synthetic.yaml"):
        assert packaged_config(name).samefile(CONFIG)
    assert packaged_config("linear/nope") is None


def test_config_arguments_resolve_to_packaged_configs_unless_a_file_exists(tmp_path):
    local = tmp_path / "mine.yaml"
    local.write_text("seed_everything: 1\n")
    args = ["fit", "--config", "graphsh/h36m_synthetic", "--config=linear/h36m_synthetic"]
    resolved = resolve_config_arguments(args + ["--config", str(local), "--config", "typo/x"])
    assert resolved[:2] == ["fit", "--config"]
    assert Path(resolved[2]).samefile(REPO / "configs" / "graphsh" / "h36m_synthetic.yaml")
    assert Path(resolved[3].removeprefix("--config=")).samefile(CONFIG)
    assert resolved[4:] == ["--config", str(local), "--config", "typo/x"]  # left to the parser


@pytest.mark.parametrize("command", [[str(BIN / "motionzoo")], [str(BIN / "lightning")]])
def test_fast_dev_run_from_the_console_scripts(command, tmp_path):
    _run(
        command
        + [
            "fit",
            "--config",
            str(CONFIG),
            "--trainer.fast_dev_run",
            "true",
            "--trainer.logger.init_args.save_dir",
            str(tmp_path),
        ],
        tmp_path,
    )
    # Without a logger (fast_dev_run) checkpoints go under lightning_logs/, never into a
    # ./checkpoints folder (the repository's pretrained weights live there).
    assert not (tmp_path / "checkpoints").exists()


def test_a_nested_datamodule_records_its_own_hyperparameters(tmp_path):
    config = REPO / "configs" / "vaegan" / "mug_synthetic.yaml"
    cli = build_cli(
        ["--config", str(config), "--trainer.logger.init_args.save_dir", str(tmp_path)], run=False
    )
    outer, source = cli.datamodule.hparams, cli.datamodule.source.hparams
    assert outer["frames_per_sequence"] == 4
    assert source["synthetic_subjects"] == 10 and source["target_fps"] == 9.5
    assert "frames_per_sequence" not in source


def test_overrides_reach_the_objects(tmp_path):
    cli = build_cli(
        [
            "--config",
            str(CONFIG),
            "--trainer.max_epochs",
            "3",
            "--model.init_args.width",
            "64",
            "--trainer.logger.init_args.save_dir",
            str(tmp_path),
            "--checkpoint.monitor",
            "val/p_mpjpe",
        ],
        run=False,
    )
    assert cli.trainer.max_epochs == 3
    assert cli.model.hparams.width == 64
    assert cli.trainer.precision == "32-true"
    assert cli.trainer.checkpoint_callback.monitor == "val/p_mpjpe"
    assert cli.trainer.checkpoint_callback.save_last


def _logged_test_metrics(log_dir: Path) -> dict[str, float]:
    (metrics_file,) = log_dir.rglob("metrics.csv")
    with open(metrics_file) as f:
        rows = list(csv.DictReader(f))
    return {k: float(v) for row in rows for k, v in row.items() if k.startswith("test/") and v}


def test_ddp_two_processes_log_the_same_mpjpe(tmp_path, tiny_checkpoint):
    results = {}
    for devices in ("1", "2"):
        log_dir = tmp_path / f"devices{devices}"
        _run(
            [
                sys.executable,
                "-m",
                "motionzoo",
                "test",
                "--config",
                str(CONFIG),
                "--ckpt_path",
                str(tiny_checkpoint),
                "--model.init_args.width",
                "64",
                "--trainer.accelerator",
                "cpu",
                "--trainer.devices",
                devices,
                "--trainer.strategy",
                "ddp" if devices == "2" else "auto",
                "--trainer.logger",
                "pytorch_lightning.loggers.CSVLogger",
                "--trainer.logger.save_dir",
                str(log_dir),
                "--trainer.callbacks",
                "[]",
            ],
            tmp_path,
        )
        results[devices] = _logged_test_metrics(log_dir)
    assert results["1"]["test/mpjpe"] > 0
    for key in ("test/mpjpe", "test/p_mpjpe", "test/pck", "test/auc"):
        assert results["2"][key] == pytest.approx(results["1"][key], rel=1e-5), key


def run_main(argv: list[str], monkeypatch) -> int:
    monkeypatch.setattr("sys.argv", ["motionzoo", *argv])
    monkeypatch.delenv("MOTIONZOO_TRACEBACK", raising=False)
    try:
        main(argv)
    except SystemExit as exit:
        return exit.code
    return 0


def test_version_and_the_model_index(monkeypatch, capsys):
    import motionzoo

    assert run_main(["--version"], monkeypatch) == 0
    assert capsys.readouterr().out.strip() == f"motionzoo {motionzoo.__version__}"
    assert run_main(["models"], monkeypatch) == 0
    index = capsys.readouterr().out
    for name in motionzoo.models.__all__:
        assert f"\n{name}  (" in f"\n{index}"
    for name in motionzoo.list_pretrained():  # with its config and metrics
        entry = motionzoo.pretrained_info(name)
        assert f"pretrained {name}: " in index and entry["config"] in index


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["fit", "--config", "nope.yaml"], "config: File does not exist"),
        (["fit", "--config", "linear/h36m_synthetic", "--model.init_args.widht", "3"],
         "model (motionzoo.models.linear.LinearLifter): Option 'widht' is not accepted; "
         "did you mean 'width'?"),
        (["fit", "--config", "linear/h36m_synthetic", "--model.init_args.width", "abc"],
         "model (motionzoo.models.linear.LinearLifter): width: expected int, got 'abc'"),
        (["fit", "--config", "linear/h36m_synthetic", "--trainer.max_epochs", "x"],
         "trainer.max_epochs: expected int or None, got 'x'"),
        (["fitt", "--config", "linear/h36m_synthetic"], "invalid choice: 'fitt'"),
        (["fit", "--config", "linear/h36m_synthetic", "--data.init_args.root", "/no/such/dir"],
         "/no/such/dir: folder not found"),
    ],
)  # fmt: skip
def test_common_mistakes_print_one_line_and_exit_2(argv, expected, monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    argv = argv + ["--trainer.logger", "false"] if argv[0] == "fit" else argv
    assert run_main(argv, monkeypatch) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert expected in lines[-1] and "error:" in lines[-1]
    assert not any(line.startswith(("usage:", "Traceback")) for line in lines)


def test_traceback_flag_shows_the_full_error(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    argv = ["fit", "--config", "linear/h36m_synthetic", "--trainer.logger", "false"]
    with pytest.raises(FileNotFoundError, match="/no/such/dir"):
        run_main(argv + ["--data.init_args.root", "/no/such/dir", "--traceback"], monkeypatch)


def test_fit_runs_without_a_logger(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["motionzoo"])
    monkeypatch.chdir(tmp_path)
    cli = build_cli(
        ["fit", "--config", "linear/h36m_synthetic", "--trainer.logger", "false"]
        + ["--trainer.max_steps", "2", "--trainer.limit_val_batches", "1"]
        + ["--model.init_args.width", "32", "--trainer.default_root_dir", str(tmp_path)]
        + ["--trainer.enable_progress_bar", "false"]
    )
    assert cli.trainer.global_step == 2 and not cli.trainer.loggers


def test_no_cloud_logger_advert_at_trainer_start(caplog):
    import logging

    from motionzoo.trainer import Trainer

    with caplog.at_level(logging.INFO):
        Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
    assert "litlogger" not in caplog.text
