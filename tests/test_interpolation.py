import numpy as np
import pytest

from latentcut.latent.interpolation import SpringParams, lerp, slerp, spring_path
from latentcut.latent.journey import journey_latents
from latentcut.latent.sampling import gaussian_latents

T = np.linspace(0, 1, 33)


def _pair(seed: int, scale_b: float = 1.0):
    a, b = gaussian_latents(2, 512, seed)
    return a, b * scale_b


def test_lerp_is_the_straight_line():
    a, b = _pair(1)
    path = lerp(a, b, T)
    np.testing.assert_allclose(path[0], a, atol=1e-6)
    np.testing.assert_allclose(path[-1], b, atol=1e-6)
    np.testing.assert_allclose(path[16], (a + b) / 2, atol=1e-5)


@pytest.mark.parametrize("scale_b", [1.0, 0.3, 2.5])
def test_slerp_keeps_norms_between_the_endpoint_norms(scale_b):
    a, b = _pair(2, scale_b)
    norms = np.linalg.norm(slerp(a, b, T), axis=1)
    low, high = sorted([np.linalg.norm(a), np.linalg.norm(b)])
    assert norms.min() >= low * (1 - 1e-5) and norms.max() <= high * (1 + 1e-5)


def test_slerp_hits_endpoints_and_moves_at_constant_angular_speed():
    a, b = _pair(3, 1.7)
    path = slerp(a, b, T)
    np.testing.assert_allclose(path[0], a, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(path[-1], b, rtol=1e-5, atol=1e-5)
    units = path / np.linalg.norm(path, axis=1, keepdims=True)
    steps = np.arccos(np.clip(np.sum(units[1:] * units[:-1], axis=1), -1, 1))
    np.testing.assert_allclose(steps, steps.mean(), rtol=1e-3)


@pytest.mark.parametrize("kind", ["generic", "near_parallel", "parallel", "antipodal", "near_antipodal"])
def test_slerp_is_symmetric_and_finite(kind):
    a, b = _pair(4, 1.3)
    if kind == "near_parallel":
        b = a * 1.2 + 1e-7
    elif kind == "parallel":
        b = a * 2.0
    elif kind == "antipodal":
        b = -a
    elif kind == "near_antipodal":
        b = -a + 1e-8
    forward, backward = slerp(a, b, T), slerp(b, a, 1 - T)
    assert np.isfinite(forward).all()
    np.testing.assert_allclose(forward, backward, rtol=1e-4, atol=1e-4)


def test_slerp_antipodal_turns_through_an_orthogonal_direction_on_the_shell():
    a = gaussian_latents(1, 64, 5)[0]
    mid = slerp(a, -a, 0.5)[0]
    assert abs(mid @ a) / np.linalg.norm(a) ** 2 < 1e-5
    np.testing.assert_allclose(np.linalg.norm(mid), np.linalg.norm(a), rtol=1e-5)


def test_slerp_near_parallel_agrees_with_normalised_lerp():
    a = gaussian_latents(1, 128, 6)[0]
    b = a + 1e-6 * gaussian_latents(1, 128, 7)[0]
    np.testing.assert_allclose(slerp(a, b, T), lerp(a, b, T), atol=1e-5)


def _second_difference_at(path: np.ndarray, frames: list[int]) -> np.ndarray:
    # |x[k+1] - 2x[k] + x[k-1]|: a jump in velocity at frame k shows up here as a spike.
    return np.array([np.linalg.norm(path[k + 1] - 2 * path[k] + path[k - 1]) for k in frames])


def _third_difference_max(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, n=3, axis=0), axis=1).max())


def test_spring_passes_through_every_keyframe_at_its_frame():
    keys = gaussian_latents(5, 512, 8)
    path = spring_path(keys, 24)
    assert len(path) == 4 * 24 + 1
    errors = [np.linalg.norm(path[i * 24] - keys[i]) / np.linalg.norm(keys[i]) for i in range(5)]
    assert max(errors) < 1e-6


def test_spring_has_no_velocity_jump_at_keyframes_where_slerp_has_one():
    keys = gaussian_latents(5, 512, 9)
    frames = 30
    spring = journey_latents(keys, frames, "spring")
    sl = journey_latents(keys, frames, "slerp")
    inner = [i * frames for i in range(1, 4)]
    spring_kick, slerp_kick = _second_difference_at(spring, inner), _second_difference_at(sl, inner)
    speed = np.median(np.linalg.norm(np.diff(sl, axis=0), axis=1))
    # slerp turns by a large fraction of its speed in one frame; the spring turns gradually.
    assert slerp_kick.min() > 0.5 * speed
    assert spring_kick.max() < 0.25 * slerp_kick.min()
    assert _third_difference_max(spring) < 0.25 * _third_difference_max(sl)


def test_spring_stays_near_the_hypersphere_shell():
    keys = gaussian_latents(6, 512, 10)
    path = spring_path(keys, 40)
    norms = np.linalg.norm(path, axis=1)
    key_norms = np.linalg.norm(keys, axis=1)
    assert norms.min() > 0.93 * key_norms.min()
    assert norms.max() < 1.07 * key_norms.max()
    # lerp between the same keys sags far inside the shell: the spring is doing the work.
    assert np.linalg.norm(journey_latents(keys, 40, "lerp"), axis=1).min() < 0.8 * key_norms.min()


def test_spring_is_deterministic_and_stable_for_one_frame_segments():
    keys = gaussian_latents(4, 64, 11)
    np.testing.assert_array_equal(spring_path(keys, 12), spring_path(keys, 12))
    short = spring_path(keys, 1, SpringParams(stiffness=40, shell_stiffness=2000))
    assert np.isfinite(short).all()
    np.testing.assert_allclose(short, keys, atol=1e-5)


def test_spring_rejects_too_few_keyframes():
    with pytest.raises(ValueError):
        spring_path(gaussian_latents(1, 8, 1), 5)


def test_spring_comes_to_rest_on_its_last_keyframe():
    keys = gaussian_latents(3, 512, 5)
    path = spring_path(keys, 50).astype(np.float64)
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    np.testing.assert_allclose(path[-1], keys[-1], atol=1e-5)
    # Measured: first step 0.068, largest 1.10, last 0.011 (without arrival the last was 0.315).
    assert steps[-1] < 0.02 * steps.max() and steps[-1] < steps[0]
    assert np.all(np.diff(steps[-8:]) < 0)  # slowing down frame after frame into the keyframe
    free = np.linalg.norm(np.diff(spring_path(keys, 50, SpringParams(arrive=False)).astype(np.float64), axis=0), axis=1)
    assert free[-1] > 0.25 * free.max()  # the old behaviour, still there on request
    np.testing.assert_array_equal(spring_path(keys, 50)[:51], spring_path(keys, 50, SpringParams(arrive=False))[:51])
