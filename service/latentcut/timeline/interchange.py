"""Reading EDL (CMX 3600), FCP 7 XML, FCPX XML and ``.otio`` timelines through OpenTimelineIO into a frame map.

Rules (OpenTimelineIO's model, and the formats' own where it says more):

- video tracks stack bottom to top; the topmost enabled clip at a frame wins; gaps show what is below;
- a clip at timeline frame ``start + k`` shows source frame ``first + k * speed`` (rounded half up),
  ``first`` being its in point counted from the media's first frame; ``LinearTimeWarp`` and
  ``FreezeFrame`` give the speed; an FCP 7 ``timeremap`` effect (constant speed) counts in and out in
  *clip time*, so there the source frame is ``(in + k) * speed`` (Final Cut Pro's "clip time mode");
- a dissolve spanning frames ``[a, a + n)`` gives the incoming clip weight ``(t - a) / n``, both clips
  advancing through the overlap, as MLT weighs a mix;
- a clip's media reference ``latentcut`` (a ``GeneratorReference`` of kind ``latentcut.z-sequence``, as
  the ``latentcut`` media linker adds it) names the clip's sidecar, its sha256, frame count and frame
  rate: where the media file itself cannot be read (a cut from another machine), these stand in for its
  container tags, checked as the file's would be.
"""

from __future__ import annotations

import math
import urllib.parse
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio

from latentcut.errors import ProjectError, UsageError
from latentcut.files import file_sha256, read_regular_bytes
from latentcut.latent.sidecar import FRAMES_TAG, SIDECAR_SHA256_TAG, SIDECAR_TAG
from latentcut.timebase import FPS_RANGE, fps_from_text, fps_in_range
from latentcut.timeline.model import (
    BLACK,
    MAX_SPEED,
    MAX_TIMELINE_FRAMES,
    NONE,
    OPAQUE,
    FrameMap,
    Note,
    NoteKind,
    Placement,
    Resolver,
    SourceRef,
    SourceTable,
)
from latentcut.untrusted_json import json_depth

__all__ = ["INTERCHANGE_SUFFIXES", "LATENT_REFERENCE_KEY", "Z_SEQUENCE_KIND", "interchange_frame_map", "media_file"]

INTERCHANGE_SUFFIXES = {".otio": "otio_json", ".edl": "cmx_3600", ".xml": "fcp_xml", ".fcpxml": "fcpx_xml"}
LATENT_REFERENCE_KEY = "latentcut"  # the key of a clip's latents among its media references
Z_SEQUENCE_KIND = "latentcut.z-sequence"  # their generator kind
_OTIO_MAX_BYTES = 256 << 20
# JSON levels: a timeline, its stack, a track, a clip and its media reference use about 10, each nested stack
# about 4 more. OpenTimelineIO 0.18's reader took 0.02 s at 400 levels here, 2.4 s at 3,000, 76 s at 10,000,
# and crashed the process at 100,000.
_OTIO_MAX_DEPTH = 400


def _timeline(path: Path, fps: Fraction | None) -> otio.schema.Timeline:
    adapter = INTERCHANGE_SUFFIXES.get(path.suffix.lower())
    if adapter is None:
        raise ProjectError(f"{path}: unknown project type; use .kdenlive, .mlt, .otio, .edl, FCP .xml or .fcpxml")
    options = {"rate": float(fps)} if adapter == "cmx_3600" and fps is not None else {}
    try:
        if adapter == "otio_json":
            result = otio.adapters.read_from_string(_otio_text(path), adapter_name=adapter)
        else:
            result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **options)
    except ProjectError:
        raise
    except Exception as exc:  # adapters raise their own types for every kind of bad file
        raise ProjectError(
            f"{path}: cannot read it as {adapter} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        ) from exc
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline)) or [
            t for t in result if isinstance(t, otio.schema.Timeline)
        ]
        if not timelines:
            raise ProjectError(f"{path}: holds no timeline")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise ProjectError(f"{path}: holds a {type(result).__name__}, not a timeline")
    return result


def _otio_text(path: Path) -> str:
    """The ``.otio`` file's text, once its size and nesting are within what OpenTimelineIO's C++ reader survives.

    That reader recurses once per level, and its time grows faster than the square of the depth.
    """
    try:
        raw = read_regular_bytes(path, _OTIO_MAX_BYTES)
    except OSError as exc:
        raise ProjectError(f"{path}: cannot read it ({exc.strerror or exc}); give an .otio file") from exc
    if json_depth(raw) > _OTIO_MAX_DEPTH:
        raise ProjectError(
            f"{path}: nests deeper than {_OTIO_MAX_DEPTH} levels, past any timeline an editor writes; export it again"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{path}: not UTF-8 text (byte {exc.start}); export it again") from exc


def _rate(value: float, path: Path) -> Fraction:
    rate = Fraction(value).limit_denominator(1001) if math.isfinite(value) else Fraction(0)
    if not fps_in_range(rate):
        raise ProjectError(f"{path}: the timeline's frame rate {value:g} is not one latentcut renders ({FPS_RANGE})")
    return rate


def _check_times(path: Path, tracks: list[otio.schema.Track], rate: Fraction) -> None:
    """Refuse a time whose rate is not positive or whose value is not finite or past any timeline, before any is used.

    OpenTimelineIO keeps them as they are written: a rate of 0 turns every frame number into NaN.
    """
    for track in tracks:
        for item in track:
            ranges = [getattr(item, "source_range", None)]
            reference = getattr(item, "media_reference", None)
            ranges.append(getattr(reference, "available_range", None))
            times = [t for r in ranges if r is not None for t in (r.start_time, r.duration)]
            if isinstance(item, otio.schema.Transition):
                times += [item.in_offset, item.out_offset]
            for time in times:
                frames = time.value / time.rate * float(rate) if time.rate > 0 else math.nan
                if not (math.isfinite(time.rate) and math.isfinite(frames) and abs(frames) <= MAX_TIMELINE_FRAMES):
                    raise ProjectError(
                        f"{path}: {type(item).__name__.lower()} {item.name!r} in track {track.name!r} has the time "
                        f"{time.value:g} at rate {time.rate:g}; a rate must be above 0 and a time within "
                        f"{MAX_TIMELINE_FRAMES} frames: export the timeline again"
                    )


def _speed(clip: otio.schema.Clip) -> tuple[float, bool]:
    """Return (speed, counted in clip time) for a clip's time effects."""
    speed, clip_time = 1.0, False
    for effect in clip.effects:
        if isinstance(effect, otio.schema.FreezeFrame):
            speed = 0.0
        elif isinstance(effect, otio.schema.LinearTimeWarp):
            speed *= effect.time_scalar
        else:
            fcp = effect.metadata.get("fcp_xml", {}) if hasattr(effect, "metadata") else {}
            if fcp.get("effectid") == "timeremap":
                parameters = {p.get("parameterid"): p.get("value") for p in fcp.get("parameter", []) if hasattr(p, "get")}
                percent = float(parameters.get("speed") or 100.0)
                speed *= (-1 if str(parameters.get("reverse", "")).upper() == "TRUE" else 1) * percent / 100.0
                clip_time = True
    return speed, clip_time


def media_file(clip: otio.schema.Clip, folder: Path) -> Path | None:
    """The media file of ``clip``'s active reference: where the URL says, else by its name beside ``folder`` (relinking)."""
    reference = clip.media_reference
    url = getattr(reference, "target_url", "") or ""
    candidates = []
    if url:
        parsed = urllib.parse.urlparse(url)
        local = urllib.parse.unquote(parsed.path if parsed.scheme in ("file", "") else url)
        if len(local) > 3 and local[0] == "/" and local[2] == ":":
            local = local[1:]  # file:///C:/... from Windows editors
        candidates.append(Path(local) if Path(local).is_absolute() else folder / local)
        candidates.append(folder / Path(local.replace("\\", "/")).name)
    for name in (getattr(reference, "name", "") or "", clip.name or ""):
        if name:
            candidates.append(folder / Path(name.replace("\\", "/")).name)
    # A sidecar standing there is enough: the conform needs the latents, not the video.
    found = (c for c in candidates if c.is_file() or c.with_name(c.stem + ".z.npy").is_file())
    return next(found, candidates[0] if candidates else None)


def _latent_props(clip: otio.schema.Clip, folder: Path) -> dict[str, str]:
    """The clip's ``latentcut`` reference as the container tags a project saves of its media (``meta.attr.*``)."""
    reference = clip.media_references().get(LATENT_REFERENCE_KEY)
    if not isinstance(reference, otio.schema.GeneratorReference) or reference.generator_kind != Z_SEQUENCE_KIND:
        return {}
    parameters = reference.parameters
    sidecar = str(parameters.get("sidecar") or "")
    props = {f"meta.attr.{SIDECAR_TAG}.markup": str(folder / sidecar) if sidecar else ""}
    for key, tag in (("sha256", SIDECAR_SHA256_TAG), ("frames", FRAMES_TAG)):
        if parameters.get(key) not in (None, ""):
            props[f"meta.attr.{tag}.markup"] = str(parameters[key])
    try:
        fps = fps_from_text(str(parameters.get("fps") or ""))
    except UsageError:  # no rate, or none a video has: the media says its own
        return props
    props["meta.media.frame_rate_num"], props["meta.media.frame_rate_den"] = str(fps.numerator), str(fps.denominator)
    return props


class _Reader:
    def __init__(self, path: Path, resolve: Resolver) -> None:
        self.path = path
        self.folder = path.parent
        self.table = SourceTable(resolve)
        self.placements: list[Placement] = []
        self.notes: list[Note] = []

    def source(self, clip: otio.schema.Clip) -> int | None:
        path = media_file(clip, self.folder)
        if path is None:
            return None
        return self.table.index_of(
            SourceRef(path, clip.name or path.name, _latent_props(clip, self.folder), clip.name or path.name)
        )

    def track_terms(self, track: otio.schema.Track, length: int, fps: Fraction, name: str) -> tuple[np.ndarray, ...]:
        """Terms of one track: column 0 the clip (or the outgoing clip of a dissolve), column 1 the incoming one."""
        src = np.full((length, 2), NONE, np.int32)
        frame = np.zeros((length, 2), np.int64)
        weight = np.zeros((length, 2), np.float64)
        items = list(track)

        def frames_of(time: otio.opentime.RationalTime) -> int:
            return round(time.rescaled_to(float(fps)).value)

        for index, item in enumerate(items):
            if isinstance(item, (otio.schema.Gap, otio.schema.Transition)) or not item.enabled:
                continue
            placed = track.range_of_child_at_index(index)
            start, count = frames_of(placed.start_time), frames_of(placed.duration)
            before = items[index - 1] if index and isinstance(items[index - 1], otio.schema.Transition) else None
            after = items[index + 1] if index + 1 < len(items) and isinstance(items[index + 1], otio.schema.Transition) else None
            # A dissolve spans [cut - in_offset, cut + out_offset): the incoming clip starts in_offset early,
            # the outgoing one plays out_offset past its end.
            lead = frames_of(before.in_offset) if before else 0
            tail = frames_of(after.out_offset) if after else 0
            frames = np.arange(start - lead, start + count + tail)
            frames = frames[(frames >= 0) & (frames < length)]
            clip_src, clip_frame = self.clip_frames(item, frames - start, name, start, count, fps)
            incoming = np.ones(len(frames))
            if before is not None:
                span = lead + frames_of(before.out_offset)
                inside = frames < start - lead + span
                incoming[inside] = (frames[inside] - (start - lead)) / span
            blend = src[frames, 0] != NONE
            solo, mixed = frames[~blend], frames[blend]
            src[solo, 0], frame[solo, 0], weight[solo, 0] = clip_src[~blend], clip_frame[~blend], incoming[~blend]
            src[mixed, 1], frame[mixed, 1], weight[mixed, 1] = clip_src[blend], clip_frame[blend], incoming[blend]
            weight[mixed, 0] *= 1 - incoming[blend]
        return src, frame, weight

    def clip_frames(
        self, item, offsets: np.ndarray, track_name: str, start: int, count: int, fps: Fraction
    ) -> tuple[np.ndarray, np.ndarray]:
        """Source index and source frame for each offset (timeline frames from the clip's start)."""
        if not isinstance(item, otio.schema.Clip):
            self.notes.append(
                Note(
                    NoteKind.NO_LATENT,
                    f"{type(item).__name__} {item.name!r} is not read: no latent source",
                    start,
                    start + count,
                    True,
                )
            )
            return np.full(len(offsets), OPAQUE, np.int32), np.zeros(len(offsets), np.int64)
        index = self.source(item)
        if index is None:
            self.notes.append(
                Note(NoteKind.NO_LATENT, f"clip {item.name!r} has no sidecar: no latent source", start, start + count, True)
            )
            return np.full(len(offsets), OPAQUE, np.int32), np.zeros(len(offsets), np.int64)
        info = self.table.infos[index]
        speed, clip_time = _speed(item)
        if not (math.isfinite(speed) and abs(speed) <= MAX_SPEED):
            raise ProjectError(
                f"{self.path}: clip {item.name!r} plays at speed {speed:g}; latentcut reads speeds up to {MAX_SPEED:g}x "
                "either way: change the clip's speed in the editor"
            )
        media_fps = float(info.fps)
        ratio = media_fps / float(fps)  # media frames per timeline frame at speed 1
        trimmed = item.trimmed_range()
        available = item.media_reference.available_range if item.media_reference else None
        media_start = available.start_time.rescaled_to(media_fps).value if available is not None else 0.0
        if clip_time:
            # FCP 7 time remap: in and out count clip time, which runs at the clip's speed.
            clip_in = trimmed.start_time.rescaled_to(float(fps)).value - media_start / ratio
            position = (clip_in + offsets) * speed * ratio
        else:
            position = trimmed.start_time.rescaled_to(media_fps).value - media_start + offsets * speed * ratio
        source_frames = np.clip(np.floor(position + 0.5), 0, info.frames - 1).astype(np.int64)
        if len(source_frames):
            self.placements.append(
                Placement(
                    track_name,
                    item.name,
                    self.table.refs[index].resource.name,
                    start,
                    start + count,
                    int(source_frames[0]),
                    int(source_frames[-1]),
                    speed,
                )
            )
        other = [
            e
            for e in item.effects
            if not isinstance(e, (otio.schema.LinearTimeWarp, otio.schema.FreezeFrame))
            and (e.metadata.get("fcp_xml", {}) or {}).get("effectid") != "timeremap"
        ]
        if other:
            names = ", ".join(e.effect_name or type(e).__name__ for e in other)
            self.notes.append(
                Note(NoteKind.PIXEL, f"effects on {item.name!r} ({names}) are pixel-only", start, start + count, True)
            )
        return np.full(len(offsets), index, np.int32), source_frames


def interchange_frame_map(path: Path, resolve: Resolver, *, fps: Fraction | None = None) -> tuple[FrameMap, str]:
    """Evaluate an EDL, FCP XML, FCPX XML or .otio timeline; return its frame map and the file's sha256.

    ``fps`` gives an EDL's frame rate (EDLs do not say; default 25).
    """
    timeline = _timeline(path, fps or Fraction(25))
    tracks = [t for t in timeline.video_tracks() if t.enabled]
    if not tracks:
        raise ProjectError(f"{path}: no video track")
    rates = [c.trimmed_range().duration.rate for t in tracks for c in t if isinstance(c, otio.schema.Clip)]
    if path.suffix.lower() == ".edl" and fps is not None:
        rate = fps
    else:
        start = timeline.global_start_time
        rate = _rate(start.rate if start else (rates[0] if rates else float(fps or 25)), path)
    _check_times(path, tracks, rate)
    length = max(round(t.duration().rescaled_to(float(rate)).value) for t in tracks)
    if length > MAX_TIMELINE_FRAMES:
        raise ProjectError(
            f"{path}: the timeline is {length} frames; latentcut reads timelines up to {MAX_TIMELINE_FRAMES} frames"
        )
    reader = _Reader(path, resolve)
    src = np.full((length, 2), BLACK, np.int32)
    frame = np.zeros((length, 2), np.int64)
    weight = np.zeros((length, 2), np.float64)
    weight[:, 0] = 1.0
    src[:, 1] = NONE
    for number, track in enumerate(tracks, start=1):
        t_src, t_frame, t_weight = reader.track_terms(track, length, rate, track.name or f"V{number}")
        rows = t_src[:, 0] != NONE
        src[rows], frame[rows], weight[rows] = t_src[rows], t_frame[rows], t_weight[rows]
    pixel_only = np.zeros(length, bool)
    for note in reader.notes:
        if note.pixel_only:
            pixel_only[max(note.first, 0) : min(note.end_exclusive, length)] = True
    fmap = FrameMap(
        fps=rate,
        size=(0, 0),
        source=src,
        frame=frame,
        weight=weight.astype(np.float32),
        sources=tuple(reader.table.refs),
        infos=tuple(reader.table.infos),
        full_length=length,
        placements=tuple(reader.placements),
        notes=tuple(reader.notes),
        pixel_only=pixel_only,
    )
    return fmap, file_sha256(path)
