"""Rendering a z-sequence file to a proxy or online video that carries its sidecar's identity in its container tags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.errors import RenderError
from latentcut.latent.sidecar import ZSequence, link_tags
from latentcut.models.generator import Generator, checked_latents
from latentcut.models.stylegan.input_controls import InputControls
from latentcut.render.encode import VideoWriter, encoding_for
from latentcut.render.labels import short_model_label
from latentcut.render.pipeline import Layout, render_video

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


def sidecar_tags(sequence: ZSequence, models: Sequence[Generator]) -> dict[str, str]:
    """Return the container tags of a render: the link to its sidecar, and the models it went through."""
    return {
        **link_tags(sequence),
        "latent_model": ",".join(model.spec for model in models),
        "latent_model_sha256": ",".join(model.sha256 for model in models),
    }


def render_sequence(
    sequence: ZSequence,
    output: Path,
    models: Sequence[Generator],
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
    blend: tuple[np.ndarray, np.ndarray] | None = None,
    controls: InputControls | None = None,
) -> RenderResult:
    """Render ``sequence`` through ``models`` (several: a labelled snapshot grid) to ``output``, atomically and verified.

    ``blend``: a pixel cross-fade (partner latents, weights) per frame, from a ``--blend pixel`` conform.
    ``controls``: StyleGAN input controls per frame (a performance's ``load_controls``).
    """
    for model in models:
        checked_latents(model, sequence.latents[:1], str(sequence.path))
    columns, rows = grid or ((1, 1) if len(models) == 1 else (len(models), 1))
    if len(models) > columns * rows:
        raise RenderError(f"{output}: {len(models)} snapshots do not fit a {columns}x{rows} grid; choose a larger --grid")
    labels = tuple(short_model_label(model.spec, _final_snapshot(model.spec)) for model in models) if len(models) > 1 else ()
    layout = Layout(tile_size=tile_size, columns=columns, rows=rows, labels=labels, frame_numbers=frame_numbers)
    encoding = encoding_for(output, preset, codec)
    with VideoWriter(output, layout.frame_size, fps, encoding, tags=sidecar_tags(sequence, models)) as writer:
        written = render_video(
            sequence.latents,
            models,
            writer,
            layout,
            batch_frames=batch_frames,
            progress=progress,
            numbers=numbers,
            blend=blend,
            controls=controls,
        )
    return RenderResult(output, written, layout.frame_size, fps, encoding.codec)
