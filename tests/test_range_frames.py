"""One range of frames as daemon and workers render it: the model's pictures, a pixel cross-fade, then the fade to black."""

from __future__ import annotations

import numpy as np
import pytest

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.identity import frame_keys
from latentcut.latent.controls import InputControls
from latentcut.render.range_frames import render_range
from tinystylegan import tiny_stylegan3


def test_a_pixel_cross_fade_mixes_the_two_pictures_then_applies_opacity(cppn):
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((4, 512)).astype(np.float32) for _ in range(2))
    size = (24, 16)
    opaque = np.ones(4, np.float32)
    pictures_a, pictures_b = render_range(cppn, size, FrameArrays(a, opaque)), render_range(cppn, size, FrameArrays(b, opaque))
    weight = np.array([0.0, 0.25, 1.0, 0.5], np.float32)
    opacity = np.array([1.0, 1.0, 1.0, 0.5], np.float32)
    mixed = render_range(cppn, size, FrameArrays(a, opacity, b, weight))
    assert mixed.shape == (4, 16, 24, 3) and mixed.dtype == np.uint8
    np.testing.assert_array_equal(mixed[0], pictures_a[0])  # weight 0: no cross-fade
    np.testing.assert_array_equal(mixed[2], pictures_b[2])  # weight 1: the other picture
    expected = pictures_a[1] * 0.75 + pictures_b[1] * 0.25
    assert np.abs(mixed[1].astype(np.float32) - expected).max() <= 1.0
    halfway = (pictures_a[3] * 0.5 + pictures_b[3] * 0.5) * 0.5
    assert np.abs(mixed[3].astype(np.float32) - halfway).max() <= 1.5  # the mix, then the fade
    assert not render_range(cppn, size, FrameArrays(a, np.zeros(4, np.float32), b, weight)).any()  # opacity 0: black


def test_rows_of_frame_arrays_take_the_same_rows_of_every_array_given():
    rng = np.random.default_rng(8)
    a, b = (rng.standard_normal((5, 8)).astype(np.float32) for _ in range(2))
    opacity, weight, controls = np.linspace(0, 1, 5, dtype=np.float32), np.full(5, 0.5, np.float32), np.ones((5, 4), np.float32)
    rows = np.array([4, 1])
    blended = FrameArrays(a, opacity, b, weight).rows(rows)
    for got, whole in [
        (blended.latents, a),
        (blended.opacity, opacity),
        (blended.blend_latents, b),
        (blended.blend_weight, weight),
    ]:
        np.testing.assert_array_equal(got, whole[rows])
    assert blended.controls is None and blended.blended and blended.nbytes == 2 * (8 + 1 + 8 + 1) * 4
    steered = FrameArrays(a, opacity, controls=controls).rows(slice(1, 3))
    np.testing.assert_array_equal(steered.controls, controls[1:3])
    assert steered.blend_latents is None and steered.blend_weight is None and not steered.blended and len(steered.latents) == 2


def test_frame_keys_cover_the_cross_fade_and_ignore_it_where_its_weight_is_0():
    rng = np.random.default_rng(4)
    a, b = (rng.standard_normal((3, 8)).astype(np.float32) for _ in range(2))
    opacity = np.ones(3, np.float32)
    plain = frame_keys("sha", "m", (8, 8), a, opacity)
    weight = np.array([0.0, 0.5, 1.0], np.float32)
    blended = frame_keys("sha", "m", (8, 8), a, opacity, b, weight)
    assert blended[0] == plain[0] and blended[1] != plain[1] and blended[2] != plain[2]
    assert frame_keys("sha", "m", (8, 8), a, opacity, b, weight * 0.5)[1] != blended[1]
    assert frame_keys("sha", "m", (8, 8), a, opacity, b + 1, weight)[1] != blended[1]


def test_input_controls_steer_the_frames_as_render_controlled_does_and_zeros_change_nothing(cppn):
    from latentcut.errors import RenderError
    from latentcut.latent.controls import InputControls

    model = tiny_stylegan3()
    latents = np.random.default_rng(6).standard_normal((4, 16)).astype(np.float32)
    controls = np.array([[0.2, 0, 0, 0], [0, -0.1, 30, 0], [0, 0, 0, 0], [0.1, 0.1, -45, 0]], np.float32)
    opacity = np.array([1, 1, 1, 0], np.float32)
    steered = render_range(model, (16, 16), FrameArrays(latents, opacity, controls=controls))
    expected = model.render_controlled(latents[:3], (16, 16), InputControls.from_array(controls[:3]))
    np.testing.assert_array_equal(steered[:3], expected)
    assert not steered[3].any()  # opacity 0: black, whatever its controls
    assert np.abs(steered[0].astype(float) - model.render(latents[:1], (16, 16))[0]).mean() > 1  # the controls moved it
    plain = render_range(model, (16, 16), FrameArrays(latents, opacity))
    unsteered = np.zeros((4, 4), np.float32)
    np.testing.assert_array_equal(render_range(model, (16, 16), FrameArrays(latents, opacity, controls=unsteered)), plain)
    wide = latents.repeat(32, 1)
    np.testing.assert_array_equal(
        render_range(cppn, (8, 8), FrameArrays(wide, opacity, controls=unsteered)),
        render_range(cppn, (8, 8), FrameArrays(wide, opacity)),
    )
    with pytest.raises(
        RenderError, match="^builtin:cppn cannot apply rotate or translate, which the frames carry .* StyleGAN snapshot"
    ):
        render_range(cppn, (8, 8), FrameArrays(wide, opacity, controls=controls))
    with pytest.raises(RenderError, match="cannot apply const_noise"):
        render_range(
            model, (16, 16), FrameArrays(latents, opacity, controls=np.tile([[0, 0, 0, 0.5]], (4, 1)).astype(np.float32))
        )


def test_frame_keys_cover_input_controls_and_ignore_them_where_they_are_0():
    a = np.random.default_rng(7).standard_normal((3, 8)).astype(np.float32)
    opacity = np.ones(3, np.float32)
    plain = frame_keys("sha", "m", (8, 8), a, opacity)
    controls = np.array([[0, 0, 0, 0], [0.1, 0, 0, 0], [0, 0, 0, 0.5]], np.float32)
    steered = frame_keys("sha", "m", (8, 8), a, opacity, controls=InputControls.from_array(controls))
    assert steered[0] == plain[0] and steered[1] != plain[1] and steered[2] != plain[2]
    assert frame_keys("sha", "m", (8, 8), a, opacity, controls=InputControls.from_array(controls * 2))[1:] != steered[1:]
    assert len(set(steered)) == 3
