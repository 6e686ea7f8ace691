"""What a media file says about itself (frame rate, frame count, size, duration, container tags), from one ffprobe run, cached.

The timeline asks this module exactly where MLT asks the file: a clip's frame rate when neither its
sidecar nor the project gives one, a producer's length when the project has none, a reversed clip's
real last frame. One probe per file; the answer is kept while the file's size and mtime stay the same.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from latentcut.errors import InputError, ProgramHung
from latentcut.programs import run_program

__all__ = ["DEFAULT_PRODUCER_FRAMES", "PROBE_TIMEOUT_S", "MediaFacts", "media_facts", "mlt_media_length"]

PROBE_TIMEOUT_S = 120.0
DEFAULT_PRODUCER_FRAMES = 15000  # MLT's length for a producer without a duration (colour, image, MLT_DEFAULT_PRODUCER_LENGTH)
_CACHE_ENTRIES = 4096
_OUTPUT_LIMIT = 1 << 20  # ffprobe's JSON for one stream and the format; more means something is wrong

_cache: OrderedDict[tuple[str, int, int], MediaFacts] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class MediaFacts:
    """One media file as its first video stream and its container describe it."""

    path: Path
    fps: Fraction | None  # the stream's frame rate (r_frame_rate), None if the file does not say
    frames: int  # video packets demuxed: the frame count of an intra or constant-rate stream
    size: tuple[int, int] | None
    duration_us: int | None  # the container's duration in microseconds (AV_TIME_BASE), None if unknown
    tags: Mapping[str, str] = field(default_factory=dict)  # global container tags, keys lower-cased


def mlt_media_length(facts: MediaFacts, profile_fps: Fraction | float) -> int:
    """The length MLT's avformat producer gives the file in a profile: lrint(duration * fps / AV_TIME_BASE), at least 1.

    Without a container duration MLT's default producer length applies.
    """
    if facts.duration_us is None:
        return DEFAULT_PRODUCER_FRAMES
    return max(1, round(facts.duration_us * float(profile_fps) / 1_000_000))


def _rate(text: str | None) -> Fraction | None:
    try:
        rate = Fraction(text or "")
    except (ValueError, ZeroDivisionError):
        return None
    return rate if rate > 0 else None


def _probed(path: Path) -> MediaFacts:
    command = [
        "ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
        "-select_streams", "v:0", "-count_packets", str(path),
    ]  # fmt: skip
    try:
        result = run_program(command, stall_s=PROBE_TIMEOUT_S)  # ffprobe says nothing until it has read the whole file
    except ProgramHung as exc:
        raise InputError(f"{path}: ffprobe took more than {PROBE_TIMEOUT_S:.0f} s to read it; is it a media file?") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot run ffprobe ({exc.strerror or exc}); run ./install.sh") from exc
    last = (result.stderr.decode(errors="replace").strip().splitlines() or ["no video stream"])[-1][:200]
    try:
        data = json.loads(result.stdout[:_OUTPUT_LIMIT]) if result.returncode == 0 else None
    except ValueError:
        data = None
    streams = data.get("streams") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not streams or not isinstance(streams[0], dict):
        raise InputError(f"{path}: not a readable video ({last}); replace the file or point the clip at one")
    stream, container = streams[0], data.get("format") or {}
    try:
        duration = float(container.get("duration", "nan"))
    except (TypeError, ValueError):
        duration = math.nan
    try:
        frames = int(stream.get("nb_read_packets") or stream.get("nb_frames") or 0)
        size = (int(stream["width"]), int(stream["height"])) if "width" in stream else None
    except (TypeError, ValueError):
        frames, size = 0, None
    tags = container.get("tags") or {}
    return MediaFacts(
        path=path,
        fps=_rate(stream.get("r_frame_rate")) or _rate(stream.get("avg_frame_rate")),
        frames=frames,
        size=size,
        duration_us=round(duration * 1_000_000) if math.isfinite(duration) and duration > 0 else None,
        tags={str(k).lower(): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )


def media_facts(path: Path) -> MediaFacts:
    """Return what ``path`` says about itself; raise InputError (one line naming the file) if it is not readable media."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise InputError(f"{path}: media file not found ({exc.strerror or exc}); restore it or point the clip at it") from exc
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; a clip's media must be a video file")
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    facts = _probed(path)
    with _lock:
        _cache[key] = facts
        while len(_cache) > _CACHE_ENTRIES:
            _cache.popitem(last=False)
    return facts
