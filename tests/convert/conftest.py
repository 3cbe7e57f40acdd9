"""What the converters' end-to-end tests share: a reference-format file through ``motionzoo convert``
and the converted checkpoint through ``motionzoo test --ckpt_path``, both as a user types them
(in ``tmp_path``). The error checklist is one parametrised suite: ``test_checklist.py``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def motionzoo_command(tmp_path, monkeypatch) -> None:
    """The console script's set-up: no arguments of pytest's in ``sys.argv``, run in
    ``tmp_path``."""
    monkeypatch.setattr("sys.argv", ["motionzoo"])
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def motionzoo_convert(motionzoo_command) -> Callable[[str, Path, Path], None]:
    """``motionzoo convert --from source src dst``: exits 0 and writes ``dst``."""
    from motionzoo.cli import main

    def run(source: str, src: Path, dst: Path) -> None:
        with pytest.raises(SystemExit) as exit:
            main(["convert", "--from", source, str(src), str(dst)])
        assert exit.value.code == 0 and dst.is_file()

    return run


@pytest.fixture
def motionzoo_test(motionzoo_command) -> Callable:
    """``motionzoo test --config config --ckpt_path ckpt [options]`` on ``batches`` test batches,
    without logger and progress bar; returns the LightningCLI (its ``model`` and ``trainer``)."""
    from motionzoo.cli import build_cli

    def run(config: str | Path, ckpt: Path, *options: str, batches: int = 2):
        return build_cli(
            ["test", "--config", str(config), "--ckpt_path", str(ckpt), *options]
            + ["--trainer.logger", "false", "--trainer.limit_test_batches", str(batches)]
            + ["--trainer.enable_progress_bar", "false"]
        )

    return run
