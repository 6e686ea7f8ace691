"""Benchmark: from a Kdenlive-style save to the preview beside the project replaced, for a 10-frame change and a whole new clip.

    .venv/bin/python bench/preview_refresh.py [--size 256] [--seconds 40] [--saves 10] [--clip-frames 100]

A render daemon process and ``latentcut watch EDIT --preview`` (the real command, another process) run
on loopback; the edit is ``--seconds`` of builtin:cppn clips at 25 fps in a ``--size`` square profile,
with a 10-frame insert from another clip in the middle. After the first preview, the project is saved
``--saves`` times as Kdenlive saves (a temp file renamed over it) in each of two ways: the insert
shows 10 other source frames (10 frames change, nothing moves), or a clip the daemon has never seen
(``--clip-frames`` new frames, a new sidecar each time) takes the place of one on the timeline. The
time is from the rename to the preview file replaced (a new inode at its path). Prints p50, p95 and max
per case (goal: p95 <= 2 s for the 10-frame change).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import save_sequence
from local_daemon import local_daemon

FPS = 25
CLIP_FRAMES = 250  # the edit's clips: 10 s each
START_TIMEOUT_S = 3600.0  # the first preview renders the whole edit
SAVE_TIMEOUT_S = 600.0
QUIET_S = 0.5  # between saves, as an editor does not save faster than this


def _project(size: int, clips: int, insert_from: int, new_clip: str | None, new_frames: int) -> str:
    """An MLT/Kdenlive timeline: ``clips`` clips end to end, a 10-frame insert from ``extra`` in the middle of the first
    one; ``new_clip`` (a sidecar stem) in place of the last clip."""
    producers = [(f"c{i}", f"c{i}.mkv", CLIP_FRAMES) for i in range(clips)] + [("extra", "extra.mkv", 2 * CLIP_FRAMES)]
    if new_clip is not None:
        producers.append(("new", f"{new_clip}.mkv", new_frames))
    text = "".join(
        f'<producer id="{pid}" in="0" out="{frames - 1}"><property name="length">{frames}</property>'
        f'<property name="resource">{resource}</property></producer>'
        for pid, resource, frames in producers
    )
    half = CLIP_FRAMES // 2
    entries = [
        f'<entry producer="c0" in="0" out="{half - 1}"/>',
        f'<entry producer="extra" in="{insert_from}" out="{insert_from + 9}"/>',
        f'<entry producer="c0" in="{half + 10}" out="{CLIP_FRAMES - 1}"/>',
    ]
    entries += [f'<entry producer="c{i}" in="0" out="{CLIP_FRAMES - 1}"/>' for i in range(1, clips - 1)]
    last = (
        f'<entry producer="new" in="0" out="{new_frames - 1}"/>'
        if new_clip
        else f'<entry producer="c{clips - 1}" in="0" out="{CLIP_FRAMES - 1}"/>'
    )
    return (
        f'<mlt><profile width="{size}" height="{size}" progressive="1" sample_aspect_num="1" sample_aspect_den="1" '
        f'display_aspect_num="1" display_aspect_den="1" frame_rate_num="{FPS}" frame_rate_den="1" colorspace="709"/>'
        f'{text}<playlist id="v1">{"".join(entries)}{last}</playlist><tractor id="t"><track producer="v1"/></tractor></mlt>'
    )


def _save(project: Path, text: str) -> None:
    temp = project.with_name(f"{project.name}.{secrets.token_hex(3)}")
    temp.write_text(text)
    os.replace(temp, project)


def _inode(path: Path) -> int:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return 0


def _replaced(preview: Path, before: int, watcher: subprocess.Popen, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _inode(preview) in (0, before):
        if watcher.poll() is not None:
            raise RuntimeError(f"the watcher ended with status {watcher.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{preview} was not replaced within {timeout_s:.0f} s")
        time.sleep(0.002)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seconds", type=int, default=40, help="length of the edit")
    parser.add_argument("--saves", type=int, default=10, help="saves per case")
    parser.add_argument("--clip-frames", type=int, default=100, help="frames of the whole new clip")
    args = parser.parse_args()
    clips = max(2, args.seconds * FPS // CLIP_FRAMES)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for i in range(clips):
            save_sequence(folder / f"c{i}.z.npy", gaussian_latents(CLIP_FRAMES, 512, i + 1), fps=Fraction(FPS))
        save_sequence(folder / "extra.z.npy", gaussian_latents(2 * CLIP_FRAMES, 512, 999), fps=Fraction(FPS))
        project, preview = folder / "edit.kdenlive", folder / "edit.latent-preview.mkv"
        project.write_text(_project(args.size, clips, 0, None, 0))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        with local_daemon(folder, address):
            env = {**os.environ, "LATENTCUT_CACHE_DIR": str(folder / "watcher-cache")}
            command = [sys.executable, "-m", "latentcut", "watch", str(project), "--preview", "--daemon", address]
            watcher = subprocess.Popen(command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                started = time.monotonic()
                _replaced(preview, 0, watcher, START_TIMEOUT_S)
                first_s = time.monotonic() - started
                seconds: dict[str, list[float]] = {"10-frame change": [], f"whole new clip ({args.clip_frames} frames)": []}
                insert, new_clip = 0, None  # the edit as last saved: each save changes only what its case changes
                for save in range(args.saves):
                    for case, times in seconds.items():
                        if case.startswith("10"):
                            insert += 10
                        else:
                            new_clip = f"new{save}"
                            latents = gaussian_latents(args.clip_frames, 512, 10_000 + save)
                            save_sequence(folder / f"{new_clip}.z.npy", latents, fps=Fraction(FPS))
                        text = _project(args.size, clips, insert, new_clip, args.clip_frames)
                        time.sleep(QUIET_S)
                        before = _inode(preview)
                        saved = time.monotonic()
                        _save(project, text)
                        _replaced(preview, before, watcher, SAVE_TIMEOUT_S)
                        times.append(time.monotonic() - saved)
            finally:
                watcher.terminate()
                watcher.wait(30)
    frames = clips * CLIP_FRAMES
    print(
        f"save -> preview replaced: builtin:cppn at {args.size}x{args.size} on CPU, a {frames}-frame edit, daemon and "
        f"watcher processes on loopback, {args.saves} saves per case (first preview: {first_s:.1f} s)"
    )
    print(f"{'case':<34}{'p50 s':>8}{'p95 s':>8}{'max s':>8}{'goal p95':>10}")
    for case, times in seconds.items():
        values = np.array(times)
        goal = "<= 2" if case.startswith("10") else ""
        p50, p95 = np.percentile(values, 50), np.percentile(values, 95)
        print(f"{case:<34}{p50:>8.2f}{p95:>8.2f}{values.max():>8.2f}{goal:>10}")


if __name__ == "__main__":
    main()
