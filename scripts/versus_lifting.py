"""The lifters' pairs of ``scripts/versus.py``: training steps on (B, 16, 2) -> (B, 16, 3) batches.

- ``semgcn`` / ``semgcn_nonlocal``: SeqRes(conv=semantic, hidden 128, 4 blocks, with / without
  the non-local blocks) against garyzhao/SemGCN's ``SemGCN`` of the same size; both sides:
  forward, MSE, backward, clip 1, Adam.
- ``martinez``: LinearLifter (1024 units, 2 stages) against SemGCN's ``LinearModel``; the same
  step (the reference predicts the 15 non-root joints, ours the root as zero).
- ``graphsh_preagg`` / ``graphsh_semantic``: GraphSH as ``motionzoo.convert.graphsh`` builds it
  for tamasino52/GraphSH's ``--gcn dc_preagg`` (the paper config, 3,685,899 parameters) /
  ``--gcn semantic`` (port options included, so both compute the same function) against the
  port's ``GraphSH(adj, 64, groups, num_layers=4, p_dropout=0.25, gcn_type)``; ours: forward,
  MSE, backward, clip 1, Adam; the reference as its ``main_gcn.py`` trains (``--lamda 0``, no
  post-refinement): ``(1 - lamda) * MSE + lamda * L1``, backward, clip 1, Adam.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch
from versus_common import Pair, Step, adam_step, count_check, training_step


def lifting_batch(batch: int, joints: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Screen-normalised 2D (B, J, 2) and 3D targets (B, J, 3), seeded."""
    generator = torch.Generator().manual_seed(0)
    pose2d = torch.rand(batch, joints, 2, generator=generator) * 2 - 1
    return pose2d, torch.randn(batch, joints, 3, generator=generator) * 0.2


def _semgcn(non_local: bool) -> Callable[[Path, int], tuple[Step, Step]]:
    def build(checkout: Path, batch: int) -> tuple[Step, Step]:
        import fixtures_semgcn

        from motionzoo.models.seqres import SeqRes

        sys.path.insert(0, str(checkout))
        from common.graph_utils import adj_mx_from_skeleton

        sem_gcn = fixtures_semgcn.import_sem_gcn(checkout)
        skeleton = fixtures_semgcn.semgcn_skeleton()
        groups = skeleton.joints_group() if non_local else None
        reference = sem_gcn.SemGCN(
            adj_mx_from_skeleton(skeleton), 128, num_layers=4, nodes_group=groups
        )
        ours = SeqRes(conv="semantic", hidden=128, num_blocks=4, non_local=non_local).net
        count_check(ours, reference)
        pose2d, pose3d = lifting_batch(batch)
        return training_step(ours, pose2d, pose3d, 1.0), training_step(
            reference, pose2d, pose3d, 1.0
        )

    return build


def _martinez(checkout: Path, batch: int) -> tuple[Step, Step]:
    from motionzoo.models.linear import LinearLifter

    sys.path.insert(0, str(checkout))
    from models.linear_model import LinearModel, init_weights

    reference = LinearModel(32, 45)
    reference.apply(init_weights)
    ours = LinearLifter(num_joints=16, predict_root=False).net
    count_check(ours, reference)
    pose2d, pose3d = lifting_batch(batch)
    root_zero = torch.cat([torch.zeros_like(pose3d[:, :1]), pose3d[:, 1:]], dim=1)
    return training_step(ours, pose2d, root_zero, 1.0), training_step(
        reference, pose2d.flatten(1), pose3d[:, 1:].flatten(1), 1.0
    )


def _graphsh(gcn: str) -> Callable[[Path, int], tuple[Step, Step]]:
    def build(checkout: Path, batch: int) -> tuple[Step, Step]:
        import fixtures_graphsh

        from motionzoo.convert.graphsh import build_graphsh

        sys.path.insert(0, str(checkout))
        from common.graph_utils import adj_mx_from_skeleton

        fixtures_graphsh.import_post_agg(checkout)  # models/graph_sh.py imports it
        from models.graph_sh import GraphSH

        skeleton = fixtures_graphsh.semgcn_skeleton()  # main_gcn.py's, from its own dataset
        reference = GraphSH(
            adj_mx_from_skeleton(skeleton),
            64,
            skeleton.joints_group(),
            num_layers=4,
            p_dropout=0.25,
            gcn_type=gcn,
        )
        ours = build_graphsh(reference.state_dict(), gcn)[0].net
        count_check(ours, reference)
        pose2d, pose3d = lifting_batch(batch)
        lamda = 0.0  # main_gcn.py's default --lamda; the L1 term is computed all the same

        def reference_loss() -> torch.Tensor:  # main_gcn.py's train()
            out = reference(pose2d)
            mse = torch.nn.functional.mse_loss(out, pose3d)
            return (1 - lamda) * mse + lamda * torch.nn.functional.l1_loss(out, pose3d)

        return training_step(ours, pose2d, pose3d, 1.0), adam_step(reference, reference_loss, 1.0)

    return build


GRAPHSH, SEMGCN = "tamasino52/GraphSH", "garyzhao/SemGCN"
PAIRS: dict[str, Pair] = {
    "semgcn": Pair(
        "SeqRes(semantic) vs SemGCN", SEMGCN, "models/sem_gcn.py", _semgcn(False), batch=256
    ),
    "semgcn_nonlocal": Pair(
        "SeqRes(semantic, non_local) vs SemGCN non-local",
        SEMGCN,
        "models/sem_gcn.py",
        _semgcn(True),
        batch=256,
    ),
    "martinez": Pair(
        "LinearLifter vs Martinez LinearModel",
        SEMGCN,
        "models/linear_model.py",
        _martinez,
        batch=256,
    ),
    "graphsh_preagg": Pair(
        "GraphSH(preagg, paper config) vs GraphSH port --gcn dc_preagg",
        GRAPHSH,
        "models/graph_sh.py",
        _graphsh("dc_preagg"),
        batch=256,
    ),
    "graphsh_semantic": Pair(
        "GraphSH(semantic) vs GraphSH port --gcn semantic",
        GRAPHSH,
        "models/graph_sh.py",
        _graphsh("semantic"),
        batch=256,
    ),
}
