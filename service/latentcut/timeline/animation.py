"""MLT's keyframe animations: ``"0=1;00:00:01.000~=0.5;-1|=0"`` parsed and evaluated at any positions as ``mlt_animation.c`` does.

A key is ``TIME[TYPE]=VALUE``: TIME a frame count or an MLT clock or timecode string, negative counting
back from the animation's length; TYPE the one character before ``=``, which says how the value
travels to the next key. Before the first key the first value holds, after the last the last.

Two generations of MLT read TYPE differently, and both are reproduced (``mlt_version``):

- up to 7.21 (Debian 12 and Kdenlive 22.12 ship 7.12): ``|`` or ``!`` discrete (hold), ``~`` smooth
  (a uniform Catmull-Rom spline through the neighbouring keys), anything else linear;
- from 7.22: also ``$`` smooth natural (centripetal, flat at peaks), ``-`` smooth tight (centripetal,
  flat at every key) and Robert Penner's easings ``a`` to ``D`` (sinusoidal, quadratic, cubic, quartic,
  quintic, exponential, circular, back, elastic and bounce, each in, out and in-out), ``~`` unchanged.

A key whose TIME is negative counts back from ``length``; with no length, from the largest key time
parsed before it (``mlt_animation_get_length``). Two keys at one time: the later one wins. An item
without ``=`` (Kdenlive's old ``0%/0%:100%x100%:0;-1=...``) is at frame 0 and keeps the TYPE of the
item before it, discrete for the first: MLT never resets it between items.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from latentcut.timeline.clock import frames_from_mlt_time

__all__ = ["EASING_SINCE", "AnimationKey", "Keyframe", "animation_keys", "keyframes_from_anim", "mlt_version_tuple", "values_at"]

EASING_SINCE = (7, 22)  # the MLT release that added the easing and centripetal keyframe types (commit a7597aa1)

# Type characters as MLT >= 7.22 reads them (keyframe_type_map in mlt_animation.c); 7.12 knows the first three.
_TYPES = {"|": "discrete", "!": "discrete", "~": "smooth", "$": "smooth_natural", "-": "smooth_tight"}
_EASINGS = (
    "sinusoidal",
    "quadratic",
    "cubic",
    "quartic",
    "quintic",
    "exponential",
    "circular",
    "back",
    "elastic",
    "bounce",
)
_EASING_CHARS = "abcdefghijklmnopqrstuvwxyzABCD"
for _index, _char in enumerate(_EASING_CHARS):
    _TYPES[_char] = f"{_EASINGS[_index // 3]}_{('in', 'out', 'in_out')[_index % 3]}"
_OLD_TYPES = {"|": "discrete", "!": "discrete", "~": "smooth"}
_NUMBER = re.compile(r"^\s*[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass(frozen=True)
class Keyframe:
    """One key of an MLT animation string: at ``frame`` the value is ``value``; ``mode`` says how to reach the next key."""

    frame: int
    value: float
    mode: str  # "linear", "discrete", "smooth", "smooth_natural", "smooth_tight" or an easing like "cubic_in_out"


@dataclass(frozen=True)
class AnimationKey:
    """One ``time=value`` item of an MLT animation string, as ``mlt_animation_parse`` splits it; ``time`` "" for none."""

    time: str
    value: str
    mode: str


def animation_keys(text: str, *, mlt_version: tuple[int, int] | None = None) -> tuple[AnimationKey, ...]:
    """Split an MLT animation string into its items: the first ``=`` splits time from value, the character
    before it sets the mode as ``mlt_version`` reads it (see the module docstring); an item without ``=``
    keeps the mode of the item before it."""
    types = _OLD_TYPES if mlt_version is not None and mlt_version < EASING_SINCE else _TYPES
    keys: list[AnimationKey] = []
    mode = "discrete"
    for item in text.split(";"):
        if not item.strip():
            continue
        time, equals, value = item.partition("=")
        if not equals:
            keys.append(AnimationKey("", item.strip(), mode))
            continue
        marker = time[-1:]
        # MLT reads the time with the marker still on it, as atoi or a clock parser does: it ignores it.
        is_marker = bool(marker) and not marker.isdigit() and marker not in ".: "
        mode = types.get(marker, "linear") if is_marker else "linear"
        keys.append(AnimationKey((time[:-1] if is_marker else time).strip(), value.strip(), mode))
    return tuple(keys)


def mlt_version_tuple(text: str) -> tuple[int, int] | None:
    """``"7.12.0"`` -> ``(7, 12)``; None when the text names no version."""
    match = re.match(r"^\s*(\d+)\.(\d+)", text or "")
    return (int(match[1]), int(match[2])) if match else None


def _value(text: str) -> float:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = text[1:-1]
    match = _NUMBER.match(text)
    if match is None:
        raise ValueError(f"keyframe value {text!r} is not a number")
    return float(match[0])


def keyframes_from_anim(
    text: str, fps: Fraction, length: int | None = None, *, mlt_version: tuple[int, int] | None = None
) -> tuple[Keyframe, ...]:
    """Parse ``"0=0;00:00:00.360=1"`` into keyframes sorted by time; a plain number is one constant key at frame 0.

    ``length``: what negative key times count back from. ``mlt_version``: the MLT whose type characters
    apply (None: the current ones).
    """
    keys: dict[int, Keyframe] = {}
    for key in animation_keys(text, mlt_version=mlt_version):
        frame = frames_from_mlt_time(key.time, fps) if key.time else 0
        if frame < 0:
            frame += length if length is not None and length > 0 else max(keys, default=0)
        keys[frame] = Keyframe(frame, _value(key.value), key.mode)
    return tuple(keys[frame] for frame in sorted(keys))


def _catmull_rom(x: tuple[float, ...], y: tuple[float, ...], t: np.ndarray, alpha: float, tension: float) -> np.ndarray:
    """MLT 7.22's Catmull-Rom segment from (x1, y1) to (x2, y2); alpha 0 and tension 1 is MLT 7.12's uniform spline."""
    x0, x1, x2, x3 = x
    y0, y1, y2, y3 = y
    # A duplicated end point (first and last segments) counts as far away: a flat approach.
    x0 = x0 - 10000 if x0 == x1 else x0
    x3 = x3 + 10000 if x3 == x2 else x3
    t12 = math.hypot(x2 - x1, y2 - y1) ** alpha
    m1 = m2 = 0.0
    if tension > 0 or y0 > y1 > y2 or y0 < y1 < y2:
        t01 = math.hypot(x1 - x0, y1 - y0) ** alpha
        m1 = abs(tension) * (y2 - y1 + t12 * ((y1 - y0) / t01 - (y2 - y0) / (t01 + t12)))
    if tension > 0 or y1 > y2 > y3 or y1 < y2 < y3:
        t23 = math.hypot(x3 - x2, y3 - y2) ** alpha
        m2 = abs(tension) * (y2 - y1 + t12 * ((y3 - y2) / t23 - (y3 - y1) / (t12 + t23)))
    a = 2.0 * (y1 - y2) + m1 + m2
    b = -3.0 * (y1 - y2) - m1 - m1 - m2
    return a * t**3 + b * t**2 + m1 * t + y1


def _bounce_out(t: np.ndarray) -> np.ndarray:
    return np.select(
        [t < 4 / 11.0, t < 8 / 11.0, t < 9 / 10.0],
        [
            (121 * t * t) / 16.0,
            (363 / 40.0 * t * t) - (99 / 10.0 * t) + 17 / 5.0,
            (4356 / 361.0 * t * t) - (35442 / 1805.0 * t) + 16061 / 1805.0,
        ],
        (54 / 5.0 * t * t) - (513 / 25.0 * t) + 268 / 25.0,
    )


def _power(order: int) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    return {
        "in": lambda t: t**order,
        "out": lambda t: 1 - (1 - t) ** order,
        "in_out": lambda t: np.where(t < 0.5, 2.0**order * t**order / 2, 1.0 - (-2 * t + 2) ** order / 2),
    }


def _back(t: np.ndarray) -> np.ndarray:
    return t**3 - t * np.sin(t * np.pi)


def _elastic_in(t: np.ndarray) -> np.ndarray:
    return np.sin(13 * np.pi / 2 * t) * 2.0 ** (10 * (t - 1))


def _elastic_out(t: np.ndarray) -> np.ndarray:
    return np.sin(-13 * np.pi / 2 * (t + 1)) * 2.0 ** (-10 * t) + 1


# The easing factor of each type at progress t in [0, 1): Penner's functions exactly as mlt_animation.c writes them.
_FACTORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "sinusoidal_in": lambda t: np.sin((t - 1) * np.pi / 2) + 1,
    "sinusoidal_out": lambda t: np.sin(t * np.pi / 2),
    "sinusoidal_in_out": lambda t: 0.5 * (1 - np.cos(t * np.pi)),
    **{f"{name}_{ease}": fn for order, name in enumerate(_EASINGS[1:5], 2) for ease, fn in _power(order).items()},
    "exponential_in": lambda t: np.where(t == 0, 0.0, 2.0 ** (10 * t - 10)),
    "exponential_out": lambda t: np.where(t == 0, 0.0, 1.0 - 2.0 ** (-10 * t)),
    "exponential_in_out": lambda t: np.where(
        t == 0, 0.0, np.where(t < 0.5, 2.0 ** (20 * t - 10) / 2, (2 - 2.0 ** (-20 * t + 10)) / 2)
    ),
    "circular_in": lambda t: 1.0 - np.sqrt(1.0 - t**2),
    "circular_out": lambda t: np.sqrt(1.0 - (t - 1.0) ** 2),
    "circular_in_out": lambda t: np.where(
        t < 0.5,
        0.5 * (1 - np.sqrt(np.maximum(0.0, 1 - 4 * t * t))),
        0.5 * (np.sqrt(np.maximum(0.0, -(2 * t - 3) * (2 * t - 1))) + 1),
    ),
    "back_in": _back,
    "back_out": lambda t: 1 - _back(1 - t),
    "back_in_out": lambda t: np.where(t < 0.5, 0.5 * _back(2 * t), 0.5 * (1 - _back(1 - (2 * t - 1))) + 0.5),
    "elastic_in": _elastic_in,
    "elastic_out": _elastic_out,
    "elastic_in_out": lambda t: np.where(
        t < 0.5,
        0.5 * np.sin(13 * np.pi / 2 * (2 * t)) * 2.0 ** (10 * ((2 * t) - 1)),
        0.5 * (np.sin(-13 * np.pi / 2 * ((2 * t - 1) + 1)) * 2.0 ** (-10 * (2 * t - 1)) + 2),
    ),
    "bounce_in": lambda t: 1.0 - _bounce_out(1.0 - t),
    "bounce_out": _bounce_out,
    "bounce_in_out": lambda t: np.where(t < 0.5, 0.5 * (1.0 - _bounce_out(1.0 - 2 * t)), 0.5 * _bounce_out(2.0 * t - 1.0) + 0.5),
}
_SPLINES = {"smooth": (0.0, 1.0), "smooth_natural": (0.5, -1.0), "smooth_tight": (0.5, 0.0)}  # (alpha, tension)


def values_at(keys: tuple[Keyframe, ...], positions: np.ndarray) -> np.ndarray:
    """Return the animation's value at each position (float64), held constant before the first and after the last key.

    Each segment travels as its first key's ``mode`` says (see the module docstring).
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
    inside = (positions > frames[0]) & (positions < frames[-1])
    for index, key in enumerate(keys[:-1]):
        mask = inside & (segment == index) & (positions != frames[index])  # MLT returns a key's own value at its time
        if key.mode == "linear" or not mask.any():
            continue
        before, after = max(index - 1, 0), min(index + 2, len(keys) - 1)
        t = (positions[mask] - frames[index]) / (frames[index + 1] - frames[index])
        y1, y2 = values[index], values[index + 1]
        if key.mode == "discrete":
            out[mask] = y1
        elif key.mode in _SPLINES:
            xs = (frames[before], frames[index], frames[index + 1], frames[after])
            ys = (values[before], y1, y2, values[after])
            out[mask] = _catmull_rom(xs, ys, t, *_SPLINES[key.mode])
        else:
            out[mask] = y1 + (y2 - y1) * _FACTORS[key.mode](t)
    return out
