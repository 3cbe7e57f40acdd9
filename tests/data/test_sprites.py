"""Sprites: procedural characters -> DSVAE .npy files -> SpritesDataModule, and its errors."""

import numpy as np
import pytest
import torch

from motionzoo.data.sprites import SpritesDataModule, read_sprites
from motionzoo.data.synthetic.sprites import (
    make_sprites,
    render_sequence,
    split_characters,
    write_sprites,
)

N_CHARACTERS = 5  # 4 train / 1 test characters, 45 sequences


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("sprites")
    write_sprites(root, num_characters=N_CHARACTERS, seed=3)
    return root, make_sprites(N_CHARACTERS, seed=3)


def test_files_have_the_published_shapes_dtypes_and_scaling(written):
    root, arrays = written
    for split, n_chars in (("train", 4), ("test", 1)):
        x = np.load(root / f"sprites_X_{split}.npy")
        a = np.load(root / f"sprites_A_{split}.npy")
        d = np.load(root / f"sprites_D_{split}.npy")
        n = 9 * n_chars
        assert x.shape == (n, 8, 64, 64, 3) and x.dtype == np.float32
        assert a.shape == (n, 8, 4, 6) and a.dtype == np.float32
        assert d.shape == (n, 8, 9) and d.dtype == np.float64
        assert x.max() <= 255 / 256 and x.min() >= 0
        np.testing.assert_array_equal(x * 256, np.rint(x * 256))  # bytes / 256, not / 255
        np.testing.assert_array_equal(np.bincount(d[:, 0].argmax(-1), minlength=9), [n_chars] * 9)
        np.testing.assert_array_equal(x, arrays[split]["X"])


def test_character_split():
    full = split_characters(1296)  # the real split: 1000 / 296
    assert len(full["train"]) == 1000 and len(full["test"]) == 296
    assert len(np.unique(np.concatenate([full["train"], full["test"]]), axis=0)) == 1296
    small = split_characters(200)  # same 1000:296 share; pairs of attribute values balanced
    assert len(small["train"]) == 154 and len(small["test"]) == 46
    assert len(np.unique(np.concatenate([small["train"], small["test"]]), axis=0)) == 200
    for i, j in [(0, 1), (0, 3), (2, 3)]:
        pairs = np.unique(small["train"][:, [i, j]], axis=0, return_counts=True)[1]
        assert len(pairs) == 36 and pairs.max() - pairs.min() <= 1


def test_loader_round_trip(written):
    """Every sequence read back equals what was generated, with bytes p -> p / 127.5 - 1."""
    root, arrays = written
    dm = SpritesDataModule(root=str(root), batch_size=64, val_fraction=0.0)
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()))
    x, a, d = (arrays["test"][k] for k in ("X", "A", "D"))
    expected = torch.from_numpy(np.rint(x * 256).transpose(0, 1, 4, 2, 3)) / 127.5 - 1
    torch.testing.assert_close(batch["frames"], expected.float(), rtol=0, atol=0)
    assert batch["frames"].min() == -1 and batch["frames"].dtype == torch.float32
    label = torch.from_numpy(d[:, 0].argmax(-1))
    torch.testing.assert_close(batch["action"], label)
    torch.testing.assert_close(batch["action"], 3 * batch["action3"] + batch["direction"])
    torch.testing.assert_close(batch["attributes"], torch.from_numpy(a[:, 0].argmax(-1)))
    for i, name in enumerate(("body", "bottom", "top", "hair")):
        torch.testing.assert_close(batch[name], batch["attributes"][:, i])


def test_validation_holds_out_whole_characters(written):
    root, _ = written
    dm = SpritesDataModule(root=str(root), val_fraction=0.25, batch_size=8)
    dm.setup("fit")
    train, val = (dm.datasets[s].arrays["attributes"].numpy() for s in ("train", "val"))
    assert len(train) + len(val) == 36 and len(val) == 9
    assert not {tuple(r) for r in train} & {tuple(r) for r in val}
    batch = next(iter(dm.train_dataloader()))
    assert batch["frames"].shape == (8, 8, 3, 64, 64)


def test_synthetic_default_splits_characters():
    """root=None: 3 procedural characters, 2 for training and validation, 1 for test (writing
    once into the cache: tests/data/test_base.py)."""
    dm = SpritesDataModule(synthetic_characters=3, batch_size=4)
    dm.setup()
    assert (
        len(dm.datasets["test"]) == 9 and len(dm.datasets["train"]) + len(dm.datasets["val"]) == 18
    )


def test_sequences_are_distinct():
    """Every action x direction of a character, and every value of every attribute, changes pixels."""
    base = (1, 2, 3, 4)
    seqs = [render_sequence(*base, label // 3, label % 3) for label in range(9)]
    for i in range(9):
        assert all(np.abs(seqs[i].astype(int) - seqs[j]).sum() > 0 for j in range(i))
        assert len({f.tobytes() for f in seqs[i]}) > 1  # frames move
    for attribute in range(4):
        for value in range(6):
            attrs = list(base)
            attrs[attribute] = value
            if value != base[attribute]:
                assert (render_sequence(*attrs, 0, 0) != seqs[0]).any()
    np.testing.assert_array_equal(seqs[2], seqs[1][:, :, ::-1])  # right = mirrored left


def test_missing_file_is_named(written, tmp_path):
    root, _ = written
    for key in ("X", "A"):
        (tmp_path / f"sprites_{key}_test.npy").write_bytes(
            (root / f"sprites_{key}_test.npy").read_bytes()
        )
    with pytest.raises(FileNotFoundError, match="sprites_D_test.npy"):
        read_sprites(tmp_path, "test")


def test_wrong_shape_is_named(written, tmp_path):
    root, _ = written
    for key in ("X", "D"):
        (tmp_path / f"sprites_{key}_test.npy").write_bytes(
            (root / f"sprites_{key}_test.npy").read_bytes()
        )
    np.save(tmp_path / "sprites_A_test.npy", np.zeros((9, 8, 6, 4), np.float32))
    with pytest.raises(
        ValueError, match=r"sprites_A_test.npy: shape \(9, 8, 6, 4\); expected \(N, 8, 4, 6\)"
    ):
        read_sprites(tmp_path, "test")


def test_bytes_instead_of_bytes_over_256_is_refused(written, tmp_path):
    root, arrays = written
    for key in ("A", "D"):
        (tmp_path / f"sprites_{key}_test.npy").write_bytes(
            (root / f"sprites_{key}_test.npy").read_bytes()
        )
    np.save(tmp_path / "sprites_X_test.npy", arrays["test"]["X"] * 256)
    with pytest.raises(ValueError, match=r"expected bytes / 256"):
        read_sprites(tmp_path, "test")
