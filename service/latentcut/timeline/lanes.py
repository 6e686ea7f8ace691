"""Lanes: what the ``latent_controls`` filters of a timeline say at each frame, evaluated at the positions MLT gives a filter.

A lane is one parameter of the look keyframed in the editor. The filter ``latent_controls`` (the MLT
module ``latent``, Kdenlive's effect "Latent controls") carries them; its columns here are:

    truncation_psi                      truncation; neutral 1, several filters multiply
    translate_x, translate_y, rotate    StyleGAN3's input transform (widths, heights, degrees); neutral 0, add up
    const_noise                         StyleGAN2's constant noise; neutral 0, adds up
    noise_angle:SEED:SMOOTH             degrees of a smooth noise walk around the path (seed, frames); neutral 0
    direction:INDEX:PATH                amount along a direction (an .attr.npy, or entry INDEX of a
                                        directions file); neutral 0, adds up

A filter sits on a clip (MLT: the playlist entry), on a producer or chain (Kdenlive plants a bin clip's
effects on every timeline copy of it), on a track or on the whole timeline. MLT applies it to frame
position ``p`` of that service when ``in == out == 0`` or ``in <= p <= out`` (``out`` 0: no end), and
evaluates the animation at ``p - in``; negative keys count back from ``out - in + 1``, or, without an
``out``, from the length (``out - in + 1``) of the producer the frame comes from (``mlt_filter_get_length2``).
Where two pictures mix, their lanes mix with the same weights. Rows here are the positions the MLT
evaluator (``latentcut.timeline.mlt_eval``) asks for; a row's lanes are a mapping column -> values.

A filter may also make one of its lanes follow the project's audio (``audio_lane``: ``truncation_psi``,
``translate_x`` ... ``amount``): at timeline frame ``t`` that lane is ``audio_offset + audio_gain * f(t)``,
where ``f`` is the feature ``audio_feature`` (``loudness``: RMS level; ``onsets``: onset strength;
``band``: RMS level between ``audio_band_low`` and ``audio_band_high`` Hz), each scaled to 0..1 by its
loudest frame, and held after each peak, falling back over ``audio_smooth`` frames (a time constant; 0:
not smoothed). Like a second filter on the same place: it multiplies the filter's own truncation, adds
to its other lanes, and applies where the filter applies. An ``AudioFeatures`` (the editor's, from the
project's audio as melt mixes it) says what ``f`` is; the timeline does not listen itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import numpy as np

from latentcut.latent.controls import column_neutral
from latentcut.timeline.animation import keyframes_from_anim, values_at
from latentcut.timeline.clock import frame_range, frames_from_mlt_time

__all__ = [
    "AUDIO_FEATURES",
    "AUDIO_LANES",
    "LANE_FILTER",
    "ORIGIN_LENGTH",
    "AudioFeatures",
    "RowLanes",
    "audio_description",
    "blended_lanes",
    "counts_back",
    "filter_lanes",
    "is_lane_filter",
    "lanes_applied",
    "lanes_put",
    "lanes_taken",
    "timeline_lanes",
]

LANE_FILTER = "latent_controls"
PSI = "truncation_psi"
_ADDED = ("translate_x", "translate_y", "rotate", "const_noise")
ORIGIN_LENGTH = "#origin_length"  # not a lane: each row's producer length, which a filter without ``out`` counts back from

RowLanes = dict[str, np.ndarray]
AUDIO_LANES = (PSI, *_ADDED, "noise_angle", "amount")  # what ``audio_lane`` may name
AUDIO_FEATURES = ("loudness", "onsets", "band")


class AudioFeatures(Protocol):
    """What lanes that follow the music hear: a feature of the project's audio at each of its frames."""

    def feature_frames(self, feature: str, band_hz: tuple[float, float] | None, fps: Fraction, frames: int) -> np.ndarray:
        """``feature`` (one of ``AUDIO_FEATURES``; ``band_hz`` for ``band``) at frames ``0 .. frames - 1``, 0..1, float64."""
        ...


def _constant(props: Mapping[str, str], name: str, default: float) -> float:
    """A constant property as a finite number (ValueError for one MLT would misread too)."""
    text = (props.get(name) or "").strip()
    value = float(text) if text else default
    if not math.isfinite(value):
        raise ValueError(f"{name} {text[:40]!r} is not a finite number")
    return value


def _audio_lane(props: Mapping[str, str]) -> str | None:
    lane = (props.get("audio_lane") or "").strip()
    if lane in ("", "none"):
        return None
    if lane not in AUDIO_LANES:
        raise ValueError(f"audio_lane {lane!r} is not one of none, {', '.join(AUDIO_LANES)}")
    return lane


def _audio_settings(props: Mapping[str, str]) -> tuple[str, tuple[float, float] | None, float, float, float]:
    """The filter's ``audio_feature``, band, gain, offset and smoothing, read as MLT reads numbers (ValueError if not)."""
    feature = (props.get("audio_feature") or "loudness").strip()
    if feature not in AUDIO_FEATURES:
        raise ValueError(f"audio_feature {feature!r} is not one of {', '.join(AUDIO_FEATURES)}")
    band = (_constant(props, "audio_band_low", 20.0), _constant(props, "audio_band_high", 200.0)) if feature == "band" else None
    if band is not None and not 0 <= band[0] < band[1]:
        raise ValueError(f"audio band {band[0]:g}-{band[1]:g} Hz is not a band (low below high)")
    smooth = _constant(props, "audio_smooth", 0.0)
    if smooth < 0:
        raise ValueError(f"audio_smooth {smooth:g} is below 0 frames")
    return feature, band, _constant(props, "audio_gain", 1.0), _constant(props, "audio_offset", 0.0), smooth


def audio_description(props: Mapping[str, str]) -> str | None:
    """What a filter's audio lane follows, in words (for ``--explain``); None if it follows nothing."""
    lane = _audio_lane(props)
    if lane is None:
        return None
    feature, band, gain, offset, smooth = _audio_settings(props)
    heard = f"{band[0]:g}-{band[1]:g} Hz band" if band else "onset strength" if feature == "onsets" else "loudness"
    smoothed = f", falling back over {smooth:g} frames" if smooth else ""
    return f"{lane} follows the audio's {heard}: {offset:g} + {gain:g} x (0..1){smoothed}"


def _held(values: np.ndarray, frames: float) -> np.ndarray:
    """``values`` (0..1) held after each peak, falling back with time constant ``frames`` (0: as they are).

    ``y[t] = max over s <= t of values[s] * exp(-(t - s) / frames)``: a running maximum, in logarithms.
    """
    if frames <= 0 or not len(values):
        return values
    steps = np.arange(len(values)) / frames
    with np.errstate(divide="ignore"):
        logs = np.log(values)
    return np.exp(np.maximum.accumulate(logs + steps) - steps)


def is_lane_filter(props: Mapping[str, str]) -> bool:
    """A ``latent_controls`` filter that MLT applies (``disable`` not 1)."""
    return props.get("mlt_service") == LANE_FILTER and props.get("disable") != "1"


def _full(lanes: RowLanes, column: str, n: int) -> np.ndarray:
    values = lanes.get(column)
    return np.full(n, column_neutral(column)) if values is None else values


def lanes_taken(lanes: RowLanes, rows: np.ndarray) -> RowLanes:
    """The lanes of ``rows``."""
    return {column: values[rows] for column, values in lanes.items()}


def lanes_put(lanes: RowLanes, n: int, rows: np.ndarray, other: RowLanes) -> RowLanes:
    """``lanes`` (of ``n`` rows) with ``rows`` replaced by ``other``'s rows (neutral where ``other`` has no column)."""
    out = dict(lanes)
    for column in set(lanes) | set(other):
        values = _full(lanes, column, n).copy()
        values[rows] = other[column] if column in other else column_neutral(column)
        out[column] = values
    return out


def blended_lanes(a: RowLanes, b: RowLanes, w_b: np.ndarray) -> RowLanes:
    """Lanes of two pictures mixed, ``b`` with weight ``w_b``: each lane ``(1 - w_b) * a + w_b * b``.

    The mix is MLT's frame ``a`` (a transition returns its lower frame), so the producer length comes from ``a``.
    """
    n = len(w_b)
    out = {c: (1 - w_b) * _full(a, c, n) + w_b * _full(b, c, n) for c in set(a) | set(b) if c != ORIGIN_LENGTH}
    if ORIGIN_LENGTH in a:
        out[ORIGIN_LENGTH] = a[ORIGIN_LENGTH]
    return out


def lanes_applied(lanes: RowLanes, n: int, contribution: RowLanes) -> RowLanes:
    """``lanes`` with one filter's ``contribution`` on top: truncation multiplies, the other lanes add."""
    out = dict(lanes)
    for column, values in contribution.items():
        before = _full(lanes, column, n)
        out[column] = before * values if column == PSI else before + values
    return out


def _column_of(name: str, props: Mapping[str, str], folder: Path) -> str | None:
    if name in (PSI, *_ADDED):
        return name
    if name == "noise_angle":
        seed = int(_constant(props, "noise_seed", 0))
        smooth = _constant(props, "noise_smooth", 24)
        return f"noise_angle:{seed}:{smooth:g}"
    direction = (props.get("direction") or "").strip()
    if not direction:
        return None  # an amount with no direction moves nothing
    path = Path(direction) if Path(direction).is_absolute() else folder / direction
    return f"direction:{int(_constant(props, 'direction_index', 0))}:{path}"


def counts_back(props: Mapping[str, str], fps: Fraction) -> bool:
    """Whether a lane filter runs to its producer's end (no ``out``), so its keys need the producer's length."""
    try:
        return frames_from_mlt_time(props.get("out", "0"), fps) == 0
    except ValueError:
        return True  # ``filter_lanes`` says what is wrong with it


def filter_lanes(
    props: Mapping[str, str],
    positions: np.ndarray,
    *,
    fps: Fraction,
    folder: Path,
    origin_length: np.ndarray | int,
    mlt_version: tuple[int, int] | None,
    root_frames: np.ndarray | None = None,
    audio: AudioFeatures | None = None,
    timeline_frames: int = 0,
) -> RowLanes:
    """What one ``latent_controls`` filter contributes at each frame position of the service it sits on.

    Where MLT does not apply the filter the contribution is neutral. ``origin_length``: the length of
    the producer each frame comes from (per position, or one number). ``folder``: where a relative
    direction file is. An audio lane is read at ``root_frames`` (the timeline's frame of each position)
    from ``audio`` over the timeline's ``timeline_frames``. Raises ValueError for a value MLT would
    misread too, and LookupError for an audio lane without ``audio``.
    """
    positions = np.asarray(positions, np.int64)
    window = frame_range(props.get("in", "0"), props.get("out", "0"), fps)
    first, out = window.start, window.end_exclusive - 1  # out 0: the filter runs to its producer's end
    active = (
        np.ones(len(positions), bool) if first == 0 and out == 0 else (positions >= first) & ((positions <= out) | (out == 0))
    )
    local = positions - first
    lengths = (
        np.broadcast_to(np.asarray(origin_length, np.int64), positions.shape)
        if out == 0
        else np.full(len(positions), window.length)
    )
    contribution: RowLanes = {}
    heard = _audio_lane(props)
    for name in AUDIO_LANES:
        text = props.get(name)
        keyed = text is not None and bool(text.strip())
        if not keyed and name != heard:
            continue
        column = _column_of(name, props, folder)
        if column is None:
            continue
        values = np.full(len(positions), column_neutral(column))
        for length in np.unique(lengths[active]).tolist() if keyed else ():
            rows = active & (lengths == length)
            keys = keyframes_from_anim(str(text), fps, int(length), mlt_version=mlt_version)
            values[rows] = values_at(keys, local[rows])
        if name == heard:
            music = _audio_values(props, audio, fps, timeline_frames, root_frames if root_frames is not None else positions)
            values[active] = values[active] * music[active] if column == PSI else values[active] + music[active]
        contribution[column] = values
    return contribution


def _audio_values(
    props: Mapping[str, str], audio: AudioFeatures | None, fps: Fraction, timeline_frames: int, root_frames: np.ndarray
) -> np.ndarray:
    """``audio_offset + audio_gain * f(t)`` at each timeline frame ``t`` of ``root_frames`` (see the module docstring)."""
    feature, band, gain, offset, smooth = _audio_settings(props)
    if audio is None:
        raise LookupError(f"a latent_controls filter's {_audio_lane(props)} follows the project's audio")
    frames = max(timeline_frames, int(root_frames.max(initial=-1)) + 1)
    heard = _held(np.clip(np.asarray(audio.feature_frames(feature, band, fps, frames), np.float64), 0.0, 1.0), smooth)
    inside = (root_frames >= 0) & (root_frames < len(heard))
    return offset + gain * np.where(inside, heard[np.clip(root_frames, 0, max(len(heard) - 1, 0))], 0.0)


def timeline_lanes(lanes: RowLanes) -> dict[str, np.ndarray]:
    """The lanes of a whole timeline that say something: float64 per frame, by column name.

    A column neutral at every frame (Kdenlive writes every parameter of an effect, most left alone) is left out.
    """
    return {
        column: lanes[column].astype(np.float64)
        for column in sorted(lanes)
        if not column.startswith("#") and bool((lanes[column] != column_neutral(column)).any())
    }
