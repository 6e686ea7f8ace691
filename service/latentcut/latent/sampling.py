"""Drawing latent vectors: seeded Gaussian and uniform priors, truncation, and noise neighbourhoods at an angular radius."""

from __future__ import annotations

import numpy as np

from latentcut.errors import UsageError

__all__ = [
    "PRIORS",
    "gaussian_latents",
    "neighbour_latents",
    "psi_truncated",
    "seeded_latents",
    "truncated_latents",
    "uniform_latents",
]


PRIORS = ("gaussian", "truncated", "uniform")


MAX_SAMPLED_BYTES = 4 * 2**30  # float32 latents drawn at once: a million frames of a 1024-dim model fit


def _checked_shape(count: int, dim: int) -> None:
    if count < 1 or dim < 1:
        raise UsageError(f"count ({count}) and dim ({dim}) must both be at least 1")
    if count * dim * 4 > MAX_SAMPLED_BYTES:
        raise UsageError(
            f"{count:,} latents of {dim} values are {count * dim * 4 / 2**30:,.0f} GiB, over the "
            f"{MAX_SAMPLED_BYTES // 2**30} GiB latentcut draws at once; sample fewer (and join sequences in the editor)"
        )


def gaussian_latents(count: int, dim: int, seed: int) -> np.ndarray:
    """Return ``count`` standard-normal vectors of length ``dim`` (float32), the same for the same seed."""
    _checked_shape(count, dim)
    return np.random.default_rng(seed).standard_normal((count, dim), dtype=np.float32)


def seeded_latents(seeds: list[int], dim: int) -> np.ndarray:
    """Return one latent per seed as NVIDIA's ``gen_images.py --seeds`` draws it: ``RandomState(seed).randn(1, dim)``, in float32.

    So frame ``i`` is the picture an artist knows as seed ``seeds[i]`` of a StyleGAN model.
    """
    _checked_shape(len(seeds), dim)
    for seed in seeds:
        if not 0 <= seed < 2**32:
            raise UsageError(f"seed {seed} is outside 0..{2**32 - 1}, the seeds NVIDIA's gen_images.py takes")
    return np.concatenate([np.random.RandomState(seed).randn(1, dim) for seed in seeds]).astype(np.float32)


def truncated_latents(count: int, dim: int, seed: int, threshold: float = 2.0) -> np.ndarray:
    """Return standard-normal vectors whose every component lies within ``±threshold`` (resampled, not clipped)."""
    _checked_shape(count, dim)
    if threshold <= 0:
        raise UsageError(f"truncation threshold {threshold} must be positive")
    rng = np.random.default_rng(seed)
    latents = rng.standard_normal((count, dim), dtype=np.float32)
    outside = np.abs(latents) > threshold
    while outside.any():
        latents[outside] = rng.standard_normal(int(outside.sum()), dtype=np.float32)
        outside = np.abs(latents) > threshold
    return latents


def psi_truncated(latents: np.ndarray, psi: float, mean: np.ndarray | None = None) -> np.ndarray:
    """Return ``mean + psi * (latents - mean)``: the truncation trick, pulling samples toward the mean."""
    centre = np.zeros(latents.shape[-1], np.float32) if mean is None else np.asarray(mean, np.float32)
    return (centre + np.float32(psi) * (latents - centre)).astype(np.float32)


def uniform_latents(count: int, dim: int, seed: int, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """Return vectors with components uniform in ``[low, high)``, for models trained on a uniform prior."""
    _checked_shape(count, dim)
    if not high > low:
        raise UsageError(f"uniform prior needs low < high, got [{low}, {high})")
    return np.random.default_rng(seed).uniform(low, high, (count, dim)).astype(np.float32)


def neighbour_latents(centres: np.ndarray, radius_rad: float, count: int, seed: int) -> np.ndarray:
    """Return ``count`` neighbours per centre, each exactly ``radius_rad`` away in angle and with the centre's norm.

    A neighbour is the centre rotated by ``radius_rad`` toward a random direction orthogonal to it, so
    it stays on the shell the centre lies on. Output rows: all neighbours of centre 0, then of 1, …
    """
    centres = np.atleast_2d(np.asarray(centres, np.float64))
    if count < 1:
        raise UsageError(f"neighbour count {count} must be at least 1")
    if not 0 <= radius_rad <= np.pi:
        raise UsageError(f"angular radius {radius_rad} rad must lie in [0, pi]")
    rng = np.random.default_rng(seed)
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    if (norms == 0).any():
        raise UsageError("a zero vector has no direction to explore around")
    units = centres / norms
    out = np.empty((len(centres), count, centres.shape[1]), np.float64)
    for i, unit in enumerate(units):
        directions = rng.standard_normal((count, centres.shape[1]))
        directions -= np.outer(directions @ unit, unit)
        directions /= np.linalg.norm(directions, axis=1, keepdims=True)
        out[i] = norms[i] * (np.cos(radius_rad) * unit + np.sin(radius_rad) * directions)
    return out.reshape(-1, centres.shape[1]).astype(np.float32)
