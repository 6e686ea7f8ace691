"""From a tracked point per frame to StyleGAN input controls: its offset translates and its angle rotates StyleGAN3's input, its distance corrupts StyleGAN2's constant.

The tracker's point ``(x, y)`` (each in [-1, 1] from the frame's centre, x to the right, y downwards;
the last point is held while the tracker sees nothing, the centre before it first sees anything) is
smoothed by the same exponential moving average as the features (time constant ``smooth_s``). Then:

- translate = ``TRANSLATE_PER_OFFSET * (x, y)`` image widths: the picture's centre follows the point
  (at the frame's edge the picture has moved by half its width, the same way);
- rotate_deg = the point's angle, counterclockwise on screen from the right (a point straight above the
  centre turns the picture a quarter turn counterclockwise), held while the point is within
  ``ANGLE_DEAD_ZONE`` of the centre, where its angle is noise;
- const_noise = ``CONST_NOISE_PER_DISTANCE * sqrt(x^2 + y^2)``: at the frame's edge the learned
  constant gets noise as strong as its own spread (see ``latentcut.models.stylegan.input_controls``).

A StyleGAN3 model takes translate and rotate, a StyleGAN2 model const_noise; the others stay zero.
"""

from __future__ import annotations

import math

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.controls import InputControls
from latentcut.models.generator import Generator
from latentcut.models.stylegan.input_controls import ControlledGenerator

__all__ = [
    "ANGLE_DEAD_ZONE",
    "CONST_NOISE_PER_DISTANCE",
    "TRANSLATE_PER_OFFSET",
    "PointControls",
    "controlled_model",
    "scales_record",
]

TRANSLATE_PER_OFFSET = 0.5
CONST_NOISE_PER_DISTANCE = 1.0
ANGLE_DEAD_ZONE = 0.05


def controlled_model(model: Generator) -> ControlledGenerator:
    """``model`` if its input can be controlled per frame; else ``UsageError`` naming the fix."""
    if not isinstance(model, ControlledGenerator) or not model.input_controls:
        raise UsageError(
            f"--tracker: {model.spec} has no input to steer (StyleGAN2's constant, StyleGAN3's transform); "
            "use a StyleGAN snapshot (--model G.pkl) or leave out --tracker"
        )
    return model


class PointControls:
    """The state of one performance's controls: the smoothed point and the last angle."""

    def __init__(self, kinds: tuple[str, ...], alpha: float) -> None:
        self.kinds = kinds  # which controls the model has (``ControlledGenerator.input_controls``)
        self.alpha = alpha  # the moving average's weight of a new point (``steering.ema_alpha``)
        self.point = np.zeros(2)
        self.smoothed: np.ndarray | None = None
        self.angle_deg = 0.0

    def controls(self, point: tuple[float, float] | None) -> InputControls:
        """The controls of the next frame, whose tracked point is ``point`` (None: the tracker saw nothing)."""
        if point is not None:
            self.point = np.clip(np.asarray(point, np.float64), -1.0, 1.0)
        if self.smoothed is None:
            self.smoothed = self.point.copy()
        else:
            self.smoothed += self.alpha * (self.point - self.smoothed)
        x, y = self.smoothed.tolist()
        distance = math.hypot(x, y)
        if distance >= ANGLE_DEAD_ZONE:
            self.angle_deg = math.degrees(math.atan2(-y, x))
        translate = TRANSLATE_PER_OFFSET * self.smoothed if "translate" in self.kinds else np.zeros(2)
        rotate = self.angle_deg if "rotate" in self.kinds else 0.0
        noise = CONST_NOISE_PER_DISTANCE * distance if "const_noise" in self.kinds else 0.0
        return InputControls.performance(
            np.asarray([translate], np.float32), np.asarray([rotate], np.float32), np.asarray([noise], np.float32)
        )


def scales_record() -> dict[str, float]:
    """How points became controls, for the sidecar's ``made.controls``."""
    return {
        "translate_per_offset": TRANSLATE_PER_OFFSET,
        "const_noise_per_distance": CONST_NOISE_PER_DISTANCE,
        "angle_dead_zone": ANGLE_DEAD_ZONE,
    }
