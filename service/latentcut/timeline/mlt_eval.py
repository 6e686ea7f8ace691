"""The MLT evaluator: which source frame MLT shows at every timeline frame, and with what weight, vectorised with numpy.

Evaluating a service at an array of positions returns the terms (see ``latentcut.timeline.model``)
of every position at once, so a one-hour timeline costs a few numpy calls per clip.

MLT rules reproduced here (measured against melt 7.12; see the project's reference notes):

- a tractor shows its highest track whose frame is neither blank, hidden nor a test card; a luma or
  dissolve transition with both frames present blends b into a with weight (t - in) / (out - in + 1)
  for b (1 - that with ``reverse``, or with ``invert`` when it has no luma file) and hides b; a
  composition whose only effect over the full frame is opacity (``composite``/``qtblend``/``affine``
  geometry keys: Kdenlive's Wipe without a luma file) blends with that opacity, keyframes evaluated as
  MLT does (``-1`` the last frame, a key without ``=`` held), and a ``composite`` with ``invert`` gives
  b the complement; a spatial one (a slide, a wipe with a luma file, moving geometry) names both
  pictures, blended by its progress, as pixel-only;
- a playlist plays its entries one after another; ``out`` is inclusive; ``in`` > ``out`` swaps them;
- a producer at position p shows source frame floor(p * S / F + 0.5); ``timewarp`` maps through its
  speed (reversed from its ``out``, the media's last frame when the project gives none); a chain with
  a ``timeremap`` link uses floor(time * S); a producer without ``length``/``out`` is as long as MLT
  reads its media (lrint(duration * F));
- ``brightness`` fades (Kdenlive's fade to/from black) scale the picture toward black;
- ``latent_controls`` filters on clips, producers, tracks and the timeline give each frame its lanes
  (``latentcut.timeline.lanes``), which mix where pictures mix; a lane that follows the audio hears it
  through the ``AudioFeatures`` the caller gives.

One exception to following MLT: a clip of the preview render (``latentcut.timeline.kdenlive.is_preview``)
counts as a blank of its length, so the preview never feeds back into the conform it shows.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.errors import InputError, ProjectError, one_line
from latentcut.media import DEFAULT_PRODUCER_FRAMES, media_facts, mlt_media_length
from latentcut.timeline.animation import Keyframe, animation_keys, keyframes_from_anim, mlt_version_tuple, values_at
from latentcut.timeline.clock import FrameRange, frame_range, frames_from_mlt_time
from latentcut.timeline.kdenlive import bin_clips, is_black_track, is_preview, media_of, source_ref
from latentcut.timeline.lanes import (
    ORIGIN_LENGTH,
    AudioFeatures,
    RowLanes,
    audio_description,
    blended_lanes,
    counts_back,
    filter_lanes,
    is_lane_filter,
    lanes_applied,
    lanes_put,
    lanes_taken,
    timeline_lanes,
)
from latentcut.timeline.mlt_xml import Blank, Entry, Filter, MltDocument, Playlist, Service, Tractor, Transition
from latentcut.timeline.model import (
    BLACK,
    MAX_SPEED,
    MAX_TIMELINE_FRAMES,
    NONE,
    OPAQUE,
    Composite,
    FrameMap,
    Note,
    NoteKind,
    Placement,
    Resolver,
    SourceInfo,
    SourceTable,
)

__all__ = ["SLOW_MOTION", "frame_map", "rendered_service_id", "timeline_frames"]

SLOW_MOTION = ("repeat", "interpolate")  # repeat source frames as MLT does, or place latents between them

_DISSOLVES = {"luma", "dissolve", "movit.luma_mix"}
_GEOMETRIC = {"composite", "qtblend", "affine", "frei0r.cairoaffineblend"}
_COVERS = {"frei0r.cairoblend", "movit.overlay"}
_SILENT = {"mix", "audiomix"}  # audio only
_NO_LATENT = {"color", "colour", "qimage", "pixbuf", "qtext", "pango", "kdenlivetitle", "noise", "frei0r.test_pat_B"}
_MEDIA = {"avformat", "avformat-novalidate", "latent", "timewarp", ""}
_FADES = {"brightness"}


@dataclass
class _Terms:
    src: np.ndarray  # (n, K) int32
    frame: np.ndarray  # (n, K) int64
    weight: np.ndarray  # (n, K) float64
    frac: np.ndarray  # (n, K) float64: how far past ``frame`` toward the next source frame (slow motion placed between)
    lanes: RowLanes = field(default_factory=dict)  # per row, not per term: the lanes (latentcut.timeline.lanes) of the picture

    @classmethod
    def empty(cls, n: int) -> _Terms:
        return cls(np.full((n, 1), NONE, np.int32), np.zeros((n, 1), np.int64), np.zeros((n, 1)), np.zeros((n, 1)))

    @classmethod
    def single(cls, src: int | np.ndarray, frames: np.ndarray, frac: np.ndarray | None = None) -> _Terms:
        n = len(frames)
        return cls(
            np.broadcast_to(np.asarray(src, np.int32), (n,)).reshape(n, 1).copy(),
            frames.reshape(n, 1).astype(np.int64),
            np.ones((n, 1), np.float64),
            np.zeros((n, 1)) if frac is None else frac.reshape(n, 1).astype(np.float64),
        )

    @property
    def present(self) -> np.ndarray:
        return self.src[:, 0] != NONE

    def widened(self, k: int) -> _Terms:
        extra = k - self.src.shape[1]
        if extra <= 0:
            return self
        n = len(self.src)
        return _Terms(
            np.hstack([self.src, np.full((n, extra), NONE, np.int32)]),
            np.hstack([self.frame, np.zeros((n, extra), np.int64)]),
            np.hstack([self.weight, np.zeros((n, extra))]),
            np.hstack([self.frac, np.zeros((n, extra))]),
            self.lanes,
        )

    def put(self, rows: np.ndarray, other: _Terms) -> None:
        k = max(self.src.shape[1], other.src.shape[1])
        wide, other = self.widened(k), other.widened(k)
        wide.src[rows], wide.frame[rows], wide.weight[rows], wide.frac[rows] = other.src, other.frame, other.weight, other.frac
        self.src, self.frame, self.weight, self.frac = wide.src, wide.frame, wide.weight, wide.frac
        if self.lanes or other.lanes:
            self.lanes = lanes_put(self.lanes, len(self.src), rows, other.lanes)

    def take(self, rows: np.ndarray) -> _Terms:
        return _Terms(self.src[rows], self.frame[rows], self.weight[rows], self.frac[rows], lanes_taken(self.lanes, rows))

    def compacted(self) -> _Terms:
        # A latent term keeps its place at weight 0 (a frame faded fully to black still has its latent);
        # black and other pictures at weight 0 are dropped.
        dead = (self.src == NONE) | ((self.src < 0) & (self.weight <= 0))
        order = np.argsort(dead, axis=1, kind="stable")
        src = np.take_along_axis(np.where(dead, NONE, self.src), order, axis=1)
        keep = max(1, int((src != NONE).sum(axis=1).max(initial=0)))
        frame = np.take_along_axis(self.frame, order, axis=1)[:, :keep]
        weight = np.take_along_axis(np.where(dead, 0.0, self.weight), order, axis=1)[:, :keep]
        frac = np.take_along_axis(self.frac, order, axis=1)[:, :keep]
        return _Terms(src[:, :keep], frame, weight, frac, self.lanes)


def _stacked(a: _Terms, b: _Terms, w_a: np.ndarray, w_b: np.ndarray, lanes: RowLanes) -> _Terms:
    return _Terms(
        np.hstack([a.src, b.src]),
        np.hstack([a.frame, b.frame]),
        np.hstack([a.weight * w_a[:, None], b.weight * w_b[:, None]]),
        np.hstack([a.frac, b.frac]),
        lanes,
    ).compacted()


def _blended(a: _Terms, b: _Terms, w_b: np.ndarray) -> _Terms:
    """Terms of (1 - w_b) * a + w_b * b, row by row; their lanes mix with the same weights."""
    return _stacked(a, b, 1 - w_b, w_b, blended_lanes(a.lanes, b.lanes, w_b) if a.lanes or b.lanes else {})


def _faded(terms: _Terms, opacity: np.ndarray) -> _Terms:
    """Terms of opacity * picture + (1 - opacity) * black."""
    n = len(terms.src)
    black = _Terms.single(BLACK, np.zeros(n, np.int64))
    black.src[terms.src[:, 0] == NONE] = NONE  # a fade on nothing stays nothing
    return _stacked(terms, black, opacity, 1 - opacity, terms.lanes)


def _frozen(filters: tuple[Filter, ...], positions: np.ndarray, cut_in: int, fps: Fraction) -> np.ndarray:
    """Positions after Kdenlive's ``freeze`` filter (filter_freeze.c): ``frame`` counts from the cut's in point;
    ``freeze_before`` freezes the positions before it, ``freeze_after`` those after, neither the whole cut."""
    for flt in filters:
        if flt.service != "freeze" or flt.props.get("disable") == "1":
            continue
        held = frames_from_mlt_time(flt.props.get("frame", "0"), fps) + cut_in
        before, after = flt.props.get("freeze_before", "0") not in ("", "0"), flt.props.get("freeze_after", "0") not in ("", "0")
        mask = (
            np.ones(len(positions), bool)
            if not (before or after)
            else (before & (positions < held)) | (after & (positions > held))
        )
        positions = np.where(mask, held, positions)
    return positions


def _timewarp_fps(profile_fps: Fraction, speed: float) -> float:
    """The frame rate of timewarp's private profile (producer_timewarp.c): num and den scaled by 1000, num / |speed| truncated."""
    num, den = profile_fps.numerator, profile_fps.denominator
    if num < 1000:
        num, den = num * 1000, den * 1000
    return int(num / abs(speed)) / den


def _avformat_exact(positions: np.ndarray, fps: float, source_fps: float) -> np.ndarray:
    """producer_avformat.c computes ``(int64_t)(position / fps * source_fps + 0.5)``: this is the value before the cut."""
    return np.asarray(positions, np.float64) / fps * source_fps


_RECT_SPLIT = re.compile(r"[\s,:/x]+")


@dataclass(frozen=True)
class _Rect:
    x: float
    y: float
    w: float
    h: float
    opacity: float


def _rect_value(text: str, size: tuple[int, int]) -> _Rect:
    """One ``rect``/``geometry`` value as mlt_property_get_rect reads it: ``x y w h [opacity]``, ``%`` of the frame."""
    tokens = [t for t in _RECT_SPLIT.split(text.strip()) if t]
    scale = (size[0], size[1], size[0], size[1], 1)
    values = [0.0, 0.0, float(size[0]), float(size[1]), 1.0]
    for index, token in enumerate(tokens[:5]):
        number = token.rstrip("%")
        try:
            value = float(number)
        except ValueError as exc:
            raise ValueError(f"geometry value {text!r}") from exc
        values[index] = value * scale[index] / 100.0 if token.endswith("%") else value
    return _Rect(*values)


def _rect_keys(text: str, fps: Fraction, length: int | None, size: tuple[int, int]) -> list[tuple[int, _Rect, str]]:
    """The keys of a rect animation: (frame, rect, mode), negative times counted back from ``length`` as MLT does."""
    keys = []
    for key in animation_keys(text):
        frame = frames_from_mlt_time(key.time, fps) if key.time else 0
        if frame < 0 and length is not None:
            frame += length
        keys.append((frame, _rect_value(key.value, size), key.mode))
    return sorted(keys, key=lambda key: key[0])


def _flag(props: Mapping[str, str], name: str) -> bool:
    """A switch as MLT's mlt_properties_get_int reads it: the leading integer of the value, set when not 0."""
    match = re.match(r"\s*([-+]?\d+)", props.get(name, ""))
    return bool(match and int(match.group(1)))


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))


def rendered_service_id(document: MltDocument, sequence: str | None = None) -> str:
    """Return the id of the service melt renders (the last top-level one), or of the sequence named ``sequence``.

    ``sequence`` may be a tractor id, a Kdenlive sequence uuid or its name (``kdenlive:clipname``).
    """
    if sequence is None:
        return document.top_level[-1]
    for service_id, service in document.services.items():
        if isinstance(service, Tractor) and sequence in (
            service_id,
            service.props.get("kdenlive:uuid"),
            service.props.get("kdenlive:clipname"),
        ):
            return service_id
    names = sorted(
        s.props.get("kdenlive:clipname", i)
        for i, s in document.services.items()
        if isinstance(s, Tractor) and "kdenlive:uuid" in s.props
    )
    raise ProjectError(f"{document.path}: no sequence {sequence!r}; sequences here: {', '.join(names) or 'none'}")


def _capped(length: int, what: str, path: Path) -> int:
    if length > MAX_TIMELINE_FRAMES:
        raise ProjectError(
            f"{path}: {what} is {length} frames; latentcut reads timelines up to {MAX_TIMELINE_FRAMES} frames, fix the project"
        )
    return length


class _Evaluator:
    def __init__(
        self, document: MltDocument, resolve: Resolver, slow_motion: str, audio: AudioFeatures | None = None, lanes: bool = True
    ) -> None:
        self.doc = document
        self.fps = document.fps
        self.table = SourceTable(resolve)
        self.slow_motion = slow_motion
        self._bin = bin_clips(document)
        self.placements: list[Placement] = []
        self.notes: list[tuple[str, str, np.ndarray, bool]] = []
        self.composites: list[tuple[Composite, np.ndarray, np.ndarray]] = []  # (composite, root frames, progress)
        self._lengths: dict[str, int] = {}
        self._tables: dict[str, tuple[np.ndarray, np.ndarray, list]] = {}
        self._source_of: dict[str, int | None] = {}  # producer id -> source index
        self._depth = 0
        self.mlt_version = mlt_version_tuple(document.mlt_version)
        self.audio = audio
        self.timeline_frames = 0  # the rendered timeline's length, once known: an audio lane hears that much
        lane_filters = [
            flt.props
            for service in document.services.values()
            for flt in (
                *service.filters,
                *(f for item in getattr(service, "items", ()) if isinstance(item, Entry) for f in item.filters),
            )
            if lanes and is_lane_filter(flt.props)
        ]
        self.has_lanes = bool(lane_filters)
        # Producer lengths are looked up (media probed) only where a lane filter counts back from one.
        self.counts_back = any(counts_back(props, self.fps) for props in lane_filters)

    def service(self, service_id: str) -> Service | Playlist | Tractor:
        try:
            return self.doc.services[service_id]
        except KeyError as exc:
            raise ProjectError(f"{self.doc.path}: refers to {service_id!r}, which the file does not define") from exc

    def note(self, kind: str, message: str, root_frames: np.ndarray, *, pixel: bool = True) -> None:
        """Record something about these frames; ``pixel``: MLT's picture there holds what latents cannot express."""
        self.notes.append((kind, message, root_frames, pixel))

    # ----- lengths (in the service's own frames)

    def length(self, service_id: str) -> int:
        if service_id not in self._lengths:
            self._lengths[service_id] = -1  # a reference cycle then reads as length -1 and is reported below
            self._lengths[service_id] = self._length(self.service(service_id))
        if self._lengths[service_id] < 0:
            raise ProjectError(f"{self.doc.path}: {service_id!r} contains itself")
        return self._lengths[service_id]

    def _length(self, service: Service | Playlist | Tractor) -> int:
        if isinstance(service, Tractor):
            return max((self.length(t.producer) for t in service.tracks), default=0)
        if isinstance(service, Playlist):
            starts, lengths, _ = self._table(service)
            return int(starts[-1] + lengths[-1]) if len(lengths) else 0
        return self._producer_range(service).length

    def _table(self, playlist: Playlist) -> tuple[np.ndarray, np.ndarray, list]:
        """Start frame, length and frame range of every item of ``playlist``, computed once."""
        if playlist.id not in self._tables:
            ranges = [None if isinstance(item, Blank) else self._entry_range(item) for item in playlist.items]
            lengths = np.array(
                [
                    _capped(frames_from_mlt_time(item.length, self.fps), f"a blank of playlist {playlist.id!r}", self.doc.path)
                    if isinstance(item, Blank)
                    else span.length
                    if span is not None
                    else 0
                    for item, span in zip(playlist.items, ranges, strict=True)
                ],
                np.int64,
            )
            lengths = np.maximum(lengths, 0)
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else lengths
            # A preview clip keeps its place, but shows nothing: no range, as a blank has none.
            ranges = [
                None if span is not None and self._is_preview(item) else span
                for item, span in zip(playlist.items, ranges, strict=True)
            ]
            self._tables[playlist.id] = (starts, lengths, ranges)
        return self._tables[playlist.id]

    def _is_preview(self, item: Entry | Blank) -> bool:
        service = self.doc.services.get(item.producer) if isinstance(item, Entry) else None
        return isinstance(service, Service) and is_preview(service, self._bin)

    def content_length(self, service_id: str) -> int:
        """Length without trailing black: the black track and trailing blanks do not count."""
        service = self.service(service_id)
        if isinstance(service, Tractor):
            return max(
                (self.content_length(t.producer) for t in service.tracks if not is_black_track(self.doc, t.producer)),
                default=0,
            )
        if isinstance(service, Playlist):
            starts, lengths, ranges = self._table(service)
            clips = [index for index, span in enumerate(ranges) if span is not None]
            return int(starts[clips[-1]] + lengths[clips[-1]]) if clips else 0
        return self.length(service_id)

    def _media_length(self, service: Service, fps: float) -> int:
        """The length MLT gives a producer the project does not measure: its media's, or MLT's default for generators."""
        resource = media_of(service)[0]
        if service.service not in _MEDIA or not resource:
            return DEFAULT_PRODUCER_FRAMES
        path = source_ref(service, self._bin, self.doc.folder).resource
        try:
            return mlt_media_length(media_facts(path), fps)
        except InputError as exc:
            raise ProjectError(
                f"{self.doc.path}: producer {service.id!r} gives no length and its media cannot be read: {exc}"
            ) from exc

    def _producer_range(self, service: Service) -> FrameRange:
        props = service.props
        if "out" in props:
            span = frame_range(props.get("in", "0"), props["out"], self.fps)
        elif "length" in props:
            span = frame_range(props.get("in", "0"), frames_from_mlt_time(props["length"], self.fps) - 1, self.fps)
        else:
            # MLT's producer measures its media (producer_avformat.c): lrint(duration * fps), timewarp in its own profile.
            fps = self._warp_fps(service) if service.service == "timewarp" else float(self.fps)
            span = FrameRange(frames_from_mlt_time(props.get("in", "0"), self.fps), self._media_length(service, fps))
        _capped(span.length, f"producer {service.id!r}", self.doc.path)
        return span

    def _timewarp_out(self, service: Service) -> int:
        """The ``out`` a reversed timewarp counts back from: the project's, else its media's last frame (producer_timewarp.c)."""
        if "out" in service.props:
            return frames_from_mlt_time(service.props["out"], self.fps)
        return self._media_length(service, self._warp_fps(service)) - 1

    def _warp_fps(self, service: Service) -> float:
        """The rate of a timewarp's private profile, once its speed is one MLT plays."""
        speed = media_of(service)[1]
        if not (math.isfinite(speed) and abs(speed) <= MAX_SPEED):
            raise ProjectError(
                f"{self.doc.path}: producer {service.id!r} plays at speed {speed:g}; "
                f"latentcut reads speeds up to {MAX_SPEED:g}x either way: change the clip's speed in the editor"
            )
        return _timewarp_fps(self.fps, speed)

    def _entry_range(self, entry: Entry) -> FrameRange:
        target = self.service(entry.producer)
        if isinstance(target, Service):
            whole = self._producer_range(target)
            props = target.props
            limit = frames_from_mlt_time(props["length"], self.fps) if "length" in props else whole.end_exclusive
        else:
            limit = self.length(entry.producer)
            whole = FrameRange(0, limit)
        first = frames_from_mlt_time(entry.in_, self.fps) if entry.in_ is not None else whole.start
        last = frames_from_mlt_time(entry.out, self.fps) if entry.out is not None else whole.end_exclusive - 1
        # mlt_producer_set_in_and_out: in and out are clamped to the producer's length, then swapped if out < in.
        first = min(max(first, 0), limit - 1)
        last = limit - 1 if last < 0 or last >= limit else last
        first, last = min(first, last), max(first, last)
        return frame_range(first, last, self.fps) if limit > 0 else FrameRange(0, 0)

    # ----- evaluation at arrays of positions

    def evaluate(self, service_id: str, positions: np.ndarray, root_frames: np.ndarray, track: str) -> _Terms:
        self._depth += 1
        if self._depth > 64:
            raise ProjectError(f"{self.doc.path}: services nest more than 64 deep at {service_id!r}; is there a cycle?")
        try:
            service = self.service(service_id)
            if isinstance(service, Service):
                terms = self._producer(service, positions, root_frames, track)
                if self.counts_back:
                    terms.lanes = {**terms.lanes, ORIGIN_LENGTH: np.full(len(positions), self._origin_length(service))}
                return terms
            if isinstance(service, Tractor):
                terms = self._tractor(service, positions, root_frames, track)
            else:
                terms = self._playlist(service, positions, root_frames, track)
            for flt in service.filters if self.has_lanes else ():
                if is_lane_filter(flt.props):
                    terms.lanes = self._lanes(flt, terms.lanes, positions, terms.lanes.get(ORIGIN_LENGTH, 0), root_frames)
            return terms
        finally:
            self._depth -= 1

    def _tractor(self, tractor: Tractor, positions: np.ndarray, root_frames: np.ndarray, track_name: str) -> _Terms:
        values: list[_Terms] = []
        video_index = 0
        for track in tractor.tracks:
            target = self.service(track.producer)
            is_audio = isinstance(target, Tractor) and target.props.get("kdenlive:audio_track") == "1"
            if track.hide in ("video", "both") or is_audio:
                values.append(_Terms.empty(len(positions)))
                continue
            if not is_black_track(self.doc, track.producer):
                video_index += 1
            # Lanes of a Kdenlive track, and the one track of a project tractor, carry the name given above them.
            name = track_name or target.props.get("kdenlive:track_name") or f"V{video_index}"
            values.append(self.evaluate(track.producer, positions, root_frames, "" if len(tractor.tracks) == 1 else name))
        sorted_positions = bool(len(positions) < 2 or (np.diff(positions) >= 0).all())
        for transition in tractor.transitions:
            self._apply_transition(transition, values, positions, root_frames, sorted_positions)
        result = _Terms.empty(len(positions))
        assigned = np.zeros(len(positions), bool)
        for value in reversed(values):
            rows = np.nonzero(value.present & ~assigned)[0]
            if len(rows):
                result.put(rows, value.take(rows))
                assigned[rows] = True
        return result

    def _apply_transition(
        self, transition: Transition, values: list[_Terms], positions: np.ndarray, root_frames: np.ndarray, sorted_positions: bool
    ) -> None:
        props = transition.props
        service = transition.service
        if service in _SILENT or props.get("disable") == "1" or props.get("internal_added"):
            return
        try:
            a_track, b_track = sorted((int(props.get("a_track", "0")), int(props.get("b_track", "1"))))
        except ValueError as exc:
            raise ProjectError(
                f"{self.doc.path}: transition with a_track {one_line(repr(props.get('a_track')), 40)} "
                f"b_track {one_line(repr(props.get('b_track')), 40)}: not track numbers; fix the project"
            ) from exc
        if not (0 <= a_track < len(values) and 0 <= b_track < len(values)) or a_track == b_track:
            return
        span = frame_range(props["in"], props["out"], self.fps) if "in" in props and "out" in props else None
        if span is None:
            candidates = np.arange(len(positions))
        elif sorted_positions:
            # Positions are sorted (the usual case): find the transition's frames by binary search.
            lo, hi = np.searchsorted(positions, [span.start, span.end_exclusive])
            candidates = np.arange(lo, hi)
        else:
            candidates = np.nonzero((positions >= span.start) & (positions < span.end_exclusive))[0]
        a, b = values[a_track], values[b_track]
        rows = candidates[(a.src[candidates, 0] != NONE) & (b.src[candidates, 0] != NONE)]
        if not len(rows):
            return
        name = props.get("kdenlive_id") or service or "?"
        # mlt_transition_get_progress: (t - in) / (out - in + 1), 0.5 for a one-frame transition
        local = positions[rows] - (span.start if span else 0)
        progress = np.full(len(rows), 0.5) if span is None or span.length <= 1 else local / span.length
        luma = props.get("resource") or props.get("luma") or ""
        # transition_luma.c: a dissolve shows b at 1 - progress when reversed or inverted (both together flip once);
        # with a luma map, invert swaps the pictures and flips the map, so only reverse changes b's share.
        if _flag(props, "reverse") or (service in _DISSOLVES and not luma and _flag(props, "invert")):
            progress = 1.0 - progress
        # transition_composite.c: invert composites a over b instead, so b's share is the complement.
        swapped = service == "composite" and _flag(props, "invert")
        if service in _DISSOLVES and not luma:
            self.note(
                NoteKind.DISSOLVE,
                f"{name} between tracks {a_track} and {b_track}: latents interpolated",
                root_frames[rows],
                pixel=False,
            )
            weight = progress
        elif service in _DISSOLVES or (service in _GEOMETRIC and luma):
            weight = self._spatial(transition, f"wipe ({Path(luma).name})", progress, root_frames[rows], (a_track, b_track), luma)
        elif service in _GEOMETRIC:
            geometry = props.get("rect") or props.get("geometry") or props.get("transition.rect") or ""
            shape = self._geometry(geometry, span.length if span else None, transition)
            if shape is None:  # the full frame with an opacity: a dissolve
                opacity = self._opacity(geometry, local, span.length if span else None, transition)
                if (opacity >= 1.0).all() and not swapped:
                    return  # b covers a, as the tractor already shows it
                self.note(
                    NoteKind.DISSOLVE,
                    f"{name} opacity between tracks {a_track} and {b_track}: latents interpolated",
                    root_frames[rows],
                    pixel=False,
                )
                weight = 1.0 - opacity if swapped else opacity
            elif shape == "moving":
                weight = self._spatial(transition, "moving geometry", progress, root_frames[rows], (a_track, b_track), "")
            else:
                self.note(
                    NoteKind.COVER, f"{name} composition with a fixed geometry: latents follow the upper track", root_frames[rows]
                )
                return
        else:
            kind = NoteKind.COVER if service in _COVERS else NoteKind.PIXEL
            self.note(kind, f"transition {name} has no latent equivalent: latents follow the upper track", root_frames[rows])
            return
        a.put(rows, _blended(a.take(rows), b.take(rows), weight))
        b.put(rows, _Terms.empty(len(rows)))

    def _spatial(
        self, transition: Transition, what: str, progress: np.ndarray, root_frames: np.ndarray, tracks: tuple[int, int], luma: str
    ) -> np.ndarray:
        props = transition.props
        name = props.get("kdenlive_id") or transition.service
        self.note(
            NoteKind.SPATIAL,
            f"{name} {what} between tracks {tracks[0]} and {tracks[1]}: both pictures, latents blended by its progress; "
            "`latentcut online` renders it exactly",
            root_frames,
        )
        geometry = props.get("rect") or props.get("geometry") or props.get("transition.rect") or ""
        composite = Composite(transition.service, props.get("kdenlive_id", ""), geometry, luma, 0, 0, tracks)
        self.composites.append((composite, root_frames, progress))
        return progress

    def _geometry(self, text: str, length: int | None, transition: Transition) -> str | None:
        """None if every key is the full frame (only opacity changes), "moving" if the rectangle changes, else "fixed"."""
        keys = self._keys(text, length, transition)
        size = self.doc.size
        rects = {(round(r.x, 3), round(r.y, 3), round(r.w, 3), round(r.h, 3)) for _, r, _ in keys}
        if all(abs(x) < 0.5 and abs(y) < 0.5 and abs(w - size[0]) < 0.5 and abs(h - size[1]) < 0.5 for x, y, w, h in rects):
            return None
        return "moving" if len(rects) > 1 else "fixed"

    def _keys(self, text: str, length: int | None, transition: Transition) -> list[tuple[int, _Rect, str]]:
        try:
            return _rect_keys(text, self.fps, length, self.doc.size) if text.strip() else []
        except ValueError as exc:
            raise ProjectError(
                f"{self.doc.path}: {transition.service} transition: cannot read {exc}; re-save the project"
            ) from exc

    def _opacity(self, text: str, local: np.ndarray, length: int | None, transition: Transition) -> np.ndarray:
        """The opacity animation of a rect at each position (mlt_animation: linear and discrete keys), clamped to 0..1."""
        keys = self._keys(text, length, transition)
        if not keys:
            return np.ones(len(local))
        frames = tuple(Keyframe(frame, rect.opacity, mode) for frame, rect, mode in keys)
        return np.clip(values_at(frames, local), 0.0, 1.0)

    def _playlist(self, playlist: Playlist, positions: np.ndarray, root_frames: np.ndarray, track: str) -> _Terms:
        result = _Terms.empty(len(positions))
        starts, lengths, ranges = self._table(playlist)
        if not len(lengths):
            return result
        item_of = np.searchsorted(starts, positions, side="right") - 1
        valid = (positions >= 0) & (positions < starts[-1] + lengths[-1])
        order = np.argsort(np.where(valid, item_of, -1), kind="stable")
        sorted_items = np.where(valid, item_of, -1)[order]
        unique, first = np.unique(sorted_items, return_index=True)
        last = np.append(first[1:], len(order))
        for item_index, begin, end in zip(unique.tolist(), first.tolist(), last.tolist(), strict=True):
            item = playlist.items[item_index] if item_index >= 0 else None
            span = ranges[item_index] if item_index >= 0 else None
            if item is None or isinstance(item, Blank) or span is None:
                continue
            rows = order[begin:end]
            local = span.start + (positions[rows] - starts[item_index])
            shown = _frozen(item.filters, local, span.start, self.fps)
            terms = self.evaluate(item.producer, shown, root_frames[rows], track)
            terms = self._with_filters(item.filters, terms, local, root_frames[rows], span)
            result.put(rows, terms)
        return result

    def _producer(self, service: Service, positions: np.ndarray, root_frames: np.ndarray, track: str) -> _Terms:
        props = service.props
        n = len(positions)
        if props.get("set.test_image") == "1":
            return _Terms.empty(n)
        kind = service.service
        if kind in _NO_LATENT or (not kind and not props.get("resource")):
            if kind == "kdenlivetitle":
                self.note(NoteKind.TITLE, "title: shown by MLT over the latents, not part of them", root_frames)
                return _Terms.empty(n)
            if is_black_track(self.doc, service.id):
                return _Terms.single(BLACK, np.zeros(n, np.int64))
            self.note(NoteKind.NO_LATENT, f"{kind or 'producer'} clip {service.id!r} has no latent source", root_frames)
            return self._with_filters(
                service.filters, _Terms.single(OPAQUE, np.zeros(n, np.int64)), positions, root_frames, None, service
            )
        resource, speed = media_of(service)
        index = self._source(service)
        if index is None:
            self.note(NoteKind.NO_LATENT, f"clip {Path(resource).name} has no sidecar: no latent source", root_frames)
            return self._with_filters(
                service.filters, _Terms.single(OPAQUE, np.zeros(n, np.int64)), positions, root_frames, None, service
            )
        info = self.table.infos[index]
        source_fps = info.fps.numerator / info.fps.denominator
        slow = False
        if kind == "timewarp":
            inner = positions if speed > 0 else self._timewarp_out(service) - positions
            exact = _avformat_exact(inner, self._warp_fps(service), source_fps)
            src = np.trunc(exact + 0.5)
            slow = abs(speed) < 1
        elif service.tag == "chain" and any(link.service == "timeremap" for link in service.links):
            exact = self._remapped(service, positions, info)
            src = np.floor(exact)
            slow = True
        else:
            exact = _avformat_exact(positions, self.fps.numerator / self.fps.denominator, source_fps)
            src = np.trunc(exact + 0.5)
        frac = None
        if slow and self.slow_motion == "interpolate":
            src = np.floor(exact)
            frac = np.where((src >= 0) & (src < info.frames - 1), exact - src, 0.0)
            self.note(
                NoteKind.SPEED, "slow motion: latents placed between source frames (MLT repeats frames)", root_frames, pixel=False
            )
        src = np.clip(src, 0, info.frames - 1).astype(np.int64)
        terms = self._with_filters(service.filters, _Terms.single(index, src, frac), positions, root_frames, None, service)
        self._placed(service, track, root_frames, src, speed)
        return terms

    def _remapped(self, service: Service, positions: np.ndarray, info: SourceInfo) -> np.ndarray:
        """The exact source position of a ``timeremap`` chain (link_timeremap.c); MLT shows its floor."""
        link = next(link for link in service.links if link.service == "timeremap")
        mapping = link.props.get("time_map") or link.props.get("map")
        chain_in = frames_from_mlt_time(service.props.get("in", "0"), self.fps)
        fps = float(self.fps)
        if not mapping:
            return positions / fps * float(info.fps)
        keys = keyframes_from_anim(mapping, self.fps)
        seconds = values_at(keys, positions - chain_in) + chain_in / fps
        return seconds * float(info.fps)

    def _with_filters(
        self,
        filters: tuple[Filter, ...],
        terms: _Terms,
        positions: np.ndarray,
        root_frames: np.ndarray,
        span: FrameRange | None,
        producer: Service | None = None,
    ) -> _Terms:
        """``terms`` through a clip's (``span``) or a ``producer``'s filters, at the producer's frame ``positions``."""
        for flt in filters:
            if flt.props.get("disable") == "1":
                continue
            if flt.service in _FADES:
                terms = self._fade(flt, terms, positions, root_frames, span)
            elif is_lane_filter(flt.props):
                counting = producer is not None and counts_back(flt.props, self.fps)
                origin = self._origin_length(producer) if counting and producer else terms.lanes.get(ORIGIN_LENGTH, 0)
                terms.lanes = self._lanes(flt, terms.lanes, positions, origin, root_frames)
        return terms

    def _origin_length(self, service: Service) -> int:
        """The length of the producer MLT marks frames of ``service`` as coming from: a filter without ``out`` counts back from it.

        That is the innermost producer (``mlt_frame_get_original_producer``): a plain producer's own
        in..out, but the media (or generator) a chain, a timewarp or a ``latent`` clip opens inside.
        """
        if service.tag == "chain" or service.service == "latent":
            return self._media_length(service, float(self.fps))
        if service.service == "timewarp":
            return self._media_length(service, self._warp_fps(service))
        return self._producer_range(service).length

    def _lanes(
        self, flt: Filter, lanes: RowLanes, positions: np.ndarray, origin: np.ndarray | int, root_frames: np.ndarray
    ) -> RowLanes:
        try:
            contribution = filter_lanes(
                flt.props,
                positions,
                fps=self.fps,
                folder=self.doc.folder,
                origin_length=origin,
                mlt_version=self.mlt_version,
                root_frames=root_frames,
                audio=self.audio,
                timeline_frames=self.timeline_frames,
            )
        except LookupError as exc:
            raise ProjectError(
                f"{self.doc.path}: {exc}, which this command does not hear; conform it with `latentcut conform` or `watch`, "
                "which render the project's audio through melt"
            ) from exc
        heard = audio_description(flt.props)
        if heard is not None:
            self.note(NoteKind.LANE, heard, root_frames, pixel=False)
        return lanes_applied(lanes, len(positions), contribution)

    def _fade(
        self, flt: Filter, terms: _Terms, positions: np.ndarray, root_frames: np.ndarray, span: FrameRange | None
    ) -> _Terms:
        props = flt.props
        # MLT filters start at producer frame ``in`` (default 0, not the entry's in point); ``out`` 0 means no end.
        first = frames_from_mlt_time(props.get("in", "0"), self.fps)
        out = frames_from_mlt_time(props["out"], self.fps) if "out" in props else 0
        last = out if out > 0 else math.inf
        inside = (positions >= first) & (positions <= last)
        if not inside.any():
            return terms
        length = frame_range(first, out, self.fps).length if out > 0 else (span.end_exclusive - first if span else None)
        text = props.get("alpha") or "1" if props.get("alpha") not in (None, "", "1") else props.get("level") or "1"
        level = values_at(keyframes_from_anim(text, self.fps, length), positions - first)
        opacity = np.where(inside, np.clip(level, 0.0, 1.0), 1.0)
        if (inside & (level > 1.0)).any():
            self.note(
                NoteKind.PIXEL,
                "brightness above 1 is a pixel effect; latents keep opacity 1 there",
                root_frames[inside & (level > 1.0)],
            )
        return _faded(terms, opacity)

    def _source(self, service: Service) -> int | None:
        if service.id not in self._source_of:
            self._source_of[service.id] = self.table.index_of(source_ref(service, self._bin, self.doc.folder))
        return self._source_of[service.id]

    def _placed(self, service: Service, track: str, root_frames: np.ndarray, src: np.ndarray, speed: float) -> None:
        if not len(root_frames):
            return
        self.placements.append(
            Placement(
                track,
                service.id,
                os.path.basename(media_of(service)[0]),
                int(root_frames.min()),
                int(root_frames.max()) + 1,
                int(src[0]),
                int(src[-1]),
                speed,
            )
        )


def _mask(frames: np.ndarray, length: int) -> np.ndarray:
    mask = np.zeros(length, bool)
    mask[frames[(frames >= 0) & (frames < length)]] = True
    return mask


def timeline_frames(document: MltDocument, *, sequence: str | None = None) -> int:
    """How many frames the conform reads from the timeline melt renders (or ``sequence``): up to its last clip, previews left out."""
    evaluator = _Evaluator(document, lambda ref: None, "repeat")
    try:
        return evaluator.content_length(rendered_service_id(document, sequence))
    except ValueError as exc:
        raise ProjectError(f"{document.path}: {exc}; fix the value in the project or re-save it from the editor") from exc


def frame_map(
    document: MltDocument,
    resolve: Resolver,
    *,
    sequence: str | None = None,
    full_length: bool = False,
    slow_motion: str = "repeat",
    audio: AudioFeatures | None = None,
    lanes: bool = True,
) -> FrameMap:
    """Evaluate the timeline melt renders (or ``sequence``) at every frame.

    ``resolve`` is asked once per distinct media file; it returns the source's frame rate and frame
    count, or None for media with no latent source. The map stops at the last clip unless
    ``full_length`` (then it runs as long as melt renders, through Kdenlive's trailing black).
    ``slow_motion``: "repeat" source frames as MLT does, or "interpolate" (a fraction toward the next).
    ``audio``: what lanes that follow the music hear (without it such a lane is a ``ProjectError``);
    ``lanes`` False: no lanes at all (for callers that need only the latents).
    """
    if slow_motion not in SLOW_MOTION:
        raise ProjectError(f"slow motion {slow_motion!r} is not one of {', '.join(SLOW_MOTION)}")
    evaluator = _Evaluator(document, resolve, slow_motion, audio, lanes)
    root = rendered_service_id(document, sequence)
    try:
        full = evaluator.length(root)
        length = full if full_length else min(full, evaluator.content_length(root))
        _capped(length, "the timeline", document.path)
        evaluator.timeline_frames = length
        frames = np.arange(length, dtype=np.int64)
        terms = evaluator.evaluate(root, frames, frames, "")
    except ValueError as exc:  # a time or keyframe value MLT would read as nonsense too
        raise ProjectError(f"{document.path}: {exc}; fix the value in the project or re-save it from the editor") from exc
    notes: set[Note] = set()
    pixel_only = np.zeros(length, bool)
    grouped: dict[tuple[str, str, bool], list[np.ndarray]] = {}
    for kind, message, root_frames, pixel in evaluator.notes:
        grouped.setdefault((kind, message, pixel), []).append(root_frames)
    for (kind, message, pixel), parts in grouped.items():
        mask = _mask(np.concatenate(parts), length)
        if pixel:
            pixel_only |= mask
        notes.update(Note(kind, message, start, end, pixel) for start, end in _runs(mask))
    composite = np.full(length, -1, np.int32)
    progress = np.zeros(length, np.float32)
    composites: list[Composite] = []
    for record, root_frames, value in evaluator.composites:
        inside = (root_frames >= 0) & (root_frames < length)
        if not inside.any():
            continue
        where = root_frames[inside]
        composite[where], progress[where] = len(composites), value[inside]
        composites.append(
            Composite(
                record.service,
                record.kdenlive_id,
                record.geometry,
                record.luma,
                int(where.min()),
                int(where.max()) + 1,
                record.tracks,
            )
        )
    return FrameMap(
        fps=document.fps,
        size=document.size,
        source=terms.src,
        frame=terms.frame,
        weight=terms.weight.astype(np.float32),
        sources=tuple(evaluator.table.refs),
        infos=tuple(evaluator.table.infos),
        full_length=full,
        placements=tuple(evaluator.placements),
        notes=tuple(sorted(notes, key=lambda n: (n.first, n.message))),
        pixel_only=pixel_only,
        source_of={pid: index for pid, index in evaluator._source_of.items() if index is not None},
        composites=tuple(composites),
        composite=composite,
        progress=progress,
        frame_fraction=terms.frac.astype(np.float32) if slow_motion == "interpolate" else None,
        lanes=timeline_lanes(terms.lanes),
    )
