"""HMVAE: the two-level graph VAE baseline of the HG-VAE paper.

Two stochastic levels: the bottom one on all N = J*3 coordinate nodes (54 for AMASS-18) and the
top one on 6 body parts x 3 coordinates = 18 nodes; a fixed KL weight of 0.003 (no warm-up). The
top level is pooled by a FIXED grouping of the joints into body parts (the skeleton's
``pool_groups[0]`` in :mod:`motionzoo.skeleton`, e.g. AMASS-18: left leg, right leg, spine,
head + collars, left arm, right arm): every GCL between the levels uses the part-average map
(54 -> 18, :func:`~motionzoo.nn.graph_vae.part_pooling`) or its 0/1 transpose (18 -> 54, each
part copied to its joints) instead of a learned dense S. Within a level the GCLs keep their
learned S. No public HM-VAE code exists; the grouping is ours, as skeleton data.

It is an :class:`~motionzoo.models.hgvae.HGVAE` with that hierarchy, so it has the same
methods (``impute``, ``log_posterior``, ``is_out_of_distribution``, ``generate``).
"""

from __future__ import annotations

import torch

from motionzoo.models.hgvae import HGVAE
from motionzoo.nn.graph_vae import part_pooling
from motionzoo.skeleton import AMASS_18, H36M_22

SKELETONS = {s.num_joints: s for s in (AMASS_18, H36M_22)}


class HMVAE(HGVAE):
    """Two-level graph VAE with body-part pooling: ``levels`` [[N, f], [3 P, f]] (bottom, top)
    for P ``body_parts``; KL weight 0.003. Arguments as :class:`~motionzoo.models.hgvae.HGVAE`,
    plus

    Args:
        body_parts: joint groups of the top level (None: the 6 parts of the zoo skeleton with
            ``num_joints`` joints, AMASS-18 or H3.6M-22).
    """

    def __init__(
        self,
        num_joints: int = 18,
        num_frames: int = 50,
        dct_coefficients: int | None = None,
        levels: list[tuple[int | None, int]] = ((None, 128), (18, 128)),
        residual_features: int = 256,
        dropout: float = 0.0,
        stochastic_levels: int | None = None,
        num_actions: int = 0,
        imputation_objective: str = "joint",
        scale_mm: float = 100.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kl_weight_start: float = 0.003,
        kl_weight_end: float = 0.003,
        kl_warmup_epochs: int = 0,
        ood_quantile: float = 0.01,
        output_logvar_min: float = -20.0,
        fixed_variance_epochs: int = 0,
        body_parts: list[list[int]] | None = None,
    ):
        if body_parts is None:
            if num_joints not in SKELETONS:
                raise ValueError(
                    f"HMVAE: no body-part grouping for {num_joints} joints; pass body_parts "
                    f"(skeletons with one: {sorted(SKELETONS)} joints)"
                )
            body_parts = [list(g) for g in SKELETONS[num_joints].pool_groups[0]]
        if len(levels) != 2 or levels[1][0] != 3 * len(body_parts):
            raise ValueError(
                f"HMVAE has two levels (bottom, top) with 3 x {len(body_parts)} body-part nodes "
                f"on top, got levels={levels}"
            )
        self._pool = part_pooling(tuple(tuple(g) for g in body_parts), num_joints)
        args = {k: v for k, v in locals().items() if k not in ("self", "__class__", "body_parts")}
        super().__init__(**args)

    def node_map(self, in_nodes: int, out_nodes: int) -> torch.Tensor | None:
        parts, nodes = self._pool.shape
        if (in_nodes, out_nodes) == (nodes, parts):
            return self._pool
        if (in_nodes, out_nodes) == (parts, nodes):
            return (self._pool > 0).float().T
        return None
