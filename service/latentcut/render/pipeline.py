"""Rendering a z-sequence to a video: batches generated on the model's device while the previous batch is being encoded.

Generation runs in one worker thread (torch releases the GIL while it computes) and fills a small
bounded queue; the calling thread takes batches from it, tiles and labels them, and pipes them to
ffmpeg, which encodes in its own process. So the generator, the tiling and the encoder overlap, and
the encoder only waits when generation is the slower side.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from latentcut.errors import RenderError
from latentcut.models.generator import Generator
from latentcut.models.stylegan.input_controls import ControlledGenerator, InputControls
from latentcut.render.labels import frame_numbers_stamped, label_height_px, stamped, text_patch
from latentcut.render.range_frames import FrameArrays, render_range

__all__ = ["FrameSink", "Layout", "grid_frames", "render_video"]

_QUEUE_BATCHES = 3
_JOIN_TIMEOUT_S = 30.0

_Item = tuple[int, list[np.ndarray]] | BaseException | None


class FrameSink(Protocol):
    """Where finished frames go: a ``VideoWriter``, or anything else with ``write``."""

    def write(self, frames: np.ndarray) -> None: ...


@dataclass(frozen=True)
class Layout:
    """Where each generator's frames go: one tile per generator, in a ``columns`` x ``rows`` grid."""

    tile_size: tuple[int, int]  # (width, height) of one generator's frame
    columns: int = 1
    rows: int = 1
    labels: tuple[str, ...] = ()  # one per tile; empty for no labels
    frame_numbers: bool = False  # burn the frame index into each output frame

    @property
    def frame_size(self) -> tuple[int, int]:
        return self.tile_size[0] * self.columns, self.tile_size[1] * self.rows


def grid_frames(tiles: Sequence[np.ndarray], columns: int, rows: int) -> np.ndarray:
    """Return frames tiled row by row from ``tiles`` (each ``(n, h, w, 3)``); empty cells stay black.

    tiles A B C, 2 x 2  ->  A B
                            C .
    """
    if len(tiles) > columns * rows:
        raise RenderError(f"{len(tiles)} tiles do not fit a {columns}x{rows} grid")
    count, height, width, _ = tiles[0].shape
    out = np.zeros((count, height * rows, width * columns, 3), np.uint8)
    for index, tile in enumerate(tiles):
        row, column = divmod(index, columns)
        out[:, row * height : (row + 1) * height, column * width : (column + 1) * width] = tile
    return out


def _handed_over(out: queue.Queue[_Item], item: _Item, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _generated_batches(
    latents: np.ndarray,
    generators: Sequence[Generator],
    layout: Layout,
    batch_frames: int,
    out: queue.Queue[_Item],
    stop: threading.Event,
    blend: tuple[np.ndarray, np.ndarray] | None = None,
    controls: InputControls | None = None,
) -> None:
    try:
        for start in range(0, len(latents), batch_frames):
            batch = np.asarray(latents[start : start + batch_frames], np.float32)
            if controls is not None:
                frame_controls = controls.between(start, start + len(batch))
                tiles = [
                    _controlled(generator).render_controlled(batch, layout.tile_size, frame_controls) for generator in generators
                ]
            elif blend is None:
                tiles = [generator.render(batch, layout.tile_size) for generator in generators]
            else:
                # A --blend pixel conform: cross-fade the two pictures as MLT mixes two clips, as the daemon does.
                partner, weight = (np.asarray(b[start : start + batch_frames], np.float32) for b in blend)
                opaque = np.ones(len(batch), np.float32)
                arrays = FrameArrays(batch, opaque, partner, weight)
                tiles = [render_range(generator, layout.tile_size, arrays) for generator in generators]
            if not _handed_over(out, (start, tiles), stop):
                return
        _handed_over(out, None, stop)
    except BaseException as exc:  # handed to the consuming thread, which re-raises it there
        _handed_over(out, exc, stop)


def _controlled(generator: Generator) -> ControlledGenerator:
    if not isinstance(generator, ControlledGenerator):
        raise RenderError(f"{generator.spec}: the sequence has per-frame input controls, which only StyleGAN models take")
    return generator


def render_video(
    latents: np.ndarray,
    generators: Sequence[Generator],
    writer: FrameSink,
    layout: Layout,
    *,
    batch_frames: int = 8,
    progress: Callable[[int], None] | None = None,
    numbers: np.ndarray | None = None,
    blend: tuple[np.ndarray, np.ndarray] | None = None,
    controls: InputControls | None = None,
) -> int:
    """Render every row of ``latents`` through each generator into ``writer``; return the frames written.

    ``blend`` (partner latents, weights): frame ``i`` is ``(1 - w[i]) * G(latents[i]) + w[i] * G(partner[i])``.
    ``controls``: StyleGAN input controls, one per frame (``latentcut.models.stylegan.input_controls``).

    ``progress`` is called with the number of frames finished after each batch. With
    ``layout.frame_numbers``, ``numbers[i]`` (default ``i``) is burned into frame ``i``.
    """
    if not generators:
        raise RenderError("no model to render with")
    if batch_frames < 1:
        raise RenderError(f"batch size {batch_frames} must be at least 1")
    if controls is not None and (blend is not None or len(controls) != len(latents)):
        raise RenderError(f"{len(controls)} frames of input controls do not fit {len(latents)} latents without a blend")
    patches = [text_patch(label, label_height_px(layout.tile_size[1])) for label in layout.labels]
    batches: queue.Queue[_Item] = queue.Queue(_QUEUE_BATCHES)
    stop = threading.Event()
    worker = threading.Thread(
        target=_generated_batches,
        args=(latents, generators, layout, batch_frames, batches, stop, blend, controls),
        name="latentcut-generate",
        daemon=True,
    )
    worker.start()
    written = 0
    try:
        while True:
            item = batches.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            start, tiles = item
            for index, patch in enumerate(patches):
                stamped(tiles[index], patch, 0, 0)
            frames = (
                grid_frames(tiles, layout.columns, layout.rows)
                if len(tiles) > 1 or layout.columns * layout.rows > 1
                else tiles[0]
            )
            if layout.frame_numbers:
                frame_numbers_stamped(frames, start, None if numbers is None else numbers[start : start + len(frames)])
            writer.write(frames)
            written += len(frames)
            if progress is not None:
                progress(len(frames))
    finally:
        stop.set()
        worker.join(timeout=_JOIN_TIMEOUT_S)
    return written
