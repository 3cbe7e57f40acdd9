"""What every DataModule shares (motionzoo.data.base.DataModule): one option vocabulary, the
embedded synthetic set written once into the cache (or into root), one cache folder scheme, and
the loader options; checked once here for every DataModule the package exports."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch

import motionzoo.data
from motionzoo.data import (
    AMASSDataModule,
    FramesDataModule,
    H36MImageDataModule,
    H36MMotionDataModule,
    H36MPoseDataModule,
    MUGDataModule,
    SpritesDataModule,
)
from motionzoo.data.base import DataModule, frame_step

# The smallest synthetic set of each DataModule that still fills every split.
TINY = {
    AMASSDataModule: {},
    H36MMotionDataModule: dict(synthetic_frames=40, clip_length=10, stride=5),
    H36MPoseDataModule: dict(synthetic_frames=12),
    H36MImageDataModule: dict(
        image_size=32,
        synthetic_subjects=("S1", "S9"),
        synthetic_actions=("Sitting",),
        synthetic_frames=10,
        synthetic_takes=1,
        synthetic_size=96,
        train_subjects=("S1",),
        test_subjects=("S9",),
    ),  # fmt: skip
    MUGDataModule: dict(
        synthetic_subjects=2, synthetic_takes=1, synthetic_frames=16, split_by="take"
    ),  # fmt: skip
    SpritesDataModule: dict(synthetic_characters=3),
}
DATASETS = list(TINY)
LOADER_OPTIONS = {"batch_size", "eval_batch_size", "num_workers", "pin_memory"}
FILE_OPTIONS = {"root", "synthetic_into_root", "cache_dir"}
RETIRED = {
    "synthetic", "train_stride", "window", "sample_rate", "downsample", "size", "num_subjects",
    "takes_per_expression", "frames_per_take", "image_format", "num_characters",
}  # fmt: skip
ids = pytest.mark.parametrize("cls", DATASETS, ids=lambda cls: cls.__name__)


def build(cls, cache, **options) -> DataModule:
    dm = cls(cache_dir=str(cache), **{**TINY[cls], **options})
    dm.prepare_data()
    dm.setup()
    return dm


def snapshot(folder: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """A cache folder shared by the tests that only read what is built in it."""
    return tmp_path_factory.mktemp("shared_cache")


@pytest.mark.parametrize("name", motionzoo.data.__all__)
def test_every_datamodule_speaks_the_shared_vocabulary(name):
    cls = getattr(motionzoo.data, name)
    parameters = inspect.signature(cls).parameters
    shared = LOADER_OPTIONS | (FILE_OPTIONS if issubclass(cls, DataModule) else set())
    assert shared <= set(parameters), f"{name} lacks {shared - set(parameters)}"
    assert not RETIRED & set(parameters), f"{name} still has {RETIRED & set(parameters)}"
    defaults = {k: parameters[k].default for k in shared - {"batch_size"}}
    expected = {"num_workers": 0, "synthetic_into_root": False}
    assert defaults == {k: expected.get(k) for k in defaults}  # root, eval_batch_size, ...: None
    assert issubclass(cls, DataModule) or "source" in parameters  # the frames view wraps one


@ids
def test_root_none_writes_the_synthetic_set_once_into_the_cache(cls, tmp_path):
    dm = build(cls, tmp_path)
    folder = tmp_path / cls.cache_name
    assert dm.cache_dir == tmp_path and dm.data_dir.parent == folder
    assert dm.data_dir.name.startswith("synthetic-") and any(dm.data_dir.iterdir())
    entries = {p.name for p in folder.iterdir()}
    assert entries <= {dm.data_dir.name, "processed"}, "one folder scheme, nothing half-written"
    assert not [p for p in tmp_path.rglob(".*")], "no temporary file or folder left behind"
    if cls is not SpritesDataModule:  # Sprites reads its arrays directly, without a cache
        processed = list((folder / "processed").iterdir())
        assert processed and all(p.suffix in (".npz", ".npy") for p in processed)
    before = snapshot(tmp_path)
    build(cls, tmp_path)
    assert snapshot(tmp_path) == before, "written once, read back the second time"
    other = cls(cache_dir=str(tmp_path), synthetic_seed=1, **TINY[cls])
    assert other.data_dir.parent == folder and other.data_dir != dm.data_dir


@ids
def test_the_cache_folder_is_motionzoo_cache_unless_given(cls, motionzoo_cache, tmp_path):
    dm = cls(**TINY[cls])
    assert dm.cache_dir == motionzoo_cache
    assert dm.data_dir.parent == motionzoo_cache / cls.cache_name
    assert dm.processed_file("key") == motionzoo_cache / cls.cache_name / "processed" / "key.npz"
    assert cls(root=str(tmp_path), **TINY[cls]).data_dir == tmp_path


@ids
def test_synthetic_into_root_fills_a_missing_or_empty_root(cls, tmp_path):
    root = tmp_path / "root"
    root.mkdir()  # empty: filled too
    dm = build(cls, tmp_path / "cache", root=str(root), synthetic_into_root=True)
    assert dm.data_dir == root and any(root.iterdir())
    assert not list((tmp_path / "cache").glob("*/synthetic-*")), "nothing written to the cache"
    assert len(dm.train_dataloader().dataset) > 0
    with pytest.raises(ValueError, match=r"synthetic_into_root=True; expected a root folder"):
        cls(synthetic_into_root=True, **TINY[cls])


@ids
def test_a_missing_root_is_named_with_the_expected_layout(cls, tmp_path):
    dm = cls(root=str(tmp_path / "nowhere"), cache_dir=str(tmp_path), **TINY[cls])
    with pytest.raises(
        FileNotFoundError, match=r"nowhere: folder not found; expected .*root: null"
    ):
        dm.prepare_data()
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.parametrize("cls", [*DATASETS, FramesDataModule], ids=lambda cls: cls.__name__)
def test_loader_options_are_honoured(cls, cache):
    def make(**options):
        if cls is FramesDataModule:
            dm = FramesDataModule(build(SpritesDataModule, cache), **options)
            dm.setup()
            return dm
        return build(cls, cache, **options)

    dm = make(batch_size=2, eval_batch_size=3, num_workers=1, pin_memory=False)
    train, val, test = dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()
    assert (train.batch_size, val.batch_size, test.batch_size) == (2, 3, 3)
    for loader in (train, val, test):
        assert loader.num_workers == 1 and loader.persistent_workers and not loader.pin_memory
    assert isinstance(train.sampler, torch.utils.data.RandomSampler)
    assert isinstance(val.sampler, torch.utils.data.SequentialSampler)
    assert dm.predict_dataloader().dataset is test.dataset
    defaults = make(batch_size=4)
    val = defaults.val_dataloader()
    assert val.batch_size == 4 and val.num_workers == 0
    assert val.pin_memory == torch.cuda.is_available()
    assert sum(len(next(iter(b.values()))) for b in val) == len(val.dataset)


LOADER_ERRORS = [
    ("batch_size", 0, r"batch_size=0; expected an integer >= 1"),
    ("eval_batch_size", 0, r"eval_batch_size=0; expected None \(batch_size\) or >= 1"),
    ("num_workers", -1, r"num_workers=-1; expected an integer >= 0"),
]


@pytest.mark.parametrize("option, value, message", LOADER_ERRORS, ids=[e[0] for e in LOADER_ERRORS])
@pytest.mark.parametrize("cls", [*DATASETS, FramesDataModule], ids=lambda cls: cls.__name__)
def test_loader_options_are_checked(cls, option, value, message):
    source = SpritesDataModule() if cls is FramesDataModule else None
    with pytest.raises(ValueError, match=rf"{cls.__name__}: {message}"):
        cls(source, **{option: value}) if source else cls(**{option: value})


@pytest.mark.parametrize(
    "cls, option, value, message",
    [
        (H36MMotionDataModule, "stride", 0, r"stride=0; expected an integer >= 1"),
        (H36MPoseDataModule, "stride", 0, r"stride=0; expected an integer >= 1"),
        (H36MImageDataModule, "eval_stride", 0, r"eval_stride=0; expected None \(stride\) or"),
        (AMASSDataModule, "clip_length", 0, r"clip_length=0; expected an integer >= 1"),
        (MUGDataModule, "clip_length", 0, r"clip_length=0; expected an integer >= 1"),
        (AMASSDataModule, "target_fps", 0, r"target_fps=0; expected a frame rate > 0"),
        (H36MMotionDataModule, "target_fps", -25, r"target_fps=-25; expected a frame rate"),
        (MUGDataModule, "target_fps", 0.0, r"target_fps=0.0; expected a frame rate > 0"),
        (MUGDataModule, "image_size", 4, r"image_size=4; expected pixels >= 8"),
        (H36MImageDataModule, "crop", "center",
         r"crop='center'; expected one of \('box', 'joints'\)"),
        (MUGDataModule, "crop", "joints",
         r"crop='joints'; expected one of \('box', 'center', 'none'\)"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else None,
)  # fmt: skip
def test_vocabulary_options_are_checked_with_their_names(cls, option, value, message):
    with pytest.raises(ValueError, match=rf"{cls.__name__}: {message}"):
        cls(**{option: value})


def test_frame_step_is_the_rate_quotient_rounded_down():
    assert frame_step(50, 25) == 2  # Human3.6M exp-map files, HisRepItself's sample_rate 2
    assert frame_step(19, 9.5) == 2  # MUG, "speed 2"
    assert [frame_step(rate, 25) for rate in (60, 100, 120, 250)] == [2, 4, 4, 10]  # AMASS
    assert frame_step(50, 50 / 3) == 3 and frame_step(25, 50) == 1
