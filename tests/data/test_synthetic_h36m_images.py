"""The synthetic Human3.6M frames: H36M-Toolbox layout and keys, annotations that agree with the
embedded actors and the real cameras, and pictures that agree with the annotations."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from PIL import Image

from motionzoo.data.h36m_toolbox import (
    FRAME_KEYS,
    TOOLBOX_ACTION_IDS,
    folder_name,
    load_annotations,
)
from motionzoo.data.synthetic.h36m import write_h36m_pose_files
from motionzoo.data.synthetic.h36m_images import (
    _bone_colours,
    background,
    draw_person,
    subject_colours,
    write_h36m_image_files,
)
from motionzoo.geometry.camera import h36m_cameras, project, world_to_camera
from motionzoo.skeleton import H36M_17

SUBJECTS, ACTIONS, FRAMES, STEP, SIZE = ("S1", "S9"), ("Walking", "Sitting"), 20, 5, 128


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("h36m_images")
    paths = write_h36m_image_files(
        out, seed=3, subjects=SUBJECTS, actions=ACTIONS, frames=FRAMES, takes=2, frame_step=STEP,
        size=SIZE,
    )  # fmt: skip
    records = {name: load_annotations(paths[name]) for name in ("h36m_train", "h36m_validation")}
    return out, records


@pytest.fixture(scope="module")
def actors(tmp_path_factory):
    """The VideoPose3D file of the same actors (world metres), the independent reference."""
    out = tmp_path_factory.mktemp("vp3d")
    write_h36m_pose_files(
        out, seed=3, subjects=SUBJECTS, actions=ACTIONS, frames=FRAMES, takes=2,
        noisy_detections=False,
    )  # fmt: skip
    with np.load(out / "data_3d_h36m.npz", allow_pickle=True) as f:
        return f["positions_3d"].item()


def test_published_layout_and_keys(written, actors):
    out, records = written
    assert {r["subject"] for r in records["h36m_train"]} == {1}
    assert {r["subject"] for r in records["h36m_validation"]} == {9}
    frames = [r for part in records.values() for r in part]
    takes = [len(actors[s][a + t]) for s in SUBJECTS for a in ACTIONS for t in ("", " 1")]
    assert len(frames) == 4 * sum(-(-n // STEP) for n in takes)  # every STEP-th frame, 4 cameras
    assert len(list(out.glob("images/*/*.jpg"))) == len(frames)
    for r in frames[::7]:
        assert set(FRAME_KEYS) <= set(r) and r["source"] == "h36m"
        folder = folder_name(r["subject"], r["action"], r["subaction"], r["camera_id"] + 1)
        assert r["image"] == f"{folder}/{folder}_{r['image_id']:06d}.jpg"
        assert (r["image_id"] - 1) % STEP == 0 and r["subaction"] in (1, 2)
        width, height = Image.open(out / "images" / r["image"]).size
        camera = h36m_cameras(f"S{r['subject']}")[r["camera_id"]]
        assert (width, height) == (SIZE, round(camera.res_h * SIZE / camera.res_w))
    assert {r["action"] for r in frames} == {TOOLBOX_ACTION_IDS[a] for a in ACTIONS} == {14, 9}


def test_annotations_are_the_actors_seen_by_the_real_cameras(written, actors):
    _, records = written
    for r in records["h36m_train"][::5] + records["h36m_validation"][::5]:
        subject = f"S{r['subject']}"
        action = {14: "Walking", 9: "Sitting"}[r["action"]] + ("" if r["subaction"] == 1 else " 1")
        world_mm = torch.from_numpy(actors[subject][action][r["image_id"] - 1].astype(np.float64))
        camera = h36m_cameras(subject)[r["camera_id"]]
        # VideoPose3D's 17 joints (mocap index 13 for the thorax, H36M-Toolbox takes 16)
        joints = world_to_camera(world_mm * 1000, camera)[list(H36M_17.from_32)]
        np.testing.assert_allclose(r["joints_3d_camera"], joints.numpy(), atol=1e-3)
        np.testing.assert_allclose(r["joints_3d"], r["joints_3d_camera"])
        pixels = project(joints, camera).numpy() * SIZE / camera.res_w
        np.testing.assert_allclose(r["joints_2d"], pixels, atol=1e-3)
        assert r["camera"]["fx"] == pytest.approx(camera.focal[0] * SIZE / camera.res_w)
        # R, T: x_cam = R (X - T), the Human3.6M convention
        x_cam = r["camera"]["R"] @ (world_mm.numpy().T * 1000 - r["camera"]["T"])
        np.testing.assert_allclose(x_cam.T[list(H36M_17.from_32)], joints.numpy(), atol=1e-3)


def test_box_is_the_toolbox_square_around_the_pelvis(written):
    _, records = written
    for r in records["h36m_validation"][::3]:
        x0, y0, x1, y1 = r["box"]
        depth, fx = r["joints_3d_camera"][0, 2], r["camera"]["fx"]
        assert x1 - x0 == pytest.approx(2000 * fx / depth, rel=1e-9)  # 2 m at the pelvis depth
        assert r["center"] == pytest.approx((0.5 * (x0 + x1), 0.5 * (y0 + y1)))
        assert r["scale"] == pytest.approx(((x1 - x0) / 200, (y1 - y0) / 200))
        inside = (r["joints_2d"] >= (x0, y0)) & (r["joints_2d"] <= (x1, y1))
        assert inside.all()


def test_drawn_person_matches_the_annotation(written):
    out, records = written
    for r in records["h36m_train"][1::9] + records["h36m_validation"][2::9]:
        image = np.asarray(Image.open(out / "images" / r["image"]), dtype=np.int16)
        height, width = image.shape[:2]
        person = np.abs(image - background(r["camera_id"], width, height)).max(-1) > 40
        # every joint is on the drawn body, and the body is inside the annotated box
        cols, rows = np.round(r["joints_2d"]).astype(int).T
        assert person[rows, cols].mean() >= 16 / 17
        x0, y0, x1, y1 = np.round(r["box"]).astype(int)
        assert person[max(y0, 0) : y1, max(x0, 0) : x1].sum() >= 0.99 * person.sum()
        # drawn in the subject's colours, not the other subject's
        mean = image[person].mean(0)
        own, other = (f"S{r['subject']}", "S9" if r["subject"] == 1 else "S1")
        assert (
            np.abs(mean - subject_colours(own)["centre"]).sum()
            < np.abs(mean - subject_colours(other)["centre"]).sum()
        )


def test_left_and_right_limbs_are_told_apart():
    # a frontal stick figure (pixels) at 4 m, focal 300 px: no limb covers another
    joints = np.array([
        (100, 100), (85, 100), (85, 140), (85, 180), (115, 100), (115, 140), (115, 180),
        (100, 80), (100, 55), (100, 45), (100, 35), (125, 55), (150, 55), (175, 55),
        (75, 55), (50, 55), (25, 55),
    ], dtype=np.float64)  # fmt: skip
    image = draw_person(Image.new("RGB", (200, 200)), joints, np.full(17, 4000.0), 300.0,
                        _bone_colours("S5"))  # fmt: skip
    pixels, colours = np.asarray(image), subject_colours("S5")
    expected = {
        (120, 115): "left", (160, 115): "left_lower", (55, 137): "left", (55, 162): "left_lower",
        (120, 85): "right", (160, 85): "right_lower", (55, 63): "right", (55, 37): "right_lower",
        (70, 100): "centre", (35, 100): "centre",
    }  # fmt: skip
    for (row, col), part in expected.items():
        assert tuple(pixels[row, col]) == colours[part], (row, col, part)
    assert len({colours[p] for p in expected.values()}) == 5
    assert tuple(pixels[5, 5]) == (0, 0, 0)  # background untouched away from the figure


def test_files_are_a_function_of_the_arguments(written, tmp_path):
    _, records = written
    again = write_h36m_image_files(
        tmp_path, seed=3, subjects=("S9",), actions=("Sitting",), frames=FRAMES, takes=2,
        frame_step=STEP, size=SIZE,
    )  # fmt: skip
    first = [r for r in records["h36m_validation"] if r["action"] == 9]
    second = load_annotations(again["h36m_validation"])
    assert [r["image"] for r in first] == [r["image"] for r in second]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a["joints_2d"], b["joints_2d"])
    name = second[5]["image"]
    assert (tmp_path / "images" / name).read_bytes() == (written[0] / "images" / name).read_bytes()


def test_annotations_are_unpickled_without_running_code(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("never printed",))

    path = tmp_path / "h36m_train.pkl"
    path.write_bytes(pickle.dumps([{"image": Payload()}]))
    with pytest.raises(ValueError, match=r"h36m_train.pkl.*builtins.print"):
        load_annotations(path)
    path.write_bytes(pickle.dumps({"not": "a list"}))
    with pytest.raises(ValueError, match="expected H36M-Toolbox's list of per-frame dicts"):
        load_annotations(path)


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="subactions 1 and 2"):
        write_h36m_image_files(tmp_path, subjects=("S1",), takes=3)
    with pytest.raises(ValueError, match="unknown actions"):
        write_h36m_image_files(tmp_path, subjects=("S1",), actions=("Dancing",))
