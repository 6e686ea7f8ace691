"""Benchmark: how long a render daemon takes to hand back a small preview, against its 50 ms wait for requests.

    .venv/bin/python bench/preview_latency.py [--size 16x16] [--frames 1] [--previews 40]

Starts a render daemon process on loopback, then asks it for ``--previews`` previews one after another
(as the explorer does) and prints the median and slowest round trip. The rendering of a tiny preview
takes a few milliseconds; the rest is how soon the daemon's socket thread sends what its preview thread
finished: at once when woken, else at the end of its wait for a request (up to ``POLL_MS``).
"""

from __future__ import annotations

import argparse
import socket
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.messages import Preview
from local_daemon import local_daemon

POLL_MS = 50  # latentcut.daemon.server's wait for a request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="16x16")
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--previews", type=int, default=40)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    latents = np.random.default_rng(0).standard_normal((args.previews + 1, args.frames, 512)).astype(np.float32)
    with tempfile.TemporaryDirectory() as folder:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
        with local_daemon(Path(folder), address) as client:
            client.preview(
                Preview("warm", "builtin:cppn", (width, height), FrameArrays.plain(latents[-1])), timeout_s=120
            )  # loads the model
            seconds = []
            for index in range(args.previews):
                started = time.perf_counter()
                client.preview(
                    Preview(f"p{index}", "builtin:cppn", (width, height), FrameArrays.plain(latents[index])), timeout_s=60
                )
                seconds.append(time.perf_counter() - started)
    median, slowest = statistics.median(seconds), max(seconds)
    print(f"daemon previews, builtin:cppn on CPU, {args.frames} frame(s) of {width}x{height}, {args.previews} in a row")
    print(f"{'measure':<28}{'ms':>10}{'/ poll wait':>14}")
    print(f"{'median round trip':<28}{median * 1000:>10.1f}{median * 1000 / POLL_MS:>14.2f}")
    print(f"{'slowest round trip':<28}{slowest * 1000:>10.1f}{slowest * 1000 / POLL_MS:>14.2f}")


if __name__ == "__main__":
    main()
