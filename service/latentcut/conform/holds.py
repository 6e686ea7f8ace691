"""Conforming a curation made in the editor: one latent per kept frame, and each held block back to its one latent.

A proxy rendered with ``--hold N`` shows each latent for N frames, long enough to cut by hand. On the
timeline, a run of frames showing the same block of the same held clip stands for that one latent;
a run of k whole blocks (the block duplicated k times) stands for k copies of it, a part of a block
for one copy. Frames of clips that are not held are kept one for one, as the plain conform does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcut.conform.latents import latent_chunks
from latentcut.conform.project import conform_project
from latentcut.errors import ConformError
from latentcut.latent.curation import origin_record, sequence_origin, shown_origin
from latentcut.latent.look import Look, LookRun
from latentcut.latent.sidecar import SidecarMeta, ZSequence, save_sequence

__all__ = ["Curated", "curated_from_project", "held_rows", "hold_of"]


def hold_of(sequence: ZSequence) -> int:
    """How many frames each latent of ``sequence`` is held for (``made.hold`` of a held sequence, else 1)."""
    hold = sequence.meta.made.get("hold") if sequence.meta.made.get("how") == "held" else 1
    return hold if isinstance(hold, int) and hold >= 1 else 1


def held_rows(source: np.ndarray, frame: np.ndarray, holds: Sequence[int]) -> np.ndarray:
    """The timeline frames that stand for one latent each, in order (a frame repeats for a duplicated block).

    ``source``/``frame``: each timeline frame's source index (-1 none) and source frame; ``holds``:
    each source's hold. A run of frames in one held block gives ``max(1, round(run / hold))`` copies.
    """
    hold = np.array([holds[s] if s >= 0 else 1 for s in source.tolist()], np.int64)
    block = np.where(hold > 1, frame // np.maximum(hold, 1), -1)
    rows: list[int] = []
    start = 0
    for index in range(1, len(source) + 1):
        ends = (
            index == len(source)
            or hold[index] <= 1
            or hold[start] <= 1
            or source[index] != source[start]
            or block[index] != block[start]
        )
        if not ends:
            continue
        run = index - start
        copies = max(1, round(run / hold[start])) if hold[start] > 1 else run
        rows.extend([start] * copies if hold[start] > 1 else range(start, index))
        start = index
    return np.asarray(rows, np.int64)


@dataclass(frozen=True)
class Curated:
    """What a curation conform wrote: the output, its frames, and how many came from held blocks."""

    meta: SidecarMeta
    frames: int
    timeline_frames: int
    held_blocks: int


def curated_from_project(project: Path, output: Path, *, sequence: str | None = None) -> Curated:
    """Conform ``project``, map held blocks back to their latents, and write ``output`` (with each frame's pool origin)."""
    result = conform_project(
        project, None, sequence=sequence, gaps="black", lanes=False
    )  # latents only: lanes stay in the editor
    conformed = result.result
    keep_timeline = ~conformed.gap
    if not keep_timeline.any():
        raise ConformError(f"{project}: no frame of the timeline shows a latent clip; nothing to curate")
    source, frame = conformed.source[:, 0], conformed.frame[:, 0]
    holds = [hold_of(s) for s in result.sequences]
    shown = np.nonzero(keep_timeline)[0]
    rows = shown[held_rows(source[shown], frame[shown], holds)]
    latents = np.concatenate(list(latent_chunks(conformed, result.sequences)))[rows]
    origin = shown_origin(source[rows], frame[rows], [sequence_origin(s) for s in result.sequences])
    made: dict[str, object] = {
        "how": "curated",
        "project": str(project),
        "sequence": sequence,
        "timeline_frames": [int(r) for r in rows],
        "sources": [{"id": s.meta.id, "sidecar": str(s.path), "hold": h} for s, h in zip(result.sequences, holds, strict=True)],
    }
    if origin is not None:
        made["origin"] = origin_record(origin)
    look, runs = _kept_looks(result.look, result.look_runs, rows)
    meta = save_sequence(output, latents, fps=result.frame_map.fps, look=look, look_runs=runs, made=made)
    held = int(sum(1 for r in rows if source[r] >= 0 and holds[source[r]] > 1))
    return Curated(meta, len(rows), len(conformed.gap), held)


def _kept_looks(look: Look, runs: tuple[LookRun, ...], rows: np.ndarray) -> tuple[Look, tuple[LookRun, ...]]:
    """The look (and runs, for several) of the timeline's frames ``rows`` once they are the curated sequence's frames 0, 1, ..."""
    if not runs:
        return look, ()
    looks = [runs[i].look for i in (np.searchsorted([run.start for run in runs], rows, side="right") - 1).tolist()]
    kept = tuple(LookRun(k, shown) for k, shown in enumerate(looks) if k == 0 or shown != looks[k - 1])
    return kept[0].look, kept if len(kept) > 1 else ()
