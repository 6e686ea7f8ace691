"""Conforming a project file: read the timeline, find the sidecars, write the conformed z-sequence, its controls (lanes, performances) and provenance."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.conform.controls import conformed_controls
from latentcut.conform.lanes import LaneSupport, lane_controls, merged_controls, unsupported_lanes
from latentcut.conform.latents import Conformed, conformed, latent_chunks, partner_path, write_provenance
from latentcut.conform.sidecars import SidecarFinder
from latentcut.errors import ProjectError
from latentcut.latent.controls import InputControls, save_controls
from latentcut.latent.curation import origin_record, sequence_origin, shown_origin
from latentcut.latent.look import Look, LookRun
from latentcut.latent.sidecar import SidecarMeta, ZSequence, save_sequence_chunks, sidecar_paths
from latentcut.timeline.lanes import AudioFeatures
from latentcut.timeline.mlt_eval import frame_map
from latentcut.timeline.mlt_xml import MltDocument, read_mlt_document
from latentcut.timeline.model import FrameMap

__all__ = ["ConformResult", "conform_project", "conformed_looks", "project_frame_map", "provenance_path"]

_MLT_SUFFIXES = (".kdenlive", ".mlt")


@dataclass(frozen=True)
class ConformResult:
    """What a conform produced: the frame map, the per-frame result, the sidecars used, and what was written."""

    frame_map: FrameMap
    result: Conformed
    sequences: tuple[ZSequence, ...]
    output: Path | None = None
    provenance: Path | None = None
    meta: SidecarMeta | None = None
    blend: str = "slerp"
    controls: InputControls | None = None  # the lanes and the clips' input controls per frame (conform.lanes, conform.controls)
    look: Look = field(default_factory=Look)  # the look of the clips' sidecars
    look_runs: tuple[LookRun, ...] = ()  # clips of several looks: which frames use which (see ``conformed_looks``)
    lanes: Mapping[str, str] = field(default_factory=dict)  # control column -> the lane it is, in words


def provenance_path(output: Path) -> Path:
    """``cut.z.npy`` → ``cut.provenance.npz``."""
    array = sidecar_paths(output)[0]
    return array.with_name(array.name[: -len(".z.npy")] + ".provenance.npz")


def conformed_looks(result: Conformed, sequences: Sequence[ZSequence]) -> tuple[Look, tuple[LookRun, ...]]:
    """The look of the conformed frames: the clips' one look; or, for clips of several, each frame the look of the clip it shows.

    A clip that records no model takes the one model the others record. A frame that mixes clips of two
    looks (a dissolve) takes the look of the clip it leaves (its first term); gaps, their neighbour's.
    """
    recorded = {s.meta.model for s in sequences if s.meta.model is not None}
    looks = [
        dataclasses.replace(s.meta.look, model=next(iter(recorded)))
        if s.meta.model is None and len(recorded) == 1
        else s.meta.look
        for s in sequences
    ]
    distinct = list(dict.fromkeys(looks))
    if len(distinct) == 1:
        return distinct[0], ()
    first = result.source[:, 0]
    per_frame = np.array([distinct.index(looks[index]) if index >= 0 else -1 for index in first.tolist()], np.int64)
    known = np.maximum.accumulate(np.where(per_frame >= 0, np.arange(len(per_frame)), -1))
    per_frame = np.where(known >= 0, per_frame[np.maximum(known, 0)], per_frame[np.argmax(per_frame >= 0)])
    starts = np.concatenate([[0], np.nonzero(np.diff(per_frame))[0] + 1])
    runs = tuple(LookRun(int(start), distinct[per_frame[start]]) for start in starts)
    return runs[0].look, runs if len(runs) > 1 else ()


def _is_mlt(project: Path) -> bool:
    if project.suffix.lower() in _MLT_SUFFIXES:
        return True
    if project.suffix.lower() == ".xml":
        with project.open("rb") as handle:
            return b"<mlt" in handle.read(4096)
    return False


def project_frame_map(
    project: Path | MltDocument,
    *,
    sequence: str | None = None,
    full_length: bool = False,
    fps: Fraction | None = None,
    slow_motion: str = "repeat",
    audio: AudioFeatures | None = None,
    lanes: bool = True,
) -> tuple[FrameMap, tuple[ZSequence, ...], str]:
    """Return the project's frame map, the sidecar of each of its sources, and the project file's sha256.

    ``project`` is a file, or an MLT or Kdenlive project already read. ``fps`` is the frame rate of an
    EDL (EDLs do not say; 25 when not given). ``slow_motion``, ``audio`` (what lanes that follow the
    music hear) and ``lanes`` (False: leave them out): see ``frame_map``.
    """
    if isinstance(project, Path) and not project.is_file():
        raise ProjectError(f"{project}: project file not found")
    if isinstance(project, MltDocument) or _is_mlt(project):
        document = project if isinstance(project, MltDocument) else read_mlt_document(project)
        finder = SidecarFinder(document.path, document.folder)
        fmap = frame_map(
            document, finder, sequence=sequence, full_length=full_length, slow_motion=slow_motion, audio=audio, lanes=lanes
        )
        digest = document.sha256
    else:
        from latentcut.timeline.interchange import interchange_frame_map

        finder = SidecarFinder(project, project.parent)
        fmap, digest = interchange_frame_map(project, finder, fps=fps)
    sequences = tuple(info.found for info in fmap.infos)
    return fmap, sequences, digest


def conform_project(
    project: Path | MltDocument,
    output: Path | None,
    *,
    sequence: str | None = None,
    blend: str = "slerp",
    gaps: str = "black",
    full_length: bool = False,
    fps: Fraction | None = None,
    slow_motion: str = "repeat",
    audio: AudioFeatures | None = None,
    lanes: bool = True,
    lane_support: LaneSupport | None = None,
) -> ConformResult:
    """Conform ``project`` (a file, or a project already read) onto its clips' sidecars; with ``output``, write ``.z.npy``, ``.z.json`` and ``.provenance.npz``.

    Where the timeline has lanes (``latent_controls`` filters) or a clip carries StyleGAN input controls
    (a tracked performance), also ``.controls.npy`` with their named columns (and ``.directions.npy`` for
    direction lanes), recorded in the sidecar's ``made.controls``, so every renderer applies them.
    ``audio``: what lanes that follow the music hear; ``lanes`` False leaves lanes out (a curation needs
    only latents); ``lane_support`` says which controls a look's model applies, so a lane it cannot is
    refused here (see ``latentcut.conform.lanes``). Same project and options → byte-identical files (the
    sequence id derives from the content).
    """
    fmap, sequences, digest = project_frame_map(
        project, sequence=sequence, full_length=full_length, fps=fps, slow_motion=slow_motion, audio=audio, lanes=lanes
    )
    where = project.path if isinstance(project, MltDocument) else project
    result = conformed(fmap, gaps=gaps)
    look, runs = conformed_looks(result, sequences)
    timeline_lanes = lane_controls(fmap, look, sequences[0].meta.dim, where)
    controls = merged_controls(conformed_controls(result, sequences, blend=blend), timeline_lanes.controls)
    if controls is not None and lane_support is not None:
        unsupported_lanes(controls, runs or look, lane_support, fmap, timeline_lanes.described, where)
    if output is None:
        return ConformResult(
            fmap, result, sequences, blend=blend, controls=controls, look=look, look_runs=runs, lanes=timeline_lanes.described
        )
    made: dict[str, Any] = {
        "how": "conformed",
        "project": str(where),
        "project_sha256": digest,
        "sequence": sequence,
        "blend": blend,
        "gaps": gaps,
        "full_length": full_length,
        "slow_motion": slow_motion,
        "sources": [
            {"id": s.meta.id, "sidecar": str(s.path), "media": str(ref.resource)}
            for s, ref in zip(sequences, fmap.sources, strict=True)
        ],
    }
    origin = shown_origin(fmap.source[:, 0], fmap.frame[:, 0], [sequence_origin(s) for s in sequences])
    if origin is not None:
        made["origin"] = origin_record(origin)  # each frame's pool number, for labels and burned-in numbers
    content = f"{digest} {sequence} {blend} {gaps} {full_length} {slow_motion}"
    if controls is not None:
        record = save_controls(output, controls, sources=list(timeline_lanes.sources))
        made["controls"] = record
        directions = record.get("directions", {}).get("sha256", "")
        content += f" controls {record['sha256']} {directions}"  # a re-tracked performance, a moved lane: another sequence
    if blend == "pixel":
        made["partner"] = partner_path(output).name
        save_sequence_chunks(
            partner_path(output),
            latent_chunks(result, sequences, blend=blend, part="partner"),
            frames=fmap.length,
            dim=sequences[0].meta.dim,
            fps=fmap.fps,
            look=look,
            look_runs=runs,
            made={"how": "pixel blend partner", "of": sidecar_paths(output)[0].name},
            id_from_content=f"partner {content}",
        )
    meta = save_sequence_chunks(
        output,
        latent_chunks(result, sequences, blend=blend),
        frames=fmap.length,
        dim=sequences[0].meta.dim,
        fps=fmap.fps,
        look=look,
        look_runs=runs,
        made=made,
        id_from_content=content,
    )
    provenance = provenance_path(output)
    write_provenance(provenance, result, sequences, origin)
    return ConformResult(
        fmap, result, sequences, sidecar_paths(output)[0], provenance, meta, blend, controls, look, runs, timeline_lanes.described
    )
