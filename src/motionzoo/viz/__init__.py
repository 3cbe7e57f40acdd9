"""Pictures for TensorBoard: skeletons, motion strips, frame grids."""
