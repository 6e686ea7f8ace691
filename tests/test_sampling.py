from math import erf, exp, pi, sqrt

import numpy as np
import pytest

from latentcut.latent.sampling import gaussian_latents, neighbour_latents, psi_truncated, truncated_latents, uniform_latents


def test_gaussian_matches_standard_normal_prior():
    z = gaussian_latents(400, 512, seed=3)
    assert z.dtype == np.float32 and z.shape == (400, 512)
    assert abs(z.mean()) < 0.01
    assert abs(z.var() - 1.0) < 0.02
    # Gaussian vectors concentrate on the shell of radius sqrt(dim).
    assert abs(np.linalg.norm(z, axis=1).mean() / sqrt(512) - 1.0) < 0.01


def test_same_seed_same_latents_other_seed_other_latents():
    assert np.array_equal(gaussian_latents(5, 8, 1), gaussian_latents(5, 8, 1))
    assert not np.array_equal(gaussian_latents(5, 8, 1), gaussian_latents(5, 8, 2))


def test_truncated_resamples_within_threshold_with_truncated_normal_variance():
    z = truncated_latents(300, 512, seed=4, threshold=2.0)
    assert np.abs(z).max() <= 2.0
    phi = exp(-2.0) / sqrt(2 * pi)
    cdf_span = erf(2.0 / sqrt(2))
    expected_var = 1 - 2 * 2.0 * phi / cdf_span
    assert abs(z.var() - expected_var) < 0.01


def test_psi_scales_toward_mean():
    z = gaussian_latents(200, 64, 5)
    half = psi_truncated(z, 0.5)
    np.testing.assert_allclose(half, z * 0.5, rtol=1e-6)
    mean = np.full(64, 3.0, np.float32)
    np.testing.assert_allclose(psi_truncated(z, 0.0, mean), np.broadcast_to(mean, z.shape))


def test_uniform_prior_bounds_and_moments():
    z = uniform_latents(300, 256, 6)
    assert z.min() >= -1.0 and z.max() < 1.0
    assert abs(z.mean()) < 0.01
    assert abs(z.var() - 1 / 3) < 0.01


def test_neighbours_lie_at_the_angular_radius_with_the_centre_norm():
    centres = gaussian_latents(3, 512, 7)
    radius = np.deg2rad(10.0)
    near = neighbour_latents(centres, radius, count=20, seed=8).reshape(3, 20, 512)
    for centre, group in zip(centres, near, strict=True):
        cos = group @ centre / (np.linalg.norm(group, axis=1) * np.linalg.norm(centre))
        np.testing.assert_allclose(np.arccos(np.clip(cos, -1, 1)), radius, atol=1e-3)
        np.testing.assert_allclose(np.linalg.norm(group, axis=1), np.linalg.norm(centre), rtol=1e-5)
    # Directions differ from one another: the neighbourhood is explored, not one point repeated.
    assert np.linalg.norm(near[0, 0] - near[0, 1]) > 0.1


def test_zero_radius_neighbours_are_the_centre():
    centre = gaussian_latents(1, 32, 9)
    np.testing.assert_allclose(neighbour_latents(centre, 0.0, 4, 1), np.repeat(centre, 4, axis=0), rtol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda: gaussian_latents(0, 8, 1),
        lambda: truncated_latents(4, 8, 1, threshold=0),
        lambda: uniform_latents(4, 8, 1, low=1, high=1),
        lambda: neighbour_latents(np.zeros((1, 8)), 0.1, 2, 1),
        lambda: neighbour_latents(np.ones((1, 8)), 4.0, 2, 1),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError):
        call()
