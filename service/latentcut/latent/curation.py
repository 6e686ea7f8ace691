"""Curating a pool of latents: frame selections as people type them, picks, joins, resampling near a curated set, and pool origins.

A frame's **origin** is its index in the original pool it was sampled into: its **pool number**.
Every sequence made from a pool records, in ``made["origin"]``, the pool's id and sidecar and the
origin of each of its frames (``NO_ORIGIN`` for a frame that is not a pool frame: a journey's
in-between, a gap), so burned-in numbers, sheet labels and printed lines show the number the artist
first saw, through every command (pick, concat, hold, curate, conform, journeys, map, hone, retime).
A sequence whose every frame is a pool frame is **numbered** by pool number, any other by position:
the one rule for what its frames show and what a typed frame number names (``sequence_numbering``).
Resampling near a curated set makes a new pool whose frames record their **parent**: the pool
number of the frame each was drawn around.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.errors import SidecarError, UsageError
from latentcut.latent.sidecar import ZSequence, load_sequence, save_sequence, sidecar_paths

__all__ = [
    "NO_ORIGIN",
    "Numbering",
    "Origin",
    "burned_numbers",
    "exploded_cuts",
    "exploded_names",
    "frame_labels",
    "frame_numbered",
    "frame_of",
    "frame_selection",
    "frames_showing",
    "held_sequence",
    "joined_origin",
    "kept_origin",
    "near_latents",
    "origin_from_made",
    "origin_record",
    "parent_numbers",
    "picked_origin",
    "placed_origin",
    "selected_frame",
    "selected_frames",
    "sequence_numbering",
    "sequence_origin",
    "shown_origin",
]

NO_ORIGIN = -1  # a frame that is not a pool frame (a journey's in-between, a gap)

_TIMECODE = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})[:;](\d{1,3})$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_ITEM = re.compile(r"^(?P<first>[^-x]+)(?:-(?P<last>[^-x]+))?(?:x(?P<times>\d+))?$")


def frame_of(text: str, fps: Fraction | None) -> int:
    """The frame ``text`` names: ``42``, a timecode ``00:00:01:10`` (frames counted at the rounded rate) or a clock ``00:00:01.400``."""
    text = text.strip()
    if text.isdigit() and len(text) > 18:
        raise UsageError(f"frame {text[:20]}... has {len(text)} digits; no sequence has that many frames")
    if text.isdigit():
        return int(text)
    timecode, clock = _TIMECODE.match(text), _CLOCK.match(text)
    if (timecode or clock) and fps is None:
        raise UsageError(f"timecode {text!r} needs the sequence's frame rate; its sidecar has none (pass --fps)")
    if timecode and fps is not None:
        hours, minutes, seconds, frames = (int(v) for v in timecode.groups())
        nominal = round(fps)
        if frames >= nominal:
            raise UsageError(f"timecode {text!r}: frame {frames} is past the {nominal} frames of a second")
        return ((hours * 60 + minutes) * 60 + seconds) * nominal + frames
    if clock and fps is not None:
        whole = (int(clock[1] or 0) * 60 + int(clock[2])) * 60
        return round((whole + Fraction(clock[3])) * fps)
    raise UsageError(f"{text!r} is not a frame number, a timecode like 00:00:01:10 or a clock like 00:00:01.400")


@dataclass(frozen=True)
class Origin:
    """Where each frame of a sequence came from: its index in pool ``pool_id`` (``NO_ORIGIN`` for none)."""

    pool_id: str
    pool_sidecar: str
    frames: np.ndarray  # (frames,) int64


def origin_record(origin: Origin) -> dict[str, Any]:
    """The ``made["origin"]`` record of ``origin`` (JSON)."""
    return {"pool": origin.pool_id, "sidecar": origin.pool_sidecar, "frames": [int(f) for f in origin.frames]}


def origin_from_made(made: Mapping[str, Any], sequence_id: str, sidecar: str, frames: int) -> Origin | None:
    """The origin a sidecar's ``made`` record states; a sampled sequence is its own pool; ``None`` when unknown."""
    record = made.get("origin")
    if isinstance(record, Mapping) and isinstance(record.get("frames"), list) and len(record["frames"]) == frames:
        return Origin(str(record.get("pool", "")), str(record.get("sidecar", "")), np.asarray(record["frames"], np.int64))
    if made.get("how") in ("sampled", "near", "bare", None) or not made:
        return Origin(sequence_id, sidecar, np.arange(frames, dtype=np.int64))
    return None


def picked_origin(origin: Origin | None, indices: Sequence[int] | np.ndarray) -> Origin | None:
    """The origin of the frames at ``indices`` of a sequence whose origin is ``origin``."""
    if origin is None:
        return None
    return Origin(origin.pool_id, origin.pool_sidecar, origin.frames[np.asarray(indices, np.int64)])


def joined_origin(origins: Sequence[Origin | None], lengths: Sequence[int]) -> Origin | None:
    """The origin of sequences joined end to end; frames of another pool (or none) get ``NO_ORIGIN``."""
    known = [o for o in origins if o is not None]
    if not known:
        return None
    pool = known[0]
    parts = [
        o.frames if o is not None and o.pool_id == pool.pool_id else np.full(n, NO_ORIGIN, np.int64)
        for o, n in zip(origins, lengths, strict=True)
    ]
    return Origin(pool.pool_id, pool.pool_sidecar, np.concatenate(parts).astype(np.int64))


def placed_origin(origin: Origin | None, positions: Sequence[int] | np.ndarray | slice, frames: int) -> Origin | None:
    """The origin of a new sequence of ``frames`` frames whose frames at ``positions`` are those ``origin`` numbers, in order.

    The other frames are new latents (a journey's in-betweens, a neighbourhood's variations): ``NO_ORIGIN``.
    """
    if origin is None:
        return None
    numbers = np.full(frames, NO_ORIGIN, np.int64)
    numbers[positions] = origin.frames
    return Origin(origin.pool_id, origin.pool_sidecar, numbers)


def kept_origin(origin: Origin | None, before: np.ndarray, after: np.ndarray) -> Origin | None:
    """The origin of ``after``, a change of ``before`` frame for frame: a frame whose latent did not change keeps its own."""
    if origin is None:
        return None
    same = np.all(np.asarray(before) == np.asarray(after), axis=1)
    return Origin(origin.pool_id, origin.pool_sidecar, np.where(same, origin.frames, NO_ORIGIN))


def shown_origin(source: np.ndarray, frame: np.ndarray, origins: Sequence[Origin | None]) -> Origin | None:
    """The origin of frames that each show frame ``frame[i]`` of source ``source[i]`` (negative: none, such as a gap).

    ``origins`` are the sources'; the first known pool numbers the frames, frames of another pool get ``NO_ORIGIN``.
    """
    known = [o for o in origins if o is not None]
    if not known:
        return None
    pool = known[0]
    # One lookup table for all sources (a one-hour edit has thousands): source i's numbers start at starts[i].
    numbers = [o.frames if o is not None and o.pool_id == pool.pool_id else np.zeros(0, np.int64) for o in origins]
    lengths = np.array([len(n) for n in numbers], np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    table = np.concatenate([*numbers, np.zeros(0, np.int64)])
    source, frame = np.asarray(source, np.int64), np.asarray(frame, np.int64)
    valid = (source >= 0) & (source < len(origins))
    valid[valid] &= (frame[valid] >= 0) & (frame[valid] < lengths[source[valid]])
    out = np.full(len(source), NO_ORIGIN, np.int64)
    out[valid] = table[starts[source[valid]] + frame[valid]]
    return Origin(pool.pool_id, pool.pool_sidecar, out)


def near_latents(curated: np.ndarray, count: int, spread_rad: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``count`` new latents near the curated set, and the curated row each was drawn around.

    Each draws a curated row uniformly (a frame duplicated in the curation is twice as likely: the
    curation biases the distribution), then turns it by an angle uniform in ``[0, spread_rad]`` toward
    a random orthogonal direction, keeping its norm (its shell).
    """
    rows = np.asarray(curated, np.float64)
    if rows.ndim != 2 or not len(rows):
        raise UsageError("resampling needs a curated sequence with at least one frame")
    if count < 1:
        raise UsageError(f"count {count} must be at least 1")
    if not 0 <= spread_rad <= math.pi:
        raise UsageError(f"spread {math.degrees(spread_rad):g} degrees must lie in [0, 180]")
    rng = np.random.default_rng(seed)
    parents = rng.integers(0, len(rows), count)
    angles = rng.uniform(0.0, spread_rad, count)[:, None]
    centres = rows[parents]
    norms = np.linalg.norm(centres, axis=1, keepdims=True)
    if (norms == 0).any():
        raise UsageError("a curated frame is the zero vector, which has no direction to resample around")
    units = centres / norms
    directions = rng.standard_normal(centres.shape)
    directions -= np.sum(directions * units, axis=1, keepdims=True) * units
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    out = norms * (np.cos(angles) * units + np.sin(angles) * directions)
    return out.astype(np.float32), parents.astype(np.int64)


def _provenance_file(sequence: ZSequence) -> str:
    name = sequence.path.name
    return str(sequence.path.with_name(name[: -len(".z.npy")] + ".provenance.npz")) if name.endswith(".z.npy") else ""


def sequence_origin(sequence: ZSequence, *, depth: int = 8) -> Origin | None:
    """The pool origin of every frame of ``sequence``: from its ``made`` record, or for a conform from its provenance.

    A conformed frame takes the origin of the source frame it shows (its first term); frames of
    sources with another pool, gaps and titles get ``NO_ORIGIN``. ``None`` when nothing is known.
    Conforms record their origin; the provenance is read for those written before they did.
    """
    made, meta = sequence.meta.made, sequence.meta
    origin = origin_from_made(made, meta.id, str(sequence.path), meta.frames)
    if origin is not None or made.get("how") != "conformed" or depth <= 0:
        return origin
    provenance = _provenance_file(sequence)
    sources = made.get("sources")
    if not provenance or not isinstance(sources, list):
        return None
    try:
        with np.load(provenance, allow_pickle=False) as archive:
            source, frame = archive["source"][:, 0].astype(np.int64), archive["source_frame"][:, 0].astype(np.int64)
    except (OSError, KeyError, ValueError):
        return None
    if len(source) != meta.frames:
        return None
    origins: list[Origin | None] = []
    for record in sources:
        try:
            origins.append(sequence_origin(load_sequence(record["sidecar"], mmap=True, verify_hash=False), depth=depth - 1))
        except (SidecarError, OSError, KeyError, TypeError):
            origins.append(None)
    return shown_origin(source, frame, origins)


@dataclass(frozen=True)
class Numbering:
    """The number each frame of a sequence shows, and that a typed frame number names: pool numbers or positions.

    One decision for both (``sequence_numbering``), so what a sheet, a burned-in number or a printed line
    shows is what the artist types.
    """

    numbers: np.ndarray  # (frames,) int64: the number each frame shows
    by_pool: bool  # pool numbers (every frame is a pool frame); else positions 0..frames-1
    name: str = "the sequence"  # the sequence's file, for messages

    @classmethod
    def positions(cls, frames: int, name: str = "the sequence") -> Numbering:
        """Frames numbered by their place in the sequence."""
        return cls(np.arange(frames, dtype=np.int64), False, name)


def sequence_numbering(sequence: ZSequence) -> Numbering:
    """How ``sequence``'s frames are numbered, on screen and when typed: by pool number when every frame is a pool
    frame (a pool, a curated, picked, joined or held set), else by position (a journey, a conform with gaps or in-betweens).
    """
    origin = sequence_origin(sequence)
    if origin is not None and bool((origin.frames >= 0).all()):
        return Numbering(origin.frames, True, str(sequence.path))
    return Numbering.positions(sequence.meta.frames, str(sequence.path))


def burned_numbers(sequence: ZSequence) -> np.ndarray:
    """The number each frame shows, burned in, on sheets and in printed lines (``sequence_numbering``)."""
    return sequence_numbering(sequence).numbers


def _not_held(numbering: Numbering, first: int, last: int) -> str:
    held = np.unique(numbering.numbers)
    if not len(held):
        return f"{numbering.name} has no frames"
    distance = np.maximum(np.maximum(first - held, held - last), 0)
    nearest = sorted(int(n) for n in held[np.argsort(distance, kind="stable")[:4]])
    what = f"pool frame {first}" if first == last else f"pool frame in {first}-{last}"
    return (
        f"{numbering.name} holds no {what}; the nearest it holds are {', '.join(map(str, nearest))} "
        f"(its sheet shows them all: latentcut sheet {numbering.name} -o sheet.png)"
    )


def _pool_frames(numbering: Numbering, first: int, last: int) -> list[int]:
    # The first frame showing each pool number in first..last, in sequence order.
    inside = np.nonzero((numbering.numbers >= first) & (numbering.numbers <= last))[0]
    if not len(inside):
        raise UsageError(_not_held(numbering, first, last))
    _, firsts = np.unique(numbering.numbers[inside], return_index=True)
    return sorted(int(inside[i]) for i in firsts)


def frame_selection(text: str, numbering: Numbering, fps: Fraction | None = None) -> list[int]:
    """The positions of the frames ``text`` selects, in order, each as often as asked: ``3,7x2,9-12``.

    Items are frame numbers or timecodes; ``A-B`` is inclusive; ``xN`` repeats the item N times (the
    same as duplicating the frame N times in the editor). A number names what the frame shows
    (``numbering``): on a sequence numbered by pool, the frame of that pool number (the first, if
    several show it; a range selects the pool numbers it holds, in sequence order); else a position.
    Timecodes and clocks are positions in time.
    """
    selected: list[int] = []
    for part in text.split(","):
        item = _ITEM.match(part.strip())
        if item is None:
            raise UsageError(f"{part.strip()!r} in {text!r} is not like 7, 7x2, 9-12 or 00:00:01:10")
        first_text, last_text = item["first"], item["last"] if item["last"] is not None else item["first"]
        first, last = frame_of(first_text, fps), frame_of(last_text, fps)
        times = int(item["times"]) if item["times"] is not None else 1
        if last < first:
            raise UsageError(f"{part.strip()!r} in {text!r} runs backwards; write the earlier frame first")
        if times < 1:
            raise UsageError(f"{part.strip()!r} in {text!r} repeats a frame 0 times; leave it out instead")
        if numbering.by_pool and first_text.strip().isdigit() and last_text.strip().isdigit():
            frames = _pool_frames(numbering, first, last)
        elif last >= len(numbering.numbers):
            count = len(numbering.numbers)
            raise UsageError(f"frame {last} in {text!r} is past {numbering.name}'s {count} frames (0-{count - 1})")
        else:
            frames = list(range(first, last + 1))
        for frame in frames:
            selected.extend([frame] * times)
    return selected


def selected_frames(sequence: ZSequence, text: str) -> list[int]:
    """The positions of the frames of ``sequence`` that ``text`` selects, numbered as the sequence shows them."""
    return frame_selection(text, sequence_numbering(sequence), sequence.meta.fps)


def selected_frame(sequence: ZSequence, text: str, option: str) -> int:
    """The position of the one frame of ``sequence`` that ``text`` names (given as ``option``)."""
    frames = selected_frames(sequence, text)
    if len(frames) != 1:
        raise UsageError(f"{option} {text}: name one frame of {sequence.path}, not {len(frames)}")
    return frames[0]


def frame_numbered(numbering: Numbering, number: int) -> int:
    """The position of the first frame that shows pool number ``number`` (a guide's, say), refused in one line if none does."""
    return _pool_frames(numbering, number, number)[0]


def frames_showing(numbering: Numbering, numbers: Sequence[int]) -> list[int]:
    """The positions of every frame that shows one of ``numbers`` (the frames a label file lists), in order."""
    return [int(i) for i in np.nonzero(np.isin(numbering.numbers, np.asarray(numbers, np.int64)))[0]]


def parent_numbers(sequence: ZSequence) -> np.ndarray | None:
    """The pool number each frame of a resampled set was drawn around (``NO_ORIGIN`` unknown); ``None`` for other sequences."""
    record = sequence.meta.made.get("parents")
    if isinstance(record, Mapping) and isinstance(record.get("frames"), list) and len(record["frames"]) == sequence.meta.frames:
        return np.asarray(record["frames"], np.int64)
    return None


def frame_labels(sequence: ZSequence, frames: Sequence[int]) -> list[str]:
    """The label of each of ``frames`` on a contact sheet: the number it shows, and a resampled frame's parent (``3 · p31``)."""
    numbers = burned_numbers(sequence)[np.asarray(frames, np.int64)]
    parents = parent_numbers(sequence)
    if parents is None:
        return [str(int(n)) for n in numbers]
    return [
        f"{int(n)} · p{int(p)}" if p >= 0 else str(int(n))
        for n, p in zip(numbers, parents[np.asarray(frames, np.int64)], strict=True)
    ]


def exploded_names(sequence: ZSequence, firsts: Sequence[int]) -> list[str]:
    """The name of each exploded piece of a proxy of ``sequence`` starting at frame ``firsts[i]``: the number burned
    into the frame, ``pool #17`` on a sequence numbered by pool, else ``#17``, its place in the sequence."""
    numbering = sequence_numbering(sequence)
    return [f"{'pool ' if numbering.by_pool else ''}#{numbering.numbers[first]}" for first in firsts]


def held_sequence(sequence: ZSequence, hold: int, output: str | Path) -> ZSequence:
    """Write and return ``sequence`` with each latent held for ``hold`` frames (``made.how`` ``held``, its origin kept).

    A proxy of it shows each latent for ``hold`` frames, long enough to cut in an editor; the
    conform of an edit of held proxies maps each held block back to its one latent (``conform.holds``).
    """
    if hold < 1:
        raise UsageError(f"--hold {hold} must be at least 1")
    if sidecar_paths(output)[0].resolve() == sequence.path.resolve():
        raise UsageError(f"{output}: the held sequence would overwrite {sequence.path}; give the video another name")
    origin = sequence_origin(sequence)
    if origin is None:
        origin = Origin(sequence.meta.id, str(sequence.path), np.full(sequence.meta.frames, NO_ORIGIN, np.int64))
    made = {
        "how": "held",
        "hold": hold,
        "source": {"id": sequence.meta.id, "sidecar": str(sequence.path)},
        "origin": origin_record(picked_origin(origin, np.repeat(np.arange(sequence.meta.frames), hold)) or origin),
    }
    meta = sequence.meta
    if meta.fps is None:
        raise UsageError(f"{sequence.path}: frame rate unknown; pass --fps")
    save_sequence(
        output,
        np.repeat(np.asarray(sequence.latents), hold, axis=0),
        fps=meta.fps,
        look=meta.look,
        seed=meta.seed,
        made=made,
    )
    return load_sequence(output)


def exploded_cuts(frames: Sequence[int], holds: Sequence[int]) -> list[tuple[int, int, int]]:
    """One timeline piece per latent, clip after clip: ``(clip index, first frame, last frame)``.

    A clip of ``frames[i]`` frames held ``holds[i]`` frames per latent gives pieces ``hold`` frames long.
    """
    cuts: list[tuple[int, int, int]] = []
    for index, (count, hold) in enumerate(zip(frames, holds, strict=True)):
        step = max(1, hold)
        cuts.extend((index, first, min(first + step, count) - 1) for first in range(0, count, step))
    return cuts
