"""Constant perceptual speed: re-timed journeys of the embedded model change evenly from frame to frame."""

from __future__ import annotations

import numpy as np
import pytest

from latentcut.latent.journey import journey_latents
from latentcut.latent.retime import change_per_frame, coefficient_of_variation, retimed
from latentcut.latent.sampling import gaussian_latents


def test_the_distance_is_zero_for_equal_frames_and_grows_with_the_difference():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    near = np.clip(frame.astype(int) + 8, 0, 255).astype(np.uint8)
    far = np.clip(frame.astype(int) + 40, 0, 255).astype(np.uint8)
    change = change_per_frame(np.concatenate([frame, frame, near, far]))
    assert change[0] == 0 and 0 < change[1] < change[2]


@pytest.mark.parametrize("interpolation", ["spring", "slerp"])
def test_retiming_makes_the_change_per_frame_at_least_three_times_more_even(cppn, interpolation):
    path = journey_latents(gaussian_latents(3, 512, 4), 12, interpolation)
    result = retimed(path, lambda z: cppn.render(z, (32, 32)))
    assert result.latents.shape == path.shape
    np.testing.assert_array_equal(result.latents[[0, -1]], path[[0, -1]])
    assert np.all(np.diff(result.positions) > 0)  # still the same path, forward in order
    # Checked independently, on frames rendered at another size than the ones it measured.
    before = coefficient_of_variation(change_per_frame(cppn.render(path, (64, 64))))
    after = coefficient_of_variation(change_per_frame(cppn.render(result.latents, (64, 64))))
    assert after * 3 <= before, (before, after)
    assert result.cv_after * 3 <= result.cv_before


def test_the_retime_command_prints_the_coefficient_of_variation_before_and_after(cli, tmp_path):
    cli("sample", "pool.z.npy", "--count", "4", "--seed", "3", "--model", "builtin:cppn")
    cli("journey", "pool.z.npy", "--keys", "0,1", "--frames-per-segment", "8", "--interp", "spring", "-o", "trip.z.npy")
    result = cli("retime", "trip.z.npy", "-o", "even.z.npy", "--measure-size", "24")
    assert result.returncode == 0, result.stderr
    assert "coefficient of variation" in result.stdout and "before" in result.stdout and "after" in result.stdout
    assert np.load(tmp_path / "even.z.npy").shape == (9, 512)
