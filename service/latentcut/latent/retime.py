"""Constant perceptual speed: re-timing a path so the picture changes by the same amount from every frame to the next.

The change between two frames is the **mean colour distance per pixel**: the Euclidean distance
between the two pixels' gamma-encoded sRGB values (0-255 a channel), averaged over the picture.
Why this one: it needs no downloaded weights (LPIPS, the usual learned distance, needs AlexNet or
VGG weights fetched from the internet, which a render machine may not reach); sRGB's encoding is
itself close to perceived lightness; and it tracks the change a viewer of the output sees at any
size: measured on frames 64 px wide, it follows the mean absolute RGB change of the same frames at
256 px to within 2-5 % along the embedded model's journeys. CIELAB ΔE over an image pyramid, used
before, disagreed with that change by 10-23 %, so a path even by ΔE still changed 1.2-3x faster in
some stretches than in others. It is a metric (an L1 mean of Euclidean distances), so changes along
a path add up.

Re-timing treats the path as continuous (slerp between consecutive frames), renders it at a finer
step, measures the accumulated change, and places the new frames at equal steps of it; then it
renders the placed frames, measures the change between them, and places them again (a few rounds).
The first and last frames, and the frame count, stay as they were. With ``keep_ease`` a journey's
departure and arrival (a spring journey starts at rest and comes to rest) keep their own speed:
only the stretch between them is made even, so retimed journeys chained end to end do not jolt.

Evenness is reported by a second measure the re-timing never optimises, :func:`mean_rgb_change`
(mean absolute RGB change per frame), on frames rendered at the output size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.interpolation import slerp_rows

__all__ = [
    "Retimed",
    "change_per_frame",
    "coefficient_of_variation",
    "eased_weights",
    "mean_rgb_change",
    "retimed",
]

FramesOf = Callable[[np.ndarray], np.ndarray]  # latents (n, dim) -> frames (n, h, w, 3) uint8


def change_per_frame(frames: np.ndarray) -> np.ndarray:
    """Return the change from each frame ``(n, h, w, 3)`` uint8 to the next: the mean per-pixel sRGB distance, ``n - 1`` values."""
    pictures = np.asarray(frames, np.float32)
    return np.sqrt(np.square(pictures[1:] - pictures[:-1]).sum(axis=-1)).mean(axis=(1, 2)).astype(np.float64)


def mean_rgb_change(frames: np.ndarray) -> np.ndarray:
    """Return the mean absolute RGB change from each frame to the next (0-255 levels): the independent check, never optimised."""
    pictures = np.asarray(frames, np.float32)
    return np.abs(pictures[1:] - pictures[:-1]).mean(axis=(1, 2, 3)).astype(np.float64)


def coefficient_of_variation(values: np.ndarray) -> float:
    """Return ``std / mean`` of ``values`` (0 for a constant, ``inf`` when the mean is 0 but they vary)."""
    mean = float(np.mean(values))
    std = float(np.std(values))
    return 0.0 if std == 0 else (std / mean if mean > 0 else float("inf"))


def eased_weights(change: np.ndarray) -> np.ndarray:
    """Return each frame step's share of an even speed that keeps ``change``'s departure and arrival.

    The departure runs from the first frame until the change per frame first reaches its median, the
    arrival from where it last does to the end; there a step keeps its own change (as a share of the
    median), everywhere else it is 1.
    """
    change = np.asarray(change, np.float64)
    weights = np.ones(len(change))
    reference = float(np.median(change))
    if reference <= 0:
        return weights
    reached = np.nonzero(change >= reference)[0]
    first, last = int(reached[0]), int(reached[-1])
    weights[:first] = change[:first] / reference
    weights[last + 1 :] = change[last + 1 :] / reference
    return np.maximum(weights, 1e-3)  # a step of no change stays a step forward


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
    change_before: np.ndarray  # (frames - 1,) change per frame of the input
    change_after: np.ndarray  # (frames - 1,) of the output
    even: np.ndarray  # (frames - 1,) bool: the steps made even (all but a kept departure and arrival)

    @property
    def cv_before(self) -> float:
        """Coefficient of variation of the input's change per frame, over the steps made even."""
        return coefficient_of_variation(self.change_before[self.even])

    @property
    def cv_after(self) -> float:
        """Coefficient of variation of the output's change per frame, over the steps made even."""
        return coefficient_of_variation(self.change_after[self.even])


def _placed(positions: np.ndarray, cumulative: np.ndarray, targets: np.ndarray) -> np.ndarray:
    placed = np.interp(targets, cumulative, positions)
    placed[0], placed[-1] = positions[0], positions[-1]
    return placed


def retimed(
    latents: np.ndarray, frames_of: FramesOf, *, keep_ease: bool = False, oversample: int = 4, refinements: int = 3
) -> Retimed:
    """Return ``latents`` re-timed to constant perceptual speed, measured on frames rendered by ``frames_of``.

    First the path is measured at ``oversample`` sub-steps per frame and the frames placed at equal
    steps of the accumulated change. The change between two whole frames is less than the sum of its
    sub-steps where the picture changes a lot (the distance saturates), so each refinement renders
    the placed frames, measures the change from each to the next, and places them again by those.
    ``keep_ease``: the departure and arrival keep their speed (:func:`eased_weights`).
    """
    path = np.asarray(latents, np.float32)
    if path.ndim != 2 or len(path) < 3:
        raise UsageError("re-timing needs a path of at least 3 frames")
    if oversample < 1:
        raise UsageError(f"oversample {oversample} must be at least 1")
    count = len(path)
    samples = np.linspace(0.0, count - 1, (count - 1) * oversample + 1)
    fine = frames_of(_path_at(path, samples))
    change_before = change_per_frame(fine[::oversample])
    weights = eased_weights(change_before) if keep_ease else np.ones(count - 1)
    share = np.concatenate([[0.0], np.cumsum(weights)]) / weights.sum()  # where each new frame lies, as a share of the change
    cumulative = np.concatenate([[0.0], np.cumsum(change_per_frame(fine))])
    positions = _placed(samples, cumulative, share * cumulative[-1])
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(refinements + 1):
        change = change_per_frame(frames_of(_path_at(path, positions)))
        unevenness = coefficient_of_variation(change / weights)
        if best is None or unevenness < best[0]:
            best = (unevenness, positions, change)
        cumulative = np.concatenate([[0.0], np.cumsum(change)])
        positions = _placed(positions, cumulative, share * cumulative[-1])
    assert best is not None
    _, positions, change_after = best
    out = _path_at(path, positions)
    out[0], out[-1] = path[0], path[-1]
    return Retimed(out.astype(np.float32), positions, change_before, change_after, weights == 1)
