"""The online render through MLT: the whole project (titles, audio, effects), every latent clip showing its online render.

For each latent clip the online render of its own sidecar, ``<proxy stem>.online.mkv`` beside the
proxy, has the same frames and frame rate as the proxy, at the project's size; it is rendered if it is
missing or stale. Where the timeline's lanes change a clip's frames, each frame is rendered with the
lanes of the timeline frame that shows it (``latentcut.conform.lanes.source_lanes``), into
``<proxy stem>.online.lanes-<hash>.mkv``. A temporary copy of the project then switches latent producers to it (``online=1``),
and points clips that Kdenlive turned into plain video, and its speed-changed (timewarp) copies, at
the online file instead; a preview of the render on the timeline (``latentcut project preview``) is
disabled there, as the conform ignores it. melt renders that copy; the output appears under its name
only when complete.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from latentcut.atomic import atomic_path
from latentcut.conform.frame_arrays import sequence_frames
from latentcut.conform.lanes import lane_controls, merged_controls, source_lanes
from latentcut.conform.project import project_frame_map
from latentcut.editor.mlt_module import mlt_environment
from latentcut.editor.soundtrack import ProjectAudio
from latentcut.errors import InputError, RenderError
from latentcut.latent.controls import InputControls, load_controls
from latentcut.latent.sidecar import SIDECAR_SHA256_TAG, ZSequence
from latentcut.media import media_facts
from latentcut.programs import on_a_display, run_melt
from latentcut.render.pipeline import Tile
from latentcut.render.sequence import render_sequence
from latentcut.timeline.kdenlive import bin_clips, is_preview
from latentcut.timeline.mlt_xml import Service, read_mlt_document, rewritten_mlt

__all__ = ["OnlineResult", "online_render"]

_CONSUMER = {
    ".mov": ["vcodec=prores_ks", "profile=4", "pix_fmt=yuv444p10le", "acodec=pcm_s16le"],
    ".mkv": ["vcodec=ffv1", "pix_fmt=bgr0", "acodec=flac"],
    ".mp4": ["vcodec=libx264", "crf=12", "pix_fmt=yuv444p", "acodec=aac"],
}
_MELT_TIMEOUT_S = 24 * 3600


@dataclass(frozen=True)
class OnlineResult:
    path: Path
    frames: int
    online_files: tuple[Path, ...]  # the per-clip online renders used
    rendered: tuple[Path, ...]  # those of them made by this call


def _current(online: Path, sequence: ZSequence, size: tuple[int, int]) -> bool:
    if not online.is_file():
        return False
    try:
        facts = media_facts(online)
    except InputError:
        return False
    return facts.tags.get(SIDECAR_SHA256_TAG) == sequence.meta.sha256 and (facts.frames, facts.size) == (
        sequence.meta.frames,
        size,
    )


def _lanes_name(lanes: InputControls) -> str:
    digest = hashlib.sha256("|".join(lanes.columns).encode() + lanes.table().tobytes())
    if lanes.directions is not None:
        digest.update(lanes.directions.tobytes())
    return digest.hexdigest()[:12]


def _online_file(
    proxy: Path,
    sequence: ZSequence,
    size: tuple[int, int],
    model: Callable[[ZSequence], Tile],
    rendered: list[Path],
    lanes: InputControls | None = None,
) -> Path:
    stem = proxy.stem + ".online" + (f".lanes-{_lanes_name(lanes)}" if lanes is not None else "")
    online = proxy.with_name(stem + ".mkv")
    if _current(online, sequence, size):
        return online
    # The model is loaded only now: a project whose online renders are current needs none.
    assert sequence.meta.fps is not None  # the conform refuses a sidecar without a frame rate
    frames = None if lanes is None else sequence_frames(sequence).with_controls(merged_controls(load_controls(sequence), lanes))
    render_sequence(
        sequence,
        online,
        [model(sequence)],
        preset="online",
        codec="ffv1",
        fps=sequence.meta.fps,
        tile_size=size,  # each frame as its sidecar says (a tracked performance's input controls), with its lanes
        frames=frames,
    )
    rendered.append(online)
    return online


def _melt_command() -> list[str]:
    return on_a_display(["melt"])  # Kdenlive titles are drawn by Qt, which needs a display


def online_render(
    project: Path,
    output: Path,
    model: Callable[[ZSequence], Tile],
    *,
    full_length: bool = False,
    size: tuple[int, int] | None = None,
) -> OnlineResult:
    """Render ``project`` with MLT into ``output`` (.mov ProRes 4444, .mkv FFV1, .mp4 H.264), latent clips from their online renders.

    The project is evaluated once: only the clips its timeline plays are rendered online, each from the
    sidecar the conform found for it. ``size`` renders the clips and the project at that size instead of the project's.
    """
    if output.suffix.lower() not in _CONSUMER:
        raise RenderError(f"{output}: the online render is .mov (ProRes 4444), .mkv (FFV1) or .mp4 (H.264)")
    document = read_mlt_document(project)
    frame_map, sequences, _ = project_frame_map(document, full_length=full_length, audio=ProjectAudio(project))
    frame_size = size or document.size
    lanes: dict[int, InputControls | None] = {}
    for index in set(frame_map.source_of.values()) if frame_map.lanes else ():
        timeline = lane_controls(frame_map, sequences[index].meta.look, sequences[index].meta.dim, project).controls
        lanes[index] = None if timeline is None else source_lanes(frame_map, timeline, index, sequences[index].meta.frames)
    rendered: list[Path] = []
    changes: dict[str, dict[str, str]] = {}
    online_files: dict[Path, Path] = {}
    for producer_id, index in frame_map.source_of.items():
        service = document.services[producer_id]
        assert isinstance(service, Service)
        proxy, sequence = frame_map.sources[index].resource, sequences[index]
        if proxy not in online_files:
            online_files[proxy] = _online_file(proxy, sequence, frame_size, model, rendered, lanes.get(index))
        online = str(online_files[proxy].resolve())
        if service.service == "latent":
            changes[producer_id] = {"online": "1", "online_resource": online}
        elif service.service == "timewarp":
            speed = service.props.get("resource", "1:").partition(":")[0]
            changes[producer_id] = {"resource": f"{speed}:{online}", "warp_resource": online}
        else:
            changes[producer_id] = {"resource": online}
    bins = bin_clips(document)
    for producer_id, service in document.services.items():
        if isinstance(service, Service) and is_preview(service, bins):
            changes[producer_id] = {"set.test_image": "1", "set.test_audio": "1"}  # as Kdenlive disables a clip
    text = rewritten_mlt(document, changes, root=str(document.folder.resolve()), size=size)
    with tempfile.TemporaryDirectory(prefix=".latentcut-online-", dir=document.folder) as folder, atomic_path(output) as tmp:
        copy = Path(folder) / project.name
        copy.write_bytes(text)
        command = [
            *_melt_command(),
            str(copy),
            "in=0",
            f"out={frame_map.length - 1}",
            "-consumer",
            f"avformat:{tmp}",
            *_CONSUMER[output.suffix.lower()],
            "real_time=-1",
            "terminate_on_pause=1",
        ]
        result = run_melt(command, output=tmp, timeout_s=_MELT_TIMEOUT_S, env=mlt_environment(), cwd=document.folder)
        try:
            facts = media_facts(tmp)
            frames, made_size = facts.frames, facts.size
        except InputError:
            frames, made_size = 0, None
        if result.returncode != 0 or frames != frame_map.length or made_size != frame_size:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise RenderError(
                f"{output}: melt made {frames} of {frame_map.length} frames of {made_size} ({last}); nothing was written under that name"
            )
    return OnlineResult(output, frames, tuple(online_files.values()), tuple(rendered))
