"""Measure: the conform against the real melt on every held-out project, frame by frame.

    .venv/bin/python bench/agreement.py [--folder DIR]

Each project of tests/data (Kdenlive 22.12 files, including those made in its UI, Kdenlive's own test
projects and the OpenTimelineIO adapter's samples) has its media replaced by index-coded clips
(tests/indexclips.py) and is rendered with melt; every frame either agrees with the conform's terms
(to 10 levels of 255), is declared pixel-only by the conform, or is wrong. Prints a table and the totals.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))

from indexclips import block_centres, melt_frames, predicted_centres, swap_media  # noqa: E402
from latentcut.conform.project import project_frame_map  # noqa: E402

PROJECTS = sorted(p.relative_to(TESTS / "data") for p in (TESTS / "data").glob("*/*") if p.suffix in (".kdenlive", ".mlt"))


def _counts(project: Path, pixels: dict[str, np.ndarray]) -> tuple[int, int, int]:
    frame_map, _, _ = project_frame_map(project)
    seen = block_centres(melt_frames(project, frame_map.length)[: frame_map.length])
    expected = predicted_centres(frame_map, pixels)
    black = np.where(frame_map.source == -2, frame_map.weight, 0.0).sum(axis=1)[:, None, None]
    level = np.maximum(0.0, expected - 255.0 * 16.0 / 219.0 * black)  # MLT's brightness fade of limited-range luma
    error = np.minimum(np.abs(seen - expected).max(axis=(1, 2)), np.abs(seen - level).max(axis=(1, 2)))
    shown = ~(frame_map.source == -1).all(axis=1)  # frames with nothing at all show melt's test card
    pixel = frame_map.pixel_only & shown
    wrong = (error > 10) & shown & ~pixel
    return int((shown & ~pixel & ~wrong).sum()), int(pixel.sum()), int(wrong.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="work folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.folder or Path(temporary)
        totals = np.zeros(3, int)
        print(f"{'project':58} {'agree':>7} {'pixel-only':>10} {'wrong':>6}")
        for name in PROJECTS:
            project, pixels = swap_media(TESTS / "data" / name, folder / name.parent / name.stem)
            counts = _counts(project, pixels)
            totals += counts
            print(f"{name!s:58} {counts[0]:7} {counts[1]:10} {counts[2]:6}")
        print(f"{'all ' + str(len(PROJECTS)) + ' projects':58} {totals[0]:7} {totals[1]:10} {totals[2]:6}")


if __name__ == "__main__":
    main()
