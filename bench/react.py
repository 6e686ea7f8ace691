"""Benchmark: how fast a video or camera steers the embedded model, and the latency from source frame to picture.

    .venv/bin/python bench/react.py [--seconds 4] [--size 256]

Feeds a generated video (a moving bright square over a colour sweep, ffmpeg's lavfi) through
``latentcut react --preview`` at the chosen size with builtin:cppn on the CPU, and prints: source
frames steered per second (reading, features, smoothing), live frames per second with each latent
decoded as it is made, and the median and 95th-percentile latency from a source frame arriving to
its picture; the ratio live / source frame rate says whether a camera at that rate can be followed.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

from latentcut.models.loading import load_generator
from latentcut.react.performance import ReactSettings, perform


def source_video(folder: Path, seconds: float) -> Path:
    path = folder / "source.mp4"
    command = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=red:s=320x240:r=25:d={seconds},hue=h=t*90",
        "-f", "lavfi", "-i", f"color=c=white:s=40x40:r=25:d={seconds}",
        "-filter_complex", "[0][1]overlay=x='20+t*60':y='100+40*sin(t*3)'",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=120)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    model = load_generator("builtin:cppn", device="cpu")
    with tempfile.TemporaryDirectory() as folder:
        source = source_video(Path(folder), args.seconds)
        result = perform(
            str(source),
            model,
            Path(folder) / "perf.z.npy",
            ReactSettings(),
            proxy_size=(args.size, args.size),
            preview=lambda _: None,
        )
    assert result.live_frames_per_s is not None and result.latency_ms is not None
    print(f"react, builtin:cppn on cpu, {args.size}x{args.size}, {result.frames} source frames at {result.fps} fps")
    print(
        f"{'steered frames/s':>18} {'live frames/s':>14} {'live / source fps':>18} {'latency p50 ms':>15} {'latency p95 ms':>15}"
    )
    print(
        f"{result.steer_frames_per_s:18.1f} {result.live_frames_per_s:14.1f} {result.live_frames_per_s / float(result.fps):18.2f} "
        f"{result.latency_ms[0]:15.0f} {result.latency_ms[1]:15.0f}"
    )


if __name__ == "__main__":
    main()
