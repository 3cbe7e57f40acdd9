"""Geometry: cameras and projection, Procrustes alignment."""

from motionzoo.geometry.camera import (
    H36M_CAMERA_IDS,
    H36M_SUBJECTS,
    Camera,
    camera_to_world,
    h36m_cameras,
    image_coordinates,
    normalize_screen_coordinates,
    project,
    qinverse,
    qrot,
    world_to_camera,
)
from motionzoo.geometry.dct import DCT, dct, dct_matrix, idct
from motionzoo.geometry.procrustes import procrustes_align

__all__ = [
    "DCT",
    "dct",
    "dct_matrix",
    "idct",
    "H36M_CAMERA_IDS",
    "H36M_SUBJECTS",
    "Camera",
    "camera_to_world",
    "h36m_cameras",
    "image_coordinates",
    "normalize_screen_coordinates",
    "procrustes_align",
    "project",
    "qinverse",
    "qrot",
    "world_to_camera",
]
