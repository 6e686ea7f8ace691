"""Honing a journey: a waypoint inserted at one frame (toward or away from a chosen latent), and smooth noise around it.

Both keep the journey's length, its first and last frames, and its norm at every frame (its shell),
so the result is still a journey: every change is spread over time by smooth windows, never a jump.
A noise walk (``walk_directions``, a lane's ``noise_angle``) is the same smooth noise, computed for any
frames alone from its seed and their positions, so a renderer given a range of frames turns them
exactly as a render of the whole timeline does.
"""

from __future__ import annotations

import math

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.interpolation import slerp_rows

__all__ = ["noisy_journey", "smooth_directions", "turned", "walk_directions", "waypoint_journey"]

_WALK_ORIGIN = 1 << 32  # white-noise rows of a walk are seeded (seed, position + this): positions before 0 too


def _window(frames: int, centre: int, half_width: int) -> np.ndarray:
    # 1 at the centre, falling to 0 (with zero slope) half_width frames either side: a raised cosine.
    distance = np.abs(np.arange(frames) - centre) / max(half_width, 1)
    return np.where(distance < 1, 0.5 * (1 + np.cos(np.pi * np.minimum(distance, 1))), 0.0)


def _on_shell(rows: np.ndarray, norms: np.ndarray) -> np.ndarray:
    lengths = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(lengths > 0, lengths, 1) * norms


def waypoint_journey(path: np.ndarray, frame: int, target: np.ndarray, amount: float, half_width: int) -> np.ndarray:
    """Return ``path`` bent so that ``frame`` moves ``amount`` of the way along the great circle toward ``target``.

    A negative ``amount`` moves it away (to avoid an image). Frames farther than ``half_width`` from
    ``frame`` are unchanged, and so are the first and last frames; in between, the bend fades with a
    raised cosine, and every frame keeps its norm.
    """
    rows = np.asarray(path, np.float64)
    count = len(rows)
    if not 0 < frame < count - 1:
        raise UsageError(f"waypoint frame {frame} must lie inside the journey (1-{count - 2}); its ends stay")
    if half_width < 1:
        raise UsageError(f"--width {half_width} must be at least 1 frame")
    if not -1.0 <= amount <= 1.0:
        raise UsageError(f"amount {amount} must lie in [-1, 1] (negative: away from the frame)")
    half_width = min(half_width, frame, count - 1 - frame)
    moved = slerp_rows(rows[frame : frame + 1], np.asarray(target, np.float64)[None], np.array([amount]))[0]
    bend = _window(count, frame, half_width)[:, None] * (moved - rows[frame])
    return _on_shell(rows + bend, np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def smooth_directions(frames: int, dim: int, correlation_frames: float, seed: int) -> np.ndarray:
    """Return ``(frames, dim)`` Gaussian noise smoothed over time (Gaussian kernel, sigma ``correlation_frames``)."""
    if correlation_frames <= 0:
        raise UsageError(f"noise correlation {correlation_frames} frames must be positive")
    rng = np.random.default_rng(seed)
    reach = math.ceil(3 * correlation_frames)
    white = rng.standard_normal((frames + 2 * reach, dim))
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / correlation_frames) ** 2)
    kernel /= np.sqrt((kernel**2).sum())
    smooth = np.empty((frames, dim))
    for index in range(frames):
        smooth[index] = kernel @ white[index : index + 2 * reach + 1]
    return smooth


def walk_directions(positions: np.ndarray, dim: int, smooth_frames: float, seed: int) -> np.ndarray:
    """Return ``(n, dim)`` Gaussian noise smoothed over time at integer ``positions`` of a walk (sigma ``smooth_frames``).

    White-noise row ``k`` is drawn from its own generator, seeded ``(seed, k)``, so the walk at a
    position is the same whatever other positions are asked with it.
    """
    if smooth_frames <= 0:
        raise UsageError(f"noise smoothness {smooth_frames} frames must be positive")
    positions = np.asarray(positions, np.int64)
    reach = math.ceil(3 * smooth_frames)
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) / smooth_frames) ** 2)
    kernel /= np.sqrt((kernel**2).sum())
    needed = np.unique((positions[:, None] + np.arange(-reach, reach + 1)[None, :]).ravel())
    white = np.stack([np.random.default_rng([seed, int(k) + _WALK_ORIGIN]).standard_normal(dim) for k in needed.tolist()])
    smooth = np.zeros((len(positions), dim))
    for offset, weight in zip(range(-reach, reach + 1), kernel.tolist(), strict=True):
        smooth += weight * white[np.searchsorted(needed, positions + offset)]
    return smooth


def turned(latents: np.ndarray, noise: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """Return each row of ``latents`` turned by ``angle_rad`` (per row) toward ``noise`` made orthogonal to it, keeping its norm.

    A row at angle 0 is returned as it is.
    """
    rows = np.asarray(latents, np.float64)
    angle = np.asarray(angle_rad, np.float64).reshape(-1, 1)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    units = rows / np.where(norms > 0, norms, 1)
    noise = np.asarray(noise, np.float64) - np.sum(noise * units, axis=1, keepdims=True) * units
    noise /= np.maximum(np.linalg.norm(noise, axis=1, keepdims=True), 1e-12)
    out = norms * (np.cos(angle) * units + np.sin(angle) * noise)
    return np.where(angle == 0, rows, out).astype(np.float32)


def noisy_journey(
    path: np.ndarray, radius_rad: float, correlation_frames: float, seed: int, *, keep_ends: bool = True
) -> np.ndarray:
    """Return ``path`` with each frame turned by ``radius_rad`` toward a direction that drifts smoothly in time.

    The direction is time-smoothed noise made orthogonal to the frame, so the angle to the original
    journey is exactly ``radius_rad`` (faded to 0 over ``2 * correlation_frames`` at both ends with
    ``keep_ends``), and the noisy journey is as smooth as the noise: a journey, not flicker.
    """
    rows = np.asarray(path, np.float64)
    if not 0 <= radius_rad <= math.pi / 2:
        raise UsageError(f"noise radius {math.degrees(radius_rad):g} degrees must lie in [0, 90]")
    noise = smooth_directions(len(rows), rows.shape[1], correlation_frames, seed)
    angle = np.full(len(rows), radius_rad)
    if keep_ends:
        ramp = np.clip(np.minimum(np.arange(len(rows)), np.arange(len(rows))[::-1]) / (2 * correlation_frames), 0, 1)
        angle *= ramp * ramp * (3 - 2 * ramp)
    return turned(rows, noise, angle)
