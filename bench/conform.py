"""Benchmark: conforming a one-hour Kdenlive project against a bare numpy gather of the same frames.

    .venv/bin/python bench/conform.py [--folder DIR]

The generated project: 90,000 frames at 25 fps, 2,000 clips on 3 video tracks (Kdenlive's two-lane
tracks), 500 same-track mixes, 50 sources with 512-dim sidecars of 3,000 frames, read memory-mapped.
Clips find their sidecars through ``latent:sidecar`` and container tags stored in the project, so no
media file is probed. Prints the conform time end to end (sidecars checked, output hashed and
written to disk) and without writing the file, each against a bare numpy gather of the same frames
from freshly mapped sidecars (goal <= 3); peak memory over the output size (goal <= 2), as allocated
by Python and numpy (tracemalloc) and as resident set (which also counts the pages of memory-mapped
sidecars the gather touched); and parse + timeline time per clip at 1/4, 1/2 and all of the project
(flat when parsing is linear).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.conform.latents import conformed, latent_chunks
from latentcut.conform.project import conform_project, project_frame_map
from latentcut.latent.sidecar import load_sequence, save_sequence

FPS = 25
FRAMES = 90_000
SOURCES = 50
SOURCE_FRAMES = 3_000
DIM = 512
TRACK_CLIPS = (1000, 600, 400)  # V1 (with the 500 mixes), V2, V3
MIXES = 500


def _producer(pid: str, source: int, tags: str) -> str:
    return (
        f'<producer id="{pid}" in="0" out="{SOURCE_FRAMES - 1}"><property name="length">{SOURCE_FRAMES}</property>'
        f'<property name="resource">media/s{source:02d}.mp4</property><property name="mlt_service">avformat</property>'
        f'<property name="kdenlive:id">{source + 2}</property><property name="latent:sidecar">sidecars/s{source:02d}.z.npy</property>'
        f"{tags}</producer>"
    )


MIX_FRAMES = 12


def _entry(rng: np.random.Generator, length: int) -> str:
    source = int(rng.integers(SOURCES))
    start = int(rng.integers(0, SOURCE_FRAMES - length))
    return f'<entry producer="bin{source}" in="{start}" out="{start + length - 1}"/>'


def _track(track: int, lane0: list[str], lane1: list[str], transitions: list[str]) -> str:
    return (
        f'<playlist id="t{track}a">{"".join(lane0)}</playlist><playlist id="t{track}b">{"".join(lane1)}</playlist>'
        f'<tractor id="track{track}"><track producer="t{track}a" hide="audio"/><track producer="t{track}b" hide="audio"/>'
        f"{''.join(transitions)}</tractor>"
    )


def _mixed_track(rng: np.random.Generator, track: int, count: int, mixes: int, frames: int) -> str:
    """Clips end to end; odd clips sit on the second lane and start MIX_FRAMES early over the previous one (a mix)."""
    length = frames // count
    lane0, lane1, transitions = [], [], []
    lane1_end = 0
    for clip in range(count):
        if clip % 2 == 0 or clip // 2 >= mixes:
            lane0.append(f'<blank length="{clip * length - sum_len(lane0)}"/>' if clip * length > sum_len(lane0) else "")
            lane0.append(_entry(rng, length))
            continue
        start = clip * length - MIX_FRAMES
        lane1.append(f'<blank length="{start - lane1_end}"/>')
        lane1.append(_entry(rng, length + MIX_FRAMES))
        lane1_end = start + length + MIX_FRAMES
        transitions.append(
            f'<transition in="{start}" out="{start + MIX_FRAMES}"><property name="a_track">0</property>'
            '<property name="b_track">1</property><property name="mlt_service">luma</property></transition>'
        )
    return _track(track, lane0, lane1, transitions)


def sum_len(items: list[str]) -> int:
    total = 0
    for item in items:
        if item.startswith("<blank"):
            total += int(item.split('"')[1])
        elif item.startswith("<entry"):
            values = item.split('"')
            total += int(values[5]) - int(values[3]) + 1
    return total


def _spaced_track(rng: np.random.Generator, track: int, count: int, frames: int) -> str:
    """Clips two thirds of their slot long, with holes between, so lower tracks show through."""
    slot = frames // count
    lane0 = []
    for _ in range(count):
        lane0 += [_entry(rng, slot * 2 // 3), f'<blank length="{slot - slot * 2 // 3}"/>']
    return _track(track, lane0, [], [])


def write_project(folder: Path, clips_scale: float = 1.0) -> Path:
    """Write the benchmark project (``clips_scale`` < 1: the first part of it, for the linearity check)."""
    rng = np.random.default_rng(1)
    tags = {}
    for source in range(SOURCES):
        path = folder / "sidecars" / f"s{source:02d}.z.npy"
        if not path.exists():
            save_sequence(path, rng.standard_normal((SOURCE_FRAMES, DIM), dtype=np.float32), fps=Fraction(FPS))
        meta = load_sequence(path, mmap=True, verify_hash=False).meta
        tags[source] = (
            f'<property name="meta.attr.latent_sidecar_id.markup">{meta.id}</property>'
            f'<property name="meta.attr.latent_sidecar_sha256.markup">{meta.sha256}</property>'
            f'<property name="meta.attr.latent_frames.markup">{SOURCE_FRAMES}</property>'
            f'<property name="meta.media.frame_rate_num">{FPS}</property><property name="meta.media.frame_rate_den">1</property>'
        )
    parts = [
        f'<mlt LC_NUMERIC="C" producer="main_bin"><profile width="512" height="512" frame_rate_num="{FPS}" frame_rate_den="1"/>'
    ]
    parts += [_producer(f"bin{s}", s, tags[s]) for s in range(SOURCES)]
    parts.append(
        '<playlist id="main_bin"><property name="kdenlive:docproperties.version">1.04</property>'
        + "".join(f'<entry producer="bin{s}" in="0" out="{SOURCE_FRAMES - 1}"/>' for s in range(SOURCES))
        + "</playlist>"
    )
    parts.append(
        f'<producer id="black_track" in="0" out="{FRAMES - 1}"><property name="length">{FRAMES}</property>'
        '<property name="resource">black</property><property name="mlt_service">color</property></producer>'
    )
    frames = int(FRAMES * clips_scale)
    tracks = [_mixed_track(rng, 0, int(TRACK_CLIPS[0] * clips_scale), int(MIXES * clips_scale), frames)]
    for track, count in enumerate(TRACK_CLIPS[1:], start=1):
        tracks.append(_spaced_track(rng, track, int(count * clips_scale), frames))
    for xml in tracks:
        parts.append(xml)
    tracks = [f'<track producer="track{t}"/>' for t in range(len(TRACK_CLIPS))]
    parts.append(f'<tractor id="main"><track producer="black_track"/>{"".join(tracks)}</tractor></mlt>')
    path = folder / f"hour-{clips_scale:g}.kdenlive"
    path.write_text("\n".join(parts))
    return path


def bare_gather_s(project: Path) -> float:
    """Best of 3: map each sidecar afresh (as a conform must) and gather the output's frames into one array."""
    frame_map, sequences, _ = project_frame_map(project)
    source, frame = frame_map.source[:, 0], frame_map.frame[:, 0]
    paths = [sequence.path for sequence in sequences]
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        out = np.empty((len(source), DIM), np.float32)
        for index in np.unique(source[source >= 0]).tolist():
            rows = np.nonzero(source == index)[0]
            out[rows] = np.load(paths[index], mmap_mode="r")[frame[rows]]
        best = min(best, time.perf_counter() - started)
    return best


def conform_once(project: Path, output: Path) -> None:
    """Run in a child process: print conform seconds, traced peak bytes, peak RSS bytes, in-memory conform seconds."""
    tracemalloc.start()
    started = time.perf_counter()
    conform_project(project, output)
    seconds = time.perf_counter() - started
    traced_peak = tracemalloc.get_traced_memory()[1]
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.stop()
    started = time.perf_counter()
    frame_map, sequences, _ = project_frame_map(project)
    for _chunk in latent_chunks(conformed(frame_map), sequences):
        pass
    print(seconds, traced_peak, rss_peak, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="where to generate (default: a temporary folder)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        conform_once(Path(args.child[0]), Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.folder or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        project = write_project(folder)
        gather = bare_gather_s(project)
        runs = []
        for _ in range(3):
            child = subprocess.run(
                [sys.executable, __file__, "--child", str(project), str(folder / "cut.z.npy")],
                capture_output=True,
                text=True,
                check=True,
                timeout=600,
            )
            runs.append([float(v) for v in child.stdout.split()])
        seconds, traced, rss, in_memory = min(runs)
        output_bytes = FRAMES * DIM * 4
        print(
            f"project: {FRAMES} frames at {FPS} fps, {sum(TRACK_CLIPS)} clips on 3 tracks, {MIXES} mixes, "
            f"{SOURCES} sidecars of {SOURCE_FRAMES}x{DIM}; output {output_bytes / 2**20:.0f} MiB"
        )
        print(f"{'measure':<40}{'value':>12}{'goal':>10}")
        print(f"{'conform time (s), best of 3':<40}{seconds:>12.2f}")
        print(f"{'bare numpy gather (s), best of 3':<40}{gather:>12.2f}")
        print(f"{'conform / gather':<40}{seconds / gather:>12.2f}{'<= 3':>10}")
        print(f"{'conform without writing the file (s)':<40}{in_memory:>12.2f}")
        print(f"{'  ... / gather':<40}{in_memory / gather:>12.2f}{'<= 3':>10}")
        print(f"{'peak allocated / output size':<40}{traced / output_bytes:>12.2f}{'<= 2':>10}")
        print(f"{'peak RSS / output size':<40}{rss / output_bytes:>12.2f}")
        for scale in (0.25, 0.5, 1.0):
            path = write_project(folder, scale) if scale != 1.0 else project
            started = time.perf_counter()
            project_frame_map(path)
            elapsed = time.perf_counter() - started
            clips = int(sum(TRACK_CLIPS) * scale)
            print(f"{f'parse + timeline, {clips} clips (ms/clip)':<40}{elapsed * 1000 / clips:>12.3f}")


if __name__ == "__main__":
    main()
