"""Journeys: the interpolated path through a few keyframes, and chains of journeys that continue one another."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latentcut.latent.interpolation import SpringParams, lerp, slerp, spring_path

__all__ = ["INTERPOLATIONS", "chained_latents", "journey_latents", "keyframes_from_indices"]

INTERPOLATIONS = ("lerp", "slerp", "spring")


def keyframes_from_indices(latents: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """Return the rows of ``latents`` at ``indices`` (negative counts from the end), as float32 keyframes."""
    frames = len(latents)
    for index in indices:
        if not -frames <= index < frames:
            raise IndexError(f"keyframe index {index} is outside the sequence's {frames} frames")
    return np.asarray(latents[list(indices)], np.float32)


def journey_latents(
    keyframes: np.ndarray,
    frames_per_segment: int,
    interpolation: str = "slerp",
    *,
    spring: SpringParams = SpringParams(),
) -> np.ndarray:
    """Return the path through ``keyframes``: ``(len(keyframes) - 1) * frames_per_segment + 1`` frames.

    Keyframe ``i`` is frame ``i * frames_per_segment``; the last frame is the last keyframe.

        keys     K0 . . . K1 . . . K2          frames_per_segment = 4
        frames   0  1 2 3 4  5 6 7 8
    """
    keys = np.asarray(keyframes, np.float32)
    if keys.ndim != 2 or len(keys) < 2:
        raise ValueError("a journey needs at least two keyframes")
    if frames_per_segment < 1:
        raise ValueError(f"frames per segment {frames_per_segment} must be at least 1")
    if interpolation == "spring":
        return spring_path(keys, frames_per_segment, spring)
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation {interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
    between = lerp if interpolation == "lerp" else slerp
    weights = np.arange(frames_per_segment) / frames_per_segment
    parts = [between(keys[i], keys[i + 1], weights) for i in range(len(keys) - 1)]
    return np.concatenate([*parts, keys[-1:]]).astype(np.float32)


def chained_latents(paths: Sequence[np.ndarray]) -> np.ndarray:
    """Return journeys joined end to start, where each journey begins on the previous one's last frame.

    The shared frame appears once. Build the next journey with its first keyframe set to the previous
    journey's last (``keys[0] = previous[-1]``) so that the chain never jumps.
    """
    if not paths:
        raise ValueError("nothing to chain")
    joined = [np.asarray(paths[0], np.float32)]
    for index, path in enumerate(paths[1:], start=1):
        path = np.asarray(path, np.float32)
        if not np.allclose(path[0], joined[-1][-1], rtol=0, atol=1e-5):
            raise ValueError(f"journey {index} does not start where journey {index - 1} ends; chain its first keyframe")
        joined.append(path[1:])
    return np.concatenate(joined)
