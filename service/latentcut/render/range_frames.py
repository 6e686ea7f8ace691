"""A job's frames: the model's pictures of a range of latents, cross-faded and shaded, the same on the daemon, its workers and `render`.

A frame is the model's picture of its latent (through its StyleGAN input controls, where the job has
them: ``latentcut.models.stylegan.input_controls``); on a pixel cross-fade, the mix
``(1 - w) * G(a) + w * G(b)`` of two pictures, as MLT mixes two clips; then faded toward black by its
opacity. Frames at opacity 0 are black without a call to the model. ``FrameArrays`` holds what a range is
rendered from, one array per kind, a row per frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentcut.errors import RenderError
from latentcut.models.generator import Generator
from latentcut.models.stylegan.input_controls import ControlledGenerator, InputControls

__all__ = ["FrameArrays", "checked_controls", "render_range", "shaded_frames"]


@dataclass(frozen=True, eq=False)
class FrameArrays:
    """The per-frame arrays some frames are rendered from, a row per frame: what a job, a lease and a range carry.

    Frame ``i`` is ``(1 - blend_weight[i]) * G(latents[i]) + blend_weight[i] * G(blend_latents[i])``, mixed in
    pixels, then faded toward black by ``opacity[i]``. Without a cross-fade both blend arrays are None.
    ``controls``: StyleGAN input controls per frame (float32 ``(n, 4)``, columns ``CONTROL_COLUMNS``), never
    with a cross-fade; None or 0: none.
    """

    latents: np.ndarray  # (n, dim) float32
    opacity: np.ndarray  # (n,) float32 in 0..1
    blend_latents: np.ndarray | None = None  # (n, dim) float32: the picture being cross-faded to
    blend_weight: np.ndarray | None = None  # (n,) float32 in 0..1: its share of the mix
    controls: np.ndarray | None = None  # (n, 4) float32: StyleGAN input controls

    @property
    def blended(self) -> bool:
        return self.blend_latents is not None

    @property
    def nbytes(self) -> int:
        arrays = (self.latents, self.opacity, self.blend_latents, self.blend_weight, self.controls)
        return sum(a.nbytes for a in arrays if a is not None)

    def rows(self, indices: np.ndarray | slice) -> FrameArrays:
        """The arrays of the frames at ``indices`` only."""

        def of(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[indices]

        return FrameArrays(
            self.latents[indices], self.opacity[indices], of(self.blend_latents), of(self.blend_weight), of(self.controls)
        )


def shaded_frames(frames: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Apply per-frame opacity toward black in pixels (the conform's fades and gaps); all opaque: ``frames`` as they are."""
    # Only the faded frames are computed in floats: at 1024x1024 the whole range would cost more than a GPU takes to render it.
    faded = np.nonzero(opacity < 1.0)[0]
    if not len(faded):
        return frames
    shaded = frames.copy()
    shade = opacity[faded].astype(np.float32)[:, None, None, None]
    shaded[faded] = (frames[faded] * shade + 0.5).astype(np.uint8)
    return shaded


def checked_controls(generator: Generator, controls: np.ndarray | None, where: str = "") -> ControlledGenerator | None:
    """``generator`` if ``controls`` (float32 ``(n, 4)``) move anything, None if none do; a model without them: ``RenderError``."""
    if controls is None or not np.any(controls):
        return None
    prefix = f"{where}: " if where else ""
    if not isinstance(generator, ControlledGenerator) or not generator.input_controls:
        raise RenderError(
            f"{prefix}{generator.spec} has no input controls (StyleGAN2's constant, StyleGAN3's transform), but the frames "
            "carry them (a tracked performance); render with the StyleGAN snapshot it was performed with"
        )
    missing = InputControls.from_array(controls).uses() - set(generator.input_controls)
    if missing:
        raise RenderError(
            f"{prefix}{generator.spec} has no {' or '.join(sorted(missing))} input control, but the frames carry it; "
            "render with the StyleGAN snapshot the performance was made with"
        )
    return generator


def render_range(generator: Generator, size: tuple[int, int], arrays: FrameArrays) -> np.ndarray:
    """Return the frames ``(n, height, width, 3)`` uint8 of ``arrays``' ``n`` latents, cross-faded and shaded as they ask.

    Input controls that are all 0 are no control at all. They steer one picture per frame, so they do not
    go with a pixel cross-fade.
    """
    latents, opacity, controls = arrays.latents, arrays.opacity, arrays.controls
    blend_latents, blend_weight = arrays.blend_latents, arrays.blend_weight
    width, height = size
    frames = np.zeros((len(latents), height, width, 3), np.uint8)
    visible = np.nonzero(opacity > 0)[0]
    controlled = checked_controls(generator, None if controls is None else controls[visible])
    if controlled is not None and blend_latents is not None:
        raise RenderError(f"{generator.spec}: frames with input controls cannot also cross-fade in pixels")
    if controlled is not None and controls is not None:
        steering = InputControls.from_array(controls[visible])
        frames[visible] = controlled.render_controlled(np.asarray(latents[visible]), size, steering)
    elif len(visible) == len(latents) and blend_latents is None:
        frames = generator.render(np.asarray(latents), size)  # every frame visible: taken as it is, not copied again
    elif len(visible):
        frames[visible] = generator.render(np.asarray(latents[visible]), size)
    if blend_latents is not None and blend_weight is not None:
        mixed = visible[blend_weight[visible] > 0]
        if len(mixed):
            weight = blend_weight[mixed].astype(np.float32)[:, None, None, None]
            other = generator.render(np.asarray(blend_latents[mixed]), size).astype(np.float32)
            frames[mixed] = (frames[mixed].astype(np.float32) * (1 - weight) + other * weight + 0.5).astype(np.uint8)
    return shaded_frames(frames, opacity)
