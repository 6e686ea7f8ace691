"""Keyframes chosen in the editor: a Kdenlive project's guides, or one clip's markers, as frames of a pool or curated set.

Guides sit on timeline frames: the conform says which clip frame each shows, and that frame's pool
origin is the keyframe. Markers sit on a clip's own frames: the sidecar the conform finds for the
clip gives their origin. The keyframe is the first frame of the given pool or curated set that shows
that pool number. Kdenlive keeps guides in ``kdenlive:docproperties.guides`` (22.12) or a
sequence's ``kdenlive:sequenceproperties.guides`` (23.04+), and markers in the bin clip's
``kdenlive:markers``, each as JSON ``[{"pos": frame, "comment": ...}]``.
"""

from __future__ import annotations

import json
from pathlib import Path

from latentcut.conform.project import conform_project
from latentcut.conform.sidecars import SidecarFinder
from latentcut.editor.kdenlive_project import GUIDES_PROPERTY, MARKERS_PROPERTY, bin_clip
from latentcut.errors import ProjectError, UsageError
from latentcut.latent.curation import frame_numbered, selected_frames, sequence_numbering, sequence_origin
from latentcut.latent.sidecar import ZSequence
from latentcut.timeline.kdenlive import bin_clips, source_ref
from latentcut.timeline.mlt_xml import MltDocument, read_mlt_document

__all__ = ["GUIDE_PROPERTIES", "guide_frames", "key_frames", "marker_frames", "pool_frames_from_project"]

GUIDE_PROPERTIES = (GUIDES_PROPERTY, "kdenlive:sequenceproperties.guides")


def _positions(text: str | None, where: str) -> list[int]:
    if not text or not text.strip():
        return []
    try:
        entries = json.loads(text)
        return sorted(int(entry["pos"]) for entry in entries)
    except (ValueError, TypeError, KeyError) as exc:
        raise ProjectError(f"{where} is not Kdenlive's JSON list of positions ({exc}); re-save the project") from exc


def guide_frames(document: MltDocument) -> list[int]:
    """The timeline frames of the project's guides, in order (every sequence's guides, the first that has any)."""
    for name in GUIDE_PROPERTIES:
        for service in document.services.values():
            frames = _positions(service.props.get(name), f"{document.path}: {name}")
            if frames:
                return frames
    return []


def marker_frames(document: MltDocument, clip: str) -> list[int]:
    """The clip frames of the markers on bin clip ``clip`` (its name in the bin, its file's name or stem, or its bin id)."""
    frames = _positions(bin_clip(document, clip).props.get(MARKERS_PROPERTY), f"{document.path}: markers of clip {clip!r}")
    if not frames:
        raise ProjectError(f"{document.path}: clip {clip!r} has no markers; add markers to it in Kdenlive and save")
    return frames


def _sidecar_of(document: MltDocument, clip: str) -> ZSequence:
    """The sidecar the conform finds for bin clip ``clip``."""
    ref = source_ref(bin_clip(document, clip), bin_clips(document), document.folder)
    sequence = SidecarFinder(document.path, document.folder).sequence_for(ref)
    if sequence is None:
        raise ProjectError(
            f"{document.path}: clip {clip!r} ({ref.resource.name}) has no sidecar; render it with latentcut render"
        )
    return sequence


def _pool_id(pool: ZSequence) -> str:
    origin = sequence_origin(pool)
    return pool.meta.id if origin is None else origin.pool_id


def _in_pool(sequence: ZSequence, frames: list[int], pool: ZSequence, where: str) -> list[int]:
    origin = sequence_origin(sequence)
    if origin is None or origin.pool_id != _pool_id(pool):
        raise ProjectError(
            f"{where}: {sequence.path.name} does not come from the pool {pool.path.name}; mark frames of its clips"
        )
    out = []
    for frame in frames:
        if not 0 <= frame < len(origin.frames) or origin.frames[frame] < 0:
            raise ProjectError(f"{where}: frame {frame} of {sequence.path.name} is not a frame of the pool {pool.path.name}")
        out.append(int(origin.frames[frame]))
    return out


def pool_frames_from_project(project: Path, pool: ZSequence, clip: str | None = None) -> list[int]:
    """The pool numbers of the frames the project's guides (or, with ``clip``, that clip's markers) point at, in order.

    ``pool``: the pool, or a set curated from it, that the clips must come from.
    """
    document = read_mlt_document(project)
    if clip is not None:
        frames = marker_frames(document, clip)
        return _in_pool(_sidecar_of(document, clip), frames, pool, f"{project}: markers of {clip!r}")
    guides = guide_frames(document)
    if not guides:
        raise ProjectError(f"{project}: no guides; add guides on the frames to travel between and save (or name a clip)")
    result = conform_project(document, None, lanes=False)  # which frames the guides are on: lanes say nothing of that
    out = []
    for guide in guides:
        if guide >= len(result.result.gap) or result.result.gap[guide]:
            raise ProjectError(f"{project}: the guide at frame {guide} is not over a latent clip")
        source, frame = int(result.result.source[guide, 0]), int(result.result.frame[guide, 0])
        out += _in_pool(result.sequences[source], [frame], pool, f"{project}: guide at frame {guide}")
    return out


def key_frames(text: str, pool: ZSequence) -> list[int]:
    """Positions in ``pool`` of the frames named by ``3,17,40``/timecodes (as its sheet numbers them),
    ``PROJECT.kdenlive`` (its guides) or ``PROJECT.kdenlive#CLIP`` (that clip's markers)."""
    name, _, clip = text.partition("#")
    if not name.endswith((".kdenlive", ".mlt")):
        return selected_frames(pool, text)
    numbers = pool_frames_from_project(Path(name), pool, clip or None)
    numbering = sequence_numbering(pool)
    if not numbering.by_pool:
        raise ProjectError(f"{text}: {pool.path.name} has frames of no pool frame; give the pool or a set curated from it")
    try:
        return [frame_numbered(numbering, number) for number in numbers]
    except UsageError as exc:
        raise ProjectError(f"{text}: {exc}") from exc
