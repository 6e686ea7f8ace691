"""Keyframes chosen in the editor: a Kdenlive project's guides, or one clip's markers, as frames of a pool or curated set.

Guides sit on timeline frames: the conform says which clip frame each shows, and that frame's pool
origin is the keyframe. Markers sit on a clip's own frames: the clip's sidecar gives their origin.
The keyframe is the first frame of the given pool or curated set that shows that pool number.
Kdenlive keeps guides in ``kdenlive:docproperties.guides`` (22.12) or a sequence's
``kdenlive:sequenceproperties.guides`` (23.04+), and markers in the bin clip's ``kdenlive:markers``,
each as JSON ``[{"pos": frame, "comment": ...}]``.
"""

from __future__ import annotations

import json
from pathlib import Path

from lxml import etree

from latentcut.errors import ProjectError, UsageError
from latentcut.latent.curation import frame_numbered, selected_frames, sequence_numbering, sequence_origin
from latentcut.latent.sidecar import ZSequence, load_sequence

__all__ = ["GUIDE_PROPERTIES", "guide_frames", "key_frames", "marker_frames", "pool_frames_from_project"]

GUIDE_PROPERTIES = ("kdenlive:docproperties.guides", "kdenlive:sequenceproperties.guides")


def _positions(text: str | None, where: str) -> list[int]:
    if not text or not text.strip():
        return []
    try:
        entries = json.loads(text)
        return sorted(int(entry["pos"]) for entry in entries)
    except (ValueError, TypeError, KeyError) as exc:
        raise ProjectError(f"{where} is not Kdenlive's JSON list of positions ({exc}); re-save the project") from exc


def _root(project: Path) -> etree._Element:
    # The same safe parser as the conform's: no entities, no DTD, no network.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        return etree.fromstring(project.read_bytes(), parser)
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ProjectError(f"{project}: not a readable Kdenlive project ({exc})") from exc


def guide_frames(project: Path) -> list[int]:
    """The timeline frames of the project's guides, in order (every sequence's guides, the first that has any)."""
    root = _root(project)
    for name in GUIDE_PROPERTIES:
        for prop in root.iter("property"):
            if prop.get("name") == name:
                frames = _positions(prop.text, f"{project}: {name}")
                if frames:
                    return frames
    return []


def _clip_name(producer: etree._Element) -> tuple[str, str, str]:
    props = {p.get("name"): (p.text or "") for p in producer.findall("property")}
    resource = props.get("resource", "")
    return props.get("kdenlive:clipname", ""), Path(resource).stem, props.get("kdenlive:markers", "")


def marker_frames(project: Path, clip: str) -> tuple[list[int], etree._Element]:
    """The clip frames of the markers on bin clip ``clip`` (its name in the bin or its file's stem), and its producer."""
    root = _root(project)
    for producer in [*root.iter("producer"), *root.iter("chain")]:
        name, stem, markers = _clip_name(producer)
        if clip in (name, stem) and markers.strip():
            return _positions(markers, f"{project}: markers of clip {clip!r}"), producer
    raise ProjectError(f"{project}: no clip named {clip!r} with markers; add markers to it in Kdenlive and save")


def _sidecar_of(project: Path, producer: etree._Element) -> ZSequence:
    props = {p.get("name"): (p.text or "") for p in producer.findall("property")}
    # Relative paths resolve against the project's root folder, as in the conform and the MLT module.
    root = producer.getroottree().getroot().get("root", "")
    folder = Path(root) if root and Path(root).is_dir() else project.parent
    candidates = []
    if props.get("latent:sidecar"):
        candidates.append(folder / props["latent:sidecar"])
    resource = props.get("kdenlive:originalurl") or props.get("resource", "")
    if resource:
        candidates.append((folder / resource).with_name(Path(resource).stem + ".z.npy"))
    for path in candidates:
        if path.is_file():
            return load_sequence(path, mmap=True)
    raise ProjectError(f"{project}: clip {props.get('resource', '?')} has no sidecar beside it; render it with latentcut render")


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
    if clip is not None:
        frames, producer = marker_frames(project, clip)
        return _in_pool(_sidecar_of(project, producer), frames, pool, f"{project}: markers of {clip!r}")
    guides = guide_frames(project)
    if not guides:
        raise ProjectError(f"{project}: no guides; add guides on the frames to travel between and save (or name a clip)")
    from latentcut.conform.project import conform_project

    result = conform_project(project, None, lanes=False)  # which frames the guides are on: lanes say nothing of that
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
