"""Honing a journey: a waypoint bends it locally and keeps the rest; noise around it is smooth, at an exact angle."""

from __future__ import annotations

import numpy as np
import pytest

from latentcut.errors import UsageError
from latentcut.latent.honing import noisy_journey, waypoint_journey
from latentcut.latent.journey import journey_latents
from latentcut.latent.sampling import gaussian_latents


def _angles_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


@pytest.fixture
def journey():
    return journey_latents(gaussian_latents(3, 512, 1), 30, "spring").astype(np.float64)


@pytest.mark.parametrize("amount", [0.5, -0.3])
def test_a_waypoint_moves_one_frame_and_fades_out_keeping_length_norms_and_the_rest(journey, amount):
    target = gaussian_latents(1, 512, 9)[0]
    honed = waypoint_journey(journey, 20, target, amount, 10).astype(np.float64)
    assert honed.shape == journey.shape
    np.testing.assert_array_equal(honed[:10], journey[:10].astype(np.float32))
    np.testing.assert_array_equal(honed[31:], journey[31:].astype(np.float32))
    np.testing.assert_allclose(np.linalg.norm(honed, axis=1), np.linalg.norm(journey, axis=1), rtol=1e-5)
    before, after = _angles_deg(journey[20:21], target[None])[0], _angles_deg(honed[20:21], target[None])[0]
    assert (after < before) if amount > 0 else (after > before)
    # Smooth: no step of the honed journey is much larger than the journey's own steps.
    assert np.linalg.norm(np.diff(honed, axis=0), axis=1).max() < 2.5 * np.linalg.norm(np.diff(journey, axis=0), axis=1).max()


def test_a_waypoint_must_lie_inside_the_journey(journey):
    with pytest.raises(UsageError, match="inside the journey"):
        waypoint_journey(journey, 0, journey[5], 0.5, 5)


def test_noise_keeps_its_angle_and_the_journeys_ends_and_moves_smoothly(journey):
    noisy = noisy_journey(journey, np.radians(8), 6, 3).astype(np.float64)
    angles = _angles_deg(noisy, journey)
    np.testing.assert_allclose(angles[12:-12], 8, atol=1e-3)
    np.testing.assert_allclose(noisy[[0, -1]], journey[[0, -1]], atol=1e-5)
    steps = np.linalg.norm(np.diff(noisy, axis=0), axis=1)
    # White noise at 8 degrees would jump about 2 * sin(4 deg) * 22.6 = 3.2 per frame; this noise drifts.
    white = noisy_journey(journey, np.radians(8), 0.01, 3).astype(np.float64)
    assert steps.max() < 0.5 * np.linalg.norm(np.diff(white, axis=0), axis=1)[12:-12].mean()
    np.testing.assert_array_equal(noisy_journey(journey, 0.1, 6, 3), noisy_journey(journey, 0.1, 6, 3))


def test_the_hone_command_records_what_it_did(cli, tmp_path):
    import json

    cli("sample", "pool.z.npy", "--count", "10", "--seed", "3")
    cli("journey", "pool.z.npy", "--keys", "1,2", "--frames-per-segment", "30", "-o", "trip.z.npy")
    result = cli("hone", "trip.z.npy", "-o", "h.z.npy", "--at", "15", "--away", "7", "--pool", "pool.z.npy", "--noise", "3")
    assert result.returncode == 0, result.stderr
    made = json.loads((tmp_path / "h.z.json").read_text())["made"]
    assert made["waypoint"]["amount"] == -0.5 and made["noise"]["radius_deg"] == 3
    assert np.load(tmp_path / "h.z.npy").shape == (31, 512)
    assert cli("hone", "trip.z.npy", "-o", "h2.z.npy", "--at", "15").returncode == 2
