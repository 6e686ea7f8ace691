"""Kdenlive's conventions on top of MLT XML: bin clips, the black track, saved container tags, and latentcut's clip properties.

MLT ignores all of these; Kdenlive (and latentcut's C module, for ``latent:sidecar``) rely on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from latentcut.timeline.mlt_xml import Blank, MltDocument, Playlist, Service
from latentcut.timeline.model import SourceRef

__all__ = [
    "PREVIEW_PROPERTY",
    "PREVIEW_SUFFIX",
    "SIDECAR_PROPERTY",
    "bin_clips",
    "is_black_track",
    "is_preview",
    "media_of",
    "preview_file",
    "resolved_path",
    "saved_container_tags",
    "source_ref",
]

SIDECAR_PROPERTY = "latent:sidecar"  # the clip property naming its z-sequence; the C module reads the same name
PREVIEW_PROPERTY = "latent:preview"  # "1" on the clip of a project's preview render (latentcut project preview)
PREVIEW_SUFFIX = ".latent-preview.mkv"


def preview_file(project: Path) -> Path:
    """The render of ``project``'s edit that ``latentcut watch --preview`` keeps beside it: ``edit.kdenlive`` -> ``edit.latent-preview.mkv``."""
    return project.with_name(project.stem + PREVIEW_SUFFIX)


def media_of(service: Service) -> tuple[str, float]:
    """The media file a producer plays and its speed: a timewarp's inner file and ``SPEED:`` prefix, else its resource at 1."""
    resource = service.props.get("resource", "")
    if service.service != "timewarp":
        return resource, 1.0
    prefix, _, inner = resource.partition(":")
    return service.props.get("warp_resource") or inner, _atof(prefix) or _atof(service.props.get("warp_speed") or "1") or 1.0


def _atof(text: str) -> float:
    """C's atof: the longest numeric prefix ("inf", "infinity" and "nan" in any case included), 0.0 if none."""
    match = re.match(r"\s*[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|inf(inity)?|nan)", text, re.IGNORECASE)
    return float(match.group(0)) if match else 0.0


def is_preview(service: Service, bins: Mapping[str, Service]) -> bool:
    """Whether ``service`` plays a preview of the render (marked so, on it or its bin clip, or named so): never a source of latents."""
    bin_clip = bins.get(service.props.get("kdenlive:id", ""))
    marked = service.props.get(PREVIEW_PROPERTY) == "1" or (bin_clip is not None and bin_clip.props.get(PREVIEW_PROPERTY) == "1")
    return marked or media_of(service)[0].endswith(PREVIEW_SUFFIX)


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


def resolved_path(value: str, folder: Path) -> Path:
    """A path as the project stores it (relative to its root folder, or absolute)."""
    path = Path(value)
    return path if path.is_absolute() else folder / path


def source_ref(service: Service, bins: Mapping[str, Service], folder: Path) -> SourceRef:
    """What the conform asks about a producer's media: its file (relative to ``folder``), its and its bin clip's properties."""
    bin_clip = bins.get(service.props.get("kdenlive:id", ""))
    props = {**(bin_clip.props if bin_clip else {}), **service.props}
    path = resolved_path(media_of(service)[0], folder)
    return SourceRef(path, service.id, props, props.get("kdenlive:clipname") or path.name)


def is_black_track(document: MltDocument, service_id: str) -> bool:
    """Kdenlive's black track (1.04 ``black_track``; 1.1 a black colour producer marked ``kdenlive:playlistid``)."""
    service = document.services.get(service_id)
    return isinstance(service, Service) and (
        service_id == "black_track"
        or service.props.get("kdenlive:playlistid") == "black_track"
        or (service.service in ("color", "colour") and service.props.get("resource") in ("black", "0", "#000000", "0x000000ff"))
    )


def saved_container_tags(props: Mapping[str, str], prefix: str = "meta.attr.") -> dict[str, str]:
    """Container tags as Kdenlive saved them in the project (``meta.attr.<key>.markup``), keys lower-cased.

    They describe the file as it was when the project was saved; the file itself decides (see the conform).
    """
    tags = {}
    for name, value in props.items():
        if name.startswith(prefix) and name.endswith(".markup") and ".stream." not in name:
            tags[name[len(prefix) : -len(".markup")].lower()] = value
    return tags
