"""The ``--explain`` view of a conform: the edit as a table, its lanes' ranges, and every frame latents cannot express."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from latentcut.conform.project import ConformResult
from latentcut.latent.controls import PERFORMANCE_COLUMNS, InputControls, column_neutral, controls_path
from latentcut.latent.curation import sequence_origin
from latentcut.timeline.model import FrameMap, NoteKind

__all__ = ["explanation"]


def _merged(frame_map: FrameMap) -> list[tuple[str, str, str, int, int, int, int, float]]:
    rows: list[tuple[str, str, str, int, int, int, int, float]] = []
    for p in sorted(frame_map.placements, key=lambda p: (p.timeline_start, p.track)):
        rows.append(
            (
                p.track or "-",
                p.producer_id,
                p.source,
                p.timeline_start,
                p.timeline_end_exclusive,
                p.source_first,
                p.source_last,
                p.speed,
            )
        )
    return rows


def _pool_numbers(conform: ConformResult) -> dict[str, np.ndarray]:
    # Each clip's frames by their pool numbers, shown for its first and last frame (the clip table names sources by file
    # name; a name used twice shows none).
    names = [ref.resource.name for ref in conform.frame_map.sources]
    numbers = {}
    for name, sequence in zip(names, conform.sequences, strict=True):
        origin = sequence_origin(sequence)
        if origin is not None and names.count(name) == 1:
            numbers[name] = origin.frames
    return numbers


def _pool_number(numbers: np.ndarray, frame: int) -> str:
    return str(int(numbers[frame])) if 0 <= frame < len(numbers) and numbers[frame] >= 0 else "?"


def explanation(conform: ConformResult) -> list[str]:
    """Return the lines ``latentcut conform --explain`` prints."""
    frame_map, result = conform.frame_map, conform.result
    fps = frame_map.fps
    lines = [
        f"timeline: {frame_map.length} frames at {fps.numerator}/{fps.denominator} fps"
        + (
            f" (melt renders {frame_map.full_length}; trailing black left out, --full-length keeps it)"
            if frame_map.full_length != frame_map.length
            else ""
        )
    ]
    lines.append("")
    header = f"{'track':<14} {'clip':<18} {'source':<24} {'timeline':>13} {'source frames':>15} {'pool numbers':>14} {'speed':>7}"
    lines += [header, "-" * len(header)]
    numbers = _pool_numbers(conform)
    for track, producer, source, start, end, first, last, speed in _merged(frame_map):
        shown = numbers.get(source)
        pool = "-" if shown is None else f"{_pool_number(shown, first)} to {_pool_number(shown, last)}"
        lines.append(
            f"{track[:14]:<14} {producer[:18]:<18} {source[:24]:<24} {f'{start}-{end - 1}':>13} {f'{first}-{last}':>15} "
            f"{pool:>14} {speed:>7g}"
        )
    lines.append("")
    lines.append("sidecars:")
    for ref, sequence in zip(frame_map.sources, conform.sequences, strict=True):
        meta = sequence.meta
        record = meta.made.get("controls")
        steered = f", input controls {record['file']}" if isinstance(record, Mapping) and "file" in record else ""
        lines.append(
            f"  {ref.resource.name} -> {sequence.path} ({meta.frames} frames x {meta.dim} at {meta.fps} fps, id {meta.id[:12]}{steered})"
        )
    lines.append("")
    gap_frames = int(result.gap.sum())
    faded = int(((result.opacity < 1) & ~result.gap).sum())
    lines.append(f"frames with no latent source: {gap_frames}; frames faded toward black: {faded}")
    blended = int((conform.result.source[:, 1:] >= 0).any(axis=1).sum()) if conform.result.source.shape[1] > 1 else 0
    if conform.blend == "pixel":
        lines.append(
            f"blends ({blended} frames): --blend pixel, the renderer cross-fades the two decoded pictures with MLT's weight, "
            "as Kdenlive and `latentcut online` show them"
        )
    else:
        lines.append(
            f"blends ({blended} frames): --blend {conform.blend}, one latent morph per frame; Kdenlive and `latentcut online` "
            "show a pixel dissolve there (--blend pixel renders that instead)"
        )
    performed = any(isinstance(s.meta.made.get("controls"), Mapping) for s in conform.sequences)
    if conform.controls is not None and performed:
        performance = InputControls.from_array(np.column_stack([conform.controls.column(c) for c in PERFORMANCE_COLUMNS]))
        steered_frames = int(performance.steered().sum())  # the tracked columns only: lanes have lines of their own
        lines.append(
            f"input controls ({steered_frames} frames steered): each frame's row from the clip it shows, zeros for clips "
            "without controls, mixed with the latents' weight in a dissolve"
            + (f"; written to {controls_path(conform.output)}" if conform.output is not None else "")
        )
    if frame_map.composites:
        lines.append(
            "pixel-only compositions (latents blended by progress; `latentcut online` renders them exactly through MLT):"
        )
        for composite in frame_map.composites:
            what = composite.luma or composite.geometry or "-"
            lines.append(
                f"  frames {composite.first}-{composite.end_exclusive - 1}: {composite.kdenlive_id or composite.service} "
                f"tracks {composite.tracks[0]}/{composite.tracks[1]} ({what[:60]})"
            )
    lines += _lanes(conform)
    notes = [note for note in frame_map.notes if note.kind != NoteKind.LANE]
    if notes:
        lines.append("transitions and what latents cannot express:")
        for note in notes:
            lines.append(f"  frames {note.first}-{note.end_exclusive - 1}: {note.message}")
    return lines


def _frames_text(mask: np.ndarray) -> str:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    runs = [f"{s}" if e - s == 1 else f"{s}-{e - 1}" for s, e in zip(starts[:4], ends[:4], strict=True)]
    return ", ".join(runs) + (f" and {len(starts) - 4} more" if len(starts) > 4 else "")


def _lanes(conform: ConformResult) -> list[str]:
    """Each lane's range: its values where it changes anything, and those frames; what follows the audio."""
    if conform.controls is None or not conform.lanes:
        return []
    where = f" (written to {controls_path(conform.output)})" if conform.output is not None else ""
    lines = [f"lanes{where}:"]
    for column, described in conform.lanes.items():
        values = conform.controls.column(column)
        moved = values != column_neutral(column)
        if not moved.any():
            continue
        shown = values[moved]
        lines.append(
            f"  {described}: {float(shown.min()):.3g} to {float(shown.max()):.3g} on frames {_frames_text(moved)} "
            f"(elsewhere {column_neutral(column):g})"
        )
    for note in conform.frame_map.notes:
        if note.kind == NoteKind.LANE:
            lines.append(f"  frames {note.first}-{note.end_exclusive - 1}: {note.message}")
    return lines
