"""Write the reference-equivalence fixtures of SemGCN and the Martinez baseline (DESIGN.md s. 8).

Takes a checkout of garyzhao/SemGCN (never committed here), imports its model classes from it,
builds each at a small width with a fixed seed, spreads its parameters and BatchNorm statistics
away from their initial values (a fresh BatchNorm is the identity in eval mode and a fresh
non-local block adds zero, which would prove nothing), runs a fixed input in eval mode and saves
``{state_dict, input, output, config, reference}`` under ``tests/fixtures/``:

- ``semgcn_small.pt``: ``SemGCN(adj, 16, num_layers=2)`` on the 16-joint skeleton adjacency
  built by SemGCN's own ``Human36mDataset`` and ``adj_mx_from_skeleton``;
- ``semgcn_nonlocal_small.pt``: the same with its non-local blocks (``nodes_group`` = the
  skeleton's ``joints_group()``);
- ``martinez_small.pt``: ``LinearModel(32, 45, linear_size=32, num_stage=2)``, as
  ``main_linear.py`` builds it (16 joints in, the 15 non-root joints out, ``init_weights``).

It also prints the parameter counts of the three networks at their full size (``main_gcn.py`` /
``main_linear.py`` defaults), the numbers ``tests/test_convert.py`` pins.

SemGCN's code is Python 2: ``models/sem_gcn.py`` names an attribute ``self.nonlocal`` (a Python 3
keyword) and calls ``reduce`` without importing it. This script compiles that one file with two
textual fixes that keep its behaviour and its state_dict keys (``setattr`` / ``getattr`` on the
same name, ``from functools import reduce``); every other file is imported as it is.

    python scripts/fixtures_semgcn.py /path/to/SemGCN [--commit HASH] [--out tests/fixtures]

The committed files were written with 2 or more CPU threads: with ``OMP_NUM_THREADS=1`` the
non-local output differs in the last bits (7e-7), and so does ``semgcn_nonlocal_small.pt``.
"""

from __future__ import annotations

import re
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import torch
from fixtures_common import FixtureParser, count, perturb, save_fixture, weights

REPO = "garyzhao/SemGCN"
SEED = 0


def import_sem_gcn(checkout: Path) -> types.ModuleType:
    """``models/sem_gcn.py`` of the checkout, compiled with the two Python 3 fixes above."""
    path = checkout / "models" / "sem_gcn.py"
    source = path.read_text()
    assignment = re.compile(r"self\.nonlocal = (.+)$", re.MULTILINE)
    if not assignment.search(source) or "self.nonlocal(" not in source:
        raise SystemExit(f"{path}: no self.nonlocal attribute; is this garyzhao/SemGCN?")
    source = assignment.sub(r"setattr(self, 'nonlocal', \1)", source)
    source = source.replace("self.nonlocal(", "getattr(self, 'nonlocal')(")
    module = types.ModuleType("models.sem_gcn")
    module.__file__ = str(path)
    module.reduce = __import__("functools").reduce
    exec(compile(source, str(path), "exec"), module.__dict__)
    sys.modules["models.sem_gcn"] = module
    return module


def semgcn_skeleton():
    """SemGCN's 16-joint skeleton exactly as ``main_gcn.py`` gets it: a ``Human36mDataset``
    (here over an empty data file) removes the static joints and sets the joint groups."""
    from common.h36m_dataset import Human36mDataset

    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "data_3d_h36m.npz"
        np.savez(empty, positions_3d=np.array({}, dtype=object))
        return Human36mDataset(str(empty)).skeleton()


def main(argv: list[str] | None = None) -> int:
    args = FixtureParser(__doc__, REPO).parse_args(argv)
    checkout, commit = args.checkout, args.commit
    sys.path.insert(0, str(checkout))

    from common.graph_utils import adj_mx_from_skeleton
    from models.linear_model import LinearModel, init_weights

    sem_gcn = import_sem_gcn(checkout)
    skeleton = semgcn_skeleton()
    adj = adj_mx_from_skeleton(skeleton)
    groups = skeleton.joints_group()
    joints = skeleton.num_joints()
    reference = {"repo": REPO, "commit": commit}

    def build(name: str):
        if name == "semgcn":
            return sem_gcn.SemGCN(adj, 16, num_layers=2), {"hid_dim": 16, "num_layers": 2}
        if name == "semgcn_nonlocal":
            model = sem_gcn.SemGCN(adj, 16, num_layers=2, nodes_group=groups)
            return model, {"hid_dim": 16, "num_layers": 2, "nodes_group": groups}
        model = LinearModel(joints * 2, (joints - 1) * 3, linear_size=32, num_stage=2)
        model.apply(init_weights)
        config = {"input_size": joints * 2, "output_size": (joints - 1) * 3}
        return model, {**config, "linear_size": 32, "num_stage": 2, "p_dropout": 0.5}

    for name in ("semgcn", "semgcn_nonlocal", "martinez"):
        torch.manual_seed(SEED)
        model, config = build(name)
        generator = torch.Generator().manual_seed(SEED + 1)
        perturb(model, generator)
        model.eval()
        # SemGCN: (B, J, 2) screen-normalised; Martinez: the same poses flattened (B, J * 2).
        pose2d = torch.rand(8, joints, 2, generator=generator) * 2 - 1
        x = pose2d if name.startswith("semgcn") else pose2d.flatten(1)
        with torch.no_grad():
            y = model(x)
        fixture = {
            "state_dict": weights(model),
            "input": x,
            "output": y,
            "config": {"model": type(model).__name__, "joints": joints, **config},
            "reference": reference,
        }
        summary = f"{count(model):,} params, output {tuple(y.shape)}"
        save_fixture(fixture, args.out / f"{name}_small.pt", summary)

    full = {
        "SemGCN (hid_dim 128, 4 layers)": sem_gcn.SemGCN(adj, 128, num_layers=4),
        "SemGCN non-local (hid_dim 128, 4 layers)": sem_gcn.SemGCN(
            adj, 128, num_layers=4, nodes_group=groups
        ),
        "Martinez LinearModel(32, 45)": LinearModel(joints * 2, (joints - 1) * 3),
    }
    print(f"full-size parameter counts, {REPO}@{commit[:12]}:")
    for label, model in full.items():
        print(f"  {label}: {count(model):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
