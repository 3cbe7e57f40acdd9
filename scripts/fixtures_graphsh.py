"""Write the reference-equivalence fixtures of GraphSH, one per ``--gcn`` of the public port
(tamasino52/GraphSH, DESIGN.md section 8).

Takes a checkout of tamasino52/GraphSH (never committed here), imports its ``models/graph_sh.py``
as it is, builds ``GraphSH(adj, hid_dim, joints_group, num_layers, p_dropout=0.25, gcn_type)``
for every ``--gcn`` it offers at a small width with a fixed seed, on the 16-joint skeleton and
adjacency built by its own ``Human36mDataset`` and ``adj_mx_from_skeleton`` (as ``main_gcn.py``
does), spreads its parameters and BatchNorm statistics away from their initial values, runs a
fixed input in eval mode and saves ``{state_dict, input, output, hourglass_outputs, config,
reference}`` as ``tests/fixtures/graphsh_<gcn>_small.pt`` (``hourglass_outputs``: each stacked
hourglass's (B, J, C) output, where the pooling tables act before the head averages them). Widths: C = 16 with 2 hourglasses for the layers with
shared weights, C = 8 for the per-node ones (``preagg``, ``postagg``: 2 hourglasses;
``nosharing``, a weight per node pair: 1), which keeps each file under 400 kB.

It also prints the parameter count of every ``--gcn`` at the full size (``main_gcn.py``'s
defaults: hid_dim 64, 4 layers), the numbers ``tests/convert/test_graphsh.py`` pins.

One defect of the port stops a network from running at all: the coupled ``--gcn postagg``
layer contracts its 4-D weight ``W`` (1, J, C_in, C_out) with a 3-index einsum and raises on the
first forward (so no ``postagg`` checkpoint can come out of its training script). To pin our
``postagg`` (coupled) to the layer it meant, this script compiles
``models/gconv/post_agg_graph_conv.py`` with that one textual fix (``self.W)`` -> ``self.W[0])``
in the coupled branch, the state_dict unchanged); every other file is imported as it is.

Parameters and statistics are perturbed by ``perturb`` of ``scripts/fixtures_common.py``, plus the modulated layer's M (channel scales, init 1) and adj2 (init 1e-6).

    python scripts/fixtures_graphsh.py /path/to/GraphSH [--commit HASH] [--out tests/fixtures]
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import torch
from fixtures_common import FixtureParser, count, perturb, save_fixture, weights
from fixtures_semgcn import semgcn_skeleton

REPO = "tamasino52/GraphSH"
SEED = 0
GCN_TYPES = (
    "vanilla",
    "dc_vanilla",
    "preagg",
    "dc_preagg",
    "postagg",
    "dc_postagg",
    "convst",
    "nosharing",
    "modulated",
    "semantic",
)
PER_NODE = {"preagg", "dc_preagg", "postagg", "dc_postagg"}


def small_size(gcn: str) -> tuple[int, int]:
    """(hid_dim, num_layers) of the fixture network of ``gcn``."""
    if gcn == "nosharing":
        return 8, 1
    return (8, 2) if gcn in PER_NODE else (16, 2)


def import_post_agg(checkout: Path) -> None:
    """``models/gconv/post_agg_graph_conv.py`` with the coupled einsum fixed (see above)."""
    path = checkout / "models" / "gconv" / "post_agg_graph_conv.py"
    source = path.read_text()
    broken = "torch.einsum('bjn,jnm->bjm', h0, self.W)\n"
    if source.count(broken) != 1:
        raise SystemExit(f"{path}: the coupled einsum over self.W is not there to fix")
    source = source.replace(broken, broken.replace("self.W)", "self.W[0])"))
    name = "models.gconv.post_agg_graph_conv"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    exec(compile(source, str(path), "exec"), module.__dict__)
    sys.modules[name] = module


def perturb_modulation(model: torch.nn.Module, generator: torch.Generator) -> None:
    """The modulated layer's M around 1 and adj2 around 0, both well away from their init."""
    with torch.no_grad():
        for name, tensor in model.named_parameters():
            noise = torch.randn(tensor.shape, generator=generator)
            if name.endswith(".M"):
                tensor.copy_(1.0 + 0.5 * noise)
            elif name.endswith(".adj2"):
                tensor.copy_(0.2 * noise)


def main(argv: list[str] | None = None) -> int:
    args = FixtureParser(__doc__, REPO).parse_args(argv)
    checkout, commit = args.checkout, args.commit
    if not (checkout / "models" / "graph_sh.py").is_file():
        raise SystemExit(f"{checkout}: no models/graph_sh.py; is this tamasino52/GraphSH?")
    sys.path.insert(0, str(checkout))

    from common.graph_utils import adj_mx_from_skeleton

    import_post_agg(checkout)
    from models.graph_sh import GraphSH

    # GraphSH's common/h36m_dataset.py is SemGCN's plus the joint groups: the same construction.
    skeleton = semgcn_skeleton()
    adj = adj_mx_from_skeleton(skeleton)
    groups = skeleton.joints_group()
    joints = skeleton.num_joints()
    reference = {"repo": REPO, "commit": commit}

    for gcn in GCN_TYPES:
        hid_dim, num_layers = small_size(gcn)
        torch.manual_seed(SEED)
        model = GraphSH(adj, hid_dim, groups, num_layers=num_layers, p_dropout=0.25, gcn_type=gcn)
        generator = torch.Generator().manual_seed(SEED + 1)
        perturb(model, generator)
        perturb_modulation(model, generator)
        model.eval()
        pose2d = torch.rand(8, joints, 2, generator=generator) * 2 - 1  # (B, J, 2) normalised
        hourglass_outputs = []
        hooks = [
            layer.register_forward_hook(lambda m, i, out, kept=hourglass_outputs: kept.append(out))
            for layer in model.gconv_layers
        ]
        with torch.no_grad():
            output = model(pose2d)
        for hook in hooks:
            hook.remove()
        fixture = {
            "state_dict": weights(model),
            "input": pose2d,
            "output": output,
            "hourglass_outputs": hourglass_outputs,
            "config": {
                "model": type(model).__name__,
                "gcn": gcn,
                "hid_dim": hid_dim,
                "num_layers": num_layers,
                "p_dropout": 0.25,
                "joints": joints,
                "nodes_group": groups,
            },
            "reference": reference,
        }
        summary = f"{count(model):,} params, output {tuple(output.shape)}"
        save_fixture(fixture, args.out / f"graphsh_{gcn}_small.pt", summary)

    print(f"full-size parameter counts (hid_dim 64, 4 layers), {REPO}@{commit[:12]}:")
    for gcn in GCN_TYPES:
        model = GraphSH(adj, 64, groups, num_layers=4, p_dropout=0.25, gcn_type=gcn)
        print(f"  --gcn {gcn}: {count(model):,}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
