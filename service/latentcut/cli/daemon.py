"""The render daemon's commands: ``daemon``, ``worker``, ``status`` and ``keys``."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from latentcut.cli import options

__all__ = ["register", "stop_on_signals"]


def register(sub: Any) -> None:
    """Add ``daemon``, ``worker``, ``status`` and ``keys``."""
    p = options.command(
        sub,
        "daemon",
        run_daemon,
        "render jobs sent over ZeroMQ (from latentcut watch) into a folder",
        "latentcut daemon --model builtin:cppn --out renders/",
    )
    p.add_argument("--out", type=Path, required=True, help="folder the renders are written to (jobs only name files in it)")
    p.add_argument("--model", action="append", help="model to serve (repeatable; builtin:cppn serves all its snapshots)")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickled models that are not StyleGAN snapshots (runs code)")
    p.add_argument(
        "--bind", default=options.DEFAULT_DAEMON, help=f"address (default {options.DEFAULT_DAEMON}: this machine only)"
    )
    p.add_argument("--cache", type=Path, help="frame cache folder (default: ~/.cache/latentcut/frames)")
    p.add_argument("--cache-gb", type=float, default=20.0, help="frame cache size limit in GiB (default 20)")
    p.add_argument("--no-local", action="store_true", help="render nothing here: only hand frame ranges to workers")
    p.add_argument("--range-frames", type=int, default=16, help="frames per range handed to a renderer (default 16)")
    p.add_argument("--range-timeout", type=float, default=30.0, help="seconds before a worker's range is handed out again")
    p.add_argument("--curve-secret", type=Path, metavar="daemon.key_secret", help="CURVE secret key (needed off loopback)")
    p.add_argument("--curve-clients", type=Path, metavar="DIR", help="accept only clients whose public keys are in DIR")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --bind without CURVE (anyone can submit)")
    options.add_device_option(p)

    p = options.command(
        sub,
        "worker",
        run_worker,
        "render frame ranges for a daemon (several workers share one job)",
        "latentcut worker --connect tcp://127.0.0.1:5557 --model builtin:cppn",
    )
    p.add_argument("--connect", default=options.DEFAULT_DAEMON, help=f"the daemon (default {options.DEFAULT_DAEMON})")
    options.add_model_options(p, help_text="the model the daemon's jobs use")
    p.add_argument("--name", help="name shown in latentcut status")
    options.add_device_option(p)
    options.add_client_security(p)

    p = options.command(
        sub, "status", run_status, "show a daemon's queue, progress and workers", "latentcut status --daemon tcp://127.0.0.1:5557"
    )
    p.add_argument("--daemon", default=options.DEFAULT_DAEMON, help=f"daemon address (default {options.DEFAULT_DAEMON})")
    p.add_argument("--timeout-ms", type=int, default=3000, help="how long to wait for an answer")
    options.add_client_security(p)

    p = options.command(
        sub,
        "keys",
        run_keys,
        "make CURVE key pairs for a daemon reachable from other machines",
        "latentcut keys ~/.latentcut-keys",
    )
    p.add_argument("folder", type=Path, metavar="DIR")


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a long-running command stops cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def run_daemon(args: argparse.Namespace) -> None:
    from latentcut.daemon.cache import FrameCache
    from latentcut.daemon.server import RenderDaemon
    from latentcut.daemon.transport import ServerSocket
    from latentcut.latent.sidecar import cache_dir
    from latentcut.models.loading import load_generator

    logging.basicConfig(level=logging.INFO, format="latentcut daemon: %(message)s", stream=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    models = args.model or ["builtin:cppn"]
    for spec in models:
        load_generator(spec, device=args.device, trust_pickle=args.trust_pickle)  # fail now, not at the first job
    cache = FrameCache(args.cache or cache_dir() / "frames", int(args.cache_gb * 2**30))
    socket = ServerSocket(args.bind, options.security(args))
    stop = stop_on_signals()
    daemon = RenderDaemon(
        socket,
        args.out,
        models,
        cache,
        load_model=lambda spec: load_generator(spec, device=args.device, trust_pickle=args.trust_pickle),
        local_render=not args.no_local,
        range_frames=args.range_frames,
        range_timeout_s=args.range_timeout,
    )
    print(
        f"latentcut daemon: serving {', '.join(models)} on {socket.address}, writing to {args.out}", file=sys.stderr, flush=True
    )
    try:
        daemon.serve(stop)
    finally:
        socket.close()
    print("latentcut daemon: stopped", file=sys.stderr)


def run_worker(args: argparse.Namespace) -> None:
    from latentcut.daemon.transport import Connection
    from latentcut.daemon.worker import run_worker as serve_ranges
    from latentcut.models.loading import load_generator

    logging.basicConfig(level=logging.INFO, format="latentcut worker: %(message)s", stream=sys.stderr)
    generator = load_generator(args.model, device=args.device, trust_pickle=args.trust_pickle)
    stop = stop_on_signals()
    with Connection(args.connect, options.security(args)) as connection:
        print(f"latentcut worker: rendering {generator.spec} for {args.connect}", file=sys.stderr, flush=True)
        rendered = serve_ranges(connection, generator, stop, name=args.name)
    print(f"latentcut worker: stopped after {rendered} ranges", file=sys.stderr)


def run_status(args: argparse.Namespace) -> None:
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection

    with Connection(args.daemon, options.security(args)) as connection:
        status = DaemonClient(connection, timeout_ms=args.timeout_ms).status()
    running = status.get("running")
    print(
        f"daemon {args.daemon}: frame cache {status.get('cache_bytes', 0) / 2**30:.2f} GiB; "
        f"workers {', '.join(status.get('workers', {})) or 'none remote'}"
    )
    if running:
        print(
            f"running  {running['job']}  {running['output']}  {running['done']}/{running['frames']} frames "
            f"({running['generated']} generated, {running['cached']} cached)  {running['project']}"
        )
    for job in status.get("queue", []):
        print(f"queued   {job['job']}  {job['output']}  {job['frames']} frames  {job['project']}")
    for job in status.get("recent", [])[-5:]:
        print(f"{job['state']:<8} {job['job']}  {job['output']}  {job['error']}")
    if not running and not status.get("queue"):
        print("idle")


def run_keys(args: argparse.Namespace) -> None:
    from latentcut.daemon.transport import write_keys

    paths = write_keys(args.folder)
    print(f"wrote CURVE keys in {args.folder}:")
    print(f"  daemon:  --curve-secret {paths['daemon_secret']}   (keep it on the render machine)")
    print(f"  clients: --curve-server-key {paths['daemon_public']} --curve-client-key {paths['client_secret']}")
    print(f"  to accept only known clients: copy {paths['client_public'].name} into a folder and give it to --curve-clients")
