"""The ``explore`` command: the web explorer, after Marrow, on this machine's browser."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from latentcut.cli import options

__all__ = ["register"]

DEFAULT_PORT = 8765  # the same as latentcut.explore.server.DEFAULT_PORT, which imports the web framework


def register(sub: Any) -> None:
    """Add ``explore``."""
    p = options.command(
        sub,
        "explore",
        run_explore,
        "a web page to choose transitions by looking (after Marrow) and save them into a Kdenlive project",
        "latentcut explore --model builtin:cppn --pool samples.z.npy --out explore/",
    )
    options.add_look_options(p, model_help="the first snapshot (default: the pool's model, else builtin:cppn)")
    p.add_argument("--snapshots", help="snapshots the page can choose from: 0,9,27 or 0-27 for builtin, or model specs")
    p.add_argument("--pool", type=Path, metavar="POOL.z.npy", help="the frames to pick from (default: 48 seeded random latents)")
    p.add_argument(
        "--out", type=Path, default=Path("explore"), help="folder for saved transitions and explore.kdenlive (default explore/)"
    )
    p.add_argument(
        "--size", type=options.size, default=(256, 256), help="frame size WxH of the page and the proxies (default 256x256)"
    )
    p.add_argument("--fps", type=options.fps, default=options.DEFAULT_FPS, help="frame rate of saved transitions (default 25)")
    p.add_argument("--tile", type=options.size, default=(64, 64), help="contact sheet tile size WxH (default 64x64)")
    p.add_argument("--columns", type=int, default=8, help="contact sheet columns (default 8)")
    p.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --host (the token then travels in clear)")
    p.add_argument(
        "--allow-host", action="append", default=[], metavar="NAME", help="another name the page may be opened by (repeatable)"
    )
    p.add_argument("--daemon", metavar="ADDR", help="render frames on a running render daemon, e.g. tcp://gpu-box:5557")
    options.add_client_security(p)
    options.add_device_option(p)


def run_explore(args: argparse.Namespace) -> None:
    import dataclasses

    from latentcut.errors import UsageError
    from latentcut.explore.server import ExplorerSettings, ExploreServer, daemon_explorer, local_explorer
    from latentcut.latent.curation import burned_numbers
    from latentcut.latent.look import Look
    from latentcut.latent.sidecar import load_sequence
    from latentcut.models.snapshots import snapshot_specs

    if args.columns < 1:
        raise UsageError(f"--columns {args.columns}: give at least 1")
    pool = load_sequence(args.pool) if args.pool else None
    chosen = options.look_options(args)
    look = (pool.meta.look if pool is not None else Look()).chosen(chosen, str(args.pool or ""))
    model = args.model
    if model is None and pool is not None and pool.meta.model is not None and not args.daemon:
        model = options.looks(args).of_sequence(pool).generator.spec  # the pool's model, found and checked
    elif model is None:
        model = pool.meta.model.spec if pool is not None and pool.meta.model is not None else "builtin:cppn"
    settings = ExplorerSettings(
        out=args.out,
        snapshots=tuple(snapshot_specs(model, args.snapshots)),
        pool=None if pool is None else pool.latents,
        pool_name=args.pool.name if args.pool else "",
        pool_numbers=() if pool is None else tuple(int(n) for n in burned_numbers(pool)),
        size=args.size,
        fps=args.fps,
        tile_size=args.tile,
        columns=args.columns,
        daemon=args.daemon or "",
        look=dataclasses.replace(look, model=None),  # each snapshot is its own model
    )
    if args.daemon:
        explorer = daemon_explorer(settings, options.security(args))
    else:
        explorer = local_explorer(settings, device=args.device, trust_pickle=args.trust_pickle)
    try:
        server = ExploreServer(explorer, args.host, args.port, insecure=args.insecure, allow_hosts=tuple(args.allow_host))
    except BaseException:
        explorer.close()
        raise
    stop = options.stop_on_signals()
    server.start()
    try:
        print(f"latentcut explore: open {server.url}", flush=True)
        print(f"saving into {explorer.folder.folder}; Ctrl-C stops", file=sys.stderr, flush=True)
        while not stop.wait(1.0):
            continue
    finally:
        server.stop()
