"""Journeys: the interpolated path through a few keyframes, and chains of journeys that continue one another."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.interpolation import SpringParams, lerp, slerp, spring_path

__all__ = ["INTERPOLATIONS", "chained_latents", "journey_keys", "journey_latents", "keyframes_from_indices"]

INTERPOLATIONS = ("lerp", "slerp", "spring")


def keyframes_from_indices(latents: np.ndarray, indices: Sequence[int]) -> np.ndarray:
    """Return the rows of ``latents`` at ``indices`` (negative counts from the end), as float32 keyframes."""
    frames = len(latents)
    for index in indices:
        if not -frames <= index < frames:
            raise UsageError(f"keyframe index {index} is outside the sequence's {frames} frames")
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
        raise UsageError("a journey needs at least two keyframes")
    if frames_per_segment < 1:
        raise UsageError(f"frames per segment {frames_per_segment} must be at least 1")
    if interpolation == "spring":
        return spring_path(keys, frames_per_segment, spring)
    if interpolation not in INTERPOLATIONS:
        raise UsageError(f"interpolation {interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
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
        raise UsageError("nothing to chain")
    joined = [np.asarray(paths[0], np.float32)]
    for index, path in enumerate(paths[1:], start=1):
        path = np.asarray(path, np.float32)
        if not np.allclose(path[0], joined[-1][-1], rtol=0, atol=1e-5):
            raise UsageError(f"journey {index} does not start where journey {index - 1} ends; chain its first keyframe")
        joined.append(path[1:])
    return np.concatenate(joined)


def journey_keys(
    pool_frames: int,
    count: int,
    *,
    keys: int = 2,
    seed: int = 0,
    among: Sequence[int] | None = None,
    chain: bool = False,
    keep_source: bool = False,
) -> list[tuple[int, ...]]:
    """Return the keyframes (pool frame indices) of ``count`` journeys of ``keys`` keyframes each; the same for the same seed.

    Keyframes are drawn from ``among`` (default: every pool frame), distinct within a journey.
    ``chain``: each journey starts on the previous one's last keyframe. ``keep_source``: every journey
    starts on the same frame (the first of ``among``, else a random one), its destinations shuffled.
    """
    if count < 1:
        raise UsageError(f"--count {count} must be at least 1")
    if keys < 2:
        raise UsageError(f"a journey needs at least 2 keyframes, not {keys}")
    if chain and keep_source:
        raise UsageError("--chain and --keep-source contradict each other; choose one")
    candidates = list(range(pool_frames)) if among is None else list(among)
    for frame in candidates:
        if not 0 <= frame < pool_frames:
            raise UsageError(f"frame {frame} is outside the pool's {pool_frames} frames")
    if len(set(candidates)) < keys:
        raise UsageError(f"{len(set(candidates))} distinct frames cannot make journeys of {keys} different keyframes")
    rng = np.random.default_rng(seed)
    source = candidates[0] if among is not None else int(rng.choice(candidates))
    others = [c for c in dict.fromkeys(candidates) if c != source]
    shuffled: list[int] = []
    plans: list[tuple[int, ...]] = []
    for _ in range(count):
        if keep_source:
            if len(shuffled) < keys - 1:
                shuffled += [int(v) for v in rng.permutation(others)]
            plan = [source, *shuffled[: keys - 1]]
            shuffled = shuffled[keys - 1 :]
        else:
            first = plans[-1][-1] if chain and plans else None
            pool = [c for c in dict.fromkeys(candidates) if c != first]
            drawn = [int(v) for v in rng.choice(pool, size=keys - (first is not None), replace=False)]
            plan = [first, *drawn] if first is not None else drawn
        plans.append(tuple(plan))
    return plans
