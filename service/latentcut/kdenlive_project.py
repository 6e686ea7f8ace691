"""Writing Kdenlive projects (document version 1.04, as Kdenlive 22.12 reads and writes them) whose bin holds latent clips.

A latent clip is a producer with ``mlt_service`` ``latent`` (latentcut's MLT module) whose resource is
the proxy video, with a ``latent:sidecar`` property naming its z-sequence. Where the module is missing,
Kdenlive quietly plays the clip as ordinary video; the conform finds the sidecar either way (the
property, the proxy's container tags, or its name), so nothing is lost.
"""

from __future__ import annotations

import os
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from latentcut.atomic import atomic_path
from latentcut.conform.sidecars import SidecarFinder
from latentcut.errors import InputError, ProjectError
from latentcut.media import media_facts
from latentcut.timeline.kdenlive import SIDECAR_PROPERTY
from latentcut.timeline.model import SourceRef

__all__ = ["ProjectClip", "project_clips", "write_kdenlive_project"]

_LATENT_PROFILES = {Fraction(24): "24", Fraction(25): "25", Fraction(30): "30", Fraction(60): "60", Fraction(30000, 1001): "2997"}


@dataclass(frozen=True)
class ProjectClip:
    """A proxy video and the sidecar it was rendered from."""

    video: Path
    sidecar: Path
    frames: int
    fps: Fraction
    size: tuple[int, int]


def project_clips(videos: list[Path], project: Path) -> list[ProjectClip]:
    """Check each video (readable, with a sidecar that matches it) and describe it; raise naming the first that is not."""
    finder = SidecarFinder(project, project.parent)
    clips = []
    for video in videos:
        try:
            facts = media_facts(video)
        except InputError as exc:
            raise ProjectError(f"{exc}; give proxies rendered by latentcut render") from exc
        frames, size = facts.frames, facts.size
        if size is None:
            raise ProjectError(f"{video}: not a readable video; give proxies rendered by latentcut render")
        sequence = finder.sequence_for(SourceRef(video.resolve(), video.stem, {}, video.name))
        if sequence is None:
            raise ProjectError(
                f"{video}: no sidecar found (no latent_sidecar tag, no {video.stem}.z.npy beside it); render it with latentcut render"
            )
        clips.append(ProjectClip(video.resolve(), sequence.path.resolve(), frames, sequence.meta.fps or Fraction(25), size))
    return clips


def _relative(path: Path, folder: Path) -> str:
    return os.path.relpath(path, folder)


def _property(parent: ET.Element, name: str, value: object) -> None:
    ET.SubElement(parent, "property", name=name).text = str(value)


def _producer(
    root: ET.Element, producer_id: str, clip: ProjectClip, folder: Path, length: int, bin_id: int, service: str
) -> None:
    element = ET.SubElement(root, "producer", {"id": producer_id, "in": "0", "out": str(length - 1)})
    for name, value in (
        ("length", length),
        ("eof", "pause"),
        ("resource", _relative(clip.video, folder)),
        ("mlt_service", service),
        ("audio_index", -1),
        ("video_index", 0),
        ("kdenlive:clipname", clip.video.stem),
        ("kdenlive:id", bin_id),
        ("kdenlive:folderid", -1),
        (SIDECAR_PROPERTY, _relative(clip.sidecar, folder)),
    ):
        _property(element, name, value)


def write_kdenlive_project(
    path: Path,
    clips: list[ProjectClip],
    *,
    timeline: bool = False,
    service: str = "latent",
    cuts: list[tuple[int, int, int]] | None = None,
) -> str:
    """Write ``path`` (atomically): the clips in the bin, and laid end to end on V1 with ``timeline``; return the profile's name.

    ``cuts`` (clip index, first frame, last frame) puts those pieces on V1 in order instead of whole
    clips (``project new --explode``: one piece per latent, see ``latent.curation.exploded_cuts``).

    The profile takes the first clip's size and frame rate; latentcut's profile names are used where one fits.
    """
    if not clips:
        raise ProjectError(f"{path}: no clips to put in the project")
    folder = path.resolve().parent
    fps, (width, height) = clips[0].fps, clips[0].size
    profile_name = (
        f"latent_{width}_{_LATENT_PROFILES[fps]}"
        if width == height and width in (256, 512, 1024) and fps in _LATENT_PROFILES
        else ""
    )
    root = ET.Element("mlt", LC_NUMERIC="C", producer="main_bin", version="7.12.0", root=str(folder))
    ET.SubElement(
        root,
        "profile",
        description=profile_name or f"latentcut {width}x{height}",
        width=str(width),
        height=str(height),
        progressive="1",
        sample_aspect_num="1",
        sample_aspect_den="1",
        display_aspect_num=str(width),
        display_aspect_den=str(height),
        frame_rate_num=str(fps.numerator),
        frame_rate_den=str(fps.denominator),
        colorspace="709",
    )
    lengths = [max(1, int(clip.frames * fps / clip.fps)) for clip in clips]
    for index, (clip, length) in enumerate(zip(clips, lengths, strict=True)):
        _producer(root, f"bin{index}", clip, folder, length, index + 2, service)
    main_bin = ET.SubElement(root, "playlist", id="main_bin")
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
        ET.SubElement(main_bin, "entry", {"producer": f"bin{index}", "in": "0", "out": str(length - 1)})
    if cuts is not None:
        timeline = True
    pieces = cuts if cuts is not None else [(index, 0, length - 1) for index, length in enumerate(lengths)]
    total = sum(last - first + 1 for _, first, last in pieces) if timeline else 1
    black = ET.SubElement(root, "producer", {"id": "black_track", "in": "0", "out": str(max(total, 1) - 1)})
    for name, value in (("length", 2147483647), ("eof", "continue"), ("resource", "black"), ("mlt_service", "color")):
        _property(black, name, value)
    if timeline:
        # The per-use copies Kdenlive puts on a track: their own producers, the bin clip's kdenlive:id.
        for index, (clip, length) in enumerate(zip(clips, lengths, strict=True)):
            _producer(root, f"v1c{index}", clip, folder, length, index + 2, service)
    tracks = [("trA1", "Audio 1", True), ("trV1", "V1", False), ("trV2", "V2", False)]
    for tractor_id, name, audio in tracks:
        lanes = [ET.SubElement(root, "playlist", id=f"{tractor_id}{lane}") for lane in ("a", "b")]
        if tractor_id == "trV1" and timeline:
            for index, first, last in pieces:
                ET.SubElement(lanes[0], "entry", {"producer": f"v1c{index}", "in": str(first), "out": str(last)})
        if audio:
            for lane in lanes:
                _property(lane, "kdenlive:audio_track", 1)
        tractor = ET.SubElement(root, "tractor", {"id": tractor_id, "in": "0"})
        if audio:
            _property(tractor, "kdenlive:audio_track", 1)
        _property(tractor, "kdenlive:track_name", name)
        for lane in lanes:
            ET.SubElement(tractor, "track", hide="video" if audio else "audio", producer=lane.get("id", ""))
    main = ET.SubElement(root, "tractor", {"id": "maintractor", "in": "0"})
    ET.SubElement(main, "track", producer="black_track")
    for tractor_id, _, _ in tracks:
        ET.SubElement(main, "track", producer=tractor_id)
    ET.indent(root)
    with atomic_path(path) as tmp:
        ET.ElementTree(root).write(tmp, encoding="utf-8", xml_declaration=True)
    return profile_name
