"""Benchmark: after trimming one clip of a 10-minute edit, how many frames are generated again, and how fast.

    .venv/bin/python bench/incremental.py [--size 32]

A 10-minute timeline at 25 fps (15,000 frames) of 20 clips from 20 sampled sequences is conformed
and rendered by a real daemon process (its frame cache empty); then one clip in the middle is
trimmed (its in point 25 frames earlier, so 25 new frames appear and the rest of the edit shifts) and the edit
rendered again. Prints frames changed (frames whose latent and
opacity appear nowhere in the first render), frames generated, their ratio (goal <= 1.05), and wall
time of the incremental render against the full one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.conform.latents import latent_chunks
from latentcut.conform.project import conform_project
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.messages import Job, JobSummary
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import save_sequence
from local_daemon import local_daemon

ADDRESS = "tcp://127.0.0.1:5592"
CLIPS, CLIP_FRAMES, FPS = 20, 750, 25


def project_text(trim: int) -> str:
    producers = "".join(
        f'<producer id="c{i}" out="{CLIP_FRAMES + 99}"><property name="length">{CLIP_FRAMES + 100}</property>'
        f'<property name="resource">c{i}.mp4</property><property name="mlt_service">avformat</property></producer>'
        for i in range(CLIPS)
    )
    # The middle clip's in point moves `trim` frames earlier: that much new material appears, the rest shifts.
    entries = "".join(
        f'<entry producer="c{i}" in="{50 - (trim if i == CLIPS // 2 else 0)}" out="{50 + CLIP_FRAMES - 1}"/>'
        for i in range(CLIPS)
    )
    return (
        f'<mlt><profile width="32" height="32" frame_rate_num="{FPS}" frame_rate_den="1"/>{producers}'
        f'<playlist id="v1">{entries}</playlist><tractor id="t"><track producer="v1"/></tractor></mlt>'
    )


def render(client: DaemonClient, project: Path, size: int) -> tuple[np.ndarray, np.ndarray, JobSummary, float]:
    result = conform_project(project, None)
    latents = np.concatenate(list(latent_chunks(result.result, result.sequences)))
    started = time.monotonic()
    job = client.submit(
        Job(
            project=str(project),
            output="edit.mkv",
            model="builtin:cppn",
            size=(size, size),
            fps=Fraction(FPS),
            latents=latents,
            opacity=result.result.opacity,
        )
    ).job_id
    last = None
    for event in client.events(job, timeout_s=600):
        last = event
    assert last is not None
    return latents, result.result.opacity, last.summary, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=32, help="frame width and height (default 32, to keep a CPU run short)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(CLIPS):
            save_sequence(folder / f"c{i}.z.npy", gaussian_latents(CLIP_FRAMES + 100, 512, i), fps=Fraction(FPS))
        project = folder / "edit.kdenlive"
        with local_daemon(folder, ADDRESS) as client:
            project.write_text(project_text(0))
            before, before_alpha, full, full_s = render(client, project, args.size)
            project.write_text(project_text(25))
            after, after_alpha, incremental, incremental_s = render(client, project, args.size)
    seen = set(frame_keys("", "builtin:cppn", (args.size, args.size), before, before_alpha))
    changed = sum(key not in seen for key in frame_keys("", "builtin:cppn", (args.size, args.size), after, after_alpha))
    generated = incremental.generated
    print(
        f"10-minute edit ({len(before)} frames at {FPS} fps, {CLIPS} clips, {args.size}x{args.size}); one clip's in point trimmed 25 frames earlier"
    )
    print(f"{'measure':<34}{'value':>12}{'goal':>10}")
    print(f"{'full render: frames generated':<34}{full.generated:>12}")
    print(f"{'after the trim: frames changed':<34}{changed:>12}")
    print(f"{'after the trim: frames generated':<34}{generated:>12}")
    print(f"{'generated / changed':<34}{(generated / changed if changed else float('nan')):>12.2f}{'<= 1.05':>10}")
    print(f"{'full render wall time (s)':<34}{full_s:>12.1f}")
    print(f"{'incremental render wall time (s)':<34}{incremental_s:>12.1f}")
    print(f"{'incremental / full time':<34}{incremental_s / full_s:>12.2f}")


if __name__ == "__main__":
    main()
