"""Checks every loader runs on what it read, before anything is processed or cached: numbers where
numbers are expected, no NaN / inf, images that decode. The array checks are vectorised (one
``np.isfinite`` over a whole array); errors are ValueErrors that name the file (and key), how many
values are bad and the first."""

from __future__ import annotations

import pickle
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

NUMERIC_KINDS = "biuf"  # bool, int, unsigned, float
# What a broken file (zip, npy, pickle, image) raises while being read.
READ_ERRORS = (
    pickle.UnpicklingError,
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    SyntaxError,  # Pillow's parsers, for some broken image headers
)


@contextmanager
def named_errors(where: str | Path, what: str, expected: str) -> Iterator[None]:
    """Whatever a broken file raises inside the block (:data:`READ_ERRORS`) becomes a ValueError
    ``"<where>: cannot read <what> (<error>); expected <expected>"``; ValueErrors that already
    start with ``where`` (the loaders' own, naming the file) pass unchanged, and so does
    FileNotFoundError."""
    try:
        yield
    except FileNotFoundError:
        raise
    except READ_ERRORS as error:
        if isinstance(error, ValueError) and str(error).startswith(str(where)):
            raise
        raise ValueError(f"{where}: cannot read {what} ({error}); expected {expected}") from error


def numeric(array, where: str, expected: str) -> np.ndarray:
    """``array`` as a numpy array of numbers; a ValueError naming ``where`` for strings, objects
    or anything else numpy cannot hold as numbers (e.g. "could not convert string to float")."""
    with named_errors(where, "it as numbers", expected):
        array = np.asarray(array)
    if array.dtype.kind not in NUMERIC_KINDS:
        sample = array.reshape(-1)[:1].tolist()
        raise ValueError(
            f"{where}: holds {array.dtype} values (e.g. {sample}), not numbers; expected {expected}"
        )
    return array


def first_non_finite(array: np.ndarray) -> tuple[int, tuple[int, ...]] | None:
    """(count, index of the first) of the NaN / inf values of ``array``; None if all finite."""
    finite = np.isfinite(array)
    if finite.all():
        return None
    bad = ~finite
    return int(bad.sum()), tuple(int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))


def check_finite(
    array: np.ndarray, where: str, axes: Sequence[str] = (), offset: int = 0
) -> np.ndarray:
    """``array`` unchanged if all its values are finite, else a ValueError naming ``where``, the
    number of NaN / inf values and the first one's location; ``axes`` names the array's axes
    (e.g. ``("frame", "joint", "coordinate")``; ``axis i`` otherwise) and ``offset`` is added to the
    first axis' index (``array`` a block of a larger one)."""
    found = first_non_finite(array)
    if found is None:
        return array
    count, index = found
    value = array[index]
    index = (index[0] + offset, *index[1:]) if index else index
    names = list(axes) + [f"axis {i}" for i in range(len(axes), len(index))]
    at = ", ".join(f"{name} {i}" for name, i in zip(names, index))
    raise ValueError(
        f"{where}: {count} non-finite value{'s' if count > 1 else ''} (NaN / inf; the first, "
        f"{value}, at {at or 'the scalar'}); expected finite numbers"
    )


@contextmanager
def open_image(path: str | Path) -> Iterator[Image.Image]:
    """``PIL.Image.open(path)`` as a context manager; a ValueError naming the file when it is a
    folder or not an image (FileNotFoundError, which names it, when it is missing)."""
    with named_errors(path, "the image", "a jpg / png"):
        image = Image.open(path)
    with image:
        yield image


def rgb(image: Image.Image, path: str | Path) -> Image.Image:
    """The decoded RGB pixels of an opened image; a ValueError naming the file when the data is
    truncated or corrupt (Pillow decodes lazily, so this is where a broken file shows)."""
    with named_errors(path, "the image's pixels", "a complete jpg / png; truncated?"):
        return image.convert("RGB")
