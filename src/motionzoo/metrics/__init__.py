"""torchmetrics for the zoo's evaluation protocols."""

from motionzoo.metrics.pose import AUC3D, MPJPE, PCK3D, PMPJPE

__all__ = ["AUC3D", "MPJPE", "PCK3D", "PMPJPE"]
