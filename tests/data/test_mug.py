"""MUG: procedural faces -> MUG folder layout -> MUGDataModule (files and cache), and its errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from motionzoo.data.mug import MUG_FPS, MUGDataModule, face_box, scan_mug
from motionzoo.data.synthetic.faces import EXPRESSIONS, iter_takes, write_mug

SMALL = dict(num_subjects=3, takes=2, frames=20)  # 36 takes of 20 frames


@pytest.fixture(scope="module")
def png64(tmp_path_factory):
    """64x64 png takes: no crop and no resize needed, so the loader must return them exactly."""
    root = tmp_path_factory.mktemp("mug_png")
    write_mug(root, size=64, image_format="png", seed=1, **SMALL)
    return root


@pytest.fixture(scope="module")
def jpg128(tmp_path_factory):
    root = tmp_path_factory.mktemp("mug_jpg")
    write_mug(root, size=128, image_format="jpg", seed=2, **SMALL)
    return root


def test_layout_and_label_order(png64):
    takes = scan_mug(png64, step=2, min_frames=8)
    assert len(takes) == 3 * 6 * 2
    assert (png64 / "subjects3/001/happiness/take001/img_0020.png").exists()
    assert EXPRESSIONS.index("happiness") == 2 and EXPRESSIONS.index("fear") == 3
    happy = [t for t in takes if t.frames[0].parts[-3] == "happiness"]
    assert {t.expression for t in happy} == {2}
    assert [p.name for p in takes[0].frames][:3] == ["img_0001.png", "img_0003.png", "img_0005.png"]


def test_loader_round_trip_exact(png64, tmp_path):
    """Evaluation clips are the middle 8 of the kept (every 2nd) frames, scaled p / 127.5 - 1."""
    dm = MUGDataModule(
        root=str(png64), crop="none", image_size=64, split_by="take", val_fraction=0.0,
        test_fraction=0.5, cache=False, batch_size=64,
    )  # fmt: skip
    dm.setup()
    data = dm.datasets["test"]
    expected = {(s, e, t): v for s, e, t, v in iter_takes(seed=1, size=64, **SMALL)}
    for i in range(len(data)):
        take = data.takes[i]
        video = expected[(take.subject, EXPRESSIONS[take.expression], take.name)]
        clip = video[::2][1:9]  # 10 kept frames -> 3 possible clips -> the middle one
        item = data[i]
        want = torch.from_numpy(clip).permute(0, 3, 1, 2).float() / 127.5 - 1
        torch.testing.assert_close(item["frames"], want, rtol=0, atol=0)
        assert item["action"] == item["expression"] == take.expression
        assert item["identity"] == dm.subjects.index(take.subject)


def test_cache_gives_the_same_clips_as_the_files(jpg128, tmp_path):
    common = dict(root=str(jpg128), crop="box", split_by="subject", val_fraction=0.34,
                  test_fraction=0.34, batch_size=100, cache_dir=str(tmp_path))  # fmt: skip
    files, cached = MUGDataModule(cache=False, **common), MUGDataModule(cache=True, **common)
    cached.prepare_data()
    assert len(list((tmp_path / "mug" / "processed").glob("*.npz"))) == 1
    for dm in (files, cached):
        dm.setup()
    for split in ("val", "test"):
        loaders = {"val": "val_dataloader", "test": "test_dataloader"}[split]
        a, b = (next(iter(getattr(dm, loaders)())) for dm in (files, cached))
        assert a["frames"].shape == (12, 8, 3, 64, 64)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=0, atol=0)
    train = next(iter(cached.train_dataloader()))
    assert train["frames"].shape == (12, 8, 3, 64, 64) and train["frames"].abs().max() <= 1


def test_split_by_subject_and_by_take(jpg128, tmp_path):
    by_subject = MUGDataModule(root=str(jpg128), test_subjects=["002"], val_subjects=["003"],
                               cache=False)  # fmt: skip
    by_subject.setup()
    ids = {s: set(by_subject.datasets[s].identity.tolist()) for s in ("train", "val", "test")}
    assert ids == {"train": {0}, "val": {2}, "test": {1}}
    by_take = MUGDataModule(root=str(jpg128), split_by="take", val_fraction=0.25,
                            test_fraction=0.25, cache=False)  # fmt: skip
    by_take.setup()
    assert set(by_take.datasets["train"].identity.tolist()) == {0, 1, 2}
    assert sum(len(by_take.datasets[s]) for s in ("train", "val", "test")) == 36
    with pytest.raises(ValueError, match=r"subjects \['999'\] not found"):
        MUGDataModule(root=str(jpg128), test_subjects=["999"], cache=False).setup()


def test_box_crop_finds_the_face(jpg128):
    path = jpg128 / "subjects3/001/anger/take000/img_0010.jpg"
    left, top, right, bottom = face_box(path, "box", margin=0.15)
    assert right - left == bottom - top and 40 < right - left < 128
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    background = image[0, 0]
    crop = image[top:bottom, left:right]
    assert (np.abs(crop - background).max(-1) > 30).mean() > 0.25  # an oval face in a square
    outside = np.abs(image - background).max(-1) > 30
    outside[top:bottom, left:right] = False
    assert outside.sum() < 0.02 * outside.size  # (almost) nothing of the face left out
    assert face_box(path, "center", center_fraction=0.5) == (32, 32, 96, 96)


def test_skips_bad_takes_other_folders_and_sorts_frames_by_number(tmp_path):
    frame = Image.new("RGB", (32, 32), (10, 20, 30))
    base = tmp_path / "subjects3" / "007"
    for take, names in {
        "happiness/take000": [f"img_{i}.png" for i in (1, 2, 10, 3, 4, 5, 6, 7, 8, 9)],
        "happiness/take001_nsg": ["img_1.png"] * 1,
        "neutral/take000": ["img_1.png"],
        "fear/take000": ["img_1.png", "img_2.png"],  # too short: skipped with a warning
    }.items():
        (base / take).mkdir(parents=True)
        for name in names:
            frame.save(base / take / name)
    with pytest.warns(UserWarning, match="skipped 1 takes"):
        takes = scan_mug(tmp_path, step=1, min_frames=8)
    assert len(takes) == 1 and takes[0].expression == 2
    assert [p.stem for p in takes[0].frames] == [f"img_{i}" for i in range(1, 11)]


def test_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"subjects3: not found; a MUG root holds"):
        MUGDataModule(root=str(tmp_path), cache=False).setup()
    (tmp_path / "subjects3" / "001" / "anger").mkdir(parents=True)
    with pytest.raises(ValueError, match="no usable takes"):
        scan_mug(tmp_path)
    take = tmp_path / "subjects3" / "001" / "anger" / "take000"
    take.mkdir()
    for i in range(16):
        (take / f"img_{i:04d}.jpg").write_bytes(b"not a jpeg")
    dm = MUGDataModule(root=str(tmp_path), split_by="take", val_fraction=0, test_fraction=0,
                       cache=False, crop="center")  # fmt: skip
    dm.setup()
    with pytest.raises(ValueError, match=r"img_00\d\d.jpg: cannot read the image"):
        dm.datasets["train"][0]


def test_synthetic_default_in_the_mug_layout():
    """root=None: procedural faces in the MUG layout (writing once into the cache:
    tests/data/test_base.py), every 2nd frame of 16 in clips of 8."""
    dm = MUGDataModule(synthetic_subjects=2, synthetic_takes=1, synthetic_frames=16,
                       split_by="take", batch_size=4)  # fmt: skip
    dm.prepare_data()
    assert (dm.data_dir / "subjects3" / "002" / "surprise" / "take000" / "img_0016.jpg").exists()
    dm.setup()
    assert dm.num_identities == 2
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (4, 8, 3, 64, 64)
    assert dm.hparams.target_fps * 2 == MUG_FPS == 19


def test_a_fraction_that_selects_no_subject_is_named(tmp_path):
    dm = MUGDataModule(synthetic_subjects=3, synthetic_takes=1, synthetic_frames=16,
                       cache_dir=str(tmp_path), val_fraction=0.1)  # fmt: skip
    dm.prepare_data()
    with pytest.raises(ValueError, match="val_fraction=0.1 of 3 subjects selects none"):
        dm.setup()
