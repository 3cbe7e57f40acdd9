"""Caches that never leave a half-written file.

A cache is one ``.npz`` file whose name carries a fingerprint of everything it was built from
(input files' paths, sizes and modification times, and the build parameters), so a changed input
or a changed option builds a new cache instead of reading a stale one. Files are written to a
temporary name in the same folder and renamed into place (``os.replace`` is atomic on POSIX), so
a crash or a broken input leaves either the old state or the complete new file.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

from motionzoo.data.progress import announce_build

CACHE_ENV = "MOTIONZOO_CACHE"


def default_cache_dir() -> Path:
    """``$MOTIONZOO_CACHE`` if set, else ``~/.cache/motionzoo``."""
    return Path(os.environ.get(CACHE_ENV, Path.home() / ".cache" / "motionzoo"))


def fingerprint(files: Iterable[str | os.PathLike] = (), **params) -> str:
    """A short hex digest of input files (path, size, mtime) and JSON-serialisable parameters."""
    h = hashlib.sha256()
    for f in sorted(str(Path(f).resolve()) for f in files):
        st = os.stat(f)
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


STALE_SECONDS = 60  # a temporary file untouched this long belongs to a killed writer


def sweep_stale_temporaries(
    path: str | os.PathLike, older_than: float = STALE_SECONDS, pattern: str | None = None
) -> None:
    """Remove the temporary files of ``path`` (or those matching ``pattern`` in its folder) that
    writers killed mid-write left behind: untouched for ``older_than`` seconds."""
    path = Path(path)
    now = time.time()
    for tmp in path.parent.glob(pattern or f".{glob.escape(path.name)}.*.tmp"):
        try:
            if now - tmp.stat().st_mtime >= older_than:
                tmp.unlink()
        except FileNotFoundError:  # another process swept it
            pass


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` on a temporary file in ``path``'s folder, fsync it and rename it
    to ``path``; on any error the temporary file is removed and ``path`` is untouched. Stale
    temporary files of ``path`` (killed writers) are swept first."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        write(tmp)
        with open(tmp, "rb") as f:  # on disk before the rename makes it visible
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_save_npz(path: str | os.PathLike, compressed: bool = False, **arrays) -> Path:
    """``np.savez`` to ``path`` atomically (the file name is kept exactly, no ``.npz`` added)."""
    save = np.savez_compressed if compressed else np.savez

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            save(f, **arrays)

    return atomic_write(path, write)


def write_cache(
    path: str | os.PathLike, build: Callable[[], Mapping[str, np.ndarray]], what: str
) -> dict[str, np.ndarray]:
    """Build the arrays and write them to ``path`` atomically, telling the user ``what`` is
    written where, its size and the time taken (:func:`~motionzoo.data.progress.announce_build`)."""
    with announce_build(what, path):
        arrays = dict(build())
        atomic_save_npz(path, **arrays)
    return arrays


def cached_arrays(
    path: str | os.PathLike,
    build: Callable[[], Mapping[str, np.ndarray]],
    what: str = "a processed cache",
) -> dict[str, np.ndarray]:
    """Load the arrays cached at ``path``, building and writing them first if absent
    (:func:`write_cache`)."""
    path = Path(path)
    if not path.exists():
        return write_cache(path, build, what)
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}
