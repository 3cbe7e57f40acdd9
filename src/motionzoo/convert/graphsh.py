"""tamasino52/GraphSH (the public, unofficial GraphSH port) -> GraphSH.

One source per ``--gcn`` of its ``main_gcn.py``, ``graphsh-<gcn>``: its ``models/graph_sh.py``
``GraphSH`` trained with that graph convolution (its ``ckpt_best.pth.tar``; the gcn is in the
checkpoint directory's name, ``<name>-<gcn>-<date>``, not in the file, and ``preagg`` and
``postagg`` weights have the same shapes, so the source names it):

| ``--from``              | motionzoo ``GraphSH(conv=..., decouple=...)`` |
| ----------------------- | -------------------------------------------- |
| ``graphsh-vanilla``     | ``vanilla``, ``False``                        |
| ``graphsh-dc_vanilla``  | ``vanilla``, ``True``                         |
| ``graphsh-preagg``      | ``preagg``, ``False``                         |
| ``graphsh-dc_preagg``   | ``preagg``, ``True`` (the paper config)       |
| ``graphsh-postagg``     | ``postagg``, ``False``                        |
| ``graphsh-dc_postagg``  | ``postagg``, ``True``                         |
| ``graphsh-convst``      | ``convstyle``                                 |
| ``graphsh-nosharing``   | ``nosharing``                                 |
| ``graphsh-modulated``   | ``modulated``                                 |
| ``graphsh-semantic``    | ``semantic``                                  |

The converted model sets ``port_leg_swap`` and ``port_coarse_graph`` (the port's unpooling and
4-node graph, docs/models/graphsh.md), so that its weights compute what they computed there; the
width, the number of hourglasses and the SE reduction come from the tensors' shapes.

Units: the port trains on metres and screen-normalised 2D (SemGCN's data code), our
``pose_scale=1000`` and the H3.6M DataModule's 2D: the converted model's ``forward`` gives
millimetres. Fixtures: ``scripts/fixtures_graphsh.py``; tests: ``tests/convert/test_graphsh.py``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch

from motionzoo.convert._core import CONV1D, ROW, SAME, Source, Transform, need, stacked
from motionzoo.models.graphsh import GraphSH

REPO = "tamasino52/GraphSH models/graph_sh.py"


def _part(i: int, k: int) -> Transform:
    """Slice i of a weight stacked k times, (k, *ours) -> ours."""
    return Transform(lambda s: (k, *s), lambda t: t[i])


# our graph-conv leaf -> the port's, per kind of weight stacking
_COUPLED = {"weight": ("W", ROW)}  # W (1, ...)
_DECOUPLED = {"weight": ("W", stacked(0)), "neighbour_weight": ("W", stacked(1))}  # W (2, ...)
_CONV_STYLE = {
    "weight": ("W", _part(0, 3)),
    "upper_weight": ("W", _part(1, 3)),
    "lower_weight": ("W", _part(2, 3)),
}
# --gcn -> (our conv, decouple, our leaf -> the port's leaf and transform)
GCN_TYPES: dict[str, tuple[str, bool | None, dict[str, tuple[str, Transform]]]] = {
    "vanilla": ("vanilla", False, _COUPLED),
    "dc_vanilla": ("vanilla", True, _DECOUPLED),
    "preagg": ("preagg", False, _COUPLED),
    "dc_preagg": ("preagg", True, _DECOUPLED),
    "postagg": ("postagg", False, _COUPLED),
    "dc_postagg": ("postagg", True, _DECOUPLED),
    "convst": ("convstyle", None, _CONV_STYLE),
    "nosharing": ("nosharing", None, {"weight": ("W", SAME)}),
    "modulated": (
        "modulated",
        None,
        {**_DECOUPLED, "weight_modulation": ("M", SAME), "affinity_modulation": ("adj2", SAME)},
    ),
    "semantic": ("semantic", None, {**_DECOUPLED, "edge_weight": ("e", ROW)}),
}
# our hourglass GConv -> the port's _Hourglass attribute
_HOURGLASS = {"down.0": "gconv1", "down.1": "gconv2", "down.2": "gconv3"}
_HOURGLASS |= {"up.1": "gconv4", "up.0": "gconv5"}
_HEAD = {"attention.squeeze": "se_blocks.fc1", "attention.excite": "se_blocks.fc2"}


def _unit(prefix: str, rest: list[str], leaves: Mapping) -> tuple[str, Transform]:
    """A GConv unit (our ``GraphConvBNReLUDropout``, the port's ``_GraphConv``)."""
    if rest[0] == "conv":
        leaf, transform = leaves[rest[1]] if rest[1] != "bias" else ("bias", SAME)
        return f"{prefix}.gconv.{leaf}", transform
    return f"{prefix}.bn.{rest[1]}", SAME


def graphsh_key(key: str, gcn: str) -> tuple[str, Transform]:
    """Our ``GraphSHNet`` key -> the port's ``GraphSH`` key and the transform of its tensor."""
    leaves = GCN_TYPES[gcn][2]
    head, *rest = key.split(".")
    if head == "input":
        return _unit("gconv_input", rest, leaves)
    if head == "hourglasses":  # hourglasses.<i>.<down|up>.<s>.<conv|norm>.<leaf>
        index, direction, scale, *rest = rest
        return _unit(f"gconv_layers.{index}.{_HOURGLASS[f'{direction}.{scale}']}", rest, leaves)
    if head == "intermediate":  # 1x1 Conv1d -> Linear
        return f"conv_layers.{rest[0]}.{rest[1]}", CONV1D if rest[1] == "weight" else SAME
    if head == "output":
        return f"gconv_output.{rest[0]}", CONV1D if rest[0] == "weight" else SAME
    return f"{_HEAD[f'{head}.{rest[0]}']}.{rest[1]}", SAME


def input_weight_shape(gcn: str) -> tuple[int, ...]:
    """The port's input graph-conv weight ``W`` under ``--gcn gcn``, less its last axis
    (hid_dim): the stack of weights, the 16 joints for per-node / per-pair weights, 2 coords."""
    conv, _, leaves = GCN_TYPES[gcn]
    stack = {"convstyle": 3, "nosharing": 16}.get(conv, 1 + ("neighbour_weight" in leaves))
    nodes = (16,) if conv in ("preagg", "postagg", "nosharing") else ()
    return (stack, *nodes, 2)


def build_graphsh(state: Mapping[str, torch.Tensor], gcn: str) -> tuple[GraphSH, dict[str, Any]]:
    """The GraphSH that the port's ``--gcn gcn`` ``state`` fits: width, hourglasses, SE."""
    source = f"graphsh-{gcn}"
    lead = input_weight_shape(gcn)
    expected = f"({', '.join(map(str, lead))}, hid_dim)"
    w = need(state, "gconv_input.gconv.W", source, expected)
    if tuple(w.shape[:-1]) != lead:
        raise ValueError(
            f"{source} key 'gconv_input.gconv.W': shape {tuple(w.shape)}, expected {expected}: "
            f"the port's input graph conv of the 16 joints' 2D coordinates under --gcn {gcn}"
        )
    hidden = int(w.shape[-1])
    squeeze = need(state, "se_blocks.fc1.weight", source, "(hid_dim // 8, hid_dim)")
    stacks = {m[1] for k in state if (m := re.match(r"gconv_layers\.(\d+)\.gconv1\.", k))}
    conv, decouple, _ = GCN_TYPES[gcn]
    config = {
        "conv": conv,
        "decouple": decouple,
        "hidden": hidden,
        "num_stacks": len(stacks),
        "se_reduction": hidden // max(int(squeeze.shape[0]), 1),
        # the port's tables (its defects), so that its weights compute what they computed there
        "port_leg_swap": True,
        "port_coarse_graph": True,
        "skeleton": "h36m_16",
        # main_gcn.py: dropout 0.25, Adam 1e-4 x0.92 every 20,000 steps
        "dropout": 0.25,
        "lr": 1e-4,
        "lr_decay": 0.92,
        "lr_decay_steps": 20_000,
    }
    return GraphSH(**config), config


SOURCES = {
    f"graphsh-{gcn}": Source(REPO, partial(build_graphsh, gcn=gcn), partial(graphsh_key, gcn=gcn))
    for gcn in GCN_TYPES
}
