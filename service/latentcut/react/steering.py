"""From per-frame feature vectors to latents: standardise, smooth in time, project, and put them on the prior's shell.

A frame's features ``f`` become ``s = (f - mean) / std`` with the mean and spread measured once on a
fixed set of reference pictures (so a still input stays still and a file and a camera agree), then
``s`` is smoothed by an exponential moving average with time constant ``smooth_s`` (causal, as live
input must be: a sudden change reaches 63 % after ``smooth_s`` and 95 % after ``3 * smooth_s``; a
slow movement lags by ``smooth_s``), projected by a fixed random matrix into the latent space, and
added to the base latent with ``gain``: ``z = sqrt(dim) * unit(base + gain * P s)``. The result
lies on the shell where a Gaussian prior's samples lie, so every frame is a typical latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from latentcut.errors import UsageError

__all__ = ["Steering", "ema_alpha", "reference_frames", "shell_latents"]

_PROJECTION_SEED = 1969
_STD_FLOOR = 1e-6


def ema_alpha(smooth_s: float, fps: float) -> float:
    """The per-frame weight of a new value in an exponential moving average with time constant ``smooth_s``."""
    if not math.isfinite(smooth_s) or smooth_s < 0:
        raise UsageError(f"--smooth {smooth_s}: give a time constant in seconds, 0 or more")
    return 1.0 if smooth_s == 0 else 1.0 - math.exp(-1.0 / (smooth_s * fps))


def shell_latents(latents: np.ndarray) -> np.ndarray:
    """``latents`` rescaled to norm ``sqrt(dim)``, the shell of a standard Gaussian prior."""
    norms = np.linalg.norm(latents, axis=-1, keepdims=True)
    return (latents * (math.sqrt(latents.shape[-1]) / np.maximum(norms, 1e-12))).astype(np.float32)


def reference_frames(count: int, size: int, seed: int = 7) -> np.ndarray:
    """Fixed pictures ``(count, size, size, 3)`` uint8 (smooth colour fields, edges, blobs) the features are calibrated on."""
    rng = np.random.default_rng(seed)
    frames = np.empty((count, size, size, 3), np.uint8)
    ramp = np.linspace(0.0, 1.0, size)
    for index in range(count):
        coarse = rng.random((4, 4, 3))
        field = np.kron(coarse, np.ones((size // 4 + 1, size // 4 + 1, 1)))[:size, :size]
        angle = rng.random() * 2 * np.pi
        gradient = np.cos(angle) * ramp[None, :, None] + np.sin(angle) * ramp[:, None, None]
        picture = 0.6 * field + 0.4 * gradient * rng.random(3)
        x, y = rng.integers(0, size, 2).tolist()
        r = int(rng.integers(size // 10, size // 3))
        ys, xs = np.indices((size, size))
        picture[(xs - x) ** 2 + (ys - y) ** 2 < r * r] = rng.random(3)
        frames[index] = np.clip(picture * 255, 0, 255).astype(np.uint8)
    return frames


@dataclass
class Steering:
    """The state of one performance: calibration, smoothing memory, projection and base latent."""

    mean: np.ndarray  # (features,) over the reference pictures
    std: np.ndarray  # (features,)
    base: np.ndarray  # (dim,)
    gain: float
    alpha: float  # the moving average's weight of a new frame
    smoothed: np.ndarray | None = None

    def __post_init__(self) -> None:
        rng = np.random.default_rng(_PROJECTION_SEED)
        features, dim = len(self.mean), len(self.base)
        # Each latent component is a fixed mix of all standardised features with unit variance.
        self.projection = (rng.standard_normal((features, dim)) / math.sqrt(features)).astype(np.float32)
        self.std = np.maximum(self.std, _STD_FLOOR)

    def latent(self, features: np.ndarray) -> np.ndarray:
        """The latent ``(dim,)`` for the next frame's feature vector."""
        standardised = (features - self.mean) / self.std
        if self.smoothed is None:
            self.smoothed = standardised.astype(np.float64)
        else:
            self.smoothed += self.alpha * (standardised - self.smoothed)
        offset = self.smoothed.astype(np.float32) @ self.projection
        return shell_latents(self.base + self.gain * offset)
