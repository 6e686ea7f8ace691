"""Which source frame MLT shows at every timeline frame, and with what weight: the MLT rules, vectorised with numpy.

A frame's picture is a weighted sum of *terms*; a term is a (source, source frame) pair, or BLACK
(the black track, a fade, a colour clip). Evaluating a service at an array of positions returns
those terms for every position at once, so a one-hour timeline costs a few numpy calls per clip.

MLT rules reproduced here (measured against melt 7.12; see the project's reference notes):

- a tractor shows its highest track whose frame is neither blank, hidden nor a test card; a luma or
  dissolve transition with both frames present blends b into a with weight (t - in) / (out - in + 1)
  for b (1 - that with ``reverse``) and hides b; other compositions simply cover;
- a playlist plays its entries one after another; ``out`` is inclusive;
- a producer at position p shows source frame floor(p * S / F + 0.5); ``timewarp`` maps through its
  speed (reversed from its ``out``); a chain with a ``timeremap`` link uses floor(time * S);
- ``brightness`` fades (Kdenlive's fade to/from black) scale the picture toward black.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.errors import ProjectError
from latentcut.timeline.clock import frame_range, frames_from_mlt_time, keyframes_from_anim, values_at
from latentcut.timeline.mlt_xml import Blank, Filter, MltDocument, Playlist, Service, Tractor

__all__ = [
    "BLACK",
    "NONE",
    "OPAQUE",
    "FrameMap",
    "Placement",
    "SourceInfo",
    "SourceRef",
    "SourceTable",
    "bin_clips",
    "frame_map",
    "media_of",
    "rendered_service_id",
    "source_key",
    "source_ref",
]

NONE = -1  # nothing here: blank, hidden or disabled; whatever is below shows through
BLACK = -2  # black: the black track, what a fade fades to
OPAQUE = -3  # another picture with no latent: a colour clip, an image, footage without a sidecar

_DISSOLVES = {"luma", "dissolve", "movit.luma_mix"}
_COVERS = {"composite", "qtblend", "affine", "frei0r.cairoblend", "movit.overlay", "frei0r.cairoaffineblend"}
_SILENT = {"mix", "audiomix"}  # audio only
_NO_LATENT = {"color", "colour", "qimage", "pixbuf", "qtext", "pango", "kdenlivetitle", "noise", "frei0r.test_pat_B"}
_FADES = {"brightness"}


@dataclass(frozen=True)
class SourceRef:
    """What the timeline says about one clip's media; the conform finds its sidecar from this."""

    resource: Path  # absolute path of the media file MLT plays
    producer_id: str
    props: Mapping[str, str]  # the timeline producer's properties over its bin clip's
    name: str  # for messages: the clip name or file name


def source_key(ref: SourceRef) -> tuple[str, str, str]:
    """What makes two clip uses the same source: the media, and any sidecar or original the project names for it."""
    return str(ref.resource), ref.props.get("latent:sidecar", ""), ref.props.get("kdenlive:originalurl", "")


@dataclass(frozen=True)
class SourceInfo:
    """What the conform found for a source: its frame rate and frame count (those of its sidecar)."""

    fps: Fraction
    frames: int


Resolver = Callable[[SourceRef], SourceInfo | None]


class SourceTable:
    """The distinct sources a timeline plays, each asked of the resolver once; indices are term codes."""

    def __init__(self, resolve: Resolver) -> None:
        self.resolve = resolve
        self.refs: list[SourceRef] = []
        self.infos: list[SourceInfo] = []
        self._index: dict[tuple[str, str, str], int | None] = {}

    def index_of(self, ref: SourceRef) -> int | None:
        """Return the source's index, or None for media with no latent source."""
        key = source_key(ref)
        if key not in self._index:
            info = self.resolve(ref)
            self._index[key] = None if info is None else len(self.refs)
            if info is not None:
                self.refs.append(ref)
                self.infos.append(info)
        return self._index[key]


@dataclass(frozen=True)
class Placement:
    """One clip use on the timeline, for ``--explain``: where it plays and what part of its source."""

    track: str
    producer_id: str
    source: str
    timeline_start: int
    timeline_end_exclusive: int
    source_first: int
    source_last: int
    speed: float


@dataclass(frozen=True)
class FrameMap:
    """Per timeline frame, the weighted terms of its picture.

    ``source[i, k]`` is an index into ``sources`` or BLACK or NONE, ``frame[i, k]`` the source frame and
    ``weight[i, k]`` the weight of term ``k`` at frame ``i``. Weights of a frame sum to 1 (NONE counts 0:
    a frame with nothing at all is black, as MLT shows it).
    """

    fps: Fraction
    size: tuple[int, int]
    source: np.ndarray
    frame: np.ndarray
    weight: np.ndarray
    sources: tuple[SourceRef, ...]
    infos: tuple[SourceInfo, ...]
    full_length: int  # what melt renders, trailing black included
    placements: tuple[Placement, ...] = ()
    notes: tuple[tuple[str, int, int], ...] = ()  # (message, first frame, end exclusive): blends and limits
    pixel_only: np.ndarray | None = None  # (frames,) bool: MLT's picture holds something latents cannot express

    @property
    def length(self) -> int:
        return len(self.source)


@dataclass
class _Terms:
    src: np.ndarray  # (n, K) int32
    frame: np.ndarray  # (n, K) int64
    weight: np.ndarray  # (n, K) float64

    @classmethod
    def empty(cls, n: int) -> _Terms:
        return cls(np.full((n, 1), NONE, np.int32), np.zeros((n, 1), np.int64), np.zeros((n, 1), np.float64))

    @classmethod
    def single(cls, src: int | np.ndarray, frames: np.ndarray) -> _Terms:
        n = len(frames)
        return cls(
            np.broadcast_to(np.asarray(src, np.int32), (n,)).reshape(n, 1).copy(),
            frames.reshape(n, 1).astype(np.int64),
            np.ones((n, 1), np.float64),
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
        )

    def put(self, rows: np.ndarray, other: _Terms) -> None:
        k = max(self.src.shape[1], other.src.shape[1])
        wide, other = self.widened(k), other.widened(k)
        wide.src[rows], wide.frame[rows], wide.weight[rows] = other.src, other.frame, other.weight
        self.src, self.frame, self.weight = wide.src, wide.frame, wide.weight

    def take(self, rows: np.ndarray) -> _Terms:
        return _Terms(self.src[rows], self.frame[rows], self.weight[rows])

    def compacted(self) -> _Terms:
        # A latent term keeps its place at weight 0 (a frame faded fully to black still has its latent);
        # black and other pictures at weight 0 are dropped.
        dead = (self.src == NONE) | ((self.src < 0) & (self.weight <= 0))
        order = np.argsort(dead, axis=1, kind="stable")
        src = np.take_along_axis(np.where(dead, NONE, self.src), order, axis=1)
        keep = max(1, int((src != NONE).sum(axis=1).max(initial=0)))
        frame = np.take_along_axis(self.frame, order, axis=1)[:, :keep]
        weight = np.take_along_axis(np.where(dead, 0.0, self.weight), order, axis=1)[:, :keep]
        return _Terms(src[:, :keep], frame, weight)


def _blended(a: _Terms, b: _Terms, w_b: np.ndarray) -> _Terms:
    """Terms of (1 - w_b) * a + w_b * b, row by row."""
    w = w_b[:, None]
    return _Terms(
        np.hstack([a.src, b.src]), np.hstack([a.frame, b.frame]), np.hstack([a.weight * (1 - w), b.weight * w])
    ).compacted()


def _faded(terms: _Terms, opacity: np.ndarray) -> _Terms:
    """Terms of opacity * picture + (1 - opacity) * black."""
    n = len(terms.src)
    scaled = _Terms(terms.src, terms.frame, terms.weight * opacity[:, None])
    black = _Terms(np.full((n, 1), BLACK, np.int32), np.zeros((n, 1), np.int64), (1 - opacity)[:, None].copy())
    black.src[terms.src[:, 0] == NONE] = NONE  # a fade on nothing stays nothing
    return _Terms(
        np.hstack([scaled.src, black.src]), np.hstack([scaled.frame, black.frame]), np.hstack([scaled.weight, black.weight])
    ).compacted()


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


def _atof(text: str) -> float:
    """C's atof: the longest numeric prefix, 0.0 if none."""
    match = re.match(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text)
    return float(match.group(0)) if match else 0.0


def _timewarp_fps(profile_fps: Fraction, speed: float) -> float:
    """The frame rate of timewarp's private profile (producer_timewarp.c): num and den scaled by 1000, num / |speed| truncated."""
    num, den = profile_fps.numerator, profile_fps.denominator
    if num < 1000:
        num, den = num * 1000, den * 1000
    return int(num / abs(speed)) / den


def _covers_whole_frame(rect: str, size: tuple[int, int]) -> bool:
    """True if every key of a ``rect``/``geometry`` animation is the whole frame at full opacity (or there is none)."""
    full = (("0", "0%", "0.0"), ("0", "0%", "0.0"), (str(size[0]), "100%"), (str(size[1]), "100%"), ("1", "100%", "1.0"))
    for item in filter(None, (part.strip() for part in rect.split(";"))):
        value = item.split("=", 1)[-1].replace(":", " ").replace("x", " ").replace(",", " ").split()
        if any(token not in allowed for token, allowed in zip(value, full, strict=False)):
            return False
    return True


def _avformat_frames(positions: np.ndarray, fps: float, source_fps: float) -> np.ndarray:
    """producer_avformat.c: ``(int64_t)(position / fps * source_fps + 0.5)`` in doubles, in that order."""
    return np.trunc(np.asarray(positions, np.float64) / fps * source_fps + 0.5)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    if not mask.any():
        return []
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.nonzero(edges == 1)[0].tolist(), np.nonzero(edges == -1)[0].tolist(), strict=True))


def media_of(service: Service) -> tuple[str, float]:
    """The media file a producer plays and its speed: a timewarp's inner file and ``SPEED:`` prefix, else its resource at 1."""
    resource = service.props.get("resource", "")
    if service.service != "timewarp":
        return resource, 1.0
    prefix, _, inner = resource.partition(":")
    return service.props.get("warp_resource") or inner, _atof(prefix) or float(service.props.get("warp_speed") or 1.0)


def bin_clips(document: MltDocument) -> dict[str, Service]:
    """Kdenlive's bin clips by ``kdenlive:id``: where timeline copies find the properties Kdenlive does not copy to them."""
    main_bin = document.services.get("main_bin")
    clips: dict[str, Service] = {}
    if isinstance(main_bin, Playlist):
        for item in main_bin.items:
            service = document.services.get(item.producer) if not isinstance(item, Blank) else None
            if isinstance(service, Service) and "kdenlive:id" in service.props:
                clips[service.props["kdenlive:id"]] = service
    return clips


def source_ref(service: Service, bins: Mapping[str, Service], folder: Path) -> SourceRef:
    """What the conform asks about a producer's media: its file (relative to ``folder``), its and its bin clip's properties."""
    bin_clip = bins.get(service.props.get("kdenlive:id", ""))
    props = {**(bin_clip.props if bin_clip else {}), **service.props}
    path = Path(media_of(service)[0])
    if not path.is_absolute():
        path = folder / path
    return SourceRef(path, service.id, props, props.get("kdenlive:clipname") or path.name)


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


class _Evaluator:
    def __init__(self, document: MltDocument, resolve: Resolver) -> None:
        self.doc = document
        self.fps = document.fps
        self.table = SourceTable(resolve)
        self._bin = bin_clips(document)
        self.placements: list[Placement] = []
        self.notes: list[tuple[str, np.ndarray, bool]] = []
        self._lengths: dict[str, int] = {}
        self._tables: dict[str, tuple[np.ndarray, np.ndarray, list]] = {}
        self._folder = document.folder
        self._source_of: dict[str, int | None] = {}  # producer id -> source index
        self._depth = 0

    def service(self, service_id: str) -> Service | Playlist | Tractor:
        try:
            return self.doc.services[service_id]
        except KeyError as exc:
            raise ProjectError(f"{self.doc.path}: refers to {service_id!r}, which the file does not define") from exc

    def note(self, message: str, root_frames: np.ndarray, *, pixel: bool = True) -> None:
        """Record something about these frames; ``pixel``: MLT's picture there holds what latents cannot express."""
        self.notes.append((message, root_frames, pixel))

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
                    frames_from_mlt_time(item.length, self.fps) if span is None else span.length
                    for item, span in zip(playlist.items, ranges, strict=True)
                ],
                np.int64,
            )
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(lengths) else lengths
            self._tables[playlist.id] = (starts, lengths, ranges)
        return self._tables[playlist.id]

    def content_length(self, service_id: str) -> int:
        """Length without trailing black: the black track and trailing blanks do not count."""
        service = self.service(service_id)
        if isinstance(service, Tractor):
            return max(
                (self.content_length(t.producer) for t in service.tracks if not self._is_black_track(t.producer)), default=0
            )
        if isinstance(service, Playlist):
            starts, lengths, ranges = self._table(service)
            clips = [index for index, span in enumerate(ranges) if span is not None]
            return int(starts[clips[-1]] + lengths[clips[-1]]) if clips else 0
        return self.length(service_id)

    def _is_black_track(self, service_id: str) -> bool:
        service = self.service(service_id)
        return isinstance(service, Service) and (
            service_id == "black_track"
            or service.props.get("kdenlive:playlistid") == "black_track"
            or (
                service.service in ("color", "colour")
                and service.props.get("resource") in ("black", "0", "#000000", "0x000000ff")
            )
        )

    def _producer_range(self, service: Service):
        props = service.props
        if "out" in props:
            return frame_range(props.get("in", "0"), props["out"], self.fps)
        if "length" in props:
            return frame_range(props.get("in", "0"), frames_from_mlt_time(props["length"], self.fps) - 1, self.fps)
        raise ProjectError(
            f"{self.doc.path}: producer {service.id!r} has neither out nor length; re-save the project from the editor"
        )

    def _entry_range(self, entry):
        target = self.service(entry.producer)
        if isinstance(target, Service):
            whole = self._producer_range(target)
            props = target.props
            limit = frames_from_mlt_time(props["length"], self.fps) if "length" in props else whole.end_exclusive
        else:
            limit = self.length(entry.producer)
            whole = frame_range(0, limit - 1, self.fps)
        start = frames_from_mlt_time(entry.in_, self.fps) if entry.in_ is not None else whole.start
        end = frames_from_mlt_time(entry.out, self.fps) + 1 if entry.out is not None else whole.end_exclusive
        # mlt_producer_set_in_and_out: a cut never reaches past its producer's length.
        return type(whole)(max(0, start), min(end, limit))

    # ----- evaluation at arrays of positions

    def evaluate(self, service_id: str, positions: np.ndarray, root_frames: np.ndarray, track: str) -> _Terms:
        self._depth += 1
        if self._depth > 64:
            raise ProjectError(f"{self.doc.path}: services nest more than 64 deep at {service_id!r}; is there a cycle?")
        try:
            service = self.service(service_id)
            if isinstance(service, Tractor):
                return self._tractor(service, positions, root_frames, track)
            if isinstance(service, Playlist):
                return self._playlist(service, positions, root_frames, track)
            return self._producer(service, positions, root_frames, track)
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
            if not self._is_black_track(track.producer):
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
        self, transition, values: list[_Terms], positions: np.ndarray, root_frames: np.ndarray, sorted_positions: bool
    ) -> None:
        props = transition.props
        service = transition.service
        if service in _SILENT or props.get("disable") == "1" or props.get("internal_added"):
            return
        try:
            a_track, b_track = sorted((int(props.get("a_track", "0")), int(props.get("b_track", "1"))))
        except ValueError as exc:
            raise ProjectError(
                f"{self.doc.path}: transition with a_track {props.get('a_track')!r} b_track {props.get('b_track')!r}"
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
        active = rows
        if service in _DISSOLVES:
            # mlt_transition_get_progress: (t - in) / (out - in + 1), 0.5 for a one-frame transition
            weight = np.full(len(rows), 0.5) if span is None or span.length <= 1 else (positions[rows] - span.start) / span.length
            if props.get("reverse") == "1":
                weight = 1.0 - weight
            if props.get("resource") or props.get("luma"):
                self.note(
                    f"wipe transition ({props.get('resource') or props.get('luma')}) blended as a dissolve", root_frames[active]
                )
            self.note(
                f"{props.get('kdenlive_id') or service} between tracks {a_track} and {b_track}: latents interpolated",
                root_frames[active],
                pixel=False,
            )
            a.put(rows, _blended(a.take(rows), b.take(rows), weight))
            b.put(rows, _Terms.empty(len(rows)))
        elif service in _COVERS:
            if not _covers_whole_frame(props.get("rect") or props.get("geometry") or "", self.doc.size):
                self.note(f"{service} composition with geometry or opacity: latents follow the upper track", root_frames[active])
        else:
            self.note(
                f"transition {service or '?'} has no latent equivalent: latents follow the upper track", root_frames[active]
            )

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
            if item is None or isinstance(item, Blank):
                continue
            rows = order[begin:end]
            span = ranges[item_index]
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
                self.note("title: shown by MLT over the latents, not part of them", root_frames)
                return _Terms.empty(n)
            if self._is_black_track(service.id):
                return _Terms.single(BLACK, np.zeros(n, np.int64))
            self.note(f"{kind or 'producer'} clip {service.id!r} has no latent source", root_frames)
            return self._with_filters(service.filters, _Terms.single(OPAQUE, np.zeros(n, np.int64)), positions, root_frames, None)
        resource, speed = media_of(service)
        index = self._source(service)
        if index is None:
            self.note(f"clip {Path(resource).name} has no sidecar: no latent source", root_frames)
            return self._with_filters(service.filters, _Terms.single(OPAQUE, np.zeros(n, np.int64)), positions, root_frames, None)
        info = self.table.infos[index]
        source_fps = info.fps.numerator / info.fps.denominator
        if kind == "timewarp":
            inner = positions if speed > 0 else self._producer_range(service).end_exclusive - 1 - positions
            src = _avformat_frames(inner, _timewarp_fps(self.fps, speed), source_fps)
        elif service.tag == "chain" and any(link.service == "timeremap" for link in service.links):
            src = self._remapped(service, positions, info, root_frames)
        else:
            src = _avformat_frames(positions, self.fps.numerator / self.fps.denominator, source_fps)
        src = np.clip(src, 0, info.frames - 1).astype(np.int64)
        terms = self._with_filters(service.filters, _Terms.single(index, src), positions, root_frames, None)
        self._placed(service, track, root_frames, src, speed)
        return terms

    def _remapped(self, service: Service, positions: np.ndarray, info: SourceInfo, root_frames: np.ndarray) -> np.ndarray:
        link = next(link for link in service.links if link.service == "timeremap")
        mapping = link.props.get("time_map") or link.props.get("map")
        chain_in = frames_from_mlt_time(service.props.get("in", "0"), self.fps)
        fps = float(self.fps)
        if not mapping:
            return np.floor(positions / fps * float(info.fps))
        keys = keyframes_from_anim(mapping, self.fps)
        seconds = values_at(keys, positions - chain_in) + chain_in / fps
        return np.floor(seconds * float(info.fps))

    def _with_filters(
        self, filters: tuple[Filter, ...], terms: _Terms, positions: np.ndarray, root_frames: np.ndarray, span
    ) -> _Terms:
        for flt in filters:
            if flt.props.get("disable") == "1":
                continue
            if flt.service in _FADES:
                terms = self._fade(flt, terms, positions, root_frames, span)
        return terms

    def _fade(self, flt: Filter, terms: _Terms, positions: np.ndarray, root_frames: np.ndarray, span) -> _Terms:
        props = flt.props
        # MLT filters start at producer frame ``in`` (default 0, not the entry's in point); ``out`` 0 means no end.
        first = frames_from_mlt_time(props.get("in", "0"), self.fps)
        out = frames_from_mlt_time(props["out"], self.fps) if "out" in props else 0
        last = out if out > 0 else math.inf
        inside = (positions >= first) & (positions <= last)
        if not inside.any():
            return terms
        length = int(last - first + 1) if last != math.inf else (span.end_exclusive - first if span else None)
        text = props.get("alpha") if props.get("alpha") not in (None, "", "1") else props.get("level", "1")
        level = values_at(keyframes_from_anim(text, self.fps, length), positions - first)
        opacity = np.where(inside, np.clip(level, 0.0, 1.0), 1.0)
        if (inside & (level > 1.0)).any():
            self.note("brightness above 1 is a pixel effect; latents keep opacity 1 there", root_frames[inside & (level > 1.0)])
        return _faded(terms, opacity)

    def _source(self, service: Service) -> int | None:
        if service.id not in self._source_of:
            self._source_of[service.id] = self.table.index_of(source_ref(service, self._bin, self._folder))
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


def frame_map(document: MltDocument, resolve: Resolver, *, sequence: str | None = None, full_length: bool = False) -> FrameMap:
    """Evaluate the timeline melt renders (or ``sequence``) at every frame.

    ``resolve`` is asked once per distinct media file; it returns the sidecar's frame rate and frame
    count, or None for media with no latent source. The map stops at the last clip unless
    ``full_length`` (then it runs as long as melt renders, through Kdenlive's trailing black).
    """
    evaluator = _Evaluator(document, resolve)
    root = rendered_service_id(document, sequence)
    full = evaluator.length(root)
    length = full if full_length else min(full, evaluator.content_length(root))
    frames = np.arange(length, dtype=np.int64)
    terms = evaluator.evaluate(root, frames, frames, "")
    notes = []
    pixel_only = np.zeros(length, bool)
    grouped: dict[tuple[str, bool], list[np.ndarray]] = {}
    for message, root_frames, pixel in evaluator.notes:
        grouped.setdefault((message, pixel), []).append(root_frames)
    for (message, pixel), parts in grouped.items():
        frames_noted = np.concatenate(parts)
        mask = np.zeros(length, bool)
        mask[frames_noted[(frames_noted >= 0) & (frames_noted < length)]] = True
        if pixel:
            pixel_only |= mask
        notes.extend((message, start, end) for start, end in _runs(mask))
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
        notes=tuple(sorted(set(notes), key=lambda n: (n[1], n[0]))),
        pixel_only=pixel_only,
    )
