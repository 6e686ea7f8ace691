"""Journeys in batches: N journeys between pool frames, each a sidecar and a proxy, with a Kdenlive project and a contact sheet.

DIR/journey-001.z.npy  journey-001.mp4     one journey each, numbered in order
DIR/journeys.kdenlive                      all of them in the bin as latent clips (--timeline: end to end on V1)
DIR/journeys.png                           a row per journey: its first, middle and last frames

Keyframes are labelled and reported as the pool's sheet numbers them (``latent.curation``), whatever the pool
given: a curated set's frame 2 that was frame 31 of the pool it came from is "31".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.errors import UsageError
from latentcut.latent.attributes import LoadedAttribute, attribute_records, with_attributes
from latentcut.latent.curation import burned_numbers, origin_record, picked_origin, placed_origin, sequence_origin
from latentcut.latent.interpolation import SpringParams
from latentcut.latent.journey import INTERPOLATIONS, journey_keys, journey_latents
from latentcut.latent.look import Look
from latentcut.latent.sidecar import ZSequence, load_sequence, save_sequence
from latentcut.models.generator import Generator
from latentcut.render.sequence import PROXY_SIZE, render_sequence
from latentcut.render.sheet import rendered_tiles, write_sheet

__all__ = ["BatchPlan", "JourneyBatch", "journey_name", "write_journey_batch"]

SHEET_TILE = (128, 128)


@dataclass(frozen=True)
class BatchPlan:
    """What journeys to make: how many, between which pool frames, how long, how they move."""

    count: int
    keys: int = 2
    frames_per_segment: int = 75
    interpolation: str = "spring"
    seed: int = 0
    among: tuple[int, ...] | None = None  # positions in the pool sequence of the frames to travel between (default: any)
    chain: bool = False
    keep_source: bool = False
    spring: SpringParams = field(default_factory=SpringParams)


@dataclass(frozen=True)
class JourneyBatch:
    """What a batch wrote."""

    sidecars: tuple[Path, ...]
    proxies: tuple[Path, ...]
    project: Path
    sheets: tuple[Path, ...]
    keys: tuple[tuple[int, ...], ...]  # each journey's keyframes, by their pool numbers


def journey_name(index: int) -> str:
    """``journey-001`` for the first journey (``index`` 0)."""
    return f"journey-{index + 1:03d}"


def write_journey_batch(
    pool: ZSequence,
    out_dir: Path,
    plan: BatchPlan,
    generator: Generator,
    *,
    fps: Fraction,
    size: tuple[int, int] = (PROXY_SIZE, PROXY_SIZE),
    timeline: bool = False,
    progress: Callable[[int], None] | None = None,
    attributes: Sequence[LoadedAttribute] = (),
    look: Look | None = None,
) -> JourneyBatch:
    """Write the batch ``plan`` describes into ``out_dir``; every file atomically; ``attributes`` move every journey.

    ``look``: what ``generator`` shows (default: the pool's), recorded in every journey's sidecar, so each
    renders later as its proxy shows it.
    """
    if plan.interpolation not in INTERPOLATIONS:
        raise UsageError(f"interpolation {plan.interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
    if plan.frames_per_segment < 1:
        raise UsageError(f"frames per segment {plan.frames_per_segment} must be at least 1")
    out_dir.mkdir(parents=True, exist_ok=True)
    plans = journey_keys(
        pool.meta.frames,
        plan.count,
        keys=plan.keys,
        seed=plan.seed,
        among=plan.among,
        chain=plan.chain,
        keep_source=plan.keep_source,
    )
    origin = sequence_origin(pool)
    numbers = burned_numbers(pool)
    params = {k: v for k, v in asdict(plan).items() if k != "spring"}
    params["among"] = list(plan.among) if plan.among is not None else None
    sidecars: list[Path] = []
    proxies: list[Path] = []
    tiles: list[np.ndarray] = []
    labels: list[str] = []
    shown: list[tuple[int, ...]] = []
    for index, keys in enumerate(plans):
        latents = journey_latents(
            np.asarray(pool.latents[list(keys)]), plan.frames_per_segment, plan.interpolation, spring=plan.spring
        )
        made: dict[str, object] = {
            "how": "journey",
            "source": str(pool.path),
            "source_id": pool.meta.id,
            "keys": list(keys),
            "interpolation": plan.interpolation,
            "frames_per_segment": plan.frames_per_segment,
            "batch": {**params, "index": index + 1},
        }
        if attributes:
            latents = with_attributes(latents, attributes, space=pool.meta.space)
            made["attributes"] = attribute_records(attributes)
        if plan.interpolation == "spring":
            made["spring"] = {k: v for k, v in asdict(plan.spring).items() if k != "substeps"}
        key_origin = placed_origin(picked_origin(origin, keys), slice(None, None, plan.frames_per_segment), len(latents))
        if key_origin is not None and not attributes:  # attributes move every frame, keys too: no pool frames
            made["origin"] = origin_record(key_origin)
        sidecar = out_dir / f"{journey_name(index)}.z.npy"
        save_sequence(sidecar, latents, fps=fps, look=look or pool.meta.look, seed=plan.seed, made=made)
        sequence = load_sequence(sidecar)
        proxy = out_dir / f"{journey_name(index)}.mp4"
        render_sequence(sequence, proxy, [generator], preset="proxy", fps=fps, tile_size=size, progress=progress)
        middle = len(latents) // 2
        tiles.extend(rendered_tiles(generator, latents[[0, middle, len(latents) - 1]], SHEET_TILE))
        shown.append(tuple(int(numbers[k]) for k in keys))
        labels.extend([f"{index + 1}: {shown[-1][0]}", f"{index + 1}: mid", f"{index + 1}: {shown[-1][-1]}"])
        sidecars.append(sidecar)
        proxies.append(proxy)
    project = out_dir / "journeys.kdenlive"
    write_kdenlive_project(project, project_clips(proxies, project), timeline=timeline)
    sheets = write_sheet(out_dir / "journeys.png", tiles, labels, 3)
    return JourneyBatch(tuple(sidecars), tuple(proxies), project, tuple(sheets), tuple(shown))
