"""Contact sheets: labelled PNG grids of frames (or any tiles), paged into several files when large, written atomically.

gap ┌────────┐ gap ┌────────┐
    │  tile  │     │  tile  │      each cell: the tile exactly as given (pixels untouched),
    ├────────┤     ├────────┤      then its caption below it, white on black
    │ 31     │     │ 31 +4° │
    └────────┘     └────────┘
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from latentcut.atomic import atomic_path
from latentcut.errors import RenderError, UsageError
from latentcut.models.generator import Generator
from latentcut.render.labels import caption_image, label_height_px

__all__ = [
    "BACKGROUND",
    "GAP_PX",
    "PAGE_TILES",
    "cell_origin",
    "page_paths",
    "rendered_tiles",
    "sheet_image",
    "write_sheet",
]

GAP_PX = 2
PAGE_TILES = 320  # tiles per PNG before a sheet is paged into -001, -002, ...
BACKGROUND = (24, 24, 24)


def cell_origin(index: int, columns: int, tile_size: tuple[int, int], label_px: int | None = None) -> tuple[int, int]:
    """Return ``(x, y)`` of the top-left pixel of tile ``index`` in a sheet; its caption starts ``tile height`` below.

    ``tile_size`` is ``(width, height)``; ``label_px`` defaults to ``label_height_px(height)``.
    """
    width, height = tile_size
    label = label_height_px(height) if label_px is None else label_px
    row, column = divmod(index, columns)
    return GAP_PX + column * (width + GAP_PX), GAP_PX + row * (height + label + GAP_PX)


def _tile_size(tiles: Sequence[np.ndarray | None]) -> tuple[int, int]:
    sizes = {(t.shape[1], t.shape[0]) for t in tiles if t is not None}
    if len(sizes) != 1:
        raise RenderError(f"a sheet needs tiles of one size, got {sorted(sizes) or 'none'}")
    return sizes.pop()


def sheet_image(
    tiles: Sequence[np.ndarray | None], labels: Sequence[str], columns: int, *, label_px: int | None = None
) -> np.ndarray:
    """Return one sheet (H x W x 3 uint8): ``tiles`` (each h x w x 3 uint8, ``None`` for an empty cell) row by row.

    Each tile is copied unchanged; ``labels[i]`` is drawn below tile ``i`` (``""`` for none). The label
    band is ``label_height_px(h)`` tall unless ``label_px`` says otherwise: 18 px for 128 px tiles.
    """
    if columns < 1:
        raise UsageError(f"a sheet needs at least one column, got {columns}")
    if len(labels) != len(tiles):
        raise RenderError(f"{len(tiles)} tiles but {len(labels)} labels; give one label per tile")
    width, height = _tile_size(tiles)
    label = label_height_px(height) if label_px is None else label_px
    rows = -(-len(tiles) // columns)
    out = np.empty((GAP_PX + rows * (height + label + GAP_PX), GAP_PX + columns * (width + GAP_PX), 3), np.uint8)
    out[:] = BACKGROUND
    for index, (tile, text) in enumerate(zip(tiles, labels, strict=True)):
        x, y = cell_origin(index, columns, (width, height), label)
        if tile is not None:
            out[y : y + height, x : x + width] = tile
        if label:
            out[y + height : y + height + label, x : x + width] = caption_image(text, width, label)
    return out


def page_paths(path: Path, pages: int) -> list[Path]:
    """The files a sheet of ``pages`` pages goes to: ``path`` itself for one page, else ``NAME-001.png``, ``NAME-002.png``, ..."""
    if pages <= 1:
        return [path]
    return [path.with_name(f"{path.stem}-{page:03d}{path.suffix or '.png'}") for page in range(1, pages + 1)]


def write_sheet(
    path: Path,
    tiles: Sequence[np.ndarray | None],
    labels: Sequence[str],
    columns: int,
    *,
    page_tiles: int = PAGE_TILES,
    label_px: int | None = None,
) -> list[Path]:
    """Write the sheet as PNG (each page atomically), paged by whole rows past ``page_tiles`` tiles; return the files."""
    if not tiles:
        raise UsageError(f"{path}: no tiles to put on a sheet")
    rows_per_page = max(1, page_tiles // columns)
    per_page = rows_per_page * columns
    pages = -(-len(tiles) // per_page)
    written = []
    for page, target in enumerate(page_paths(path, pages)):
        part = slice(page * per_page, (page + 1) * per_page)
        image = sheet_image(tiles[part], labels[part], columns, label_px=label_px)
        with atomic_path(target) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
        written.append(target)
    return written


def rendered_tiles(
    generator: Generator,
    latents: np.ndarray,
    tile_size: tuple[int, int],
    *,
    batch_frames: int = 16,
    progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """Return ``latents`` decoded through ``generator`` as tiles ``(n, h, w, 3)`` uint8, in batches."""
    parts = []
    for start in range(0, len(latents), batch_frames):
        batch = np.asarray(latents[start : start + batch_frames], np.float32)
        parts.append(generator.render(batch, tile_size))
        if progress is not None:
            progress(len(batch))
    if not parts:
        raise UsageError("no frames to render on a sheet")
    return np.concatenate(parts)
