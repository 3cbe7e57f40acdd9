"""Pictures for TensorBoard: skeletons, motion strips, frame grids."""

from motionzoo.viz.frames import FrameGridCallback, frame_grid, save_grid

__all__ = ["FrameGridCallback", "frame_grid", "save_grid"]
