"""Latent grids from "Sampling Generative Networks": analogies, J-diagrams and MINE grids, filled in by slerp.

Both grids are anchors on a lattice with every other cell a bilinear slerp of the four anchors around
it: a J-diagram has A, B, C at three corners and the analogy ``B - A + C`` at the fourth; a MINE
grid has a pool frame at the centre and its nearest neighbours (by cosine) around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.interpolation import slerp_rows

__all__ = ["LatentGrid", "analogy_latent", "jdiagram_grid", "mine_grid", "nearest_by_cosine"]

MINE_NEIGHBOURS = 8  # the ring of anchors around the centre on a 3x3 lattice


@dataclass(frozen=True)
class LatentGrid:
    """Latents laid out ``rows`` x ``columns`` (row-major) with a label per cell ('' for interpolated cells)."""

    latents: np.ndarray  # float32 (rows * columns, dim)
    labels: tuple[str, ...]
    rows: int
    columns: int


def _pool_frame(pool: np.ndarray, frame: int, what: str) -> np.ndarray:
    if not 0 <= frame < len(pool):
        raise UsageError(f"{what}: frame {frame} is outside the pool (frames 0-{len(pool) - 1})")
    return np.asarray(pool[frame], np.float64)


def analogy_latent(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Return D in "A is to B as C is to D": ``C + (B - A)``, rescaled to the mean norm of A, B and C.

    The sum of three Gaussian samples is longer than any of them; scaling it back keeps D on the
    shell where the prior (and so the model's training) puts its samples.
    """
    a64, b64, c64 = (np.asarray(v, np.float64) for v in (a, b, c))
    d = c64 + b64 - a64
    length = np.linalg.norm(d)
    target = np.mean([np.linalg.norm(a64), np.linalg.norm(b64), np.linalg.norm(c64)])
    return (d * (target / length) if length > 0 else d).astype(np.float32)


def _lattice_fill(anchors: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Fill ``rows`` x ``columns`` from an ``(m, n, dim)`` lattice of anchors spread evenly over it, by bilinear slerp."""
    m, n, dim = anchors.shape
    ys = np.linspace(0.0, m - 1, rows) if rows > 1 else np.zeros(1)
    xs = np.linspace(0.0, n - 1, columns) if columns > 1 else np.zeros(1)
    out = np.empty((rows, columns, dim), np.float64)
    for r, y in enumerate(ys):
        top = min(int(y), m - 2) if m > 1 else 0
        v = y - top
        for col, x in enumerate(xs):
            left = min(int(x), n - 2) if n > 1 else 0
            u = x - left
            if u == int(u) and v == int(v):  # on an anchor: exactly it, not a slerp's rounding of it
                out[r, col] = anchors[top + int(v), left + int(u)]
                continue
            corners = anchors[top : top + 2, left : left + 2]
            if corners.shape[:2] != (2, 2):
                out[r, col] = anchors[top, left]
                continue
            upper = slerp_rows(corners[0, 0][None], corners[0, 1][None], np.array([u]))
            lower = slerp_rows(corners[1, 0][None], corners[1, 1][None], np.array([u]))
            out[r, col] = slerp_rows(upper, lower, np.array([v]))[0]
    return out.reshape(rows * columns, dim).astype(np.float32)


def jdiagram_grid(pool: np.ndarray, a: int, b: int, c: int, size: int, numbers: np.ndarray | None = None) -> LatentGrid:
    """Return the ``size`` x ``size`` J-diagram of pool frames ``a`` (top left), ``b`` (top right), ``c`` (bottom left).

    The bottom-right corner is the analogy ``b - a + c``; every other cell is a bilinear slerp of the corners.
    Corners are labelled with ``numbers[frame]`` (the frames' pool numbers; default the frames themselves).
    """
    if size < 2:
        raise UsageError(f"--size {size}: a J-diagram needs at least 2x2 cells")
    pa, pb, pc = (_pool_frame(pool, frame, name) for frame, name in ((a, "A"), (b, "B"), (c, "C")))
    d = analogy_latent(pa, pb, pc)
    lattice = np.stack([np.stack([pa, pb]), np.stack([pc, d.astype(np.float64)])])
    latents = _lattice_fill(lattice, size, size)
    labels = [""] * (size * size)
    shown = np.arange(len(pool)) if numbers is None else numbers
    labels[0] = f"A #{shown[a]}"
    labels[size - 1] = f"B #{shown[b]}"
    labels[size * (size - 1)] = f"C #{shown[c]}"
    labels[size * size - 1] = "B-A+C"
    return LatentGrid(latents, tuple(labels), size, size)


def nearest_by_cosine(pool: np.ndarray, frame: int, count: int) -> np.ndarray:
    """Return the ``count`` pool frames nearest to ``frame`` by cosine distance, nearest first (``frame`` itself excluded)."""
    centre = _pool_frame(pool, frame, "--frame")
    vectors = np.asarray(pool, np.float64)
    norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(centre)
    similarity = np.divide(vectors @ centre, norms, out=np.full(len(vectors), -np.inf), where=norms > 0)
    similarity[frame] = -np.inf
    order = np.argsort(-similarity, kind="stable")
    return order[:count]


def mine_grid(pool: np.ndarray, frame: int, rows: int, columns: int, numbers: np.ndarray | None = None) -> LatentGrid:
    """Return a MINE grid: pool ``frame`` at the centre of a 3x3 lattice of anchors, its 8 nearest neighbours around it.

    Neighbours go nearest first to the edge midpoints (top, right, bottom, left), then to the corners;
    cells between anchors are bilinear slerps, so the grid maps the local manifold around the frame.
    Anchors are labelled with ``numbers[frame]`` (the frames' pool numbers; default the frames themselves).
    """
    if rows < 3 or columns < 3:
        raise UsageError(f"--grid {columns}x{rows}: a MINE grid needs at least 3x3 cells")
    if len(pool) < MINE_NEIGHBOURS + 1:
        raise UsageError(f"a MINE grid needs a pool of at least {MINE_NEIGHBOURS + 1} frames; this one has {len(pool)}")
    neighbours = nearest_by_cosine(pool, frame, MINE_NEIGHBOURS)
    positions = [(0, 1), (1, 2), (2, 1), (1, 0), (0, 0), (0, 2), (2, 2), (2, 0)]
    lattice = np.empty((3, 3, pool.shape[1]), np.float64)
    lattice[1, 1] = pool[frame]
    frames = {(1, 1): frame}
    for (y, x), neighbour in zip(positions, neighbours.tolist(), strict=True):
        lattice[y, x] = pool[neighbour]
        frames[(y, x)] = neighbour
    latents = _lattice_fill(lattice, rows, columns)
    labels = [""] * (rows * columns)
    shown = np.arange(len(pool)) if numbers is None else numbers
    for (y, x), pool_frame in frames.items():
        r, col = y * (rows - 1) / 2, x * (columns - 1) / 2
        if r == int(r) and col == int(col):  # the anchor falls on a cell (always for odd sizes)
            labels[int(r) * columns + int(col)] = f"#{shown[pool_frame]}" + (" (centre)" if (y, x) == (1, 1) else "")
    return LatentGrid(latents, tuple(labels), rows, columns)
