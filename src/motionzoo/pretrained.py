"""Pretrained checkpoints described by data: ``checkpoints/manifest.json``.

Each manifest entry names the weights file, its sha256, the model class (``class_path``), the
config and data it was trained with, and the metrics it achieved. A weights file holds only
tensors and plain hyper-parameters (``{"state_dict", "hyper_parameters"}``) and is read with
``torch.load(weights_only=True)`` after its sha256 matches the manifest; a mismatch is refused.

An entry may give a ``url`` instead of (or besides) a shipped file; the file is then downloaded
once, on first use, following torch.hub's conventions: into ``$MOTIONZOO_CHECKPOINTS`` if set,
else ``<cache>/checkpoints`` (``$MOTIONZOO_CACHE`` or ``~/.cache/motionzoo``), streamed to a
temporary file beside it, its sha256 checked before it is renamed into place.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytorch_lightning as pl
import torch

from motionzoo.data.cache import atomic_write, default_cache_dir
from motionzoo.download import ChecksumError, download

CHECKPOINTS_ENV = "MOTIONZOO_CHECKPOINTS"


def checkpoint_dir() -> Path:
    """``$MOTIONZOO_CHECKPOINTS`` if set, else the package's ``checkpoints/`` (the weights and
    the manifest shipped with motionzoo; the repository's ``checkpoints`` links to it)."""
    env = os.environ.get(CHECKPOINTS_ENV)
    return Path(env) if env else Path(__file__).resolve().parent / "checkpoints"


def download_dir() -> Path:
    """Where missing weights are downloaded: ``$MOTIONZOO_CHECKPOINTS`` if set, else
    ``<cache>/checkpoints`` (never the package folder, which may be read-only)."""
    env = os.environ.get(CHECKPOINTS_ENV)
    return Path(env) if env else default_cache_dir() / "checkpoints"


def _manifest_path(directory: Path | None) -> Path:
    return (directory or checkpoint_dir()) / "manifest.json"


def read_manifest(directory: str | os.PathLike | None = None) -> dict[str, dict[str, Any]]:
    path = _manifest_path(Path(directory) if directory else None)
    if not path.exists():
        return {}
    with open(path) as f:
        return json.load(f)["checkpoints"]


def list_pretrained(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the pretrained checkpoints in the manifest."""
    return sorted(read_manifest(directory))


def pretrained_info(name: str, directory: str | os.PathLike | None = None) -> dict[str, Any]:
    """The manifest entry of ``name`` (file, sha256, class_path, config, data, metrics)."""
    manifest = read_manifest(directory)
    if name not in manifest:
        raise KeyError(f"no pretrained checkpoint {name!r}; available: {sorted(manifest)}")
    return manifest[name]


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{path}: sha256 {actual} does not match the manifest's {expected}; the file is "
            f"corrupt or was changed, refusing to load it"
        )


def _import(class_path: str, base: type = pl.LightningModule) -> type:
    """The zoo class named by ``class_path``, a subclass of ``base``; only ``motionzoo`` modules
    are imported, so a checkpoint cannot make the loader import other code."""
    module, _, name = class_path.rpartition(".")
    if module.split(".")[0] != "motionzoo":
        raise ValueError(f"class_path {class_path!r} is not a motionzoo model")
    cls = getattr(importlib.import_module(module), name, None)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise ValueError(f"class_path {class_path!r} does not name a motionzoo {base.__name__}")
    return cls


def _read_weights(path: Path, map_location) -> dict[str, Any]:
    """A checkpoint's tensors and plain values (``weights_only``: no pickled code runs)."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        raise ValueError(
            f"{path}: not a readable checkpoint of tensors and plain values ({error})"
        ) from error
    if not isinstance(payload, dict) or not {"state_dict", "hyper_parameters"} <= set(payload):
        raise ValueError(f"{path}: expected a checkpoint with 'state_dict' and 'hyper_parameters'")
    return payload


def _build(payload: dict[str, Any], class_path: str | None, path: Path) -> pl.LightningModule:
    hparams = payload["hyper_parameters"]
    class_path = class_path or hparams.get("_class_path")
    if class_path is None:
        raise ValueError(
            f"{path}: the hyper-parameters do not name the model class (_class_path) and no "
            f"manifest.json beside it lists the file"
        )
    model = _import(class_path)(**{k: v for k, v in hparams.items() if not k.startswith("_")})
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def _weights_file(name: str, info: dict[str, Any]) -> str:
    """The entry's ``file``, else the last segment of its ``url`` (torch.hub's rule)."""
    file = info.get("file") or Path(urlparse(info.get("url", "")).path).name
    if not file or Path(file).name != file:
        raise ValueError(
            f"manifest entry {name!r}: file {file!r} must be a plain file name (give 'file', or "
            f"a 'url' ending in one)"
        )
    return file


def _locate(
    name: str, directory: str | os.PathLike | None, progress: bool
) -> tuple[Path, dict[str, Any]]:
    """The sha256-checked weights file of ``name`` and its manifest entry; see
    :func:`download_pretrained`."""
    manifest_dir = Path(directory) if directory else checkpoint_dir()
    info = pretrained_info(name, manifest_dir)
    file = _weights_file(name, info)
    folders = dict.fromkeys([manifest_dir, download_dir(), default_cache_dir() / "checkpoints"])
    for folder in folders:
        if (folder / file).is_file():
            verify_sha256(folder / file, info["sha256"])
            return folder / file, info
    if "url" not in info:
        raise FileNotFoundError(
            f"weights {file!r} of pretrained {name!r} are missing (looked in "
            f"{', '.join(map(str, folders))}) and its manifest entry gives no url"
        )
    return download(info["url"], download_dir() / file, info["sha256"], progress=progress), info


def download_pretrained(
    name: str, directory: str | os.PathLike | None = None, *, progress: bool = True
) -> Path:
    """The path of pretrained ``name``'s weights, sha256-checked, downloaded first if missing.

    The file is looked for in the manifest's folder (``directory``, else
    ``$MOTIONZOO_CHECKPOINTS``, else the package's), then in the download cache
    (``$MOTIONZOO_CACHE/checkpoints`` or ``~/.cache/motionzoo/checkpoints``). Only when it is in
    none of them and the entry has a ``url`` is it fetched, once, into :func:`download_dir`, with
    a progress bar on stderr unless ``progress=False``.
    """
    return _locate(name, directory, progress)[0]


def load_pretrained(
    name: str,
    map_location: str | torch.device = "cpu",
    directory: str | os.PathLike | None = None,
    *,
    progress: bool = True,
) -> pl.LightningModule:
    """Build the model of manifest entry ``name`` and load its verified weights (eval mode),
    downloading them first if the entry gives a ``url`` and they are not here yet."""
    path, info = _locate(name, directory, progress)
    return _build(_read_weights(path, map_location), info["class_path"], path)


def manifest_entry_beside(path: str | os.PathLike) -> dict[str, Any] | None:
    """The entry of the ``manifest.json`` beside ``path`` that lists that file, if any."""
    path = Path(path)
    return next(
        (e for e in read_manifest(path.parent).values() if e.get("file") == path.name), None
    )


def load_pretrained_into(
    model: pl.LightningModule, name_or_path: str | os.PathLike, *, progress: bool = True
) -> pl.LightningModule:
    """Load the verified weights of a pretrained name, or of a zoo weights file listed by the
    manifest beside it, into ``model`` (built from a config: ``motionzoo test|fit --ckpt_path
    pretrained:<name>`` or ``--ckpt_path checkpoints/<name>.ckpt``); a model of another class or
    shape is refused, naming the config that rebuilds the weights."""
    if str(name_or_path) in read_manifest():
        path, info = _locate(str(name_or_path), None, progress)
    else:
        path, info = Path(name_or_path), manifest_entry_beside(name_or_path)
        if info is None:
            raise ValueError(f"{path}: not a weights file listed by a manifest.json beside it")
        verify_sha256(path, info["sha256"])
    built = f"{type(model).__module__}.{type(model).__qualname__}"
    hint = f"use the config that rebuilds it: --config {info['config']}"
    if built != info["class_path"]:
        raise ValueError(f"{name_or_path} is a {info['class_path']}, not a {built}; {hint}")
    try:
        model.load_state_dict(_read_weights(path, "cpu")["state_dict"])
    except RuntimeError as error:
        lines = str(error).strip().splitlines()
        first = lines[min(1, len(lines) - 1)].strip()[:160]  # the first mismatch
        raise ValueError(f"{name_or_path} does not fit this {built} ({first}); {hint}") from None
    return model


def load_model(
    name_or_path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> pl.LightningModule:
    """A model in eval mode from a pretrained name (:func:`load_pretrained`) or a checkpoint file
    (a Lightning ``.ckpt`` or a zoo weights file). A file listed by the ``manifest.json`` beside
    it is checked against its sha256 first. Only tensors and plain values are unpickled."""
    manifest = read_manifest()
    if str(name_or_path) in manifest:
        return load_pretrained(str(name_or_path), map_location)
    path = Path(name_or_path)
    if not path.is_file():
        close = difflib.get_close_matches(str(name_or_path), manifest, n=1)
        guess = f"; did you mean {close[0]!r}?" if close else ""
        raise FileNotFoundError(
            f"{name_or_path}: neither a pretrained name ({sorted(manifest)}) nor a checkpoint "
            f"file{guess}"
        )
    entry = manifest_entry_beside(path)
    if entry is not None:
        verify_sha256(path, entry["sha256"])
    payload = _read_weights(path, map_location)
    return _build(payload, entry["class_path"] if entry else None, path)


def _plain(value: Any) -> Any:
    """Hyper-parameters as JSON/weights_only-safe Python (tuples -> lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    raise TypeError(f"hyper-parameter value {value!r} of type {type(value).__name__} is not plain")


def save_pretrained(
    model: pl.LightningModule,
    name: str,
    *,
    config: str,
    training_data: str,
    metrics: dict[str, float],
    description: str = "",
    directory: str | os.PathLike | None = None,
    storage_dtype: torch.dtype | None = None,
) -> Path:
    """Write ``<name>.ckpt`` (weights + hyper-parameters only) and its manifest entry, atomically.

    ``storage_dtype`` (e.g. ``torch.float16``) stores floating-point tensors at that precision to
    keep the file small; loading casts them back into the model's float32 parameters. The
    ``metrics`` given must then be measured with the stored weights.
    """
    directory = Path(directory) if directory else checkpoint_dir()
    path = directory / f"{name}.ckpt"

    def stored(v: torch.Tensor) -> torch.Tensor:
        v = v.detach().cpu().clone()
        return v.to(storage_dtype) if storage_dtype is not None and v.is_floating_point() else v

    payload = {
        "state_dict": {k: stored(v) for k, v in model.state_dict().items()},
        # LightningCLI adds `_class_path`; the manifest's class_path names the class instead.
        "hyper_parameters": _plain(
            {k: v for k, v in model.hparams.items() if not k.startswith("_")}
        ),
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    cls = type(model)
    manifest = read_manifest(directory)
    manifest[name] = {
        "file": path.name,
        "sha256": sha256_file(path),
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "config": config,
        "training_data": training_data,
        "metrics": {k: float(v) for k, v in metrics.items()},
        "size_bytes": path.stat().st_size,
        "storage_dtype": str(storage_dtype or "as trained").removeprefix("torch."),
        "description": description,
    }

    def write(tmp: Path) -> None:
        tmp.write_text(json.dumps({"checkpoints": dict(sorted(manifest.items()))}, indent=2) + "\n")

    atomic_write(_manifest_path(directory), write)
    return path
