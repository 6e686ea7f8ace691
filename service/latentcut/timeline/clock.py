"""MLT's time arithmetic: clock strings, SMPTE timecode and frame counts, inclusive ``out`` points, keyframe animations.

Everything here reproduces MLT's own C code (``mlt_property.c`` time parsing, ``mlt_animation.c``
interpolation) with IEEE doubles, so that rounding matches what ``melt`` does frame for frame.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = [
    "AnimationKey",
    "Keyframe",
    "animation_keys",
    "frame_range",
    "frames_from_mlt_time",
    "keyframes_from_anim",
    "values_at",
]


@functools.lru_cache(maxsize=1 << 16)
def frames_from_mlt_time(value: str | int, fps: Fraction) -> int:
    """Return the frame count MLT reads from ``value``: ``"00:00:01.480"``, ``"00:00:01:12"`` or ``"37"``.

    Clock: floor(F·h·3600) + floor(F·m·60) + rint(F·s); SMPTE: the same with ceil(F·s) + frames;
    plain numbers are frames. ``rint`` rounds half to even, as C's ``lrint`` does.
    """
    if isinstance(value, int):
        return value
    text = value.strip()
    rate = fps.numerator / fps.denominator
    if ":" in text:
        parts = text.replace(",", ".").replace(";", ":").split(":")
        try:
            if "." in text or "," in text:
                numbers = [float(p) for p in parts]
                hours, minutes, seconds = ([0.0] * (3 - len(numbers)) + numbers)[-3:]
                return int(math.floor(rate * hours * 3600) + math.floor(rate * minutes * 60) + round(rate * seconds))
            numbers = [int(p) for p in parts]
            hours, minutes, seconds, frames = ([0] * (4 - len(numbers)) + numbers)[-4:]
            return int(math.floor(rate * hours * 3600) + math.floor(rate * minutes * 60) + math.ceil(rate * seconds) + frames)
        except ValueError as exc:
            raise ValueError(f"time {value!r} is neither a frame count nor an MLT clock or timecode") from exc
    match = re.match(r"^\s*(-?\d+)", text)
    if match is None:
        raise ValueError(f"time {value!r} is neither a frame count nor an MLT clock or timecode")
    return int(match.group(1))  # MLT reads numbers with atoi: "12.7" is frame 12


@dataclass(frozen=True)
class FrameRange:
    """Frames ``start`` up to but excluding ``end_exclusive``."""

    start: int
    end_exclusive: int

    @property
    def length(self) -> int:
        return max(0, self.end_exclusive - self.start)


def frame_range(in_value: str | int, out_inclusive: str | int, fps: Fraction) -> FrameRange:
    """Return the frames an MLT ``in``/``out`` pair covers; MLT's ``out`` is inclusive, this is the one place that says so."""
    start = frames_from_mlt_time(in_value, fps)
    return FrameRange(start, frames_from_mlt_time(out_inclusive, fps) + 1)


@dataclass(frozen=True)
class Keyframe:
    """One key of an MLT animation string: at ``frame`` the value is ``value``; ``mode`` says how to reach the next key."""

    frame: int
    value: float
    mode: str  # "linear" (=), "discrete" (|=), "smooth" (~=)


_MODES = {"|": "discrete", "!": "discrete", "~": "smooth"}


@dataclass(frozen=True)
class AnimationKey:
    """One ``time=value`` item of an MLT animation string, as ``mlt_animation_parse`` splits it; ``time`` "" for none."""

    time: str
    value: str
    mode: str


def animation_keys(text: str) -> tuple[AnimationKey, ...]:
    """Split an MLT animation string into its items (mlt_animation.c): ``=`` splits time from value at its first
    occurrence, the character before it sets the mode (``|`` or ``!`` discrete, ``~`` smooth, else linear). An item
    without ``=`` (Kdenlive's old ``0%/0%:100%x100%:100;-1=...``) is at frame 0 and keeps the mode of the item before
    it, discrete for the first: MLT never resets the mode between items."""
    keys: list[AnimationKey] = []
    mode = "discrete"
    for item in text.split(";"):
        if not item.strip():
            continue
        time, equals, value = item.partition("=")
        if not equals:
            keys.append(AnimationKey("", item.strip(), mode))
            continue
        mode = _MODES.get(time[-1:], "linear")
        keys.append(AnimationKey((time[:-1] if time[-1:] in _MODES else time).strip(), value.strip(), mode))
    return tuple(keys)


def keyframes_from_anim(text: str, fps: Fraction, length: int | None = None) -> tuple[Keyframe, ...]:
    """Parse ``"0=0;00:00:00.360=1"`` into keyframes; a plain number is one constant key at frame 0.

    Negative key times count back from ``length`` (MLT's convention for keys relative to the end).
    Only numeric values are read: the first number of a value like ``"0 0 100% 100% 0.5"`` is not taken.
    """
    keys: list[Keyframe] = []
    for key in animation_keys(text):
        frame = frames_from_mlt_time(key.time, fps) if key.time else 0
        if frame < 0 and length is not None:
            frame += length
        keys.append(Keyframe(frame, float(key.value), key.mode))
    return tuple(sorted(keys, key=lambda k: k.frame))


def values_at(keys: tuple[Keyframe, ...], positions: np.ndarray) -> np.ndarray:
    """Return the animation's value at each position (float64), held constant before the first and after the last key.

    Linear keys interpolate linearly, discrete keys hold, smooth keys follow MLT's Catmull-Rom spline.
    """
    positions = np.asarray(positions, np.float64)
    if not keys:
        raise ValueError("an animation needs at least one key")
    frames = np.array([k.frame for k in keys], np.float64)
    values = np.array([k.value for k in keys], np.float64)
    out = np.interp(positions, frames, values)
    if len(keys) == 1:
        return out
    segment = np.clip(np.searchsorted(frames, positions, side="right") - 1, 0, len(keys) - 2)
    inside = (positions >= frames[0]) & (positions < frames[-1])
    for index, key in enumerate(keys[:-1]):
        mask = inside & (segment == index)
        if key.mode == "discrete":
            out[mask] = key.value
        elif key.mode == "smooth":
            p0 = values[max(index - 1, 0)]
            p1, p2 = values[index], values[index + 1]
            p3 = values[min(index + 2, len(keys) - 1)]
            t = (positions[mask] - frames[index]) / (frames[index + 1] - frames[index])
            out[mask] = 0.5 * (
                2 * p1 + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t * t + (-p0 + 3 * p1 - 3 * p2 + p3) * t * t * t
            )
    return out
