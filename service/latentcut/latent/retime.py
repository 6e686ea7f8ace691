"""Constant perceptual speed: re-timing a path so the picture changes by the same amount from every frame to the next.

The change between two frames is the **mean CIELAB colour difference (ΔE*ab) over a three-level image
pyramid** of the rendered frames. Why this one: it needs no downloaded weights (LPIPS, the usual
learned distance, needs AlexNet or VGG weights fetched from the internet, which a render machine may
not reach), CIELAB is designed so that equal distances look like equal differences in colour, and
the pyramid (full, half and quarter resolution) counts a change of fine texture and a change of the
overall colour field alike. It is a true metric (an L1 distance), so changes along a path add up.

Re-timing treats the path as continuous (slerp between consecutive frames), renders it at a finer
step, measures the accumulated change, and places the new frames at equal steps of it; then it
renders the placed frames, measures the change between them, and places them again (a few rounds).
The first and last frames, and the frame count, stay as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.interpolation import slerp_rows

__all__ = ["Retimed", "change_per_frame", "coefficient_of_variation", "lab_pyramid", "perceptual_distances", "retimed"]

FramesOf = Callable[[np.ndarray], np.ndarray]  # latents (n, dim) -> frames (n, h, w, 3) uint8

_PYRAMID_LEVELS = 3
_D65 = np.array([0.95047, 1.0, 1.08883])
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]])


def _lab(frames: np.ndarray) -> np.ndarray:
    srgb = frames.astype(np.float64) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    xyz = linear @ _RGB_TO_XYZ.T / _D65
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def lab_pyramid(frames: np.ndarray) -> list[np.ndarray]:
    """Return the frames ``(n, h, w, 3)`` uint8 in CIELAB at full, half and quarter resolution (2x2 means)."""
    level = _lab(frames)
    levels = [level]
    for _ in range(_PYRAMID_LEVELS - 1):
        h, w = level.shape[1] // 2 * 2, level.shape[2] // 2 * 2
        if h < 2 or w < 2:
            break
        level = level[:, :h, :w].reshape(len(level), h // 2, 2, w // 2, 2, 3).mean(axis=(2, 4))
        levels.append(level)
    return levels


def perceptual_distances(a: list[np.ndarray], b: list[np.ndarray]) -> np.ndarray:
    """Return the distance between pyramids ``a[i]`` and ``b[i]`` for every frame: the mean over levels of the mean ΔE."""
    per_level = [np.sqrt(((la - lb) ** 2).sum(axis=-1)).mean(axis=(1, 2)) for la, lb in zip(a, b, strict=True)]
    return np.mean(per_level, axis=0)


def change_per_frame(frames: np.ndarray) -> np.ndarray:
    """Return the perceptual change from each frame to the next: ``len(frames) - 1`` values (ΔE units)."""
    pyramid = lab_pyramid(frames)
    return perceptual_distances([p[:-1] for p in pyramid], [p[1:] for p in pyramid])


def coefficient_of_variation(values: np.ndarray) -> float:
    """Return ``std / mean`` of ``values`` (0 for a constant, ``inf`` when the mean is 0 but they vary)."""
    mean = float(np.mean(values))
    std = float(np.std(values))
    return 0.0 if std == 0 else (std / mean if mean > 0 else float("inf"))


def _path_at(latents: np.ndarray, positions: np.ndarray) -> np.ndarray:
    # The path is slerp between consecutive frames; position p lies between frames floor(p) and floor(p) + 1.
    last = len(latents) - 1
    lower = np.clip(np.floor(positions).astype(np.int64), 0, max(last - 1, 0))
    upper = np.minimum(lower + 1, last)
    return slerp_rows(latents[lower], latents[upper], positions - lower)


@dataclass(frozen=True)
class Retimed:
    """A re-timed path and how even its change per frame is, before and after."""

    latents: np.ndarray  # (frames, dim) float32: same count, first and last frames as the input
    positions: np.ndarray  # (frames,) where on the old path each new frame lies (old frame units)
    change_before: np.ndarray  # (frames - 1,) perceptual change per frame of the input
    change_after: np.ndarray  # (frames - 1,) of the output

    @property
    def cv_before(self) -> float:
        """Coefficient of variation of the input's change per frame."""
        return coefficient_of_variation(self.change_before)

    @property
    def cv_after(self) -> float:
        """Coefficient of variation of the output's change per frame."""
        return coefficient_of_variation(self.change_after)


def _even_positions(samples: np.ndarray, cumulative: np.ndarray, frames: int) -> np.ndarray:
    targets = np.linspace(0.0, cumulative[-1], frames)
    positions = np.interp(targets, cumulative, samples)
    positions[0], positions[-1] = samples[0], samples[-1]
    return positions


def retimed(latents: np.ndarray, frames_of: FramesOf, *, oversample: int = 4, refinements: int = 3) -> Retimed:
    """Return ``latents`` re-timed to constant perceptual speed, measured on frames rendered by ``frames_of``.

    First the path is measured at ``oversample`` sub-steps per frame and the frames placed at equal
    steps of the accumulated change. The change between two whole frames is less than the sum of its
    sub-steps where the picture changes a lot (the distance saturates), so each refinement renders
    the placed frames, measures the change from each to the next, and places them again by those.
    """
    path = np.asarray(latents, np.float32)
    if path.ndim != 2 or len(path) < 3:
        raise UsageError("re-timing needs a path of at least 3 frames")
    if oversample < 1:
        raise UsageError(f"oversample {oversample} must be at least 1")
    count = len(path)
    samples = np.linspace(0.0, count - 1, (count - 1) * oversample + 1)
    rendered = lab_pyramid(frames_of(_path_at(path, samples)))
    fine = [[level[i] for level in rendered] for i in range(len(samples))]
    change_before = _distances(fine[::oversample])
    positions = _even_positions(samples, np.concatenate([[0.0], np.cumsum(_distances(fine))]), count)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(refinements + 1):
        placed = lab_pyramid(frames_of(_path_at(path, positions)))
        change = _distances([[level[i] for level in placed] for i in range(count)])
        if best is None or coefficient_of_variation(change) < best[0]:
            best = (coefficient_of_variation(change), positions, change)
        positions = _even_positions(positions, np.concatenate([[0.0], np.cumsum(change)]), count)
    assert best is not None
    _, positions, change_after = best
    out = _path_at(path, positions)
    out[0], out[-1] = path[0], path[-1]
    return Retimed(out.astype(np.float32), positions, change_before, change_after)


def _distances(pyramids: list[list[np.ndarray]]) -> np.ndarray:
    a = [np.stack([p[level] for p in pyramids[:-1]]) for level in range(len(pyramids[0]))]
    b = [np.stack([p[level] for p in pyramids[1:]]) for level in range(len(pyramids[0]))]
    return perceptual_distances(a, b)
