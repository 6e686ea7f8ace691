"""Rendering a sequence's frames to a video: batches generated on the model's device while the previous batch is being encoded.

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

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.errors import RenderError
from latentcut.models.generator import Generator
from latentcut.render.labels import frame_numbers_stamped, label_height_px, stamped, text_patch
from latentcut.render.range_frames import FrameMemo, render_range

__all__ = ["FrameSink", "Layout", "grid_frames", "render_video"]

_QUEUE_BATCHES = 3
_JOIN_TIMEOUT_S = 30.0

_Item = tuple[int, list[np.ndarray]] | BaseException | None
Tile = Generator | Sequence[Generator]  # one tile's model, or one per look (``FrameArrays.look``)


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
    frames: FrameArrays,
    tiles: Sequence[Tile],
    layout: Layout,
    batch_frames: int,
    out: queue.Queue[_Item],
    stop: threading.Event,
) -> None:
    try:
        memo = FrameMemo()  # a picture made once serves its repeats in later batches too; its keys name the model
        for start in range(0, frames.frames, batch_frames):
            batch = frames.rows(slice(start, start + batch_frames))
            pictures = [render_range(tile, layout.tile_size, batch, memo) for tile in tiles]
            if not _handed_over(out, (start, pictures), stop):
                return
        _handed_over(out, None, stop)
    except BaseException as exc:  # handed to the consuming thread, which re-raises it there
        _handed_over(out, exc, stop)


def render_video(
    frames: FrameArrays,
    tiles: Sequence[Tile],
    writer: FrameSink,
    layout: Layout,
    *,
    batch_frames: int = 8,
    progress: Callable[[int], None] | None = None,
    numbers: np.ndarray | None = None,
) -> int:
    """Render every frame of ``frames`` (``latentcut.conform.frame_arrays``) through each tile's model into ``writer``; return the frames written.

    A tile is one model, or one per look for frames that use several. ``progress`` is called with the
    number of frames finished after each batch. With ``layout.frame_numbers``, ``numbers[i]`` (default
    ``i``) is burned into frame ``i``.
    """
    if not tiles:
        raise RenderError("no model to render with")
    if batch_frames < 1:
        raise RenderError(f"batch size {batch_frames} must be at least 1")
    patches = [text_patch(label, label_height_px(layout.tile_size[1])) for label in layout.labels]
    batches: queue.Queue[_Item] = queue.Queue(_QUEUE_BATCHES)
    stop = threading.Event()
    worker = threading.Thread(
        target=_generated_batches,
        args=(frames, tiles, layout, batch_frames, batches, stop),
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
            start, pictures = item
            for index, patch in enumerate(patches):
                stamped(pictures[index], patch, 0, 0)
            out = (
                grid_frames(pictures, layout.columns, layout.rows)
                if len(pictures) > 1 or layout.columns * layout.rows > 1
                else pictures[0]
            )
            if layout.frame_numbers:
                frame_numbers_stamped(out, start, None if numbers is None else numbers[start : start + len(out)])
            writer.write(out)
            written += len(out)
            if progress is not None:
                progress(len(out))
    finally:
        stop.set()
        worker.join(timeout=_JOIN_TIMEOUT_S)
    return written
