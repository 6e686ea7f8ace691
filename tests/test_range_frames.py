"""One range of frames as daemon and workers render it: the model's pictures, a pixel cross-fade, then the fade to black."""

from __future__ import annotations

import numpy as np

from latentcut.daemon.identity import frame_keys
from latentcut.render.range_frames import render_range


def test_a_pixel_cross_fade_mixes_the_two_pictures_then_applies_opacity(cppn):
    rng = np.random.default_rng(3)
    a, b = (rng.standard_normal((4, 512)).astype(np.float32) for _ in range(2))
    size = (24, 16)
    opaque = np.ones(4, np.float32)
    pictures_a, pictures_b = render_range(cppn, size, a, opaque), render_range(cppn, size, b, opaque)
    weight = np.array([0.0, 0.25, 1.0, 0.5], np.float32)
    opacity = np.array([1.0, 1.0, 1.0, 0.5], np.float32)
    mixed = render_range(cppn, size, a, opacity, b, weight)
    assert mixed.shape == (4, 16, 24, 3) and mixed.dtype == np.uint8
    np.testing.assert_array_equal(mixed[0], pictures_a[0])  # weight 0: no cross-fade
    np.testing.assert_array_equal(mixed[2], pictures_b[2])  # weight 1: the other picture
    expected = pictures_a[1] * 0.75 + pictures_b[1] * 0.25
    assert np.abs(mixed[1].astype(np.float32) - expected).max() <= 1.0
    halfway = (pictures_a[3] * 0.5 + pictures_b[3] * 0.5) * 0.5
    assert np.abs(mixed[3].astype(np.float32) - halfway).max() <= 1.5  # the mix, then the fade
    assert not render_range(cppn, size, a, np.zeros(4, np.float32), b, weight).any()  # opacity 0: black


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
