"""The zoo's DataModules; importing this package makes every DataModule known to the CLI."""

from motionzoo.data.h36m_pose import H36MPoseDataModule

__all__ = ["H36MPoseDataModule"]
