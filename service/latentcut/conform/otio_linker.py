"""OpenTimelineIO's ``latentcut`` media linker (and the same as a hook): each clip of a latentcut proxy or render gains its latents.

For a clip whose media is a video latentcut rendered (its container tags, or a sidecar beside it, name
the z-sequence, which must match it), ``clip.media_references()["latentcut"]`` becomes a
``GeneratorReference`` of kind ``latentcut.z-sequence`` whose parameters name the sidecar (absolute
path), its sha256, frame count, frame rate (``num/den``) and model; the proxy stays the active
reference, so editors play what they played. Other clips are left as they are.

OpenTimelineIO finds the plugin through the ``opentimelineio.plugins`` entry point, so
``otioconvert -i cut.edl -o cut.otio --media-linker latentcut`` relinks any EDL, FCP XML or OTIO cut;
``read_from_file(..., media_linker_name="latentcut")`` does it in Python, and ``hook_function`` is
the same for a hook script (``post_adapter_read`` or ``post_media_linker``). Relative media paths
resolve against ``folder`` in the linker's (or hook's) argument map, else the working folder.
``latentcut conform`` of an ``.otio`` uses such a reference when the media itself cannot be read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import opentimelineio as otio

from latentcut.conform.sidecars import SidecarFinder
from latentcut.latent.sidecar import ZSequence
from latentcut.timebase import fps_text
from latentcut.timeline.interchange import LATENT_REFERENCE_KEY, Z_SEQUENCE_KIND, media_file
from latentcut.timeline.model import SourceRef

__all__ = ["hook_function", "latent_reference", "link_media_reference", "plugin_manifest"]


def latent_reference(sequence: ZSequence) -> otio.schema.GeneratorReference:
    """The OTIO reference of a z-sequence: its sidecar, sha256, frame count, frame rate and model as parameters."""
    meta = sequence.meta
    assert meta.fps is not None  # the sidecar finder refuses a sidecar without a frame rate
    rate = float(meta.fps)
    return otio.schema.GeneratorReference(
        name=sequence.path.name,
        generator_kind=Z_SEQUENCE_KIND,
        available_range=otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(meta.frames, rate)
        ),
        parameters={
            "sidecar": str(sequence.path.resolve()),
            "sha256": meta.sha256,
            "frames": meta.frames,
            "fps": fps_text(meta.fps),
            "model": meta.model.spec if meta.model is not None else "",
        },
    )


def _linked(clip: otio.schema.Clip, finder: SidecarFinder, folder: Path) -> None:
    path = media_file(clip, folder)
    if path is None:
        return
    name = clip.name or path.name
    sequence = finder.sequence_for(SourceRef(path.resolve(), name, {}, name))
    if sequence is None:
        return
    references = dict(clip.media_references())
    references[LATENT_REFERENCE_KEY] = latent_reference(sequence)
    clip.set_media_references(references, clip.active_media_reference_key)


def _finder(argument_map: Mapping[str, Any] | None) -> tuple[SidecarFinder, Path]:
    folder = Path(str((argument_map or {}).get("folder") or ".")).resolve()
    return SidecarFinder(folder / "OpenTimelineIO", folder), folder


def link_media_reference(in_clip: otio.schema.Clip, media_linker_argument_map: Mapping[str, Any] | None = None):
    """Add the ``latentcut`` reference to ``in_clip`` when its media is a latentcut video; return its active reference."""
    finder, folder = _finder(media_linker_argument_map)
    _linked(in_clip, finder, folder)
    return in_clip.media_reference


def hook_function(in_timeline, argument_map: Mapping[str, Any] | None = None):
    """The same for every clip of ``in_timeline`` (a hook script: ``argument_map`` may give ``folder``)."""
    finder, folder = _finder(argument_map)
    for clip in in_timeline.find_clips():
        _linked(clip, finder, folder)
    return in_timeline


def plugin_manifest() -> otio.plugins.manifest.Manifest:
    """What the ``opentimelineio.plugins`` entry point offers: this module as a media linker and a hook script, both ``latentcut``."""
    this = Path(__file__).name
    manifest = otio.plugins.manifest.Manifest()
    manifest.media_linkers.append(otio.media_linker.MediaLinker(name="latentcut", filepath=this))
    manifest.hook_scripts.append(otio.hooks.HookScript(name="latentcut", filepath=this))
    return manifest
