"""A job's frames: the model's pictures of a range of latents, cross-faded and shaded, the same on the daemon, its workers and `render`.

A frame is the model's picture of its latent; on a pixel cross-fade, the mix
``(1 - w) * G(a) + w * G(b)`` of two pictures, as MLT mixes two clips; then faded toward black by its
opacity. Frames at opacity 0 are black without a call to the model.
"""

from __future__ import annotations

import numpy as np

from latentcut.models.generator import Generator

__all__ = ["render_range", "shaded_frames"]


def shaded_frames(frames: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Apply per-frame opacity toward black in pixels (the conform's fades and gaps)."""
    shade = opacity.astype(np.float32)[:, None, None, None]
    return np.where(shade >= 1.0, frames, (frames * shade + 0.5).astype(np.uint8))


def render_range(
    generator: Generator,
    size: tuple[int, int],
    latents: np.ndarray,
    opacity: np.ndarray,
    blend_latents: np.ndarray | None = None,
    blend_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Return the frames ``(n, height, width, 3)`` uint8 of ``n`` latents, cross-faded and shaded as the job asks."""
    width, height = size
    frames = np.zeros((len(latents), height, width, 3), np.uint8)
    visible = np.nonzero(opacity > 0)[0]
    if len(visible):
        frames[visible] = generator.render(np.asarray(latents[visible]), size)
    if blend_latents is not None and blend_weight is not None:
        mixed = visible[blend_weight[visible] > 0]
        if len(mixed):
            weight = blend_weight[mixed].astype(np.float32)[:, None, None, None]
            other = generator.render(np.asarray(blend_latents[mixed]), size).astype(np.float32)
            frames[mixed] = (frames[mixed].astype(np.float32) * (1 - weight) + other * weight + 0.5).astype(np.uint8)
    return shaded_frames(frames, opacity)
