"""The machinery every converter shares: reading a reference checkpoint, mapping its keys onto a
motionzoo model's, checking shapes, writing the zoo weights file.

A converter (one module per reference, registered in ``motionzoo.convert.SOURCES``) is a
``Source``: ``build(state) -> (model, config)`` chooses the constructor options from the
reference tensors' shapes, ``key(our_key) -> (reference_key, Transform)`` names the reference
tensor behind each of ours and how it is reshaped. ``prepare`` (optional) rewrites the reference
state_dict first, for references whose tensors are not one-to-one with ours (split / fused
weights); ``root`` is the sub-module the keys are relative to (``""`` for the whole model);
leaves named in ``derived`` are buffers computed from the skeleton, not learnt.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from motionzoo.data.cache import atomic_write
from motionzoo.pretrained import _plain


@dataclass(frozen=True)
class Transform:
    """How a reference tensor becomes ours: its expected shape from ours, and the conversion."""

    ref_shape: Callable[[tuple[int, ...]], tuple[int, ...]]
    to_ours: Callable[[torch.Tensor], torch.Tensor]


SAME = Transform(lambda s: s, lambda t: t)
CONV1D = Transform(lambda s: (*s, 1), lambda t: t[..., 0])  # Conv1d k=1 -> Linear
CONV2D = Transform(lambda s: (*s, 1, 1), lambda t: t[..., 0, 0])  # Conv2d 1x1 -> Linear
ROW = Transform(lambda s: (1, *s), lambda t: t[0])  # SemGConv's e: (1, E) -> (E,)


def stacked(i: int) -> Transform:
    """SemGConv's W (2, C_in, C_out): W[0] the self-connection, W[1] the neighbours."""
    return Transform(lambda s: (2, *s), lambda t: t[i])


# ---------------------------------------------------------------------------------------------


#: What a weights-only load may rebuild besides tensors: numpy scalars, as training scripts save
#: their losses (DSVAE's ``trainer.py``: ``np.mean``), pickled under numpy 1.x or 2.x names.
NUMPY_SCALARS = [
    np._core.multiarray.scalar,
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),
    np.dtype,
    np.dtypes.Float64DType,
    np.dtypes.Float32DType,
]
#: Leaves of our state_dict that are derived from the skeleton, not learnt (graph convs).
DERIVED = ("adjacency", "mask")


@dataclass(frozen=True)
class Source:
    repo: str
    build: Callable[[Mapping[str, torch.Tensor]], tuple[pl.LightningModule, dict[str, Any]]]
    key: Callable[[str], tuple[str, Transform]]
    root: str = "net"
    prepare: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None
    derived: tuple[str, ...] = DERIVED


def need(state: Mapping[str, torch.Tensor], key: str, source: str, shape: str) -> torch.Tensor:
    if key not in state:
        first = ", ".join(list(state)[:3]) or "none"
        raise ValueError(
            f"not a {source} state_dict: key {key!r} {shape} missing (its keys begin: {first})"
        )
    return state[key]


def read_checkpoint(checkpoint: Any) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A path, a training-script dict (``{"state_dict", "epoch", "error", ...}``, SemGCN's
    ``.pth.tar``) or a bare state_dict -> (state_dict, the script's epoch / error / step / lr)."""
    if isinstance(checkpoint, (str, os.PathLike)):
        try:
            with torch.serialization.safe_globals(NUMPY_SCALARS):
                checkpoint = torch.load(checkpoint, map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as error:
            raise ValueError(f"{checkpoint}: not a readable PyTorch checkpoint ({error})") from None
    if not isinstance(checkpoint, Mapping):
        raise ValueError(f"expected a state_dict or a checkpoint dict, got {type(checkpoint)}")
    meta: dict[str, Any] = {}
    if isinstance(checkpoint.get("state_dict"), Mapping):
        meta = {k: checkpoint[k] for k in ("epoch", "error", "step", "lr") if k in checkpoint}
        meta = {
            k: v.item() if isinstance(v, (torch.Tensor, np.generic)) else v for k, v in meta.items()
        }
        checkpoint = checkpoint["state_dict"]
    bad = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
    if bad:
        value = checkpoint[bad[0]]
        if isinstance(value, Mapping):  # e.g. HALO's save_model: {"encoder": {...}, ...}
            raise ValueError(
                f"not a state_dict: {bad[0]!r} holds a dict of {len(value)} entries (a checkpoint "
                f"of parts: {sorted(checkpoint)}); convert the whole network's state_dict"
            )
        raise ValueError(f"not a state_dict: {bad[0]!r} is a {type(value).__name__}, not a tensor")
    return dict(checkpoint), meta


def apply(spec: Source, source: str, checkpoint: Any) -> tuple[pl.LightningModule, dict[str, Any]]:
    """The motionzoo model (eval mode) that ``spec`` builds from ``checkpoint``, every reference
    tensor placed; ``info`` as ``motionzoo.convert.convert`` documents it."""
    state, meta = read_checkpoint(checkpoint)
    if spec.prepare is not None:
        state = spec.prepare(state)
    model, config = spec.build(state)
    module = model.get_submodule(spec.root)
    prefix = f"{spec.root}." if spec.root else ""
    ours = module.state_dict()
    wanted: dict[str, list[tuple[str, Transform]]] = {}
    for key in ours:
        if key.rsplit(".", 1)[-1] not in spec.derived:
            ref_key, transform = spec.key(key)
            wanted.setdefault(ref_key, []).append((key, transform))
    missing = [k for k in wanted if k not in state]
    extra = [k for k in state if k not in wanted]
    if missing or extra:
        layout = ", ".join(f"{k}={v}" for k, v in config.items())
        raise ValueError(
            f"{source} state_dict does not match the network its shapes describe ({layout}): "
            f"missing keys {missing}, unexpected keys {extra}"
        )
    for ref_key, targets in wanted.items():
        tensor = state[ref_key]
        for key, transform in targets:
            expected = transform.ref_shape(tuple(ours[key].shape))
            if tuple(tensor.shape) != expected:
                raise ValueError(
                    f"{source} key {ref_key!r}: shape {tuple(tensor.shape)}, expected {expected} "
                    f"(for motionzoo's {prefix}{key} {tuple(ours[key].shape)})"
                )
            ours[key] = transform.to_ours(tensor).to(ours[key].dtype).clone()
    module.load_state_dict(ours)
    cls = type(model)
    info = {
        "source": source,
        "reference": spec.repo,
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "config": config,
        **meta,
        "mapping": {ref: [prefix + k for k, _ in targets] for ref, targets in wanted.items()},
    }
    return model.eval(), info


def save_converted(
    model: pl.LightningModule,
    path: str | os.PathLike,
    *,
    source: str,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` as a zoo weights file (``{"state_dict", "hyper_parameters"}`` with the
    class in ``_class_path``, as ``motionzoo.pretrained`` reads it), atomically; ``info``
    (``convert``'s, without the key mapping) is recorded under ``converted_from``."""
    path = Path(path)
    cls = type(model)
    hparams = {k: v for k, v in model.hparams.items() if not k.startswith("_")}
    provenance = {k: v for k, v in (info or {}).items() if k != "mapping"}
    payload = {
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "hyper_parameters": _plain(
            {**hparams, "_class_path": f"{cls.__module__}.{cls.__qualname__}"}
        ),
        "pytorch-lightning_version": pl.__version__,
        "converted_from": _plain({"source": source, **provenance}),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: torch.save(payload, tmp))
    return path
