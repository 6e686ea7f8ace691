"""Rendering a z-sequence file to a proxy or online video that carries its sidecar's identity in its container tags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.conform.frame_arrays import FrameArrays, sequence_frames
from latentcut.errors import RenderError
from latentcut.latent.sidecar import ZSequence, link_tags
from latentcut.models.generator import Generator, checked_latents, weights_sha256
from latentcut.render.encode import VideoWriter, encoding_for
from latentcut.render.labels import short_model_label
from latentcut.render.pipeline import Layout, Tile, render_video

__all__ = ["PROXY_SIZE", "RenderResult", "render_sequence", "sidecar_tags"]

PROXY_SIZE = 256


@dataclass(frozen=True)
class RenderResult:
    """What a render wrote."""

    path: Path
    frames: int
    frame_size: tuple[int, int]
    fps: Fraction
    codec: str


def _final_snapshot(spec: str) -> int | None:
    # A bare builtin spec is its final snapshot: label it with that number, like the others in a grid.
    if spec == "builtin:cppn":
        from latentcut.models.cppn import CPPN_SNAPSHOTS

        return CPPN_SNAPSHOTS - 1
    return None


def _generators(tile: Tile) -> list[Generator]:
    return [tile] if isinstance(tile, Generator) else list(tile)


def sidecar_tags(sequence: ZSequence, models: Sequence[Tile]) -> dict[str, str]:
    """Return the container tags of a render: the link to its sidecar, and the models it went through."""
    generators = [generator for tile in models for generator in _generators(tile)]
    return {
        **link_tags(sequence),
        "latent_model": ",".join(model.spec for model in generators),
        "latent_model_sha256": ",".join(weights_sha256(model) for model in generators),
    }


def render_sequence(
    sequence: ZSequence,
    output: Path,
    models: Sequence[Tile],
    *,
    preset: str,
    fps: Fraction,
    tile_size: tuple[int, int],
    grid: tuple[int, int] | None = None,
    codec: str | None = None,
    frame_numbers: bool = False,
    batch_frames: int = 8,
    progress: Callable[[int], None] | None = None,
    numbers: np.ndarray | None = None,
    frames: FrameArrays | None = None,
) -> RenderResult:
    """Render ``sequence`` through ``models`` (several: a labelled snapshot grid) to ``output``, atomically and verified.

    ``frames``: what each output frame is (``latentcut.conform.frame_arrays``); default: what the sequence's
    files say (a conformed edit's gaps, fades and pixel blend, a performance's input controls). A model
    may be one per look, for a sequence whose frames use several (an explorer chain across snapshots).
    """
    for tile in models:
        for model in _generators(tile):
            checked_latents(model, sequence.latents[:1], str(sequence.path))
    columns, rows = grid or ((1, 1) if len(models) == 1 else (len(models), 1))
    if len(models) > columns * rows:
        raise RenderError(f"{output}: {len(models)} snapshots do not fit a {columns}x{rows} grid; choose a larger --grid")
    specs = [_generators(tile)[0].spec for tile in models]
    labels = tuple(short_model_label(spec, _final_snapshot(spec)) for spec in specs) if len(models) > 1 else ()
    layout = Layout(tile_size=tile_size, columns=columns, rows=rows, labels=labels, frame_numbers=frame_numbers)
    encoding = encoding_for(output, preset, codec)
    with VideoWriter(output, layout.frame_size, fps, encoding, tags=sidecar_tags(sequence, models)) as writer:
        written = render_video(
            frames if frames is not None else sequence_frames(sequence),
            models,
            writer,
            layout,
            batch_frames=batch_frames,
            progress=progress,
            numbers=numbers,
        )
    return RenderResult(output, written, layout.frame_size, fps, encoding.codec)
