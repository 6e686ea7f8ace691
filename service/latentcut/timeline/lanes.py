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
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.timeline.animation import keyframes_from_anim, values_at
from latentcut.timeline.clock import frames_from_mlt_time

__all__ = [
    "LANE_FILTER",
    "ORIGIN_LENGTH",
    "RowLanes",
    "blended_lanes",
    "filter_lanes",
    "is_lane_filter",
    "lane_neutral",
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


def is_lane_filter(props: Mapping[str, str]) -> bool:
    """A ``latent_controls`` filter that MLT applies (``disable`` not 1)."""
    return props.get("mlt_service") == LANE_FILTER and props.get("disable") != "1"


def lane_neutral(column: str) -> float:
    """The value of a column where no filter says anything: 1 for truncation, 0 for the others."""
    return 1.0 if column == PSI else 0.0


def _full(lanes: RowLanes, column: str, n: int) -> np.ndarray:
    values = lanes.get(column)
    return np.full(n, lane_neutral(column)) if values is None else values


def lanes_taken(lanes: RowLanes, rows: np.ndarray) -> RowLanes:
    """The lanes of ``rows``."""
    return {column: values[rows] for column, values in lanes.items()}


def lanes_put(lanes: RowLanes, n: int, rows: np.ndarray, other: RowLanes) -> RowLanes:
    """``lanes`` (of ``n`` rows) with ``rows`` replaced by ``other``'s rows (neutral where ``other`` has no column)."""
    out = dict(lanes)
    for column in set(lanes) | set(other):
        values = _full(lanes, column, n).copy()
        values[rows] = other[column] if column in other else lane_neutral(column)
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
        seed = int(float(props.get("noise_seed") or 0))
        smooth = float(props.get("noise_smooth") or 24)
        return f"noise_angle:{seed}:{smooth:g}"
    direction = (props.get("direction") or "").strip()
    if not direction:
        return None  # an amount with no direction moves nothing
    path = Path(direction) if Path(direction).is_absolute() else folder / direction
    return f"direction:{int(float(props.get('direction_index') or 0))}:{path}"


def filter_lanes(
    props: Mapping[str, str],
    positions: np.ndarray,
    *,
    fps: Fraction,
    folder: Path,
    origin_length: np.ndarray | int,
    mlt_version: tuple[int, int] | None,
) -> RowLanes:
    """What one ``latent_controls`` filter contributes at each frame position of the service it sits on.

    Where MLT does not apply the filter the contribution is neutral. ``origin_length``: the length of
    the producer each frame comes from (per position, or one number). ``folder``: where a relative
    direction file is. Raises ValueError for a value MLT would misread too.
    """
    positions = np.asarray(positions, np.int64)
    first = frames_from_mlt_time(props.get("in", "0"), fps)
    out = frames_from_mlt_time(props.get("out", "0"), fps)
    active = (
        np.ones(len(positions), bool) if first == 0 and out == 0 else (positions >= first) & ((positions <= out) | (out == 0))
    )
    local = positions - first
    lengths = (
        np.broadcast_to(np.asarray(origin_length, np.int64), positions.shape)
        if out == 0
        else np.full(len(positions), out - first + 1)
    )
    contribution: RowLanes = {}
    for name in (PSI, *_ADDED, "noise_angle", "amount"):
        text = props.get(name)
        if text is None or not text.strip():
            continue
        column = _column_of(name, props, folder)
        if column is None:
            continue
        values = np.full(len(positions), lane_neutral(column))
        for length in np.unique(lengths[active]).tolist():
            rows = active & (lengths == length)
            keys = keyframes_from_anim(text, fps, int(length), mlt_version=mlt_version)
            values[rows] = values_at(keys, local[rows])
        contribution[column] = values
    return contribution


def timeline_lanes(lanes: RowLanes) -> dict[str, np.ndarray]:
    """The lanes of a whole timeline that say something: float64 per frame, by column name.

    A column neutral at every frame (Kdenlive writes every parameter of an effect, most left alone) is left out.
    """
    return {
        column: lanes[column].astype(np.float64)
        for column in sorted(lanes)
        if not column.startswith("#") and bool((lanes[column] != lane_neutral(column)).any())
    }
