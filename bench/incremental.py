"""Benchmark: after trimming one clip of a 10-minute edit, how many frames are generated again, and how fast.

    .venv/bin/python bench/incremental.py [--size 256] [--minutes 10] [--codecs prores,ffv1]

A timeline at 25 fps (10 minutes: 15,000 frames) of 20 clips from 20 sampled sequences is conformed
and rendered by a real daemon process (its frame cache and segment store empty), once per codec:
ProRes 4444 (.mov) and FFV1 (.mkv), each written as segments joined by stream copy. Then one clip in
the middle is trimmed (its in point 25 frames earlier, so 25 new frames appear and the rest of the
edit shifts) and the edit rendered again. Prints, per codec, frames changed (frames whose latent and
opacity appear nowhere in the first render), frames generated, their ratio (goal <= 1.05), and wall
time of the incremental render against the full one (goal <= 0.1).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.conform.frame_arrays import conformed_frames
from latentcut.conform.project import conform_project
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.messages import Job, JobSummary
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import save_sequence
from local_daemon import local_daemon

ADDRESS = "tcp://127.0.0.1:5592"
CLIPS, FPS = 20, 25
OUTPUTS = {"prores": "edit.mov", "ffv1": "edit.mkv"}


def project_text(trim: int, clip_frames: int) -> str:
    producers = "".join(
        f'<producer id="c{i}" out="{clip_frames + 99}"><property name="length">{clip_frames + 100}</property>'
        f'<property name="resource">c{i}.mp4</property><property name="mlt_service">avformat</property></producer>'
        for i in range(CLIPS)
    )
    # The middle clip's in point moves `trim` frames earlier: that much new material appears, the rest shifts.
    entries = "".join(
        f'<entry producer="c{i}" in="{50 - (trim if i == CLIPS // 2 else 0)}" out="{50 + clip_frames - 1}"/>'
        for i in range(CLIPS)
    )
    return (
        f'<mlt><profile width="32" height="32" frame_rate_num="{FPS}" frame_rate_den="1"/>{producers}'
        f'<playlist id="v1">{entries}</playlist><tractor id="t"><track producer="v1"/></tractor></mlt>'
    )


def render(client: DaemonClient, project: Path, size: int, output: str) -> tuple[np.ndarray, np.ndarray, JobSummary, float]:
    result = conform_project(project, None)
    arrays = conformed_frames(result)
    latents = arrays.latents
    started = time.monotonic()
    job = client.submit(
        Job(project=str(project), output=output, model="builtin:cppn", size=(size, size), fps=Fraction(FPS), arrays=arrays)
    ).job_id
    last = None
    for event in client.events(job, timeout_s=3600):
        last = event
    assert last is not None and last.kind == "done", last
    return latents, result.result.opacity, last.summary, time.monotonic() - started


def measured(folder: Path, size: int, clip_frames: int, output: str) -> list[tuple[str, str, str]]:
    """Render the edit, trim it, render it again (a fresh daemon and cache); return the table's rows."""
    for i in range(CLIPS):
        save_sequence(folder / f"c{i}.z.npy", gaussian_latents(clip_frames + 100, 512, i), fps=Fraction(FPS))
    project = folder / "edit.kdenlive"
    with local_daemon(folder, ADDRESS) as client:
        project.write_text(project_text(0, clip_frames))
        before, before_alpha, full, full_s = render(client, project, size, output)
        project.write_text(project_text(25, clip_frames))
        after, after_alpha, incremental, incremental_s = render(client, project, size, output)
    seen = set(frame_keys("", "builtin:cppn", (size, size), before, before_alpha))
    changed = sum(key not in seen for key in frame_keys("", "builtin:cppn", (size, size), after, after_alpha))
    generated = incremental.generated
    return [
        ("full render: frames generated", f"{full.generated}", ""),
        ("after the trim: frames changed", f"{changed}", ""),
        ("after the trim: frames generated", f"{generated}", ""),
        ("generated / changed", f"{generated / changed if changed else float('nan'):.2f}", "<= 1.05"),
        ("full render wall time (s)", f"{full_s:.1f}", ""),
        ("incremental render wall time (s)", f"{incremental_s:.1f}", ""),
        ("incremental / full time", f"{incremental_s / full_s:.3f}", "<= 0.1"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="frame width and height (default 256)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the edit in minutes (default 10)")
    parser.add_argument("--codecs", default="prores,ffv1", help="comma-separated: prores (.mov), ffv1 (.mkv)")
    args = parser.parse_args()
    clip_frames = round(args.minutes * 60 * FPS / CLIPS)
    codecs = [codec for codec in args.codecs.split(",") if codec]
    results = {}
    for codec in codecs:
        with tempfile.TemporaryDirectory() as tmp:
            results[codec] = measured(Path(tmp), args.size, clip_frames, OUTPUTS[codec])
    print(
        f"{args.minutes:g}-minute edit ({CLIPS * clip_frames} frames at {FPS} fps, {CLIPS} clips, {args.size}x{args.size}); "
        "one clip's in point trimmed 25 frames earlier; outputs in segments joined by stream copy"
    )
    print(f"{'measure':<34}" + "".join(f"{codec:>12}" for codec in codecs) + f"{'goal':>10}")
    for row, (label, _, goal) in enumerate(results[codecs[0]]):
        print(f"{label:<34}" + "".join(f"{results[codec][row][1]:>12}" for codec in codecs) + f"{goal:>10}")


if __name__ == "__main__":
    main()
