"""Conforming a project file: read the timeline, find the sidecars, write the conformed z-sequence, its input controls and provenance."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from latentcut.conform.controls import conformed_controls
from latentcut.conform.latents import Conformed, conformed, latent_chunks, partner_path, write_provenance
from latentcut.conform.sidecars import SidecarFinder
from latentcut.errors import ProjectError
from latentcut.latent.curation import origin_record, sequence_origin, shown_origin
from latentcut.latent.sidecar import ModelRef, SidecarMeta, ZSequence, save_sequence_chunks, sidecar_paths
from latentcut.models.stylegan.input_controls import InputControls, save_controls
from latentcut.timeline.mlt_eval import frame_map
from latentcut.timeline.mlt_xml import read_mlt_document
from latentcut.timeline.model import FrameMap

__all__ = ["ConformResult", "conform_project", "project_frame_map", "provenance_path"]

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
    controls: InputControls | None = None  # StyleGAN input controls per frame, where a clip has them (conform.controls)


def provenance_path(output: Path) -> Path:
    """``cut.z.npy`` → ``cut.provenance.npz``."""
    array = sidecar_paths(output)[0]
    return array.with_name(array.name[: -len(".z.npy")] + ".provenance.npz")


def _is_mlt(project: Path) -> bool:
    if project.suffix.lower() in _MLT_SUFFIXES:
        return True
    if project.suffix.lower() == ".xml":
        with project.open("rb") as handle:
            return b"<mlt" in handle.read(4096)
    return False


def project_frame_map(
    project: Path,
    *,
    sequence: str | None = None,
    full_length: bool = False,
    fps: Fraction | None = None,
    slow_motion: str = "repeat",
) -> tuple[FrameMap, tuple[ZSequence, ...], str]:
    """Return the project's frame map, the sidecar of each of its sources, and the project file's sha256.

    ``fps`` is the frame rate of an EDL (EDLs do not say; 25 when not given). ``slow_motion``: see ``frame_map``.
    """
    if not project.is_file():
        raise ProjectError(f"{project}: project file not found")
    if _is_mlt(project):
        document = read_mlt_document(project)
        finder = SidecarFinder(project, document.folder)
        fmap = frame_map(document, finder, sequence=sequence, full_length=full_length, slow_motion=slow_motion)
        digest = document.sha256
    else:
        from latentcut.timeline.interchange import interchange_frame_map

        finder = SidecarFinder(project, project.parent)
        fmap, digest = interchange_frame_map(project, finder, fps=fps)
    sequences = tuple(info.found for info in fmap.infos)
    return fmap, sequences, digest


def conform_project(
    project: Path,
    output: Path | None,
    *,
    sequence: str | None = None,
    blend: str = "slerp",
    gaps: str = "black",
    full_length: bool = False,
    fps: Fraction | None = None,
    slow_motion: str = "repeat",
) -> ConformResult:
    """Conform ``project`` onto its clips' sidecars; with ``output``, write ``.z.npy``, ``.z.json`` and ``.provenance.npz``.

    Where a clip carries StyleGAN input controls (a tracked performance), also ``.controls.npy``, named in
    the sidecar's ``made.controls`` as ``latentcut react`` records them, so ``render`` applies them.
    Same project and options → byte-identical files (the sequence id derives from the content).
    """
    fmap, sequences, digest = project_frame_map(
        project, sequence=sequence, full_length=full_length, fps=fps, slow_motion=slow_motion
    )
    result = conformed(fmap, gaps=gaps)
    controls = conformed_controls(result, sequences, blend=blend)
    if output is None:
        return ConformResult(fmap, result, sequences, blend=blend, controls=controls)
    spaces = {s.meta.space for s in sequences}
    models = {s.meta.model for s in sequences}
    made: dict[str, Any] = {
        "how": "conformed",
        "project": str(project),
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
    model = models.pop() if len(models) == 1 else None
    space = spaces.pop() if len(spaces) == 1 else "z"
    content = f"{digest} {sequence} {blend} {gaps} {full_length} {slow_motion}"
    if controls is not None:
        record = save_controls(output, controls)
        made["controls"] = record
        content += f" controls {record['sha256']}"  # a re-tracked performance: another conformed sequence
    if blend == "pixel":
        made["partner"] = partner_path(output).name
        save_sequence_chunks(
            partner_path(output),
            latent_chunks(result, sequences, blend=blend, part="partner"),
            frames=fmap.length,
            dim=sequences[0].meta.dim,
            fps=fmap.fps,
            space=space,
            model=model if isinstance(model, ModelRef) else None,
            made={"how": "pixel blend partner", "of": sidecar_paths(output)[0].name},
            id_from_content=f"partner {content}",
        )
    meta = save_sequence_chunks(
        output,
        latent_chunks(result, sequences, blend=blend),
        frames=fmap.length,
        dim=sequences[0].meta.dim,
        fps=fmap.fps,
        space=space,
        model=model if isinstance(model, ModelRef) else None,
        made=made,
        id_from_content=content,
    )
    provenance = provenance_path(output)
    write_provenance(provenance, result, sequences, origin)
    return ConformResult(fmap, result, sequences, sidecar_paths(output)[0], provenance, meta, blend, controls)
