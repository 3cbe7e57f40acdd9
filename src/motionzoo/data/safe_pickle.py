"""Reading the pickles inside published dataset files without ever running code.

Two published formats hold pickles: the H36M-Toolbox annotations (a pickled list of per-frame
dicts) and the VideoPose3D npz files (``positions_3d`` / ``positions_2d`` / ``metadata`` are
0-d object arrays, i.e. pickled dicts). Both are read with :class:`RestrictedUnpickler`, which
builds only Python containers, numbers, strings and numpy arrays / scalars: any other global a
pickle names (a function to call, a class to build) is refused before it is imported, so a
crafted file raises a ValueError naming it instead of running its payload. :func:`open_npz` and
:func:`load_npy` open numpy files with ``allow_pickle=False`` and tell a truncated file or another
format apart (numpy would try to unpickle anything that is not an npy / npz).
"""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path
from typing import IO, Any

import numpy as np

from motionzoo.data.validate import named_errors

# Globals a data pickle may name: numpy's array / scalar / dtype reconstructors and a few
# harmless builtins (pickle protocol 2 stores bytes through _codecs.encode).
SAFE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "bytearray"),
        ("builtins", "slice"),
        ("collections", "OrderedDict"),
    }
)
_PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


class ForeignPickleError(ValueError):
    """A pickle names a global outside :data:`SAFE_GLOBALS` (it was not imported nor called)."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that builds only containers, numbers, strings and numpy arrays / scalars.

    ``where`` (the file, and the key inside it) and ``expected`` (what it should hold) make the
    refusal message.
    ``latin1`` decodes the numpy arrays of Python 2 pickles (H36M-Toolbox's)."""

    def __init__(self, file: IO[bytes], where: str | Path, expected: str):
        super().__init__(file, encoding="latin1")
        self.where, self.expected = where, expected

    def find_class(self, module: str, name: str):
        module = _PY2_MODULES.get(module, module)
        if (module, name) not in SAFE_GLOBALS:
            raise ForeignPickleError(
                f"{self.where}: the pickle names {module}.{name}; only containers, numbers, "
                f"strings and numpy arrays are read (expected {self.expected}), nothing is run"
            )
        return super().find_class(module, name)


def load_pickle(path: str | Path, expected: str) -> Any:
    """The object pickled in the file at ``path``, through :class:`RestrictedUnpickler`;
    ValueError naming the file for a foreign, truncated or broken pickle."""
    with named_errors(path, "the pickle", expected), open(path, "rb") as f:
        return RestrictedUnpickler(f, path, expected).load()


def load_npz_entry(npz: np.lib.npyio.NpzFile, key: str, path: str | Path, expected: str):
    """``npz[key]`` of an npz opened with ``allow_pickle=False``: plain arrays as numpy reads
    them, object arrays (pickles) through :class:`RestrictedUnpickler`. Errors are ValueErrors
    naming the file and the key."""
    where = f"{path}: key {key!r}"
    with named_errors(where, "it", expected), npz.zip.open(f"{key}.npy") as member:
        version = np.lib.format.read_magic(member)
        header = (
            np.lib.format.read_array_header_1_0
            if version == (1, 0)
            else np.lib.format.read_array_header_2_0
        )
        shape, _, dtype = header(member)
        if not dtype.hasobject:
            return npz[key]
        array = RestrictedUnpickler(member, where, expected).load()
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ValueError(
            f"{where} holds a {type(array).__name__} instead of the object array of shape "
            f"{shape} its header announces; expected {expected}"
        )
    return array


def open_npz(path: str | Path, expected: str) -> np.lib.npyio.NpzFile:
    """``np.load(path, allow_pickle=False)`` of an npz archive (use it in ``with``); a ValueError
    naming the file when it is no zip archive (truncated, empty, another format) or unreadable."""
    with named_errors(path, "the npz", expected):
        if Path(path).is_dir():
            raise ValueError(f"{path}: a folder; expected {expected}")
        if not zipfile.is_zipfile(path):
            raise ValueError(
                f"{path}: not an npz (zip) archive ({Path(path).stat().st_size} bytes: truncated, "
                f"or another format); expected {expected}"
            )
        return np.load(path, allow_pickle=False)


def load_npy(path: str | Path, expected: str, mmap_mode: str | None = None) -> np.ndarray:
    """``np.load(path, mmap_mode, allow_pickle=False)`` of a ``.npy`` array; a ValueError naming
    the file when it is no ``.npy`` (another format), truncated, or holds Python objects."""
    with named_errors(path, "the array", expected):
        with open(path, "rb") as f:
            magic = f.read(len(np.lib.format.MAGIC_PREFIX))
        if magic != np.lib.format.MAGIC_PREFIX:
            raise ValueError(f"{path}: not a .npy file (no numpy header); expected {expected}")
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
