"""The timeline vocabulary every reader produces and every consumer reads: sources, the per-frame terms (FrameMap), placements, notes.

A frame's picture is a weighted sum of *terms*; a term is a (source, source frame) pair, or BLACK
(the black track, a fade), OPAQUE (a picture with no latent) or NONE (nothing). Readers (the MLT
evaluator, the interchange formats) fill a FrameMap; the conform, ``--explain`` and the online
render read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "BLACK",
    "MAX_SPEED",
    "MAX_TIMELINE_FRAMES",
    "NONE",
    "OPAQUE",
    "Composite",
    "FrameMap",
    "Note",
    "NoteKind",
    "Placement",
    "Resolver",
    "SourceInfo",
    "SourceRef",
    "SourceTable",
    "source_key",
]

NONE = -1  # nothing here: blank, hidden or disabled; whatever is below shows through
BLACK = -2  # black: the black track, what a fade fades to
OPAQUE = -3  # another picture with no latent: a colour clip, an image, footage without a sidecar
MAX_TIMELINE_FRAMES = 4_000_000  # 37 hours at 30 fps: any one length, and a whole timeline, above this is refused
# A clip's speed, either way: MLT's timewarp runs a private profile at the project's rate x 1000 / |speed|,
# which reaches 0 fps (and MLT breaks) past 25,000x at 25 fps; 1000x is far past any edit.
MAX_SPEED = 1000.0


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
    """What the resolver found for a source: its frame rate and frame count, and what it resolved to (a sidecar)."""

    fps: Fraction
    frames: int
    found: Any = None  # the resolver's own result (the conform: the loaded ZSequence), kept for whoever reads the table


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


class NoteKind:
    """What a note is about; consumers match these, never the message text."""

    DISSOLVE = "dissolve"  # latents interpolated as MLT blends two pictures (exact)
    SPATIAL = "spatial"  # a slide, wipe or moving geometry: latents blended by progress, the picture is pixel work
    COVER = "cover"  # a composition whose picture latents cannot express; latents follow the upper track
    TITLE = "title"  # a title drawn over the latents
    NO_LATENT = "no_latent"  # a picture with no latent source (colour clip, image, footage without a sidecar)
    PIXEL = "pixel"  # any other pixel effect (brightness above 1, ...)
    SPEED = "speed"  # slow motion placed between source frames (--slow-motion interpolate)
    LANE = "lane"  # a lane that follows the project's audio (not a picture of its own)


@dataclass(frozen=True)
class Note:
    """Something about frames ``first`` .. ``end_exclusive - 1``; ``pixel_only``: MLT's picture there holds what latents cannot."""

    kind: str
    message: str
    first: int
    end_exclusive: int
    pixel_only: bool


@dataclass(frozen=True)
class Composite:
    """A composition MLT draws in pixels (slide, wipe with a luma file, moving geometry) between two terms.

    The latents blend the two by ``progress`` ((t - in) / (out - in + 1), reversed with ``reverse``),
    the provenance records it, and a pixel renderer (``latentcut online``) draws it exactly.
    """

    service: str
    kdenlive_id: str
    geometry: str  # the rect/geometry animation, "" if none
    luma: str  # the luma (wipe) file, "" if none
    first: int  # timeline frames it covers, in the rendered map
    end_exclusive: int
    tracks: tuple[int, int]  # a_track, b_track


@dataclass(frozen=True)
class FrameMap:
    """Per timeline frame, the weighted terms of its picture.

    ``source[i, k]`` is an index into ``sources`` or BLACK or NONE, ``frame[i, k]`` the source frame and
    ``weight[i, k]`` the weight of term ``k`` at frame ``i``. Weights of a frame sum to 1 (NONE counts 0:
    a frame with nothing at all is black, as MLT shows it). ``source_of`` maps each producer id that
    plays a latent source to that source's index. ``frame_next``/``frame_fraction`` (optional): for slow
    motion placed between source frames, term ``k`` is ``slerp(frame, frame_next, frame_fraction)``.
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
    notes: tuple[Note, ...] = ()
    pixel_only: np.ndarray | None = None  # (frames,) bool: MLT's picture holds something latents cannot express
    source_of: Mapping[str, int] = field(default_factory=dict)  # producer id -> source index
    composites: tuple[Composite, ...] = ()
    composite: np.ndarray | None = None  # (frames,) int32: index into ``composites`` drawn at the frame, -1 none
    progress: np.ndarray | None = None  # (frames,) float32: that composite's progress at the frame
    frame_fraction: np.ndarray | None = None  # (frames, K) float32: 0 except for slow motion placed between frames
    lanes: Mapping[str, np.ndarray] = field(default_factory=dict)  # lane column -> (frames,) float64 (latentcut.timeline.lanes)

    @property
    def length(self) -> int:
        return len(self.source)
