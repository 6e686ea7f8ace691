"""Where the performer is: one tracked point per frame, from a face (OpenCV's Haar cascade), the brightest or the most moving region.

OpenCV is imported when a tracker is made, so the command line can list the trackers without it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from latentcut.errors import UsageError

__all__ = ["TRACKERS", "Tracker", "tracker"]

# A tracker takes an RGB frame and returns the point (x, y), each in [-1, 1] from the frame's centre
# (x to the right, y downwards), or None when it sees nothing; the caller holds the last point.
Tracker = Callable[[np.ndarray], "tuple[float, float] | None"]

TRACKERS = ("brightest", "motion", "face")
_ANALYSIS = 96
_CONTRAST = 8  # grey levels: below this a frame has no bright region to follow


def _centred(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    return (2.0 * (x + 0.5) / width - 1.0, 2.0 * (y + 0.5) / height - 1.0)


def _brightest() -> Tracker:
    import cv2

    def track(frame: np.ndarray) -> tuple[float, float] | None:
        grey = cv2.cvtColor(cv2.resize(frame, (_ANALYSIS, _ANALYSIS), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        low, high = float(grey.min()), float(grey.max())
        if high - low < _CONTRAST:
            return None
        # The centroid of the brightest quarter of the range, not the single brightest pixel: a bright shape is followed steadily.
        weights = np.where(grey >= low + 0.75 * (high - low), grey.astype(np.float64) - low, 0.0)
        ys, xs = np.indices(grey.shape)
        total = weights.sum()
        return _centred(float((xs * weights).sum() / total), float((ys * weights).sum() / total), _ANALYSIS, _ANALYSIS)

    return track


def _motion() -> Tracker:
    import cv2

    previous: list[np.ndarray] = []

    def track(frame: np.ndarray) -> tuple[float, float] | None:
        grey = cv2.cvtColor(cv2.resize(frame, (_ANALYSIS, _ANALYSIS), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        last = previous[0] if previous else grey
        previous[:] = [grey]
        moved = cv2.absdiff(grey, last).astype(np.float64)
        moved[moved < 12] = 0  # sensor noise is not movement
        total = moved.sum()
        if total == 0:
            return None
        ys, xs = np.indices(grey.shape)
        return _centred(float((xs * moved).sum() / total), float((ys * moved).sum() / total), _ANALYSIS, _ANALYSIS)

    return track


def _face() -> Tracker:
    import cv2

    cascades = cv2.data.haarcascades  # type: ignore[attr-defined]  # OpenCV ships no stubs for cv2.data
    cascade = cv2.CascadeClassifier(cascades + "haarcascade_frontalface_default.xml")
    if cascade.empty():
        raise UsageError("OpenCV's face cascade is missing from this OpenCV; use --tracker brightest or motion")

    def track(frame: np.ndarray) -> tuple[float, float] | None:
        grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        faces = cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=4)
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda box: box[2] * box[3])
        return _centred(x + w / 2 - 0.5, y + h / 2 - 0.5, grey.shape[1], grey.shape[0])

    return track


def tracker(name: str) -> Tracker:
    """A fresh tracker of kind ``name`` (one of ``TRACKERS``)."""
    makers = {"brightest": _brightest, "motion": _motion, "face": _face}
    if name not in makers:
        raise UsageError(f"tracker {name!r} is not one of {', '.join(TRACKERS)}")
    return makers[name]()
