"""HMVAE: the two-level graph VAE baseline of the HG-VAE paper.

Two stochastic levels: the bottom one on all N = J*3 coordinate nodes (54 for AMASS-18) and the
top one on 6 body parts x 3 coordinates = 18 nodes; a fixed KL weight of 0.003 (no warm-up). The
top level is pooled by a FIXED grouping of the joints into body parts (the skeleton's
``pool_groups[0]`` in :mod:`motionzoo.skeleton`, e.g. AMASS-18: left leg, right leg, spine,
head + collars, left arm, right arm): every GCL between the levels uses the part-average map
(54 -> 18, :func:`~motionzoo.nn.graph_vae.part_pooling`) or its 0/1 transpose (18 -> 54, each
part copied to its joints) instead of a learned dense S. Within a level the GCLs keep their
learned S. No public HM-VAE code exists; the grouping is ours, as skeleton data
(docs/models/hmvae.md). Otherwise it is an :class:`~motionzoo.models.hgvae.HGVAE`.
"""

from __future__ import annotations

import torch

from motionzoo.models.hgvae import HGVAE
from motionzoo.nn.graph_vae import part_pooling
from motionzoo.skeleton import AMASS_18, H36M_22

SKELETONS = {s.num_joints: s for s in (AMASS_18, H36M_22)}


class HMVAE(HGVAE):
    """Two-level graph VAE with body-part pooling: ``levels`` [[N, f], [3 P, f]] (bottom, top)
    for P ``body_parts``; KL weight 0.003.

    Args:
        num_joints: J (18 AMASS, 22 H3.6M).
        levels: (bottom, top) latent (nodes, features); top nodes = 3 x the number of parts.
        kl_weight_start, kl_weight_end, kl_warmup_epochs: 0.003 throughout (paper).
        body_parts: joint groups of the top level (None: the 6 parts of the zoo skeleton with
            ``num_joints`` joints, AMASS-18 or H3.6M-22).
        **kwargs: the other arguments of :class:`~motionzoo.models.hgvae.HGVAE`, same defaults
            (LightningCLI lists them with HMVAE's options).
    """

    def __init__(
        self,
        num_joints: int = 18,
        levels: list[tuple[int | None, int]] = ((None, 128), (18, 128)),
        kl_weight_start: float = 0.003,
        kl_weight_end: float = 0.003,
        kl_warmup_epochs: int = 0,
        body_parts: list[list[int]] | None = None,
        **kwargs,
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
        super().__init__(
            num_joints=num_joints,
            levels=levels,
            kl_weight_start=kl_weight_start,
            kl_weight_end=kl_weight_end,
            kl_warmup_epochs=kl_warmup_epochs,
            **kwargs,
        )

    def node_map(self, in_nodes: int, out_nodes: int) -> torch.Tensor | None:
        parts, nodes = self._pool.shape
        if (in_nodes, out_nodes) == (nodes, parts):
            return self._pool
        if (in_nodes, out_nodes) == (parts, nodes):
            return (self._pool > 0).float().T
        return None
