"""HMVAE: the two-level graph VAE baseline of the HG-VAE paper.

Two stochastic levels: the bottom one on all N = J*3 coordinate nodes (54 for AMASS-18) and the
top one pooled to 6 joints x 3 = 18 nodes; a fixed KL weight of 0.003. It is an
:class:`~motionzoo.models.hgvae.HGVAE` with that hierarchy, so it has the same methods
(``impute``, ``log_posterior``, ``is_out_of_distribution``, ``generate``). Deviation to know:
the 54 -> 18 pooling is the learned dense node-mixing of a GCL, not a fixed grouping of joints
(no public HM-VAE code exists to copy the grouping from). Its imputation objective sums both
levels (``posterior_levels=2``).
"""

from __future__ import annotations

from motionzoo.models.hgvae import HGVAE


class HMVAE(HGVAE):
    """Two-level graph VAE: ``levels`` [[N, 128], [18, 128]] (bottom, top), KL weight 0.003
    (no warm-up), imputation objective over both levels. Arguments as
    :class:`~motionzoo.models.hgvae.HGVAE`, with these defaults."""

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
        posterior_levels: int | None = 2,
        scale_mm: float = 100.0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        kl_weight_start: float = 0.003,
        kl_weight_end: float = 0.003,
        kl_warmup_epochs: int = 0,
        ood_quantile: float = 0.01,
        output_logvar_min: float = -20.0,
        fixed_variance_epochs: int = 0,
    ):
        if len(levels) != 2:
            raise ValueError(f"HMVAE has exactly two levels (bottom, top), got {levels}")
        args = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        super().__init__(**args)
