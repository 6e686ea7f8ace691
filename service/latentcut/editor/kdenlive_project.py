"""Kdenlive projects (document version 1.04, as Kdenlive 22.12 reads and writes them) written with latent clips in the bin, their bin clips found by name, guides and markers added.

A latent clip is a producer with ``mlt_service`` ``latent`` (latentcut's MLT module) whose resource is
the proxy video, with a ``latent:sidecar`` property naming its z-sequence. Where the module is missing,
Kdenlive quietly plays the clip as ordinary video; the conform finds the sidecar either way (the
property, the proxy's container tags, or its name), so nothing is lost. A plain clip (a performance's
source video, a reference) is ordinary video and carries no latents.

A project's preview track (``with_preview_track``) is a top video track "latent preview" holding one
latent clip of the preview render beside the project, marked ``latent:preview`` so the conform never
reads it, and with ``refresh=1`` so the producer follows the file as the watcher replaces it.

Guides and clip markers are what Kdenlive 22.12 keeps: a JSON list of ``{"comment", "pos", "type"}``
(``pos`` in project frames, ``type`` the marker colour) in the bin's ``kdenlive:docproperties.guides``
for guides, in a clip's ``kdenlive:markers`` (on the bin clip and every timeline copy) for markers.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from latentcut.atomic import atomic_path
from latentcut.conform.sidecars import SidecarFinder
from latentcut.errors import InputError, ProjectError
from latentcut.media import MediaFacts, media_facts
from latentcut.timeline.kdenlive import PREVIEW_PROPERTY, SIDECAR_PROPERTY, bin_clips, is_preview, media_of, resolved_path
from latentcut.timeline.lanes import LANE_FILTER
from latentcut.timeline.mlt_eval import rendered_service_id, timeline_frames
from latentcut.timeline.mlt_xml import (
    Addition,
    Element,
    Entry,
    MltDocument,
    Playlist,
    Service,
    Tractor,
    element_ids,
    mlt_bytes,
    read_mlt_document,
    rewritten_mlt,
)
from latentcut.timeline.model import SourceRef

__all__ = [
    "GUIDES_PROPERTY",
    "MARKERS_PROPERTY",
    "PREVIEW_TRACK_NAME",
    "Clip",
    "Cut",
    "Marker",
    "PlainClip",
    "ProjectClip",
    "bin_clip",
    "bin_clip_media",
    "plain_clip",
    "project_clips",
    "with_clip_markers",
    "with_guides",
    "with_lanes",
    "with_preview_track",
    "write_kdenlive_project",
]

_LATENT_PROFILES = {Fraction(24): "24", Fraction(25): "25", Fraction(30): "30", Fraction(60): "60", Fraction(30000, 1001): "2997"}
_PLAIN_SERVICE = "avformat"  # what Kdenlive writes for a video file it has not yet validated
GUIDES_PROPERTY = "kdenlive:docproperties.guides"  # on the bin playlist; 23.04+ also keeps a sequence's on its tractor
MARKERS_PROPERTY = "kdenlive:markers"  # on a bin clip (and, as latentcut writes them, its timeline copies)
PREVIEW_TRACK_NAME = "latent preview"

Cut = tuple[int, int, int]
"""A piece of a clip on a track: (clip index, first frame, last frame), the last inclusive as MLT's ``out``."""


@dataclass(frozen=True)
class ProjectClip:
    """A proxy video and the sidecar it was rendered from."""

    video: Path
    sidecar: Path
    frames: int
    fps: Fraction
    size: tuple[int, int]


@dataclass(frozen=True)
class PlainClip:
    """A video played as it is, with no latents: the conform must never need it."""

    video: Path
    frames: int
    fps: Fraction
    size: tuple[int, int]


Clip = ProjectClip | PlainClip
"""What a project's bin holds: latent clips and plain ones."""


def _facts(video: Path, fix: str) -> tuple[MediaFacts, tuple[int, int]]:
    try:
        facts = media_facts(video)
    except InputError as exc:
        raise ProjectError(f"{exc}; {fix}") from exc
    if facts.size is None:
        raise ProjectError(f"{video}: not a readable video; {fix}")
    return facts, facts.size


def project_clips(videos: list[Path], project: Path) -> list[ProjectClip]:
    """Check each video (readable, with a sidecar that matches it) and describe it; raise naming the first that is not."""
    finder = SidecarFinder(project, project.parent)
    clips = []
    for video in videos:
        facts, size = _facts(video, "give proxies rendered by latentcut render")
        sequence = finder.sequence_for(SourceRef(video.resolve(), video.stem, {}, video.name))
        if sequence is None:
            raise ProjectError(
                f"{video}: no sidecar found (no latent_sidecar tag, no {video.stem}.z.npy beside it); render it with latentcut render"
            )
        clips.append(ProjectClip(video.resolve(), sequence.path.resolve(), facts.frames, sequence.meta.fps or Fraction(25), size))
    return clips


def plain_clip(video: Path) -> PlainClip:
    """Describe ``video`` as a plain clip; raise naming it when it is not a readable video with a frame rate."""
    facts, size = _facts(video, "give a video file ffmpeg reads")
    if facts.fps is None:
        raise ProjectError(f"{video}: the video does not give its frame rate; re-encode it with ffmpeg -r")
    return PlainClip(video.resolve(), facts.frames, facts.fps, size)


def _relative(path: Path, folder: Path) -> str:
    return os.path.relpath(path, folder)


def _producer(
    producer_id: str,
    clip: Clip,
    folder: Path,
    length: int,
    bin_id: int,
    service: str,
    *,
    name: str = "",
    bin_folder: int = -1,
) -> Element:
    props: list[tuple[str, object]] = [
        ("length", length),
        ("eof", "pause"),
        ("resource", _relative(clip.video, folder)),
        ("mlt_service", service if isinstance(clip, ProjectClip) else _PLAIN_SERVICE),
        ("audio_index", -1),
        ("video_index", 0),
        ("kdenlive:clipname", name or clip.video.stem),
        ("kdenlive:id", bin_id),
        ("kdenlive:folderid", bin_folder),
    ]
    if isinstance(clip, ProjectClip):
        props.append((SIDECAR_PROPERTY, _relative(clip.sidecar, folder)))
    return Element("producer", {"id": producer_id, "in": "0", "out": str(length - 1)}, _texts(props))


def _texts(props: Sequence[tuple[str, object]]) -> tuple[tuple[str, str], ...]:
    return tuple((name, str(value)) for name, value in props)


def _entry(producer: str, first: int, last: int) -> Element:
    return Element("entry", {"producer": producer, "in": str(first), "out": str(last)})


def _profile_name(fps: Fraction, width: int, height: int) -> str:
    fits = width == height and width in (256, 512, 1024) and fps in _LATENT_PROFILES
    return f"latent_{width}_{_LATENT_PROFILES[fps]}" if fits else ""


def _checked_tracks(path: Path, tracks: Sequence[Sequence[Cut]], lengths: list[int]) -> None:
    for number, cuts in enumerate(tracks, start=1):
        for index, first, last in cuts:
            if not 0 <= index < len(lengths) or not 0 <= first <= last < lengths[index]:
                raise ValueError(f"{path}: V{number} cut ({index}, {first}, {last}) lies outside the clips")


def write_kdenlive_project(
    path: Path,
    clips: Sequence[Clip],
    *,
    timeline: bool = False,
    service: str = "latent",
    cuts: list[Cut] | None = None,
    tracks: Sequence[Sequence[Cut]] | None = None,
    track_names: Sequence[str] = (),
    cut_names: Sequence[str] = (),
) -> str:
    """Write ``path`` (atomically): the clips in the bin, and laid end to end on V1 with ``timeline``; return the profile's name.

    ``cuts`` puts those pieces on V1 in order instead of whole clips (``project new --explode``: one
    piece per latent, see ``latent.curation.exploded_cuts``). ``tracks`` gives every video track's
    pieces, V1 (the bottom) first. An upper track covers the ones below wherever it has a clip (as
    in Kdenlive), and the conform takes its latents from what shows, so a plain clip is for a
    lower track under latent clips. ``track_names`` names V1, V2, ... in Kdenlive's track headers.
    ``cut_names`` names each of the ``cuts`` (``pool #17``): Kdenlive 22.12 shows a timeline clip by the name of
    its bin clip, so each named piece is a bin clip of its own, in a bin folder named after its proxy.

    The profile takes the first clip's size and frame rate; latentcut's profile names are used where one fits.
    """
    if not clips:
        raise ProjectError(f"{path}: no clips to put in the project")
    if tracks is not None and (cuts is not None or timeline):
        raise ValueError(f"{path}: give tracks, or cuts or timeline, not both")
    if cut_names and (cuts is None or len(cut_names) != len(cuts)):
        raise ValueError(f"{path}: {len(cut_names)} cut names for {len(cuts or [])} cuts")
    folder = path.resolve().parent
    fps, (width, height) = clips[0].fps, clips[0].size
    profile_name = _profile_name(fps, width, height)
    profile = Element(
        "profile",
        {
            "description": profile_name or f"latentcut {width}x{height}",
            "width": str(width),
            "height": str(height),
            "progressive": "1",
            "sample_aspect_num": "1",
            "sample_aspect_den": "1",
            "display_aspect_num": str(width),
            "display_aspect_den": str(height),
            "frame_rate_num": str(fps.numerator),
            "frame_rate_den": str(fps.denominator),
            "colorspace": "709",
        },
    )
    lengths = [max(1, int(clip.frames * fps / clip.fps)) for clip in clips]
    bin_producers = [
        _producer(f"bin{index}", clip, folder, length, index + 2, service)
        for index, (clip, length) in enumerate(zip(clips, lengths, strict=True))
    ]
    # Named pieces: after the clips' bin ids a folder for each clip cut, then a bin clip for each piece.
    named = list(zip(cuts or [], cut_names, strict=False))
    folders = {index: len(clips) + 2 + n for n, index in enumerate(sorted({index for (index, _, _), _ in named}))}
    piece_ids = [len(clips) + 2 + len(folders) + k for k in range(len(named))]

    def piece(producer_id: str, k: int) -> Element:
        (index, _, _), name = named[k]
        return _producer(
            producer_id, clips[index], folder, lengths[index], piece_ids[k], service, name=name, bin_folder=folders[index]
        )

    main_bin = Element(
        "playlist",
        {"id": "main_bin"},
        _texts(
            [
                ("kdenlive:docproperties.version", "1.04"),
                ("kdenlive:docproperties.kdenliveversion", "22.12.3"),
                ("kdenlive:docproperties.profile", profile_name),
                ("kdenlive:docproperties.documentid", str(uuid.uuid4().int)[:13]),
                ("kdenlive:docproperties.enableproxy", 0),
                ("kdenlive:docproperties.generateproxy", 0),
                ("xml_retain", 1),
                *((f"kdenlive:folder.-1.{folder_id}", clips[index].video.stem) for index, folder_id in folders.items()),
            ]
        ),
        (
            *(_entry(f"bin{index}", 0, length - 1) for index, length in enumerate(lengths)),
            *(_entry(f"piece{k}", 0, lengths[index] - 1) for k, ((index, _, _), _) in enumerate(named)),
        ),
    )
    if tracks is None and cuts is not None:
        tracks = [cuts]
    elif tracks is None and timeline:
        tracks = [[(index, 0, length - 1) for index, length in enumerate(lengths)]]
    tracks = list(tracks or [])
    _checked_tracks(path, tracks, lengths)
    total = max((sum(last - first + 1 for _, first, last in track) for track in tracks), default=1)
    black = Element(
        "producer",
        {"id": "black_track", "in": "0", "out": str(max(total, 1) - 1)},
        _texts([("length", 2147483647), ("eof", "continue"), ("resource", "black"), ("mlt_service", "color")]),
    )
    # The per-use copies Kdenlive puts on a track: their own producers (one per clip and track), the bin clip's kdenlive:id.
    copies: list[Element] = []
    for number, track in enumerate(tracks, start=1):
        if number == 1 and named:
            copies += [piece(f"v1p{k}", k) for k in range(len(named))]
            continue
        for index in sorted({index for index, _, _ in track}):
            copies.append(_producer(f"v{number}c{index}", clips[index], folder, lengths[index], index + 2, service))
    video_tracks = max(2, len(tracks))
    names = [*track_names, *(f"V{number}" for number in range(len(track_names) + 1, video_tracks + 1))]
    layout: list[tuple[str, str, bool, Sequence[Cut]]] = [("trA1", "Audio 1", True, [])]
    for number in range(1, video_tracks + 1):
        layout.append((f"trV{number}", names[number - 1], False, tracks[number - 1] if number <= len(tracks) else []))
    track_elements: list[Element] = []
    for tractor_id, name, audio, pieces in layout:
        lane_number = tractor_id.removeprefix("trV")
        audio_props = _texts([("kdenlive:audio_track", 1)]) if audio else ()
        entries = tuple(
            _entry(f"v1p{k}" if lane_number == "1" and named else f"v{lane_number}c{index}", first, last)
            for k, (index, first, last) in enumerate(pieces)
        )
        lanes = [
            Element("playlist", {"id": f"{tractor_id}a"}, audio_props, entries),
            Element("playlist", {"id": f"{tractor_id}b"}, audio_props),
        ]
        tractor = Element(
            "tractor",
            {"id": tractor_id, "in": "0"},
            (*audio_props, ("kdenlive:track_name", name)),
            tuple(Element("track", {"hide": "video" if audio else "audio", "producer": lane.attrib["id"]}) for lane in lanes),
        )
        track_elements += [*lanes, tractor]
    main = Element(
        "tractor",
        {"id": "maintractor", "in": "0"},
        children=tuple(Element("track", {"producer": producer}) for producer in ["black_track", *(t for t, _, _, _ in layout)]),
    )
    root = Element(
        "mlt",
        {"LC_NUMERIC": "C", "producer": "main_bin", "version": "7.12.0", "root": str(folder)},
        children=(
            profile,
            *bin_producers,
            *(piece(f"piece{k}", k) for k in range(len(named))),
            main_bin,
            black,
            *copies,
            *track_elements,
            main,
        ),
    )
    with atomic_path(path) as tmp:
        tmp.write_bytes(mlt_bytes(root))
    return profile_name


@dataclass(frozen=True)
class Marker:
    """A guide or clip marker: at ``frame`` (project frames; a marker counts from the clip's first frame), named ``comment``."""

    frame: int
    comment: str
    colour: int = 0  # Kdenlive's marker type: 0 purple, 1 blue, 2 aqua, 3 green, 4 yellow, 5 orange, 6 red, ...


_OURS = re.compile(r"^(beat|onset) \d+$")  # what latentcut writes, replaced on the next run; the user's guides stay


def _merged(existing: str | None, markers: Sequence[Marker], project: Path) -> str:
    try:
        kept = [m for m in json.loads(existing or "[]") if not _OURS.match(str(m.get("comment", "")))]
    except (ValueError, AttributeError) as exc:
        raise ProjectError(f"{project}: its guides or markers are not Kdenlive's JSON ({exc}); re-save it in Kdenlive") from exc
    ours = [{"comment": m.comment, "pos": int(m.frame), "type": int(m.colour)} for m in markers]
    return json.dumps(sorted(kept + ours, key=lambda m: int(m["pos"])), indent=4)


def _written(document: MltDocument, changes: Mapping[str, Mapping[str, str]], output: Path, **edits: Any) -> None:
    with atomic_path(output) as tmp:
        tmp.write_bytes(rewritten_mlt(document, changes, **edits))


def with_guides(document: MltDocument, output: Path, guides: Sequence[Marker]) -> None:
    """Write ``document`` to ``output`` (atomically) with ``guides`` added; guides an earlier run wrote are replaced."""
    main_bin = document.services.get("main_bin")
    if not isinstance(main_bin, Playlist):
        raise ProjectError(f"{document.path}: no Kdenlive bin (playlist main_bin); open and save it in Kdenlive first")
    merged = _merged(main_bin.props.get(GUIDES_PROPERTY), guides, document.path)
    _written(document, {"main_bin": {GUIDES_PROPERTY: merged}}, output)


def bin_clip(document: MltDocument, clip: str) -> Service:
    """The bin clip named ``clip``: its Kdenlive name, its file's name or stem, or its bin id."""
    clips = bin_clips(document).values()
    for service in clips:
        resource = Path(media_of(service)[0])
        if clip in (service.props.get("kdenlive:clipname"), resource.name, resource.stem, service.props.get("kdenlive:id")):
            return service
    names = sorted({service.props.get("kdenlive:clipname") or Path(media_of(service)[0]).name for service in clips} - {""})
    raise ProjectError(f"{document.path}: no bin clip {clip!r}; its clips are {', '.join(names) or 'none'}")


def bin_clip_media(document: MltDocument, clip: str) -> Path:
    """The media file of the bin clip named ``clip`` (see ``bin_clip``)."""
    return resolved_path(media_of(bin_clip(document, clip))[0], document.folder)


def with_clip_markers(document: MltDocument, output: Path, clip: str, markers: Sequence[Marker]) -> None:
    """Write ``document`` to ``output`` (atomically) with ``markers`` on the bin clip ``clip`` and each of its timeline copies."""
    bin_id = bin_clip(document, clip).props.get("kdenlive:id", "")
    changes = {
        service.id: {MARKERS_PROPERTY: _merged(service.props.get(MARKERS_PROPERTY), markers, document.path)}
        for service in document.services.values()
        if isinstance(service, Service) and service.props.get("kdenlive:id") == bin_id
    }
    _written(document, changes, output)


def with_lanes(project: Path, output: Path, lanes: Sequence[Mapping[str, str]], *, track: int = 1, clip: int = 0) -> None:
    """Write ``project`` to ``output`` (atomically) with a "Latent controls" effect (``latent_controls``) per entry of ``lanes``
    on clip number ``clip`` of video track ``track``, each with those properties (``truncation_psi``: ``"0=1;50=0.6"`` ...)."""
    document = read_mlt_document(project)
    playlist = document.services.get(f"trV{track}a")
    entries = sum(isinstance(item, Entry) for item in playlist.items) if isinstance(playlist, Playlist) else 0
    if not 0 <= clip < entries:
        raise ProjectError(f"{project}: track V{track} has {entries} clips, not a clip {clip}")
    effects = [
        Addition(
            Element("filter", props=_texts([("mlt_service", LANE_FILTER), ("kdenlive_id", LANE_FILTER), *props.items()])),
            into=f"trV{track}a",
            entry=clip,
        )
        for props in lanes
    ]
    _written(document, {}, output, added=effects)


def _timeline_tractor(document: MltDocument) -> Tractor:
    """The tractor of the timeline melt renders; in a 1.1 project, the sequence its project tractor plays."""
    tractor = document.services.get(rendered_service_id(document))
    if not isinstance(tractor, Tractor):
        raise ProjectError(f"{document.path}: its timeline is not a tractor of tracks; open and save it in Kdenlive first")
    if tractor.props.get("kdenlive:projectTractor") == "1" and len(tractor.tracks) == 1:
        sequence = document.services.get(tractor.tracks[0].producer)
        if isinstance(sequence, Tractor):
            return sequence
    return tractor


def _free_id(taken: set[str], wanted: str) -> str:
    """``wanted``, or ``wanted`` numbered, that no element has yet; it is taken from then on."""
    name, number = wanted, 1
    while name in taken:
        number += 1
        name = f"{wanted}{number}"
    taken.add(name)
    return name


def _next_bin_id(document: MltDocument) -> int:
    """One past the largest bin id (clips and folders share Kdenlive's numbering)."""
    props = [service.props for service in document.services.values()]
    ids = [int(value) for p in props if (value := p.get("kdenlive:id", "").strip()).isdigit()]
    folders = [name.rsplit(".", 1)[1] for p in props for name in p if name.startswith("kdenlive:folder.")]
    return max([*ids, *(int(number) for number in folders if number.isdigit())], default=1) + 1


def _preview_producer(element_id: str, relative: str, frames: int, bin_id: int, *, on_track: bool) -> Element:
    props: list[tuple[str, object]] = [
        ("length", frames),
        ("eof", "pause"),
        ("resource", relative),
        ("mlt_service", "latent"),
        ("refresh", 1),  # the producer follows the file as the watcher replaces it
        (PREVIEW_PROPERTY, 1),  # the conform never reads this clip
        ("audio_index", -1),
        ("video_index", 0),
        ("kdenlive:clipname", PREVIEW_TRACK_NAME),
        ("kdenlive:id", bin_id),
        ("kdenlive:folderid", -1),
        *((("set.test_audio", 1),) if on_track else ()),  # as Kdenlive marks a video track's copy of a clip
    ]
    return Element("producer", {"id": element_id, "in": "0", "out": str(frames - 1)}, _texts(props))


def with_preview_track(project: Path, preview: Path) -> tuple[int, bool]:
    """Give ``project`` (rewritten atomically) a top video track "latent preview" playing ``preview`` over the whole timeline.

    The clip is a latent clip with ``refresh=1`` and ``latent:preview=1``; Kdenlive's internal compositing
    of the top video track is copied for it, so its blank frames (past the file's end) show the tracks
    below. Run again, it only stretches the clip over the timeline as it is now. Everything else in the
    file stays as it was. Return the clip's length in frames and whether the track was added.
    """
    document = read_mlt_document(project)
    timeline = _timeline_tractor(document)
    frames = timeline_frames(document)
    if frames < 1:
        raise ProjectError(f"{project}: the timeline is empty; put clips on it in Kdenlive first")
    relative = _relative(preview.resolve(), document.folder.resolve())
    bins = bin_clips(document)
    previews = [i for i, s in document.services.items() if isinstance(s, Service) and is_preview(s, bins)]
    played = {
        item.producer
        for i, playlist in document.services.items()
        if isinstance(playlist, Playlist) and i != "main_bin"
        for item in playlist.items
        if isinstance(item, Entry)
    }
    span = {"in": "0", "out": str(frames - 1)}
    if played & set(previews):  # the track is there: the clip now spans the timeline as it is
        changes = {i: {"length": str(frames), "resource": relative} for i in previews}
        _written(document, changes, project, attributes=dict.fromkeys(previews, span), entries=dict.fromkeys(previews, span))
        return frames, False
    if not isinstance(document.services.get("main_bin"), Playlist):
        raise ProjectError(f"{project}: no Kdenlive bin (playlist main_bin); open and save it in Kdenlive first")
    taken = set(element_ids(document))
    bin_id = _next_bin_id(document)
    clip = _preview_producer(_free_id(taken, "latent_preview"), relative, frames, bin_id, on_track=False)
    on_track = _preview_producer(_free_id(taken, "latent_preview_v"), relative, frames, bin_id, on_track=True)
    entry = Element("entry", {"producer": on_track.attrib["id"], **span}, _texts([("kdenlive:id", bin_id)]))
    lanes = [Element("playlist", {"id": _free_id(taken, f"latent_preview_lane{lane}")}) for lane in (0, 1)]
    lanes[0] = Element("playlist", lanes[0].attrib, children=(entry,))
    track = Element(
        "tractor",
        {"id": _free_id(taken, "latent_preview_track"), **span},
        _texts([("kdenlive:trackheight", 60), ("kdenlive:collapsed", 0), ("kdenlive:track_name", PREVIEW_TRACK_NAME)]),
        tuple(Element("track", {"hide": "audio", "producer": lane.attrib["id"]}) for lane in lanes),
    )
    added = [
        Addition(clip, before="main_bin"),
        Addition(Element("entry", {"producer": clip.attrib["id"], **span}), into="main_bin"),
        # defined before the timeline that plays them, as MLT reads in order
        *(Addition(element, before=timeline.id) for element in (on_track, *lanes, track)),
        Addition(Element("track", {"producer": track.attrib["id"]}), into=timeline.id, after_last="track"),
    ]
    compositing = [t for t in timeline.transitions if t.props.get("internal_added") == "237" and t.service not in ("mix", "")]
    if compositing:  # Kdenlive's compositing of the top track, now for the preview's (numbered after the others)
        props = {**compositing[-1].props, "b_track": str(len(timeline.tracks))}
        attrib: dict[str, str] = {key: props.pop(key) for key in ("in", "out") if key in props}
        composite = Element(
            "transition", {"id": _free_id(taken, "latent_preview_composite"), **attrib}, _texts(list(props.items()))
        )
        added.append(Addition(composite, into=timeline.id, after_last="transition"))
    _written(document, {}, project, added=added)
    return frames, True
