"""Constant perceptual speed: re-timed journeys of the embedded model change evenly, checked by a measure re-timing never uses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from latentcut.latent.journey import journey_latents
from latentcut.latent.retime import change_per_frame, coefficient_of_variation, eased_weights, mean_rgb_change, retimed
from latentcut.latent.sampling import gaussian_latents


def test_the_distance_is_zero_for_equal_frames_and_grows_with_the_difference():
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1, 16, 16, 3), dtype=np.uint8)
    near = np.clip(frame.astype(int) + 8, 0, 255).astype(np.uint8)
    far = np.clip(frame.astype(int) + 40, 0, 255).astype(np.uint8)
    for measure in (change_per_frame, mean_rgb_change):
        change = measure(np.concatenate([frame, frame, near, far]))
        assert change[0] == 0 and 0 < change[1] < change[2]


@pytest.mark.parametrize("seed", [2, 4])
def test_a_retimed_slerp_journey_changes_three_times_more_evenly_by_the_independent_check(cppn, seed):
    path = journey_latents(gaussian_latents(3, 512, seed), 12, "slerp")
    result = retimed(path, lambda z: cppn.render(z, (32, 32)))
    assert result.latents.shape == path.shape and result.even.all()
    np.testing.assert_array_equal(result.latents[[0, -1]], path[[0, -1]])
    assert np.all(np.diff(result.positions) > 0)  # still the same path, forward in order
    # Checked by the mean absolute RGB change, on frames rendered at twice the size it measured.
    before = coefficient_of_variation(mean_rgb_change(cppn.render(path, (64, 64))))
    after = coefficient_of_variation(mean_rgb_change(cppn.render(result.latents, (64, 64))))
    assert after * 3 <= before, (before, after)
    assert result.cv_after * 3 <= result.cv_before


def test_keeping_the_ease_keeps_a_spring_journeys_rest_at_both_ends_so_chained_journeys_do_not_jolt(cppn):
    keys = gaussian_latents(3, 512, 5)
    trips = [journey_latents(keys[i : i + 2], 24, "spring") for i in range(2)]  # chained: the second starts where the first ends

    def frames(z: np.ndarray) -> np.ndarray:
        return cppn.render(z, (32, 32))

    eased = [retimed(trip, frames, keep_ease=True) for trip in trips]
    flat = [retimed(trip, frames) for trip in trips]
    for trip, kept, even in zip(trips, eased, flat, strict=True):
        before, after, flattened = (mean_rgb_change(frames(z)) for z in (trip, kept.latents, even.latents))
        middle = np.median(after)
        for end in (0, -1):
            assert after[end] <= 2.5 * before[end] and after[end] < 0.3 * middle, (before[end], after[end], middle)
            assert flattened[end] > 0.6 * np.median(flattened)  # without it, the rest is gone
        assert coefficient_of_variation(after[kept.even]) * 2 <= coefficient_of_variation(before[kept.even])
    joined = mean_rgb_change(frames(np.concatenate([eased[0].latents, eased[1].latents[1:]])))
    at_join = joined[len(trips[0]) - 2 : len(trips[0])]  # the steps into and out of the joining frame
    assert at_join.max() < 0.3 * np.median(joined), at_join
    np.testing.assert_allclose(eased_weights(np.array([1.0, 2, 4, 5, 4, 4, 2])), [0.25, 0.5, 1, 1, 1, 1, 0.5])


def test_the_retime_command_prints_its_own_measure_beside_the_independent_check(cli, tmp_path):
    cli("sample", "pool.z.npy", "--count", "4", "--seed", "3", "--model", "builtin:cppn")
    cli("journey", "pool.z.npy", "--keys", "0,1", "--frames-per-segment", "8", "--interp", "spring", "-o", "trip.z.npy")
    result = cli("retime", "trip.z.npy", "-o", "even.z.npy", "--measure-size", "24", "--check-size", "32")
    assert result.returncode == 0, result.stderr
    assert "own measure (mean sRGB distance at 24 px)" in result.stdout
    assert "independent check (mean absolute RGB change at 32 px)" in result.stdout
    assert np.load(tmp_path / "even.z.npy").shape == (9, 512)
    made = json.loads((tmp_path / "even.z.json").read_text())["made"]
    assert made["keep_ease"] is True and made["interpolation"] == "spring"  # the default for a spring journey
    assert made["check"]["size"] == 32 and made["check"]["cv_after"] >= 0
    plain = cli("retime", "trip.z.npy", "-o", "flat.z.npy", "--measure-size", "24", "--check-size", "32", "--no-keep-ease")
    assert plain.returncode == 0, plain.stderr
    assert json.loads((tmp_path / "flat.z.json").read_text())["made"]["keep_ease"] is False
