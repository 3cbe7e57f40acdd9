"""What a first-time build prints: one "writing ... into <folder>" and one "wrote ...: <n> MiB in
<s> s" line per synthetic set and per processed cache, on stderr, on the global-zero process; a
second DataModule on the same cache prints nothing."""

from __future__ import annotations

import re
import sys

import pytest
from pytorch_lightning.utilities import rank_zero_only

from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.data.mug import MUGDataModule
from motionzoo.data.progress import disk_mebibytes, progress
from motionzoo.data.sprites import SpritesDataModule

TINY = {
    SpritesDataModule: dict(synthetic_characters=3),
    MUGDataModule: dict(synthetic_subjects=2, synthetic_takes=1, synthetic_frames=16,
                        synthetic_size=64, val_fraction=0, test_fraction=0.5),
    H36MPoseDataModule: dict(synthetic_frames=20),
}  # fmt: skip
BUILDS = {  # what each DataModule writes on first use
    SpritesDataModule: ["synthetic set"],
    MUGDataModule: ["synthetic set", "processed cache"],
    H36MPoseDataModule: ["synthetic set", "processed cache"],
}


def build(cls, cache_dir):
    dm = cls(cache_dir=str(cache_dir), **TINY[cls])
    dm.prepare_data()
    dm.setup()
    return dm


@pytest.mark.parametrize("cls", list(TINY), ids=lambda c: c.__name__)
def test_first_build_is_announced_once_and_a_second_is_silent(cls, tmp_path, capfd):
    dm = build(cls, tmp_path)
    err = capfd.readouterr().err
    name = cls.__name__
    for what in BUILDS[cls]:
        started = re.findall(rf"motionzoo: writing the {what} of {name} into (\S+) \.\.\.", err)
        done = re.findall(rf"motionzoo: wrote the {what} of {name}: (\d+) MiB in [\d.]+ s", err)
        assert len(started) == 1 and len(done) == 1, err
    synthetic = re.search(r"writing the synthetic set of \w+ into (\S+) ", err).group(1)
    assert synthetic == str(dm.data_dir)
    size = int(re.search(r"wrote the synthetic set of \w+: (\d+) MiB", err).group(1))
    assert size == round(disk_mebibytes(dm.data_dir))

    build(cls, tmp_path)  # everything is in place now
    assert "motionzoo" not in capfd.readouterr().err


def test_only_the_global_zero_process_speaks(tmp_path, capfd, monkeypatch):
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    dm = build(SpritesDataModule, tmp_path)
    assert dm.data_dir.is_dir() and capfd.readouterr().err == ""
    assert progress([1, 2], "files") == [1, 2]  # no bar either


def test_progress_without_tqdm_is_the_plain_iterable(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm now fails
    items = ["a", "b"]
    assert progress(items, "files") is items


def test_a_quick_loop_shows_no_bar(capfd):
    assert list(progress(range(5), "files")) == list(range(5))
    assert capfd.readouterr().err == ""  # the bar waits BAR_DELAY_S before showing
