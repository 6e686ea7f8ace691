"""Colour and motion statistics of camera frames, computed with OpenCV: how bright, how colourful, how it moves."""

from __future__ import annotations

import cv2
import numpy as np

__all__ = ["IMAGE_STATS_DIM", "ImageStats"]

_FLOW_BINS = 8
IMAGE_STATS_DIM = 6 + 3 + _FLOW_BINS  # hue (cos, sin), saturation, value, and their spreads; flow x, y, magnitude; directions


class ImageStats:
    """Per-frame statistics; the optical flow (Farneback) compares each frame with the one before it."""

    def __init__(self, analysis_size: int = 64) -> None:
        self.analysis_size = analysis_size
        self._previous: np.ndarray | None = None

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """A float32 vector of ``IMAGE_STATS_DIM`` statistics of ``frame`` (``(h, w, 3)`` uint8 RGB)."""
        small = cv2.resize(frame, (self.analysis_size, self.analysis_size), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV).astype(np.float32)
        angle = hsv[..., 0] * (np.pi / 90.0)  # OpenCV's 8-bit hue runs 0-179 for 0-358 degrees
        saturation, value = hsv[..., 1] / 255.0, hsv[..., 2] / 255.0
        colour = [
            float(np.mean(np.cos(angle) * saturation)),
            float(np.mean(np.sin(angle) * saturation)),
            float(saturation.mean()),
            float(value.mean()),
            float(saturation.std()),
            float(value.std()),
        ]
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        if self._previous is None:
            flow = np.zeros((*grey.shape, 2), np.float32)
        else:
            flow = cv2.calcOpticalFlowFarneback(self._previous, grey, None, 0.5, 2, 9, 2, 5, 1.1, 0)  # type: ignore[call-overload]
        self._previous = grey
        magnitude, direction = cv2.cartToPolar(flow[..., 0], flow[..., 1])
        scale = 1.0 / self.analysis_size  # flow in frame widths per frame, whatever the analysis size
        histogram, _ = np.histogram(direction, bins=_FLOW_BINS, range=(0, 2 * np.pi), weights=magnitude)
        motion = [float(flow[..., 0].mean() * scale), float(flow[..., 1].mean() * scale), float(magnitude.mean() * scale)]
        return np.array(colour + motion + list(histogram * scale / magnitude.size), np.float32)
