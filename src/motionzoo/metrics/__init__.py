"""torchmetrics for the zoo's evaluation protocols."""

from motionzoo.metrics.generation import GenerationScores
from motionzoo.metrics.image import FrameMSE, FramePSNR, FrameSSIM
from motionzoo.metrics.pose import AUC3D, MPJPE, PCK3D, PMPJPE

__all__ = [
    "AUC3D",
    "MPJPE",
    "PCK3D",
    "PMPJPE",
    "FrameMSE",
    "FramePSNR",
    "FrameSSIM",
    "GenerationScores",
]
