"""Fetch a file over http(s) atomically and sha256-checked (torch.hub's
``download_url_to_file``).

The body is streamed to a temporary file in the destination's folder, fsynced, and its sha256
compared with the expected one before the file is renamed into place (``os.replace`` is atomic on
POSIX), so an HTTP error, a reset connection, a transfer shorter than its Content-Length or a
corrupt body leaves no file behind. A progress bar goes to stderr (tqdm when installed).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from motionzoo.data.cache import atomic_write


class ChecksumError(ValueError):
    """A file's sha256 differs from the one it was published with."""


class DownloadError(OSError):
    """A url could not be fetched (HTTP error, refused, reset or truncated transfer)."""


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class _PercentLine:
    """The progress bar when tqdm is not installed: one stderr line, rewritten per percent."""

    def __init__(self, total: int | None, desc: str, disable: bool) -> None:
        self.total, self.desc, self.disable = total, desc, disable
        self.done, self.shown = 0, None

    def update(self, n: int) -> None:
        self.done += n
        shown = 100 * self.done // self.total if self.total else _size(self.done)
        if not self.disable and shown != self.shown:
            self.shown = shown
            text = f"{shown:3d}% of {_size(self.total)}" if self.total else shown
            print(f"\r{self.desc}: {text}", end="", file=sys.stderr, flush=True)

    def __enter__(self) -> _PercentLine:
        return self

    def __exit__(self, *exc) -> None:
        if not self.disable and self.shown is not None:
            print(file=sys.stderr)


def _progress_bar(total: int | None, desc: str, disable: bool):
    try:
        from tqdm import tqdm
    except ImportError:
        return _PercentLine(total, desc, disable)
    return tqdm(
        total=total,
        desc=desc,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=disable,
    )


def _chunks(response, url: str, total: int | None) -> Iterator[bytes]:
    """The body of ``response``; a reset connection or fewer bytes than its Content-Length (which
    http.client reports as a normal end) raise :class:`DownloadError`."""
    received = 0
    while True:
        try:
            chunk = response.read(1 << 16)
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(
                f"{url}: the transfer broke off after {received} of {total or '?'} bytes "
                f"({error}); nothing was saved"
            ) from error
        if not chunk:
            break
        received += len(chunk)
        yield chunk
    if total is not None and received < total:
        raise DownloadError(
            f"{url}: the transfer was truncated: {received} of {total} bytes arrived; nothing "
            f"was saved"
        )


def download(url: str, path: Path, sha256: str, *, progress: bool = True) -> Path:
    """Stream ``url`` to a temporary file beside ``path``, fsync it and check its sha256, and
    only then rename it to ``path`` (torch.hub's ``download_url_to_file``): a failed, truncated
    or corrupt transfer leaves no file behind."""
    if urlparse(url).scheme not in ("http", "https"):
        raise ValueError(f"{url}: only http(s) urls are downloaded")
    request = urllib.request.Request(url, headers={"User-Agent": "motionzoo"})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except OSError as error:  # urllib.error.URLError and HTTPError are OSErrors
        reason = (
            f"HTTP {error.code} {error.reason}"
            if isinstance(error, urllib.error.HTTPError)
            else getattr(error, "reason", error)
        )
        raise DownloadError(f"{url}: download failed: {reason}") from error
    with response:
        total = int(response.headers.get("Content-Length") or 0) or None
        if progress:
            print(f"Downloading {url} to {path} ({_size(total)})", file=sys.stderr)

        def write(tmp: Path) -> None:
            digest = hashlib.sha256()
            with open(tmp, "wb") as f, _progress_bar(total, path.name, not progress) as bar:
                for chunk in _chunks(response, url, total):
                    f.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
                f.flush()
                os.fsync(f.fileno())
            if digest.hexdigest() != sha256:
                raise ChecksumError(
                    f"{url}: the download's sha256 {digest.hexdigest()} does not match the "
                    f"expected {sha256}; nothing was saved"
                )

        return atomic_write(path, write)
