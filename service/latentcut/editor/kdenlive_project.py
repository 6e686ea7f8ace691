"""Writing Kdenlive projects (document version 1.04, as Kdenlive 22.12 reads and writes them) whose bin holds latent clips, and their guides.

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

import copy
import json
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from lxml import etree

from latentcut.atomic import atomic_path
from latentcut.conform.sidecars import SidecarFinder
from latentcut.errors import InputError, ProjectError
from latentcut.media import MediaFacts, media_facts
from latentcut.timeline.kdenlive import PREVIEW_PROPERTY, SIDECAR_PROPERTY
from latentcut.timeline.mlt_eval import rendered_service_id, timeline_frames
from latentcut.timeline.mlt_xml import read_mlt_document
from latentcut.timeline.model import SourceRef

__all__ = [
    "PREVIEW_TRACK_NAME",
    "Clip",
    "Cut",
    "Marker",
    "PlainClip",
    "ProjectClip",
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


def _property(parent: etree._Element, name: str, value: object) -> None:
    etree.SubElement(parent, "property", name=name).text = str(value)


def _producer(
    root: etree._Element,
    producer_id: str,
    clip: Clip,
    folder: Path,
    length: int,
    bin_id: int,
    service: str,
    *,
    name: str = "",
    bin_folder: int = -1,
) -> etree._Element:
    element = etree.SubElement(root, "producer", {"id": producer_id, "in": "0", "out": str(length - 1)})
    for key, value in (
        ("length", length),
        ("eof", "pause"),
        ("resource", _relative(clip.video, folder)),
        ("mlt_service", service if isinstance(clip, ProjectClip) else _PLAIN_SERVICE),
        ("audio_index", -1),
        ("video_index", 0),
        ("kdenlive:clipname", name or clip.video.stem),
        ("kdenlive:id", bin_id),
        ("kdenlive:folderid", bin_folder),
    ):
        _property(element, key, value)
    if isinstance(clip, ProjectClip):
        _property(element, SIDECAR_PROPERTY, _relative(clip.sidecar, folder))
    return element


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
    folder = path.resolve().parent
    fps, (width, height) = clips[0].fps, clips[0].size
    profile_name = _profile_name(fps, width, height)
    root = etree.Element("mlt", {"LC_NUMERIC": "C", "producer": "main_bin", "version": "7.12.0", "root": str(folder)})
    etree.SubElement(
        root,
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
    for index, (clip, length) in enumerate(zip(clips, lengths, strict=True)):
        _producer(root, f"bin{index}", clip, folder, length, index + 2, service)
    main_bin = etree.SubElement(root, "playlist", id="main_bin")
    for name, value in (
        ("kdenlive:docproperties.version", "1.04"),
        ("kdenlive:docproperties.kdenliveversion", "22.12.3"),
        ("kdenlive:docproperties.profile", profile_name),
        ("kdenlive:docproperties.documentid", str(uuid.uuid4().int)[:13]),
        ("kdenlive:docproperties.enableproxy", 0),
        ("kdenlive:docproperties.generateproxy", 0),
        ("xml_retain", 1),
    ):
        _property(main_bin, name, value)
    for index, length in enumerate(lengths):
        etree.SubElement(main_bin, "entry", {"producer": f"bin{index}", "in": "0", "out": str(length - 1)})
    if tracks is not None and (cuts is not None or timeline):
        raise ValueError(f"{path}: give tracks, or cuts or timeline, not both")
    if cut_names and (cuts is None or len(cut_names) != len(cuts)):
        raise ValueError(f"{path}: {len(cut_names)} cut names for {len(cuts or [])} cuts")
    # Named pieces: after the clips' bin ids a folder for each clip cut, then a bin clip for each piece.
    named = list(zip(cuts or [], cut_names, strict=False))
    folders = {index: len(clips) + 2 + n for n, index in enumerate(sorted({index for (index, _, _), _ in named}))}
    piece_ids = [len(clips) + 2 + len(folders) + k for k in range(len(named))]
    for index, folder_id in folders.items():
        _property(main_bin, f"kdenlive:folder.-1.{folder_id}", clips[index].video.stem)
    for k, ((index, _, _), name) in enumerate(named):
        piece = _producer(
            root, f"piece{k}", clips[index], folder, lengths[index], piece_ids[k], service, name=name, bin_folder=folders[index]
        )
        main_bin.addprevious(piece)
        etree.SubElement(main_bin, "entry", {"producer": f"piece{k}", "in": "0", "out": str(lengths[index] - 1)})
    if tracks is None and cuts is not None:
        tracks = [cuts]
    elif tracks is None and timeline:
        tracks = [[(index, 0, length - 1) for index, length in enumerate(lengths)]]
    tracks = list(tracks or [])
    _checked_tracks(path, tracks, lengths)
    total = max((sum(last - first + 1 for _, first, last in track) for track in tracks), default=1)
    black = etree.SubElement(root, "producer", {"id": "black_track", "in": "0", "out": str(max(total, 1) - 1)})
    for name, value in (("length", 2147483647), ("eof", "continue"), ("resource", "black"), ("mlt_service", "color")):
        _property(black, name, value)
    # The per-use copies Kdenlive puts on a track: their own producers (one per clip and track), the bin clip's kdenlive:id.
    for number, track in enumerate(tracks, start=1):
        if number == 1 and named:
            for k, ((index, _, _), name) in enumerate(named):
                _producer(
                    root,
                    f"v1p{k}",
                    clips[index],
                    folder,
                    lengths[index],
                    piece_ids[k],
                    service,
                    name=name,
                    bin_folder=folders[index],
                )
            continue
        for index in sorted({index for index, _, _ in track}):
            _producer(root, f"v{number}c{index}", clips[index], folder, lengths[index], index + 2, service)
    video_tracks = max(2, len(tracks))
    names = [*track_names, *(f"V{number}" for number in range(len(track_names) + 1, video_tracks + 1))]
    layout: list[tuple[str, str, bool, Sequence[Cut]]] = [("trA1", "Audio 1", True, [])]
    for number in range(1, video_tracks + 1):
        layout.append((f"trV{number}", names[number - 1], False, tracks[number - 1] if number <= len(tracks) else []))
    for tractor_id, name, audio, pieces in layout:
        lanes = [etree.SubElement(root, "playlist", id=f"{tractor_id}{lane}") for lane in ("a", "b")]
        lane_number = tractor_id.removeprefix("trV")
        for k, (index, first, last) in enumerate(pieces):
            producer = f"v1p{k}" if lane_number == "1" and named else f"v{lane_number}c{index}"
            etree.SubElement(lanes[0], "entry", {"producer": producer, "in": str(first), "out": str(last)})
        if audio:
            for lane in lanes:
                _property(lane, "kdenlive:audio_track", 1)
        tractor = etree.SubElement(root, "tractor", {"id": tractor_id, "in": "0"})
        if audio:
            _property(tractor, "kdenlive:audio_track", 1)
        _property(tractor, "kdenlive:track_name", name)
        for lane in lanes:
            etree.SubElement(tractor, "track", {"hide": "video" if audio else "audio", "producer": lane.get("id", "")})
    main = etree.SubElement(root, "tractor", {"id": "maintractor", "in": "0"})
    etree.SubElement(main, "track", producer="black_track")
    for tractor_id, _, _, _ in layout:
        etree.SubElement(main, "track", producer=tractor_id)
    with atomic_path(path) as tmp:
        tmp.write_bytes(etree.tostring(root.getroottree(), xml_declaration=True, encoding="utf-8", pretty_print=True))
    return profile_name


@dataclass(frozen=True)
class Marker:
    """A guide or clip marker: at ``frame`` (project frames; a marker counts from the clip's first frame), named ``comment``."""

    frame: int
    comment: str
    colour: int = 0  # Kdenlive's marker type: 0 purple, 1 blue, 2 aqua, 3 green, 4 yellow, 5 orange, 6 red, ...


_OURS = re.compile(r"^(beat|onset) \d+$")  # what latentcut writes, replaced on the next run; the user's guides stay


def _read(project: Path) -> etree._ElementTree:
    try:
        return etree.parse(str(project), etree.XMLParser(resolve_entities=False, no_network=True))
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ProjectError(f"{project}: not a readable Kdenlive project ({exc})") from exc


def _merged(existing: str | None, markers: Sequence[Marker], project: Path) -> str:
    try:
        kept = [m for m in json.loads(existing or "[]") if not _OURS.match(str(m.get("comment", "")))]
    except (ValueError, AttributeError) as exc:
        raise ProjectError(f"{project}: its guides or markers are not Kdenlive's JSON ({exc}); re-save it in Kdenlive") from exc
    ours = [{"comment": m.comment, "pos": int(m.frame), "type": int(m.colour)} for m in markers]
    return json.dumps(sorted(kept + ours, key=lambda m: int(m["pos"])), indent=4)


def _set_property(element: etree._Element, name: str, value: str) -> None:
    found = element.find(f"property[@name='{name}']")
    if found is None:
        found = etree.Element("property", name=name)
        properties = element.findall("property")
        # Properties come before a playlist's entries and a producer's filters, as Kdenlive writes them.
        if properties:
            properties[-1].addnext(found)
        else:
            element.insert(0, found)
    found.text = value


def _written(tree: etree._ElementTree, output: Path) -> None:
    with atomic_path(output) as tmp:
        tree.write(str(tmp), xml_declaration=True, encoding="utf-8")


def with_guides(project: Path, output: Path, guides: Sequence[Marker]) -> None:
    """Write ``project`` to ``output`` (atomically) with ``guides`` added; guides an earlier run wrote are replaced."""
    tree = _read(project)
    main_bin = tree.getroot().find("playlist[@id='main_bin']")
    if main_bin is None:
        raise ProjectError(f"{project}: no Kdenlive bin (playlist main_bin); open and save it in Kdenlive first")
    existing = main_bin.find("property[@name='kdenlive:docproperties.guides']")
    _set_property(
        main_bin, "kdenlive:docproperties.guides", _merged(None if existing is None else existing.text, guides, project)
    )
    _written(tree, output)


def _bin_producer(tree: etree._ElementTree, project: Path, clip: str) -> etree._Element:
    """The bin clip named ``clip``: its Kdenlive name, file name or bin id."""
    root = tree.getroot()
    ids = {e.get("producer") for e in root.xpath("playlist[@id='main_bin']/entry")}
    names = []
    for element in root.xpath("producer|chain"):
        if element.get("id") not in ids:
            continue
        props = {p.get("name"): p.text or "" for p in element.findall("property")}
        candidates = (props.get("kdenlive:clipname"), Path(props.get("resource", "")).name, props.get("kdenlive:id"))
        if clip in candidates:
            return element
        names.append(props.get("kdenlive:clipname") or Path(props.get("resource", "")).name)
    raise ProjectError(f"{project}: no bin clip {clip!r}; its clips are {', '.join(sorted(n for n in names if n)) or 'none'}")


def bin_clip_media(project: Path, clip: str) -> Path:
    """The media file of the bin clip named ``clip`` (its Kdenlive name, file name or bin id)."""
    tree = _read(project)
    element = _bin_producer(tree, project, clip)
    resource = element.xpath("string(property[@name='resource'])")
    root = tree.getroot().get("root") or ""
    folder = Path(root) if root and Path(root).is_dir() else project.parent
    path = Path(resource)
    return path if path.is_absolute() else folder / path


def with_clip_markers(project: Path, output: Path, clip: str, markers: Sequence[Marker]) -> None:
    """Write ``project`` to ``output`` (atomically) with ``markers`` on the bin clip ``clip`` and each of its timeline copies."""
    tree = _read(project)
    element = _bin_producer(tree, project, clip)
    bin_id = element.xpath("string(property[@name='kdenlive:id'])")
    copies = [
        e for e in tree.getroot().xpath("producer|chain") if bin_id and e.xpath("string(property[@name='kdenlive:id'])") == bin_id
    ]
    for target in {id(e): e for e in [element, *copies]}.values():
        existing = target.find("property[@name='kdenlive:markers']")
        _set_property(target, "kdenlive:markers", _merged(None if existing is None else existing.text, markers, project))
    _written(tree, output)


def with_lanes(project: Path, output: Path, lanes: Sequence[Mapping[str, str]], *, track: int = 1, clip: int = 0) -> None:
    """Write ``project`` to ``output`` (atomically) with a "Latent controls" effect (``latent_controls``) per entry of ``lanes``
    on clip number ``clip`` of video track ``track``, each with those properties (``truncation_psi``: ``"0=1;50=0.6"`` ...)."""
    tree = _read(project)
    entries = tree.getroot().xpath(f"playlist[@id='trV{track}a']/entry")
    if not 0 <= clip < len(entries):
        raise ProjectError(f"{project}: track V{track} has {len(entries)} clips, not a clip {clip}")
    for props in lanes:
        effect = etree.SubElement(entries[clip], "filter")
        for name, value in {"mlt_service": "latent_controls", "kdenlive_id": "latent_controls", **props}.items():
            etree.SubElement(effect, "property", name=name).text = value
    _written(tree, output)


def _timeline_tractor(tree: etree._ElementTree, project: Path) -> etree._Element:
    """The tractor of the timeline melt renders; in a 1.1 project, the sequence its project tractor plays."""
    root = tree.getroot()
    tractor_id = rendered_service_id(read_mlt_document(project))
    tractor = root.find(f"tractor[@id='{tractor_id}']")
    if tractor is None:
        raise ProjectError(f"{project}: its timeline is not a tractor of tracks; open and save it in Kdenlive first")
    tracks = tractor.findall("track")
    if tractor.xpath("string(property[@name='kdenlive:projectTractor'])") == "1" and len(tracks) == 1:
        sequence = root.find(f"tractor[@id='{tracks[0].get('producer')}']")
        if sequence is not None:
            return sequence
    return tractor


def _free_id(root: etree._Element, wanted: str) -> str:
    taken = set(root.xpath("//@id"))
    name, number = wanted, 1
    while name in taken:
        number += 1
        name = f"{wanted}{number}"
    return name


def _next_bin_id(root: etree._Element) -> int:
    """One past the largest bin id (clips and folders share Kdenlive's numbering)."""
    ids = [int(v) for v in root.xpath("//property[@name='kdenlive:id']/text()") if v.strip().isdigit()]
    folders = root.xpath("//property[starts-with(@name, 'kdenlive:folder.')]/@name")
    ids += [int(name.rsplit(".", 1)[1]) for name in folders if name.rsplit(".", 1)[1].isdigit()]
    return max(ids, default=1) + 1


def _preview_producer(element_id: str, relative: str, frames: int, bin_id: int, *, on_track: bool) -> etree._Element:
    element = etree.Element("producer", {"id": element_id, "in": "0", "out": str(frames - 1)})
    for key, value in (
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
    ):
        _property(element, key, value)
    return element


def _preview_elements(root: etree._Element) -> tuple[list[etree._Element], list[etree._Element]]:
    """The producers marked as the preview, and the playlist entries that play them."""
    producers = [e for e in root.xpath("producer|chain") if e.xpath(f"string(property[@name='{PREVIEW_PROPERTY}'])") == "1"]
    ids = {e.get("id") for e in producers}
    entries = [e for e in root.xpath("playlist[@id!='main_bin']/entry") if e.get("producer") in ids]
    return producers, entries


def with_preview_track(project: Path, preview: Path) -> tuple[int, bool]:
    """Give ``project`` (rewritten atomically) a top video track "latent preview" playing ``preview`` over the whole timeline.

    The clip is a latent clip with ``refresh=1`` and ``latent:preview=1``; Kdenlive's internal compositing
    of the top video track is copied for it, so its blank frames (past the file's end) show the tracks
    below. Run again, it only stretches the clip over the timeline as it is now. Everything else in the
    file stays as it was. Return the clip's length in frames and whether the track was added.
    """
    tree = _read(project)
    root = tree.getroot()
    timeline = _timeline_tractor(tree, project)
    frames = timeline_frames(read_mlt_document(project))
    if frames < 1:
        raise ProjectError(f"{project}: the timeline is empty; put clips on it in Kdenlive first")
    folder = Path(root.get("root") or "") if root.get("root") and Path(root.get("root") or "").is_dir() else project.parent
    relative = _relative(preview.resolve(), folder.resolve())
    producers, entries = _preview_elements(root)
    if entries:  # the track is there: the clip now spans the timeline as it is
        for element in producers:
            element.set("out", str(frames - 1))
            _set_property(element, "length", str(frames))
            _set_property(element, "resource", relative)
        for entry in entries:
            entry.set("in", "0")
            entry.set("out", str(frames - 1))
        _written(tree, project)
        return frames, False
    main_bin = root.find("playlist[@id='main_bin']")
    if main_bin is None:
        raise ProjectError(f"{project}: no Kdenlive bin (playlist main_bin); open and save it in Kdenlive first")
    bin_id = _next_bin_id(root)
    clip = _preview_producer(_free_id(root, "latent_preview"), relative, frames, bin_id, on_track=False)
    main_bin.addprevious(clip)
    etree.SubElement(main_bin, "entry", {"producer": clip.get("id", ""), "in": "0", "out": str(frames - 1)})
    on_track = _preview_producer(_free_id(root, "latent_preview_v"), relative, frames, bin_id, on_track=True)
    lanes = [etree.Element("playlist", id=_free_id(root, f"latent_preview_lane{lane}")) for lane in (0, 1)]
    for lane in lanes:  # ids are taken one at a time: the second lane must not get the first's
        root.append(lane)
    entry = etree.SubElement(lanes[0], "entry", {"producer": on_track.get("id", ""), "in": "0", "out": str(frames - 1)})
    _property(entry, "kdenlive:id", bin_id)
    track = etree.Element("tractor", {"id": _free_id(root, "latent_preview_track"), "in": "0", "out": str(frames - 1)})
    for key, value in (("kdenlive:trackheight", 60), ("kdenlive:collapsed", 0), ("kdenlive:track_name", PREVIEW_TRACK_NAME)):
        _property(track, key, value)
    for lane in lanes:
        etree.SubElement(track, "track", {"hide": "audio", "producer": lane.get("id", "")})
    for element in (on_track, *lanes, track):  # defined before the timeline that plays them, as MLT reads in order
        timeline.addprevious(element)
    tracks = timeline.findall("track")
    index = len(tracks)
    tracks[-1].addnext(etree.Element("track", producer=track.get("id", "")))
    compositing = [
        t
        for t in timeline.findall("transition")
        if t.xpath("string(property[@name='internal_added'])") == "237"
        and t.xpath("string(property[@name='mlt_service'])") not in ("mix", "")
    ]
    if compositing:
        composite = copy.deepcopy(compositing[-1])
        composite.set("id", _free_id(root, "latent_preview_composite"))
        _set_property(composite, "b_track", str(index))
        compositing[-1].addnext(composite)
    _written(tree, project)
    return frames, True
