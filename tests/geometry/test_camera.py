"""Human3.6M cameras: the published numbers, and the VideoPose3D camera maths checked against
independent float64 implementations."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.geometry import (
    H36M_CAMERA_IDS,
    H36M_SUBJECTS,
    camera_to_world,
    h36m_cameras,
    image_coordinates,
    normalize_screen_coordinates,
    project,
    qinverse,
    qrot,
    world_to_camera,
)


def random_unit_quaternions(n: int, seed: int) -> np.ndarray:
    q = np.random.default_rng(seed).normal(size=(n, 4))
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def wxyz_to_matrix(q: np.ndarray) -> np.ndarray:
    """scipy takes quaternions scalar-last (x, y, z, w)."""
    return Rotation.from_quat(np.roll(q, -1, axis=-1)).as_matrix()


# --- the tables ---------------------------------------------------------------------------------


def test_tables_hold_the_published_numbers():
    s1, s9 = h36m_cameras("S1"), h36m_cameras("S9")
    assert tuple(c.id for c in s1) == H36M_CAMERA_IDS
    c = s1[0]
    assert c.id == "54138969" and (c.res_w, c.res_h) == (1000, 1002)
    assert c.center == (512.5415, 515.4515)
    assert c.focal == (1145.0494, 1143.7811)
    assert c.radial == (-0.20709892, 0.24777518, -0.0030751503)
    assert c.tangential == (-0.0009756989, -0.0014244716)
    assert c.orientation == (0.14070565, -0.15007018, -0.7552408, 0.62232804)
    assert c.translation == (1841.107, 4955.2847, 1563.4454)
    c = s9[2]
    assert c.id == "58860488" and (c.res_w, c.res_h) == (1000, 1000)
    assert c.center == (519.81586, 501.40265)
    assert c.radial == (-0.20833819, 0.255488, -0.0024604974)
    assert c.orientation == (0.13357827, -0.13671005, 0.76894546, -0.61007386)
    assert c.translation == (-1670.9921875, 5211.986, 1528.388)
    c = h36m_cameras("S11")[3]
    assert c.tangential == (-0.0005872056, -0.001813362)
    assert c.translation == (-1590.738, -3854.169, 1578.0176)
    # Intrinsics are shared by all subjects; extrinsics are not.
    assert s1[1].focal == s9[1].focal and s1[1].orientation != s9[1].orientation


@pytest.mark.parametrize("subject", H36M_SUBJECTS)
def test_orientations_are_unit_quaternions(subject):
    q = np.array([c.orientation for c in h36m_cameras(subject)])
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("subject", ["S2", "S12", "s1", ""])
def test_unknown_subject_raises(subject):
    with pytest.raises(ValueError, match=rf"{subject!r}.*S1, S5, S6, S7, S8, S9, S11"):
        h36m_cameras(subject)


def test_intrinsics_normalized_is_videopose3d_vector():
    c = h36m_cameras("S5")[0]
    f = np.float32(c.focal) / np.float32(1000) * 2
    centre = np.float32(c.center) / np.float32(1000) * 2 - np.float32([1, 1002 / 1000])
    expected = np.concatenate([f, centre, np.float32(c.radial), np.float32(c.tangential)])
    # float32 cancellation in VideoPose3D's centre: agree to ~1e-7, not to the last bit.
    np.testing.assert_allclose(c.intrinsics_normalized().numpy(), expected, rtol=1e-6, atol=1e-7)


# --- quaternions --------------------------------------------------------------------------------


def test_qrot_matches_rotation_matrix():
    q = random_unit_quaternions(6, seed=0)
    v = np.random.default_rng(1).normal(size=(6, 5, 3))
    expected = np.einsum("bij,bkj->bki", wxyz_to_matrix(q), v)
    out = qrot(torch.from_numpy(q)[:, None].expand(6, 5, 4), torch.from_numpy(v))
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    # One quaternion broadcast over leading dims.
    out = qrot(torch.from_numpy(q[0]), torch.from_numpy(v))
    np.testing.assert_allclose(out.numpy(), v @ wxyz_to_matrix(q[0]).T, atol=1e-12)


def test_qinverse_undoes_qrot():
    q = torch.from_numpy(random_unit_quaternions(4, seed=2))
    v = torch.randn(4, 3, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    torch.testing.assert_close(qrot(qinverse(q), qrot(q, v)), v)
    np.testing.assert_array_equal(qinverse(q)[:, 0], q[:, 0])
    np.testing.assert_array_equal(qinverse(q)[:, 1:], -q[:, 1:])


# --- world <-> camera ---------------------------------------------------------------------------


def test_world_to_camera_is_rotation_transpose_about_camera_position():
    cam = h36m_cameras("S7")[1]
    x = np.random.default_rng(4).normal(scale=1000.0, size=(2, 8, 17, 3))
    rotation = wxyz_to_matrix(np.array(cam.orientation))
    expected = (x - np.array(cam.translation)) @ rotation  # R^T (x - t), row vectors
    out = world_to_camera(torch.from_numpy(x), cam)
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-8)
    # The camera sits at the camera-frame origin.
    origin = world_to_camera(torch.tensor(cam.translation, dtype=torch.float64), cam)
    np.testing.assert_allclose(origin.numpy(), 0.0, atol=1e-9)


@pytest.mark.parametrize("dtype, tol", [(torch.float32, 1e-2), (torch.float64, 1e-8)])
def test_world_camera_round_trip_keeps_dtype(dtype, tol):
    cam = h36m_cameras("S11")[2]
    x = 1000.0 * torch.randn(3, 4, 17, 3, generator=torch.Generator().manual_seed(5), dtype=dtype)
    x_cam = world_to_camera(x, cam)
    back = camera_to_world(x_cam, cam)
    assert x_cam.dtype == dtype and back.dtype == dtype and x_cam.shape == x.shape
    torch.testing.assert_close(back, x, atol=tol, rtol=0)


def test_numpy_in_numpy_out():
    cam = h36m_cameras("S1")[0]
    x = np.random.default_rng(6).normal(scale=500.0, size=(10, 3)).astype(np.float32)
    x_cam = world_to_camera(x, cam)
    assert isinstance(x_cam, np.ndarray) and x_cam.dtype == np.float32
    np.testing.assert_allclose(x_cam, world_to_camera(torch.from_numpy(x), cam).numpy())
    assert isinstance(project(x_cam, cam), np.ndarray)


# --- projection ---------------------------------------------------------------------------------


def project_reference(x_cam: np.ndarray, cam) -> np.ndarray:
    """VideoPose3D's path, float64 numpy: project_to_2d with the normalised 9-vector, then
    image_coordinates."""
    w, h = cam.res_w, cam.res_h
    f = np.array(cam.focal) / w * 2
    c = np.array(cam.center) / w * 2 - np.array([1, h / w])
    k, p = np.array(cam.radial), np.array(cam.tangential)
    xx = np.clip(x_cam[..., :2] / x_cam[..., 2:], -1, 1)
    r2 = np.sum(xx**2, axis=-1, keepdims=True)
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = np.sum(p * xx, axis=-1, keepdims=True)
    out = f * (xx * (radial + tan) + p * r2) + c
    return (out + np.array([1, h / w])) * w / 2


@pytest.mark.parametrize("subject, index", [("S1", 0), ("S9", 3)])
def test_project_matches_videopose3d_in_normalised_units(subject, index):
    cam = h36m_cameras(subject)[index]
    rng = np.random.default_rng(7)
    # Depth 2-7 m, lateral up to +-4 m: some points leave [-1, 1] and hit the clamp.
    x_cam = np.concatenate(
        [rng.uniform(-4000, 4000, size=(2, 50, 2)), rng.uniform(2000, 7000, size=(2, 50, 1))],
        axis=-1,
    )
    assert (np.abs(x_cam[..., :2] / x_cam[..., 2:]) > 1).any()
    out = project(torch.from_numpy(x_cam), cam)
    assert out.shape == (2, 50, 2) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), project_reference(x_cam, cam), atol=1e-9)
    # float32 input: same numbers to float32 precision.
    out32 = project(torch.from_numpy(x_cam).float(), cam)
    assert out32.dtype == torch.float32
    np.testing.assert_allclose(out32.numpy(), project_reference(x_cam, cam), atol=1e-3)


def test_project_without_distortion_is_pinhole():
    cam = h36m_cameras("S6")[1]
    x_cam = np.random.default_rng(8).uniform([-3000, -3000, 1000], [3000, 3000, 6000], (40, 3))
    expected = np.array(cam.focal) * x_cam[:, :2] / x_cam[:, 2:] + np.array(cam.center)
    out = project(torch.from_numpy(x_cam), cam, distort=False)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-9)
    # Distortion changes off-axis points by whole pixels.
    assert np.abs(project(torch.from_numpy(x_cam), cam).numpy() - expected).max() > 1.0


@pytest.mark.parametrize("subject", H36M_SUBJECTS)
def test_real_cameras_see_the_capture_volume(subject):
    for cam in h36m_cameras(subject):
        # A point on the optical axis 5 m ahead lands on the principal point, near the centre.
        ahead = camera_to_world(torch.tensor([0.0, 0.0, 5000.0], dtype=torch.float64), cam)
        pixel = project(world_to_camera(ahead, cam), cam)
        torch.testing.assert_close(pixel, torch.tensor(cam.center, dtype=torch.float64))
        assert np.abs(pixel.numpy() - [cam.res_w / 2, cam.res_h / 2]).max() < 25
        # The world origin at hip height is in front of every camera, 4-6 m away, in view.
        x_cam = world_to_camera(torch.tensor([0.0, 0.0, 900.0], dtype=torch.float64), cam)
        assert 3500 < x_cam[2] < 6500
        pixel = project(x_cam, cam)
        assert np.abs(pixel.numpy() - [cam.res_w / 2, cam.res_h / 2]).max() < 250


# --- screen normalisation -----------------------------------------------------------------------


def test_normalize_screen_coordinates_values_and_round_trip():
    w, h = 1000, 1002
    corners = np.array([[0.0, 0.0], [w, h], [w / 2, h / 2]])
    np.testing.assert_allclose(
        normalize_screen_coordinates(corners, w, h), [[-1, -h / w], [1, h / w], [0, 0]]
    )
    x = np.random.default_rng(9).uniform(0, 1000, size=(4, 17, 2)).astype(np.float32)
    n = normalize_screen_coordinates(x, w, h)
    assert n.dtype == np.float32
    np.testing.assert_allclose(image_coordinates(n, w, h), x, atol=1e-3)
    t = torch.from_numpy(x).double()
    nt = normalize_screen_coordinates(t, w, h)
    assert isinstance(nt, torch.Tensor) and nt.dtype == torch.float64
    np.testing.assert_allclose(nt.numpy(), n, atol=1e-4)
    torch.testing.assert_close(image_coordinates(nt, w, h), t)


def test_normalize_rejects_3d_points():
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        normalize_screen_coordinates(np.zeros((5, 3)), 1000, 1000)
