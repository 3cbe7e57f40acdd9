"""The published Human3.6M camera model: camera parameters as data, batched torch maths.

Everything follows VideoPose3D (``common/camera.py``, ``common/quaternion.py``,
``common/h36m_dataset.py``; numbers in ``shared/reference/datasets.md`` section 1b):

- a camera's ``orientation`` is the unit quaternion (w, x, y, z) of the camera-to-world rotation
  R and its ``translation`` t is the camera position in world millimetres, so
  ``world_to_camera(X) = qrot(R^-1, X - t)`` and ``camera_to_world(X) = qrot(R, X) + t``
  (we renormalise R, which VideoPose3D does not: a change below float32 resolution);
- ``project`` is ``project_to_2d`` (radial k1..k3 and VideoPose3D's tangential term, with the
  normalised image coordinates clamped to [-1, 1]) written in pixels; VideoPose3D evaluates the
  same polynomial in screen-normalised units and maps back with ``image_coordinates``, which is
  the identical affine map ``f * x + c``;
- ``normalize_screen_coordinates`` maps pixels to [-1, 1] along x, keeping the aspect ratio.

Points are ``(..., 3)`` millimetres with any leading batch dims; functions keep the input dtype
and device. The camera numbers are stored as printed in the reference (shortest float32
round-trip decimals): ``torch.float32`` / ``np.float32`` tensors built from them are bit-identical
to VideoPose3D's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)


@dataclass(frozen=True)
class Camera:
    """One calibrated camera (pixels, millimetres).

    Attributes:
        id: camera name, e.g. ``"54138969"``.
        res_w, res_h: image size in pixels.
        center, focal: principal point and focal lengths (x, y) in pixels.
        radial: k1, k2, k3.  tangential: p1, p2.
        orientation: quaternion (w, x, y, z) of the camera-to-world rotation.
        translation: camera position in world coordinates, mm.
    """

    id: str
    res_w: int
    res_h: int
    center: tuple[float, float]
    focal: tuple[float, float]
    radial: tuple[float, float, float]
    tangential: tuple[float, float]
    orientation: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    translation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def intrinsics_normalized(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """VideoPose3D's 9-vector in screen-normalised units: focal / res_w * 2 (2),
        normalised centre (2), radial (3), tangential (2)."""
        focal = np.asarray(self.focal, dtype=np.float64) / self.res_w * 2
        center = normalize_screen_coordinates(
            np.asarray(self.center, dtype=np.float64), self.res_w, self.res_h
        )
        values = np.concatenate([focal, center, self.radial, self.tangential])
        return torch.as_tensor(values, dtype=dtype)


H36M_CAMERA_IDS = ("54138969", "55011271", "58860488", "60457274")
H36M_SUBJECTS = ("S1", "S5", "S6", "S7", "S8", "S9", "S11")

# VideoPose3D h36m_dataset.py intrinsics, camera index order 0..3:
# id: (res_w, res_h, center, focal, radial, tangential)
_H36M_INTRINSICS = {
    "54138969": (
        1000, 1002, (512.5415, 515.4515), (1145.0494, 1143.7811),
        (-0.20709892, 0.24777518, -0.0030751503), (-0.0009756989, -0.0014244716),
    ),
    "55011271": (
        1000, 1000, (508.84863, 508.0649), (1149.6757, 1147.5917),
        (-0.19421363, 0.24040854, 0.0068199756), (-0.0016190266, -0.0027408944),
    ),
    "58860488": (
        1000, 1000, (519.81586, 501.40265), (1149.1407, 1148.799),
        (-0.20833819, 0.255488, -0.0024604974), (0.001484387, -0.0007599993),
    ),
    "60457274": (
        1000, 1002, (514.9682, 501.88202), (1145.5114, 1144.7739),
        (-0.19838409, 0.21832368, -0.008947807), (-0.0005872056, -0.001813362),
    ),
}  # fmt: skip

# VideoPose3D h36m_dataset.py extrinsics per subject, camera index order 0..3:
# (orientation quaternion w,x,y,z camera-to-world, camera position in world mm).
# S2, S3 and S4 have none.
_H36M_EXTRINSICS = {
    "S1": (
        ((0.14070565, -0.15007018, -0.7552408, 0.62232804), (1841.107, 4955.2847, 1563.4454)),
        ((0.6157188, -0.7648363, -0.14833826, 0.11794741), (1761.2786, -5078.007, 1606.265)),
        ((0.14651473, -0.14647852, 0.76530236, -0.60941756), (-1846.7777, 5215.0464, 1491.9724)),
        ((0.58340085, -0.7853162, 0.14548823, -0.14749594), (-1794.7897, -3722.699, 1574.8927)),
    ),
    "S5": (
        ((0.14673772, -0.16237096, -0.7551893, 0.6178939), (2097.3916, 4880.945, 1605.7324)),
        ((0.61597586, -0.7626792, -0.15728192, 0.1189815), (2031.7008, -5167.933, 1612.9231)),
        ((0.14291371, -0.12907842, 0.7678385, -0.6110143), (-1620.5948, 5171.6587, 1496.437)),
        ((0.592048, -0.7814218, 0.12747486, -0.15036418), (-1637.1737, -3867.3174, 1547.0332)),
    ),
    "S6": (
        ((0.13378978, -0.15692396, -0.75710905, 0.61988795), (1935.4518, 4950.2456, 1618.0839)),
        ((0.61471975, -0.7628813, -0.16174768, 0.11819245), (1969.804, -5128.739, 1632.7788)),
        ((0.15299481, -0.13529131, 0.76460963, -0.6112781), (-1769.5964, 5185.3613, 1476.9934)),
        ((0.59161013, -0.7804774, 0.1283227, -0.15615939), (-1721.6687, -3884.1313, 1540.4879)),
    ),
    "S7": (
        ((0.14352418, -0.16313368, -0.75483286, 0.6188825), (1974.513, 4926.3545, 1597.8326)),
        ((0.6141673, -0.76382625, -0.15966456, 0.117792994), (1937.0585, -5119.79, 1631.5665)),
        ((0.1455006, -0.12874816, 0.76605165, -0.61271393), (-1741.8112, 5208.2495, 1464.8246)),
        ((0.5912848, -0.78217643, 0.12445474, -0.15196487), (-1734.7106, -3832.4214, 1548.583)),
    ),
    "S8": (
        ((0.14110588, -0.15589868, -0.75619173, 0.61964405), (2150.6519, 4896.161, 1611.9047)),
        ((0.61696017, -0.7647668, -0.1484635, 0.11158158), (2219.9656, -5148.453125, 1613.0441)),
        ((0.1471444, -0.1337712, 0.76701283, -0.61003697), (-1571.2216, 5137.0186, 1498.1761)),
        ((0.59278244, -0.78258705, 0.12147816, -0.14631996), (-1476.9133, -3896.7412, 1547.9722)),
    ),
    "S9": (
        ((0.15540588, -0.15548216, -0.75320953, 0.6199595), (2044.4585, 4935.1171875, 1481.2275)),
        ((0.6187845, -0.7634735, -0.14132239, 0.11933968), (1990.9597, -5123.8105, 1568.8048)),
        ((0.13357827, -0.13671005, 0.76894546, -0.61007386), (-1670.9921875, 5211.986, 1528.388)),
        ((0.5879399, -0.7823407, 0.14276144, -0.1479487), (-1696.0435, -3827.0999, 1591.4127)),
    ),
    "S11": (
        ((0.15232472, -0.1544232, -0.75475633, 0.619107), (2098.4402, 4926.5546875, 1500.2786)),
        ((0.61894494, -0.7600917, -0.15300633, 0.12552583), (2083.1824, -4912.173, 1561.0786)),
        ((0.14943229, -0.15650228, 0.7681234, -0.60263044), (-1609.8153, 5177.3359375, 1537.8967)),
        ((0.58942515, -0.7818877, 0.13991211, -0.14715362), (-1590.738, -3854.169, 1578.0176)),
    ),
}  # fmt: skip


def h36m_cameras(subject: str) -> tuple[Camera, Camera, Camera, Camera]:
    """The four calibrated cameras of a Human3.6M subject, in VideoPose3D's camera index order
    (``H36M_CAMERA_IDS``: 54138969, 55011271, 58860488, 60457274)."""
    if subject not in _H36M_EXTRINSICS:
        raise ValueError(
            f"no Human3.6M camera extrinsics for subject {subject!r}; valid subjects are "
            f"{', '.join(H36M_SUBJECTS)} (S2, S3 and S4 have no published extrinsics)"
        )
    cameras = []
    for cam_id, (orientation, translation) in zip(H36M_CAMERA_IDS, _H36M_EXTRINSICS[subject]):
        res_w, res_h, center, focal, radial, tangential = _H36M_INTRINSICS[cam_id]
        cameras.append(
            Camera(
                cam_id, res_w, res_h, center, focal, radial, tangential, orientation, translation
            )
        )
    return tuple(cameras)


# --- quaternions (w, x, y, z), VideoPose3D common/quaternion.py -----------------------------


def qrot(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Rotate v (..., 3) by the unit quaternion q (..., 4); leading dims broadcast.

    v' = v + 2 (w (u x v) + u x (u x v)) with q = (w, u).
    """
    if q.shape[-1] != 4 or v.shape[-1] != 3:
        raise ValueError(
            f"qrot expects q (..., 4) and v (..., 3), got {tuple(q.shape)} and {tuple(v.shape)}"
        )
    batch = torch.broadcast_shapes(q.shape[:-1], v.shape[:-1])
    w, u = q[..., :1], q[..., 1:].expand(*batch, 3)
    v = v.expand(*batch, 3)
    uv = torch.linalg.cross(u, v)
    uuv = torch.linalg.cross(u, uv)
    return v + 2 * (w * uv + uuv)


def qinverse(q: torch.Tensor) -> torch.Tensor:
    """Inverse of a unit quaternion (..., 4): the conjugate (w, -x, -y, -z)."""
    return torch.cat([q[..., :1], -q[..., 1:]], dim=-1)


# --- world <-> camera <-> image ---------------------------------------------------------------


def _params(values, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def _orientation(camera: Camera, like: torch.Tensor) -> torch.Tensor:
    """The camera quaternion, renormalised: the published float32 values are unit only to
    ~1e-7, which would scale points (5000 mm -> 5e-4 mm) and break exact round trips."""
    q = torch.as_tensor(camera.orientation, dtype=torch.float64)
    return (q / q.norm()).to(dtype=like.dtype, device=like.device)


def _float_tensor(x) -> tuple[torch.Tensor, bool]:
    """x as a floating tensor, and whether it came in as a numpy array."""
    was_numpy = isinstance(x, np.ndarray)
    x = torch.from_numpy(x) if was_numpy else x
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    return x, was_numpy


def world_to_camera(x: ArrayT, camera: Camera) -> ArrayT:
    """World points (..., 3) mm -> camera coordinates (..., 3) mm: qrot(R^-1, X - t)."""
    x, was_numpy = _float_tensor(x)
    q, t = _orientation(camera, x), _params(camera.translation, x)
    out = qrot(qinverse(q), x - t)
    return out.numpy() if was_numpy else out


def camera_to_world(x_cam: ArrayT, camera: Camera) -> ArrayT:
    """Camera points (..., 3) mm -> world coordinates (..., 3) mm: qrot(R, X) + t."""
    x, was_numpy = _float_tensor(x_cam)
    q, t = _orientation(camera, x), _params(camera.translation, x)
    out = qrot(q, x) + t
    return out.numpy() if was_numpy else out


def project(x_cam: ArrayT, camera: Camera, distort: bool = True) -> ArrayT:
    """Camera points (..., 3) -> pixels (..., 2).

    ``distort=True`` is VideoPose3D's ``project_to_2d``: x = clamp(X_xy / X_z, -1, 1),
    r2 = |x|^2, x' = x (1 + k1 r2 + k2 r2^2 + k3 r2^3 + p1 x + p2 y) + (p1, p2) r2, pixel =
    f x' + c. ``distort=False`` is ``project_to_2d_linear``: f X_xy / X_z + c, no clamp.
    """
    x, was_numpy = _float_tensor(x_cam)
    if x.shape[-1] != 3:
        raise ValueError(f"project expects camera points (..., 3), got {tuple(x.shape)}")
    focal, center = _params(camera.focal, x), _params(camera.center, x)
    xy = x[..., :2] / x[..., 2:]
    if distort:
        k, p = _params(camera.radial, x), _params(camera.tangential, x)
        xy = xy.clamp(-1, 1)
        r2 = xy.square().sum(dim=-1, keepdim=True)
        radial = 1 + (k * torch.cat([r2, r2**2, r2**3], dim=-1)).sum(dim=-1, keepdim=True)
        tangential = (p * xy).sum(dim=-1, keepdim=True)
        xy = xy * (radial + tangential) + p * r2
    out = focal * xy + center
    return out.numpy() if was_numpy else out


def _screen_offset(x: ArrayT, w: int, h: int) -> ArrayT:
    if x.shape[-1] != 2:
        raise ValueError(f"expected 2D points (..., 2), got shape {tuple(x.shape)}")
    if isinstance(x, torch.Tensor):
        return torch.tensor([1.0, h / w], dtype=x.dtype, device=x.device)
    return np.array([1.0, h / w], dtype=x.dtype)


def normalize_screen_coordinates(x: ArrayT, w: int, h: int) -> ArrayT:
    """Pixels (..., 2) -> screen-normalised: x in [-1, 1], y scaled by the same factor
    (VideoPose3D: X / w * 2 - [1, h / w])."""
    x = x / w * 2
    return x - _screen_offset(x, w, h)


def image_coordinates(x: ArrayT, w: int, h: int) -> ArrayT:
    """Inverse of ``normalize_screen_coordinates``: (X + [1, h / w]) * w / 2."""
    x = x * 1.0
    return (x + _screen_offset(x, w, h)) * w / 2
