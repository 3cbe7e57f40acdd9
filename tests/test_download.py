"""Pretrained weights published by url: fetched once from a local HTTP server on 127.0.0.1 into
the download folder, sha256-checked before they are renamed into place; a corrupt, truncated,
reset or refused transfer raises an error naming the url and leaves no file behind."""

from __future__ import annotations

import functools
import json
import socket
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import motionzoo
from motionzoo.download import DownloadError
from motionzoo.models.linear import LinearLifter
from motionzoo.pretrained import ChecksumError, load_pretrained, read_manifest, save_pretrained


@pytest.fixture
def server(monkeypatch):
    """An HTTP server on a free port of 127.0.0.1: ``routes[path](handler)`` answers a GET of
    ``path`` (404 for any other); ``hits`` lists the paths asked for."""
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(proxy, raising=False)
    routes, hits = {}, []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            route = routes.get(self.path)
            route(self) if route else self.send_error(404)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{httpd.server_port}", routes=routes, hits=hits)
    httpd.shutdown()
    httpd.server_close()


def send(body: bytes, length: int | None = None, reset: bool = False):
    """A route sending ``body`` under a Content-Length of ``length`` (default: its size), then
    closing the connection, abruptly (TCP reset) if ``reset``."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        handler.send_header("Content-Length", str(len(body) if length is None else length))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        if reset:
            linger = struct.pack("ii", 1, 0)  # close with RST instead of FIN
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        handler.close_connection = True

    return route


@pytest.fixture
def published(tmp_path, monkeypatch, server):
    """A tiny LinearLifter saved with ``save_pretrained``, listed as ``tiny`` by url only in a
    manifest of its own folder; the download cache is an empty ``cache/`` folder."""
    torch.manual_seed(0)
    model = LinearLifter(width=16, num_joints=16).eval()
    kwargs = dict(config="c", training_data="none", metrics={"m": 1.0}, directory=tmp_path / "out")
    body = save_pretrained(model, "tiny", **kwargs).read_bytes()
    entry = read_manifest(tmp_path / "out")["tiny"]
    del entry["file"]
    entry["url"] = f"{server.url}/weights/tiny.ckpt"
    manifest_dir = tmp_path / "manifest"
    manifest_dir.mkdir()
    (manifest_dir / "manifest.json").write_text(json.dumps({"checkpoints": {"tiny": entry}}))
    monkeypatch.delenv("MOTIONZOO_CHECKPOINTS", raising=False)
    monkeypatch.setenv("MOTIONZOO_CACHE", str(tmp_path / "cache"))
    return SimpleNamespace(
        model=model,
        body=body,
        url=entry["url"],
        sha256=entry["sha256"],
        dir=manifest_dir,
        cache=tmp_path / "cache" / "checkpoints",
    )


def files_in(*folders: Path) -> list[str]:
    """Every file under ``folders`` but the manifests (temporary files included)."""
    return sorted(
        str(p) for f in folders if f.exists() for p in f.rglob("*") if p.name != "manifest.json"
    )


@pytest.mark.parametrize("where", ["cache", "MOTIONZOO_CHECKPOINTS"])
def test_a_published_file_is_downloaded_once_and_loads_the_saved_model(
    published, server, monkeypatch, where
):
    server.routes["/weights/tiny.ckpt"] = send(published.body)
    if where == "MOTIONZOO_CHECKPOINTS":
        monkeypatch.setenv("MOTIONZOO_CHECKPOINTS", str(published.dir))
        load = motionzoo.load_pretrained
        expected = published.dir / "tiny.ckpt"
    else:
        load = functools.partial(load_pretrained, directory=published.dir)
        expected = published.cache / "tiny.ckpt"

    first, second = load("tiny"), load("tiny")
    assert server.hits == ["/weights/tiny.ckpt"]
    assert expected.read_bytes() == published.body
    assert files_in(published.dir, published.cache) == [str(expected)]
    x = torch.randn(4, 16, 2)
    torch.testing.assert_close(first(x), published.model(x))
    torch.testing.assert_close(second(x), published.model(x))
    assert not first.training


def test_download_pretrained_fetches_ahead_and_returns_the_path(published, server):
    server.routes["/weights/tiny.ckpt"] = send(published.body)
    path = motionzoo.download_pretrained("tiny", published.dir, progress=False)
    assert path == published.cache / "tiny.ckpt" and path.read_bytes() == published.body
    assert motionzoo.download_pretrained("tiny", published.dir) == path
    assert len(server.hits) == 1


def test_a_file_already_here_is_used_without_asking_the_server(published, server):
    (published.dir / "tiny.ckpt").write_bytes(published.body)
    load_pretrained("tiny", directory=published.dir)
    assert server.hits == []


def test_a_corrupt_download_is_refused_and_leaves_nothing(published, server):
    corrupt = bytearray(published.body)
    corrupt[-100] ^= 0xFF
    server.routes["/weights/tiny.ckpt"] = send(bytes(corrupt))
    with pytest.raises(ChecksumError) as error:
        load_pretrained("tiny", directory=published.dir)
    message = str(error.value)
    assert published.url in message and published.sha256 in message
    assert "does not match" in message
    assert files_in(published.dir, published.cache) == []


@pytest.mark.parametrize("reset", [False, True], ids=["truncated", "reset"])
def test_a_broken_transfer_names_the_url_and_leaves_nothing(published, server, reset):
    half = published.body[: len(published.body) // 2]
    server.routes["/weights/tiny.ckpt"] = send(half, length=len(published.body), reset=reset)
    with pytest.raises(DownloadError, match="nothing was saved") as error:
        load_pretrained("tiny", directory=published.dir)
    assert published.url in str(error.value)
    if not reset:
        assert f"{len(half)} of {len(published.body)} bytes" in str(error.value)
    assert files_in(published.dir, published.cache) == []


def test_a_server_error_gives_one_line_naming_the_url(published, server):
    with pytest.raises(DownloadError) as error:
        load_pretrained("tiny", directory=published.dir)
    assert str(error.value) == f"{published.url}: download failed: HTTP 404 Not Found"
    assert files_in(published.dir, published.cache) == []


def test_only_http_urls_are_fetched(published):
    manifest = published.dir / "manifest.json"
    entries = json.loads(manifest.read_text())
    entries["checkpoints"]["tiny"]["url"] = "file:///etc/tiny.ckpt"
    manifest.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="only http"):
        load_pretrained("tiny", directory=published.dir)


def test_missing_weights_without_a_url_name_the_folders_searched(published):
    manifest = published.dir / "manifest.json"
    entries = json.loads(manifest.read_text())
    entry = entries["checkpoints"]["tiny"]
    entry["file"] = Path(entry.pop("url")).name
    manifest.write_text(json.dumps(entries))
    with pytest.raises(FileNotFoundError, match="tiny.ckpt.*missing.*gives no url"):
        load_pretrained("tiny", directory=published.dir)


@pytest.mark.parametrize("tqdm", [True, False], ids=["tqdm", "without-tqdm"])
def test_the_progress_bar_shows_the_size_on_stderr(published, server, monkeypatch, capsys, tqdm):
    if not tqdm:
        monkeypatch.setitem(sys.modules, "tqdm", None)  # `import tqdm` raises ImportError
    server.routes["/weights/tiny.ckpt"] = send(published.body)
    motionzoo.download_pretrained("tiny", published.dir)
    err = capsys.readouterr().err
    size = f"{len(published.body) / 1024:.1f}"
    assert f"Downloading {published.url}" in err and f"({size} KiB)" in err
    assert ("100%" in err) and (tqdm or f"100% of {size} KiB" in err)
