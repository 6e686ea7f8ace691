"""Benchmark: how soon the explorer's page gets the first frame of a transition, at 256x256 with the embedded model.

    .venv/bin/python bench/explore.py [--size 256x256] [--steps 48] [--runs 5] [--daemon]

Starts the explorer on loopback (its own worker, CPU; with ``--daemon``, a render daemon process on
loopback renders the frames and sends them back as previews), then for each run posts a Generate request as
the page does and follows the transition's event stream: prints the time to the first frame's event,
to that frame's PNG in hand, and to the last frame, against the goal of the first frame within 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

from latentcut.explore.server import ExplorerSettings, ExploreServer, daemon_explorer, local_explorer
from local_daemon import local_daemon

GOAL_S = 1.0


def _request(server: ExploreServer, method: str, path: str, body: object = None) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
    headers = {"Host": f"127.0.0.1:{server.port}", "X-Latentcut-Token": server.explorer.token}
    if body is not None:
        headers["Content-Type"] = "application/json"
    connection.request(method, path, body=json.dumps(body).encode() if body is not None else None, headers=headers)
    return connection.getresponse()


def one_run(server: ExploreServer, steps: int, seed: int) -> tuple[float, float, float]:
    started = time.perf_counter()
    body = {
        "source": {"seed": seed},
        "destination": {"seed": seed + 1},
        "steps": steps,
        "interp": "slerp",
        "snapshot": "builtin:cppn",
    }
    generation = json.loads(_request(server, "POST", "/api/generate", body).read())
    events = _request(server, "GET", f"/api/events/{generation['id']}")
    first_event = first_png = 0.0
    for line in events:
        if not line.startswith(b"data: "):
            continue
        event = json.loads(line[6:])
        if event["done"] >= 1 and not first_event:
            first_event = time.perf_counter() - started
            png = _request(server, "GET", f"/api/frames/{generation['id']}/0.png").read()
            assert png.startswith(b"\x89PNG")
            first_png = time.perf_counter() - started
        if event["state"] != "running":
            break
    return first_event, first_png, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="256x256")
    parser.add_argument("--steps", type=int, default=48)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--daemon", action="store_true", help="frames from a render daemon process on loopback")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory() as folder, contextlib.ExitStack() as stack:
        settings = ExplorerSettings(out=Path(folder) / "out", snapshots=("builtin:cppn",), size=(width, height))
        if args.daemon:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
            stack.enter_context(local_daemon(Path(folder), address))
            explorer = daemon_explorer(dataclasses.replace(settings, daemon=address))
        else:
            explorer = local_explorer(settings, device="cpu")
        server = ExploreServer(explorer, "127.0.0.1", 0)
        server.start()
        try:
            runs = [one_run(server, args.steps, 100 + 2 * run) for run in range(args.runs)]
        finally:
            server.stop()
    first_event, first_png, last = (statistics.median(values) for values in zip(*runs, strict=True))
    where = "a render daemon on loopback (previews)" if args.daemon else "the explorer's own worker"
    print(f"explorer, builtin:cppn on CPU via {where}, {width}x{height}, {args.steps} frames, median of {args.runs} runs")
    print(f"{'measure':<34}{'seconds':>10}{'/ goal':>10}")
    print(f"{'first frame event':<34}{first_event:>10.3f}{first_event / GOAL_S:>10.2f}")
    print(f"{'first frame PNG in hand':<34}{first_png:>10.3f}{first_png / GOAL_S:>10.2f}")
    print(f"{'last frame event':<34}{last:>10.3f}{'':>10}")


if __name__ == "__main__":
    main()
