"""The synthetic motion files: published layouts and formats, seeded, believable motion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motionzoo.data.amass import smpl_body_joints
from motionzoo.data.synthetic.motion import ACTION_PROGRAMS, _style, local_rotations
from motionzoo.data.synthetic.motion_files import (
    H36M_FILE_ACTIONS,
    atomic_directory,
    write_amass_files,
    write_h36m_motion_files,
)
from motionzoo.data.synthetic.smpl_motion import (
    _ALIGN_BONES,
    FOOT_CLEARANCE,
    SMPL_FROM_H36M,
    generate_smpl_sequence,
    retarget_to_smpl,
)
from motionzoo.geometry.kinematics import forward_kinematics
from motionzoo.skeleton import H36M_32, H36M_ACTIONS, SMPL_BODY_PARENTS, h36m_offsets, smpl_offsets

LAYOUT = {
    "CMU": (120.0, ("01", "02"), False),
    "KIT": (100.0, ("3",), True),
    "BMLrub": (60.0, ("rub001",), False),
}


@pytest.fixture(scope="module")
def h36m(tmp_path_factory):
    out = tmp_path_factory.mktemp("h36m_motion_files")
    paths = write_h36m_motion_files(
        out, subjects=("S1", "S11"), actions=("walking", "takingphoto"), frames=60
    )
    return out, paths


@pytest.fixture(scope="module")
def amass(tmp_path_factory):
    out = tmp_path_factory.mktemp("amass_files")
    return out, write_amass_files(out, layout=LAYOUT, sequences=2, seconds=(1.0, 1.5))


def test_h36m_layout_and_format(h36m):
    out, paths = h36m
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "S1", "S1/takingphoto_1.txt", "S1/takingphoto_2.txt", "S1/walking_1.txt",
        "S1/walking_2.txt", "S11", "S11/takingphoto_1.txt", "S11/takingphoto_2.txt",
        "S11/walking_1.txt", "S11/walking_2.txt",
    ]  # fmt: skip
    assert set(paths) == {(s, a, n) for s in ("S1", "S11") for a in ("walking", "takingphoto")
                          for n in (1, 2)}  # fmt: skip
    lines = paths["S1", "walking", 1].read_text().splitlines()
    assert 60 <= len(lines) <= 72
    assert all(len(line.split(",")) == 99 for line in lines)
    values = np.array([line.split(",") for line in lines], dtype=np.float64)
    assert np.abs(values[:, 3:]).max() < 2 * np.pi  # exp-maps in radians
    assert np.abs(values[:, :3]).max() > 100  # root translation in mm


def test_h36m_files_are_the_generator_and_vary_by_subject(h36m, tmp_path):
    from motionzoo.data.synthetic.motion import generate_sequence

    out, paths = h36m
    text = paths["S11", "takingphoto", 2].read_text()
    values = np.array([line.split(",") for line in text.splitlines()], dtype=np.float64)
    expected = generate_sequence("Photo", "S11", 1, len(values), seed=0)["expmap"]
    np.testing.assert_allclose(values, expected, rtol=1e-5, atol=1e-5)
    assert "-0," not in text and "nan" not in text
    other = np.array(
        [line.split(",") for line in paths["S1", "takingphoto", 2].read_text().splitlines()],
        dtype=np.float64,
    )
    n = min(len(values), len(other))
    assert np.abs(values[:n, 3:] - other[:n, 3:]).max() > 0.1, "subjects differ"
    again = write_h36m_motion_files(
        tmp_path, subjects=("S11",), actions=("takingphoto",), frames=60
    )
    assert again["S11", "takingphoto", 2].read_text() == text, "seeded"
    with pytest.raises(ValueError, match="unknown action file names"):
        write_h36m_motion_files(tmp_path, actions=("Photo",))
    assert set(H36M_FILE_ACTIONS.values()) == set(H36M_ACTIONS)


def test_amass_layout_keys_and_rates(amass):
    out, paths = amass
    sequences = sorted(k for k in paths if k.endswith("_poses.npz"))
    assert len(sequences) == 2 * 4
    assert sorted(k for k in paths if not k.endswith("_poses.npz")) == [
        "BMLrub/rub001/shape.npz", "CMU/01/shape.npz", "KIT/3/shape.npz",
    ]  # fmt: skip
    for key in sequences:
        dataset = key.split("/")[0]
        with np.load(paths[key]) as f:
            assert set(f.files) == {"poses", "trans", "betas", "dmpls", "mocap_framerate", "gender"}
            poses, rate = f["poses"], float(f["mocap_framerate"])
            assert poses.dtype == np.float64 and poses.shape[1] == 156
            assert rate == LAYOUT[dataset][0] and f["mocap_framerate"].shape == ()
            assert 1.0 * rate <= len(poses) <= 1.5 * rate
            assert f["trans"].shape == (len(poses), 3) and f["betas"].shape == (16,)
            assert f["dmpls"].shape == (len(poses), 8)
            assert np.all(poses[:, 66:] == 0), "fingers at rest"
            assert np.abs(poses[:, 3:66]).max() > 0.3
            gender = f["gender"].item()
            assert isinstance(gender, bytes if dataset == "KIT" else str)
    with np.load(paths["CMU/01/shape.npz"]) as f:
        assert set(f.files) == {"betas", "gender"}


def test_amass_files_replay_the_generator(amass):
    out, paths = amass
    key = next(k for k in sorted(paths) if k.startswith("CMU/02/02_"))
    action = next(a for a in H36M_ACTIONS if key.endswith(f"_{a.lower()}_poses.npz"))
    with np.load(paths[key]) as f:
        poses, trans = f["poses"], f["trans"]
    expected = generate_smpl_sequence(action, "02", 1, len(poses), 120.0, seed=0)
    np.testing.assert_array_equal(poses, expected["poses"])
    np.testing.assert_array_equal(trans, expected["trans"])


def test_smpl_retarget_points_every_bone_like_the_h36m_program():
    t = np.arange(40) / 50
    for action in ("Walking", "Phoning", "Purchases"):
        dofs = ACTION_PROGRAMS[action](t, _style(np.random.default_rng(3)))
        local = local_rotations(dofs, len(t))
        h36m = forward_kinematics(
            torch.from_numpy(local), torch.from_numpy(h36m_offsets()), H36M_32.parents,
            convention="column",
        ).numpy()  # fmt: skip
        smpl = forward_kinematics(
            torch.from_numpy(retarget_to_smpl(local)), torch.from_numpy(smpl_offsets()),
            SMPL_BODY_PARENTS, convention="column",
        ).numpy()  # fmt: skip
        for k, (smpl_child, h36m_child) in _ALIGN_BONES.items():
            a = smpl[:, smpl_child] - smpl[:, k]
            b = h36m[:, h36m_child] - h36m[:, SMPL_FROM_H36M[k]]
            cosine = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
            np.testing.assert_allclose(cosine, 1.0, atol=1e-9)


def test_smpl_motion_is_a_standing_body_in_a_z_up_world():
    walk = generate_smpl_sequence("Walking", "01", 0, 240, 120.0)
    joints = (
        smpl_body_joints(torch.from_numpy(walk["poses"][:, :66])).numpy() + walk["trans"][:, None]
    )
    feet = joints[:, [7, 8, 10, 11], 2].min(1)
    np.testing.assert_allclose(feet, FOOT_CLEARANCE, atol=1e-9)
    head, pelvis = joints[:, 15, 2], joints[:, 0, 2]
    assert (head > 1.3).all() and (head < 1.8).all() and (pelvis > 0.8).all()
    path = np.linalg.norm(np.diff(walk["trans"][:, :2], axis=0), axis=1).sum()
    assert 1.0 < path < 5.0, "walks about 1-2 m/s for 2 s"
    sit = generate_smpl_sequence("Sitting", "01", 0, 60, 60.0)
    sit_joints = (
        smpl_body_joints(torch.from_numpy(sit["poses"][:, :66])).numpy() + sit["trans"][:, None]
    )
    assert (sit_joints[:, 15, 2] < head.min()).all(), "seated head below standing head"


def test_atomic_directory(tmp_path):
    target = tmp_path / "set"

    def fail(folder):
        (folder / "half.txt").write_text("x")
        raise RuntimeError("crash while writing")

    with pytest.raises(RuntimeError, match="crash"):
        atomic_directory(target, fail)
    assert list(tmp_path.iterdir()) == [], "nothing half-written remains"
    atomic_directory(target, lambda folder: (folder / "a.txt").write_text("a"))
    atomic_directory(target, lambda folder: (folder / "b.txt").write_text("b"))  # lost race
    assert [p.name for p in target.iterdir()] == ["a.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["set"]
