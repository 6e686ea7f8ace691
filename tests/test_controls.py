"""A sequence's controls: named columns and their file (old four-column files still read), what they do to latents, and the keys they give frames."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from latentcut.conform.frame_arrays import FrameArrays, sequence_frames
from latentcut.daemon.identity import frame_keys
from latentcut.errors import SidecarError
from latentcut.latent.controls import PERFORMANCE_COLUMNS, InputControls, controls_path, load_controls, save_controls
from latentcut.latent.honing import walk_directions
from latentcut.latent.sidecar import array_sha256, load_sequence, save_sequence

FPS = Fraction(25)
COLUMNS = ("truncation_psi", "translate_x", "noise_angle:3:4.5", "noise_frame", "direction:0", "w_direction:1")


def _controls(frames: int = 6) -> InputControls:
    rng = np.random.default_rng(1)
    table = np.column_stack(
        [rng.uniform(0.3, 1, frames), rng.uniform(-0.2, 0.2, frames), rng.uniform(0, 40, frames), np.arange(frames) + 100,
         rng.uniform(-2, 2, frames), rng.uniform(-2, 2, frames)]
    ).astype(np.float32)  # fmt: skip
    return InputControls(COLUMNS, table, rng.standard_normal((2, 8)).astype(np.float32))


def test_named_columns_and_their_directions_travel_in_the_files_beside_the_sequence(tmp_path):
    controls = _controls()
    record = save_controls(tmp_path / "cut.z.npy", controls, sources=[{"file": "dirs/directions.json", "index": 1}])
    save_sequence(tmp_path / "cut.z.npy", np.ones((6, 8), np.float32), fps=FPS, made={"controls": record})
    made = json.loads((tmp_path / "cut.z.json").read_text())["made"]["controls"]
    assert made["columns"] == list(COLUMNS) and made["directions"]["file"] == "cut.directions.npy"
    assert made["directions"]["sources"] == [{"file": "dirs/directions.json", "index": 1}]
    loaded = load_controls(load_sequence(tmp_path / "cut.z.npy"))
    assert loaded is not None and loaded.columns == COLUMNS
    np.testing.assert_array_equal(loaded.table(), controls.table())
    np.testing.assert_array_equal(loaded.directions, controls.directions)
    frames = sequence_frames(load_sequence(tmp_path / "cut.z.npy"))  # what every renderer is given
    assert frames.control_columns == COLUMNS and frames.directions is not None and not frames.plain_latents
    # The directions are checked against their hash as the table is: a changed file is one line naming it.
    np.save(tmp_path / "cut.directions.npy", controls.directions * 2)
    with pytest.raises(SidecarError, match="cut.directions.npy: contents do not match the sha256 in cut.z.npy"):
        load_controls(load_sequence(tmp_path / "cut.z.npy"))


def test_a_four_column_file_of_a_tracked_performance_still_reads_and_unknown_columns_are_refused(tmp_path):
    table = np.random.default_rng(2).uniform(-1, 1, (5, 4)).astype(np.float32)
    np.save(controls_path(tmp_path / "perf.z.npy"), table)
    old = {"file": "perf.controls.npy", "sha256": array_sha256(table)}  # as latentcut react wrote it: no columns
    save_sequence(tmp_path / "perf.z.npy", np.ones((5, 8), np.float32), fps=FPS, made={"controls": old})
    loaded = load_controls(load_sequence(tmp_path / "perf.z.npy"))
    assert loaded is not None and loaded.columns == PERFORMANCE_COLUMNS
    np.testing.assert_array_equal(loaded.translate, table[:, :2])
    np.testing.assert_array_equal(loaded.const_noise, table[:, 3])
    assert np.all(loaded.truncation_psi == 1) and loaded.uses() == {"translate", "rotate", "const_noise"}
    save_sequence(tmp_path / "perf.z.npy", np.ones((5, 8), np.float32), fps=FPS, made={"controls": {**old, "columns": ["a"] * 4}})
    with pytest.raises(SidecarError, match="made.controls.columns: controls need 1-256 distinct columns"):
        load_controls(load_sequence(tmp_path / "perf.z.npy"))
    renamed = {**old, "columns": ["translate_x", "translate_y", "rotate_deg", "hue"]}
    save_sequence(tmp_path / "perf.z.npy", np.ones((5, 8), np.float32), fps=FPS, made={"controls": renamed})
    with pytest.raises(SidecarError, match="control column 'hue' is not one this latentcut knows; upgrade it"):
        load_controls(load_sequence(tmp_path / "perf.z.npy"))


def test_a_noise_walk_is_the_same_at_a_frame_whatever_range_asks_for_it():
    whole = walk_directions(np.arange(40), 16, 4.5, 3)
    parts = np.concatenate([walk_directions(np.arange(start, start + 8), 16, 4.5, 3) for start in range(0, 40, 8)])
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(walk_directions(np.array([17, 3]), 16, 4.5, 3), whole[[17, 3]])
    assert not np.allclose(walk_directions(np.arange(40), 16, 4.5, 4), whole)  # another seed, another walk
    steps = np.linalg.norm(np.diff(whole, axis=0), axis=1).mean()
    assert steps < 0.5 * np.linalg.norm(whole, axis=1).mean()  # smooth: a walk, not white noise


def test_controls_turn_and_move_latents_and_a_range_renders_as_the_whole(cppn):
    from latentcut.render.range_frames import render_range

    rng = np.random.default_rng(4)
    latents = rng.standard_normal((24, 512)).astype(np.float32)
    columns = ("noise_angle:9:3", "noise_frame", "direction:0")
    table = np.column_stack([np.linspace(0, 40, 24), np.arange(24) + 7, np.r_[np.zeros(12), np.linspace(0, 1, 12)]])
    controls = InputControls(columns, table.astype(np.float32), rng.standard_normal((1, 512)).astype(np.float32))
    moved = controls.moved(latents, "z")
    np.testing.assert_array_equal(moved[0], latents[0])  # angle 0, amount 0: the latent as it is
    cosines = np.sum(moved * latents, axis=1) / np.linalg.norm(moved, axis=1) / np.linalg.norm(latents, axis=1)
    np.testing.assert_allclose(np.degrees(np.arccos(np.clip(cosines[1:12], -1, 1))), table[1:12, 0], atol=0.01)
    np.testing.assert_allclose(np.linalg.norm(moved, axis=1), np.linalg.norm(latents, axis=1), rtol=1e-5)  # z keeps its shell
    arrays = FrameArrays(latents, np.ones(24, np.float32)).with_controls(controls)
    whole = render_range(cppn, (8, 8), arrays)
    parts = np.concatenate([render_range(cppn, (8, 8), arrays.rows(slice(s, s + 5))) for s in range(0, 24, 5)])
    np.testing.assert_array_equal(whole, parts)  # a daemon's range, a worker's lease: the same frames
    assert np.abs(whole[20].astype(int) - cppn.render(latents[20:21], (8, 8))[0]).mean() > 3


def test_frame_keys_follow_every_lane_and_the_directions_and_ignore_neutral_rows():
    latents = np.random.default_rng(5).standard_normal((6, 8)).astype(np.float32)
    opacity = np.ones(6, np.float32)
    controls = _controls()
    keys = frame_keys("sha", "m", (8, 8), latents, opacity, controls=controls)
    plain = frame_keys("sha", "m", (8, 8), latents, opacity)
    assert not set(keys) & set(plain) and len(set(keys)) == 6
    other = InputControls(controls.columns, controls.table(), controls.directions * 2)
    assert not set(frame_keys("sha", "m", (8, 8), latents, opacity, controls=other)) & set(keys)
    neutral = InputControls(("truncation_psi", "direction:0"), np.tile([[1, 0]], (6, 1)).astype(np.float32), controls.directions)
    assert frame_keys("sha", "m", (8, 8), latents, opacity, controls=neutral) == plain  # psi 1, amount 0: no lane at all
    assert not neutral.steered().any() and neutral.model_part() is None and neutral.uses() == set()


def test_both_pictures_of_a_pixel_cross_fade_take_the_frames_lanes():
    from latentcut.render.range_frames import render_range
    from tinystylegan import tiny_stylegan3

    model = tiny_stylegan3()
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 4, 16)).astype(np.float32)
    psi = np.array([[0.4], [0.7], [1.0], [0.5]], np.float32)
    weight = np.array([0.25, 0.5, 0.75, 0], np.float32)
    arrays = FrameArrays(a, np.ones(4, np.float32), b, weight).with_controls(InputControls(("truncation_psi",), psi))
    frames = render_range(model, (16, 16), arrays)
    steered = InputControls(("truncation_psi",), psi)
    ours, theirs = (model.render_controlled(x, (16, 16), steered).astype(np.float32) for x in (a, b))
    expected = (ours * (1 - weight[:, None, None, None]) + theirs * weight[:, None, None, None] + 0.5).astype(np.uint8)
    np.testing.assert_array_equal(frames, expected)
    assert np.abs(frames[0].astype(int) - render_range(model, (16, 16), arrays.with_controls(None))[0]).mean() > 3
