"""Reference checkpoints -> motionzoo models (DESIGN.md section 8, "Reference equivalence").

``convert(checkpoint, source)`` reads a network's weights as its authors' training script saves
them and returns the motionzoo model that computes the same function, its constructor options
chosen from the weights' shapes; ``save_converted`` writes it as a zoo weights file that
``motionzoo.load_model(path)`` and ``Model.load_from_checkpoint(path)`` read. Sources:

- ``semgcn``: garyzhao/SemGCN's ``SemGCN`` (its ``ckpt_semgcn*.pth.tar``) ->
  ``SeqRes(conv="semantic")``, with ``non_local=True`` when the weights hold non-local blocks.
- ``martinez``: the Martinez et al. network of SemGCN's ``models/linear_model.py`` (its
  ``ckpt_linear*.pth.tar``; weigq/3d_pose_baseline_pytorch's layout) -> ``LinearLifter``, with
  ``predict_root=False`` when the output layer omits the root joint.

Every reference key is used and every key of ours is filled (derived buffers such as a graph
conv's adjacency come from the skeleton); a missing or extra key, or a tensor of the wrong shape,
is a ``ValueError`` naming the reference key and both shapes. Equality with the reference is
tested on fixtures written by ``scripts/make_reference_fixtures.py`` (``tests/test_convert.py``).

Units: SemGCN trains on metres and screen-normalised 2D, which is our ``pose_scale=1000`` and
the H3.6M DataModule's 2D: the converted model's ``forward`` gives millimetres.

    python -m motionzoo.convert --from semgcn ckpt_semgcn_nonlocal.pth.tar semgcn_nonlocal.ckpt
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from motionzoo.data.cache import atomic_write
from motionzoo.models.linear import LinearLifter
from motionzoo.models.seqres import SeqRes
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
# SemGCN (garyzhao/SemGCN models/sem_gcn.py) -> SeqRes(conv="semantic")

_GCONV = {  # our graph-conv leaf -> SemGraphConv's
    "weight": ("W", stacked(0)),
    "neighbour_weight": ("W", stacked(1)),
    "edge_weight": ("e", ROW),
    "bias": ("bias", SAME),
}
_NON_LOCAL = {  # our GraphNonLocal module -> SemGCN's GraphNonLocal module, its weight's form
    "theta": ("theta", CONV1D),
    "phi": ("phi.0", CONV1D),
    "g": ("g.0", CONV1D),
    "relation": ("concat_project.0", CONV2D),
    "project": ("W.0", CONV1D),
    "norm": ("W.1", SAME),
}


def _semgcn_unit(prefix: str, rest: list[str]) -> tuple[str, Transform]:
    """A GConv unit (our ``GraphConvBNReLUDropout``, SemGCN's ``_GraphConv``)."""
    if rest[0] == "conv":
        leaf, transform = _GCONV[rest[1]]
        return f"{prefix}.gconv.{leaf}", transform
    return f"{prefix}.bn.{rest[1]}", SAME


def _semgcn_non_local(prefix: str, rest: list[str]) -> tuple[str, Transform]:
    module, transform = _NON_LOCAL[rest[0]]
    return f"{prefix}.nonlocal.{module}.{rest[1]}", transform if rest[1] == "weight" else SAME


def semgcn_key(key: str) -> tuple[str, Transform]:
    """Our ``SeqResNet`` key -> SemGCN's key and the transform of its tensor."""
    head, *rest = key.split(".")
    if head == "output":
        leaf, transform = _GCONV[rest[0]]
        return f"gconv_output.{leaf}", transform
    if head == "input":
        return _semgcn_unit("gconv_input.0", rest)
    if head == "input_non_local":
        return _semgcn_non_local("gconv_input.1", rest)
    index, *rest = rest  # blocks.<i>.layers.<k>... or blocks.<i>.<non-local module>...
    if rest[0] == "layers":
        return _semgcn_unit(f"gconv_layers.{index}.gconv{int(rest[1]) + 1}", rest[2:])
    return _semgcn_non_local(f"gconv_layers.{index}", rest)


def build_semgcn(state: Mapping[str, torch.Tensor]) -> tuple[SeqRes, dict[str, Any]]:
    """The SeqRes that SemGCN's ``state`` fits: hidden width, residual blocks, non-local."""
    w = _need(state, "gconv_input.0.gconv.W", "semgcn", "(2, 2, hid_dim)")
    if w.dim() != 3 or tuple(w.shape[:2]) != (2, 2):
        raise ValueError(
            f"semgcn key 'gconv_input.0.gconv.W': shape {tuple(w.shape)}, expected "
            f"(2, 2, hid_dim): SemGCN's input graph conv of 2D joints"
        )
    edges = _need(state, "gconv_input.0.gconv.e", "semgcn", "(1, 46)").numel()
    if edges != 46:
        raise ValueError(
            f"semgcn key 'gconv_input.0.gconv.e': {edges} edge weights; SemGCN's 16-joint "
            f"Human3.6M skeleton has 46 (16 self-loops + 2 x 15 bones)"
        )
    blocks = {m[1] for k in state if (m := re.match(r"gconv_layers\.(\d+)\.gconv1\.", k))}
    config = {
        "conv": "semantic",
        "hidden": int(w.shape[2]),
        "num_blocks": len(blocks),
        "non_local": any(".nonlocal." in k for k in state),
        "skeleton": "h36m_16",
        # SemGCN's main_gcn.py: Adam 1e-3, x0.96 every 100,000 steps (applied as a staircase).
        "lr": 1e-3,
        "lr_decay": 0.96,
        "lr_decay_steps": 100_000,
    }
    return SeqRes(**config), config


# ---------------------------------------------------------------------------------------------
# Martinez et al. (SemGCN models/linear_model.py = weigq/3d_pose_baseline_pytorch) -> LinearLifter

_MARTINEZ_UNIT = {"0": "w", "1": "batch_norm"}  # our LinearBlock's Linear, BatchNorm


def martinez_key(key: str) -> tuple[str, Transform]:
    """Our ``LinearNet`` key -> the reference ``LinearModel``'s key (tensors as they are)."""
    head, *rest = key.split(".")
    if head == "output":
        return f"w2.{rest[0]}", SAME
    if head == "input":
        return f"{_MARTINEZ_UNIT[rest[0]]}1.{rest[1]}", SAME
    index, _, unit, layer, leaf = rest  # blocks.<i>.layers.<k>.<0|1>.<leaf>
    return f"linear_stages.{index}.{_MARTINEZ_UNIT[layer]}{int(unit) + 1}.{leaf}", SAME


def build_martinez(state: Mapping[str, torch.Tensor]) -> tuple[LinearLifter, dict[str, Any]]:
    """The LinearLifter that ``state`` fits: joints and width from the input layer, whether the
    root is predicted from the output layer, blocks from ``linear_stages``."""
    w1 = _need(state, "w1.weight", "martinez", "(linear_size, 2 x joints)")
    w2 = _need(state, "w2.weight", "martinez", "(3 x joints, linear_size)")
    width, inputs = w1.shape
    if inputs % 2:
        raise ValueError(f"martinez key 'w1.weight': shape {tuple(w1.shape)}; expected 2 x joints")
    joints = inputs // 2
    if w2.shape[0] not in (3 * joints, 3 * (joints - 1)):
        raise ValueError(
            f"martinez key 'w2.weight': shape {tuple(w2.shape)}; expected ({3 * joints}, {width}) "
            f"or ({3 * (joints - 1)}, {width}) (without the root) for {joints} input joints"
        )
    blocks = {m[1] for k in state if (m := re.match(r"linear_stages\.(\d+)\.w1\.", k))}
    config = {
        "num_joints": joints,
        "width": int(width),
        "num_blocks": len(blocks),
        "predict_root": w2.shape[0] == 3 * joints,
    }
    return LinearLifter(**config), config


# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    repo: str
    build: Callable[[Mapping[str, torch.Tensor]], tuple[pl.LightningModule, dict[str, Any]]]
    key: Callable[[str], tuple[str, Transform]]


SOURCES: dict[str, Source] = {
    "semgcn": Source("garyzhao/SemGCN", build_semgcn, semgcn_key),
    "martinez": Source("garyzhao/SemGCN models/linear_model.py", build_martinez, martinez_key),
}
#: Leaves of our state_dict that are derived from the skeleton, not learnt (graph convs).
DERIVED = ("adjacency", "mask")


def _need(state: Mapping[str, torch.Tensor], key: str, source: str, shape: str) -> torch.Tensor:
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
        meta = {k: v.item() if isinstance(v, torch.Tensor) else v for k, v in meta.items()}
        checkpoint = checkpoint["state_dict"]
    bad = [k for k, v in checkpoint.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"not a state_dict: {bad[0]!r} is not a tensor")
    return dict(checkpoint), meta


def convert(checkpoint: Any, source: str) -> tuple[pl.LightningModule, dict[str, Any]]:
    """The motionzoo model (eval mode) computing the function of ``source``'s weights.

    checkpoint: a path, the reference's checkpoint dict or a bare state_dict.
    source: a key of ``SOURCES`` (``"semgcn"``, ``"martinez"``).
    Returns the model and ``info``: source, reference repository, class_path, the constructor
    ``config`` chosen from the shapes, the checkpoint's ``epoch`` / ``error`` when given, and
    ``mapping`` (reference key -> our keys).
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose one of {sorted(SOURCES)}")
    spec = SOURCES[source]
    state, meta = read_checkpoint(checkpoint)
    model, config = spec.build(state)
    ours = model.net.state_dict()
    wanted: dict[str, list[tuple[str, Transform]]] = {}
    for key in ours:
        if key.rsplit(".", 1)[-1] not in DERIVED:
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
                    f"(for motionzoo's net.{key} {tuple(ours[key].shape)})"
                )
            ours[key] = transform.to_ours(tensor).to(ours[key].dtype).clone()
    model.net.load_state_dict(ours)
    cls = type(model)
    info = {
        "source": source,
        "reference": spec.repo,
        "class_path": f"{cls.__module__}.{cls.__qualname__}",
        "config": config,
        **meta,
        "mapping": {ref: [f"net.{k}" for k, _ in targets] for ref, targets in wanted.items()},
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


def main(argv: list[str] | None = None) -> int:
    """``--from SOURCE SRC DST``: convert the reference checkpoint SRC into the zoo file DST."""
    parser = argparse.ArgumentParser(
        prog="motionzoo convert",
        description="Convert a reference implementation's checkpoint into a motionzoo weights "
        "file (readable by motionzoo.load_model and --ckpt_path).",
    )
    parser.add_argument("--from", dest="source", required=True, choices=sorted(SOURCES))
    parser.add_argument(
        "src", type=Path, help="the reference checkpoint (e.g. ckpt_semgcn.pth.tar)"
    )
    parser.add_argument("dst", type=Path, help="the motionzoo weights file to write")
    args = parser.parse_args(argv)
    try:
        model, info = convert(args.src, args.source)
    except (ValueError, FileNotFoundError) as error:
        print(f"motionzoo convert: error: {error}", file=sys.stderr)
        return 2
    save_converted(model, args.dst, source=args.source, info=info)
    config = ", ".join(f"{k}={v}" for k, v in info["config"].items())
    trained = "".join(f", {k} {info[k]}" for k in ("epoch", "error") if k in info)
    print(f"{args.src} -> {args.dst}: {type(model).__name__}({config}){trained}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
