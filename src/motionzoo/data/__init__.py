"""The zoo's DataModules; importing this package makes every DataModule known to the CLI."""

from motionzoo.data.amass import AMASSDataModule
from motionzoo.data.frames import FramesDataModule
from motionzoo.data.h36m_images import H36MImageDataModule
from motionzoo.data.h36m_motion import H36MMotionDataModule
from motionzoo.data.h36m_pose import H36MPoseDataModule
from motionzoo.data.mug import MUGDataModule
from motionzoo.data.sprites import SpritesDataModule

__all__ = [
    "AMASSDataModule",
    "FramesDataModule",
    "H36MImageDataModule",
    "H36MMotionDataModule",
    "H36MPoseDataModule",
    "MUGDataModule",
    "SpritesDataModule",
]
