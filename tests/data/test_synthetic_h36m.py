"""The synthetic Human3.6M files: published layout, units, cameras, and believable motion."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from motionzoo.data.synthetic.h36m import write_h36m_pose_files
from motionzoo.data.synthetic.motion import (
    ACTION_PROGRAMS,
    FOOT_JOINTS,
    SKELETON_TO_WORLD,
    generate_sequence,
    subject_offsets,
)
from motionzoo.geometry.camera import h36m_cameras
from motionzoo.geometry.kinematics import axis_angle_to_matrix, forward_kinematics
from motionzoo.skeleton import H36M_17, H36M_32, H36M_ACTIONS

SUBJECTS = ("S1", "S9", "S11")
FRAMES = 40


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    out = tmp_path_factory.mktemp("h36m_synthetic")
    return write_h36m_pose_files(out, seed=0, subjects=SUBJECTS, frames=FRAMES, takes=2)


def load(path, key):
    with np.load(path, allow_pickle=True) as f:
        return {k: f[k].item() for k in f.files}[key]


@pytest.fixture(scope="module")
def data(files):
    return (
        load(files["data_3d_h36m"], "positions_3d"),
        load(files["data_2d_h36m_gt"], "positions_2d"),
        load(files["data_2d_h36m_synthetic_det"], "positions_2d"),
    )


def vp3d_project(world_m: np.ndarray, camera) -> np.ndarray:
    """VideoPose3D's GT 2D, written out independently: world_to_camera with scipy's rotation
    (quaternions scalar-last), project_to_2d on screen-normalised intrinsics, image_coordinates."""
    w, h = camera.res_w, camera.res_h
    rotation = Rotation.from_quat(np.roll(camera.orientation, -1))  # camera-to-world
    x = rotation.inv().apply(world_m.reshape(-1, 3) - np.array(camera.translation) / 1000)
    f = np.array(camera.focal) / w * 2
    c = np.array(camera.center) / w * 2 - [1, h / w]
    k, p = np.array(camera.radial), np.array(camera.tangential)
    xx = np.clip(x[:, :2] / x[:, 2:], -1, 1)
    r2 = np.sum(xx**2, axis=1, keepdims=True)
    radial = 1 + k[0] * r2 + k[1] * r2**2 + k[2] * r2**3
    tan = np.sum(p * xx, axis=1, keepdims=True)
    screen = f * (xx * (radial + tan) + p * r2) + c
    return ((screen + [1, h / w]) * w / 2).reshape(*world_m.shape[:-1], 2)


def test_published_keys_nesting_dtypes_and_shapes(files, data):
    poses_3d, poses_2d, detections = data
    assert {k: v.name for k, v in files.items()} == {
        "data_3d_h36m": "data_3d_h36m.npz",
        "data_2d_h36m_gt": "data_2d_h36m_gt.npz",
        "data_2d_h36m_synthetic_det": "data_2d_h36m_synthetic_det.npz",
    }
    expected_keys = {a for a in H36M_ACTIONS} | {f"{a} 1" for a in H36M_ACTIONS}
    for subject in SUBJECTS:
        assert set(poses_3d[subject]) == expected_keys == set(poses_2d[subject])
        for key, pose in poses_3d[subject].items():
            assert pose.dtype == np.float32 and pose.ndim == 3 and pose.shape[1:] == (32, 3)
            assert FRAMES <= len(pose) <= FRAMES * 1.1
            views = poses_2d[subject][key]
            assert isinstance(views, list) and len(views) == 4
            for view in views:
                assert view.dtype == np.float32 and view.shape == (len(pose), 17, 2)
    metadata = load(files["data_2d_h36m_gt"], "metadata")
    symmetry = [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]
    assert metadata == {"num_joints": 17, "keypoints_symmetry": symmetry}  # no layout_name
    det_metadata = load(files["data_2d_h36m_synthetic_det"], "metadata")
    assert det_metadata == {"layout_name": "h36m", **metadata}


def test_units_metres_in_3d_and_pixels_in_2d(data):
    poses_3d, poses_2d, _ = data
    standing = np.concatenate([poses_3d[s][a] for s in SUBJECTS for a in ("Waiting", "Walking")])
    assert 0.8 < standing[:, 0, 2].mean() < 1.0  # pelvis ~0.9 m above the floor
    seated = np.concatenate([poses_3d[s][a] for s in SUBJECTS for a in ("Sitting", "Eating")])
    assert 0.35 < seated[:, 0, 2].mean() < 0.6
    everything = np.concatenate([p for s in SUBJECTS for p in poses_3d[s].values()])
    feet = everything[:, FOOT_JOINTS, 2].min(axis=1)
    np.testing.assert_allclose(feet, 0, atol=1e-6)  # one foot on the floor, none below
    assert np.abs(everything[..., :2]).max() < 2.5  # near the middle of the capture space
    views = np.concatenate([v for s in SUBJECTS for vs in poses_2d[s].values() for v in vs])
    assert views.min() > 0 and views.max() < 1000  # inside every image


def test_reprojecting_the_3d_file_reproduces_the_2d_file(data):
    poses_3d, poses_2d, _ = data
    for subject in SUBJECTS:
        cameras = h36m_cameras(subject)
        for key in ("Walking", "Phoning 1", "SittingDown"):
            world = poses_3d[subject][key][:, H36M_17.from_32].astype(np.float64)
            for camera, view in zip(cameras, poses_2d[subject][key]):
                np.testing.assert_allclose(vp3d_project(world, camera), view, atol=2e-3)


def test_actors_are_upright_in_front_of_every_camera(data):
    poses_3d, poses_2d, _ = data
    for subject in SUBJECTS:
        for key in ("Waiting", "Greeting 1"):
            world = poses_3d[subject][key].astype(np.float64)
            for camera, view in zip(h36m_cameras(subject), poses_2d[subject][key]):
                rotation = Rotation.from_quat(np.roll(camera.orientation, -1))
                depth = rotation.inv().apply(
                    world.reshape(-1, 3) - np.array(camera.translation) / 1000
                )
                assert depth[:, 2].min() > 2.0  # metres in front of the camera
                head, feet = view[:, 10, 1], view[:, [3, 6], 1].max(axis=1)
                assert (head < feet - 200).all()  # head above feet in the image
                assert np.abs(view[:, 0].mean(axis=0) - 500).max() < 300  # near the centre


def test_detections_are_noisy_gt_and_longer(data):
    _, poses_2d, detections = data
    residuals = []
    for subject in SUBJECTS:
        for key, views in poses_2d[subject].items():
            for view, det in zip(views, detections[subject][key]):
                assert det.dtype == np.float32 and 1 <= len(det) - len(view) <= 5
                residuals.append(det[: len(view)] - view)
    assert np.concatenate(residuals).std() == pytest.approx(5.0, rel=0.05)


def test_bone_lengths_constant_in_a_sequence_and_differ_between_subjects(data):
    poses_3d = data[0]
    lengths = {}
    for subject in SUBJECTS:
        for key in ("Walking", "Posing 1", "Purchases"):
            bones = H36M_32.bone_lengths(torch.from_numpy(poses_3d[subject][key] * 1000.0)).numpy()
            assert bones.std(axis=0).max() < 0.05  # mm, float32 metres
            lengths[subject] = bones.mean(axis=0)
    femur = H36M_32.parents.index(1) + 1  # RightLeg's bone: hip -> knee
    femurs = [lengths[s][femur - 1] for s in SUBJECTS]
    assert min(abs(a - b) for i, a in enumerate(femurs) for b in femurs[i + 1 :]) > 3.0
    assert 0.9 * 442 < min(femurs) and max(femurs) < 1.12 * 442


def canonical(world: np.ndarray) -> np.ndarray:
    """Root-relative 17 joints turned so the hips point along +x (removes the facing)."""
    p = world[:, H36M_17.from_32] - world[:, :1]
    hip = p[:, 4] - p[:, 1]
    angle = -np.arctan2(hip[:, 1], hip[:, 0])
    return (Rotation.from_euler("z", angle[:, None]).as_matrix()[:, None] @ p[..., None])[..., 0]


def test_the_fifteen_actions_differ(data):
    poses_3d = data[0]
    features = []
    for action in H36M_ACTIONS:
        poses = np.concatenate(
            [canonical(poses_3d[s][k]) for s in SUBJECTS for k in (action, f"{action} 1")]
        )
        features.append(np.concatenate([poses.mean(0).ravel(), poses.std(0).ravel()]) * 1000)
    features = np.stack(features)
    distance = np.abs(features[:, None] - features[None]).mean(-1)
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 8.0, "two actions have near-identical pose statistics (mm)"


def test_anatomy_left_is_left_and_up_is_up():
    positions = generate_sequence("Waiting", "S5", 0, 20, seed=3)["positions"]
    up = positions[:, 15] - positions[:, 0]  # pelvis -> head top
    forward = positions[:, 4] - positions[:, 3]  # ankle -> toe
    left = positions[:, 6] - positions[:, 1]  # right hip -> left hip
    assert (up[:, 2] > 600).all()
    assert (np.einsum("ti,ti->t", np.cross(up, forward), left) > 0).all()  # not mirrored


def test_exp_maps_are_the_source_of_truth():
    sequence = generate_sequence("Discussion", "S7", 1, 30, seed=5)
    frames = torch.from_numpy(sequence["expmap"])
    assert frames.shape == (30, 99)
    joints = forward_kinematics(
        axis_angle_to_matrix(frames[:, 3:].reshape(30, 32, 3)),
        torch.from_numpy(sequence["offsets"]),
        H36M_32.parents,
        frames[:, :3],
    ).numpy()
    np.testing.assert_allclose(joints @ SKELETON_TO_WORLD.T, sequence["positions"], atol=1e-9)
    np.testing.assert_allclose(sequence["offsets"], subject_offsets("S7"))


def test_deterministic_for_a_seed(tmp_path):
    kwargs = dict(subjects=("S5",), frames=10, takes=1, actions=("Walking", "Eating"))
    a = write_h36m_pose_files(tmp_path / "a", seed=1, **kwargs)
    b = write_h36m_pose_files(tmp_path / "b", seed=1, **kwargs)
    c = write_h36m_pose_files(tmp_path / "c", seed=2, **kwargs)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes()
    first, other = load(a["data_3d_h36m"], "positions_3d"), load(c["data_3d_h36m"], "positions_3d")
    assert not np.allclose(first["S5"]["Walking"][:10], other["S5"]["Walking"][:10])
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in a.values())


def test_every_action_has_a_program():
    assert sorted(ACTION_PROGRAMS) == sorted(H36M_ACTIONS)


def test_unknown_action_is_an_error():
    with pytest.raises(ValueError, match="Jogging"):
        generate_sequence("Jogging", "S1", 0, 10)
