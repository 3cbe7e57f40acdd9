"""garyzhao/SemGCN's networks -> SeqRes and LinearLifter.

- ``semgcn``: ``models/sem_gcn.py`` ``SemGCN`` (its ``ckpt_semgcn*.pth.tar``) ->
  ``SeqRes(conv="semantic")``, ``non_local=True`` when the weights hold non-local blocks.
- ``martinez``: the Martinez et al. network of SemGCN's ``models/linear_model.py`` (its
  ``ckpt_linear*.pth.tar``; weigq/3d_pose_baseline_pytorch's layout) -> ``LinearLifter``,
  ``predict_root=False`` when the output layer omits the root joint.

Units: SemGCN trains on metres and screen-normalised 2D, which is our ``pose_scale=1000`` and the
H3.6M DataModule's 2D: the converted model's ``forward`` gives millimetres. Fixtures:
``scripts/fixtures_semgcn.py``; tests: ``tests/convert/test_semgcn.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from motionzoo.convert._core import CONV1D, CONV2D, ROW, SAME, Source, Transform, need, stacked
from motionzoo.models.linear import LinearLifter
from motionzoo.models.seqres import SeqRes

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
    w = need(state, "gconv_input.0.gconv.W", "semgcn", "(2, 2, hid_dim)")
    if w.dim() != 3 or tuple(w.shape[:2]) != (2, 2):
        raise ValueError(
            f"semgcn key 'gconv_input.0.gconv.W': shape {tuple(w.shape)}, expected "
            f"(2, 2, hid_dim): SemGCN's input graph conv of 2D joints"
        )
    edges = need(state, "gconv_input.0.gconv.e", "semgcn", "(1, 46)").numel()
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
    w1 = need(state, "w1.weight", "martinez", "(linear_size, 2 x joints)")
    w2 = need(state, "w2.weight", "martinez", "(3 x joints, linear_size)")
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


SOURCES = {
    "semgcn": Source("garyzhao/SemGCN models/sem_gcn.py", build_semgcn, semgcn_key),
    "martinez": Source("garyzhao/SemGCN models/linear_model.py", build_martinez, martinez_key),
}
