"""The render daemon's commands: ``daemon``, ``worker``, ``status`` and ``keys``."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import resource
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latentcut.cli import options
from latentcut.daemon.jobs import MAX_JOB_BYTES
from latentcut.daemon.ray_pool import DEFAULT_CPU_ACTORS
from latentcut.errors import UsageError

if TYPE_CHECKING:
    from latentcut.daemon.server import RenderDaemon

__all__ = ["daemon_serving", "register"]


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
    options.add_trust_pickle(p)
    p.add_argument(
        "--bind", default=options.DEFAULT_DAEMON, help=f"address (default {options.DEFAULT_DAEMON}: this machine only)"
    )
    p.add_argument("--cache", type=Path, help="frame cache folder (default: ~/.cache/latentcut/frames)")
    p.add_argument("--cache-gb", type=float, default=20.0, help="frame cache size limit in GiB (default 20)")
    p.add_argument("--no-local", action="store_true", help="render nothing here: only hand frame ranges to workers")
    p.add_argument("--range-frames", type=int, default=16, help="frames per range handed to a renderer (default 16)")
    p.add_argument("--range-timeout", type=float, default=30.0, help="seconds before a worker's range is handed out again")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="also render on a Ray cluster (needs latentcut[ray]): one actor per GPU; 'local' starts Ray on this machine",
    )
    p.add_argument(
        "--ray-actors",
        type=int,
        metavar="N",
        help=f"Ray actors to start (default: one per GPU of the cluster, or {DEFAULT_CPU_ACTORS} CPU actors without GPUs)",
    )
    p.add_argument("--curve-secret", type=Path, metavar="daemon.key_secret", help="CURVE secret key (needed off loopback)")
    p.add_argument("--curve-clients", type=Path, metavar="DIR", help="accept only clients whose public keys are in DIR")
    p.add_argument(
        "--curve-any-client",
        action="store_true",
        help="with --curve-secret but no --curve-clients: admit any client (anyone with the daemon's public key)",
    )
    p.add_argument(
        "--max-job-gb",
        type=float,
        default=MAX_JOB_BYTES / 2**30,
        help=f"memory one job may need, and the queued jobs together, in GiB (default {MAX_JOB_BYTES / 2**30:g}); more is refused",
    )
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --bind without CURVE (anyone can submit)")
    options.add_device_option(p, several=True)  # cuda:0,cuda:1: one local renderer per device
    options.add_look_options(p, model=False)  # for jobs whose look leaves a setting unchosen

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
    p.add_argument(
        "--precision",
        choices=options.PRECISIONS,
        help="what a StyleGAN's high-resolution layers compute in on CUDA (default fp16); the rest of the look is each job's",
    )
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
    p.add_argument("--force", action="store_true", help="replace keys already in DIR (clients with the old ones are shut out)")


def open_file_limit_raised() -> int:
    """Raise this process's open-file limit to its hard limit (each connection is a file); return the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


@contextlib.contextmanager
def daemon_serving(args: argparse.Namespace) -> Iterator[RenderDaemon]:
    """The daemon ``latentcut daemon ARGS`` runs: its socket bound, its models loaded; its socket (and Ray) closed on leaving.

    ``serve`` it until a stop event is set: ``run_daemon`` sets one on SIGTERM and SIGINT, a test as it likes.
    """
    from latentcut.daemon.cache import FrameCache
    from latentcut.daemon.ray_pool import ModelLoading, RayPool, ray_installed
    from latentcut.daemon.server import RenderDaemon
    from latentcut.daemon.transport import ServerSocket, check_binding
    from latentcut.latent.look import Look
    from latentcut.latent.sidecar import cache_dir
    from latentcut.models.latent_space import generator_for
    from latentcut.models.loading import load_generator

    security = dataclasses.replace(options.security(args), any_client=args.curve_any_client)
    check_binding(args.bind, security)  # before loading models: a refusal comes at once
    if args.ray is not None:
        ray_installed()
    elif args.ray_actors is not None:
        raise UsageError("--ray-actors needs --ray ADDRESS (the Ray cluster to start them on)")
    args.out.mkdir(parents=True, exist_ok=True)
    models = args.model or ["builtin:cppn"]
    devices = args.device or (None,)  # None: the model's default device (CUDA when present)
    for spec in models:
        for device in devices:
            load_generator(spec, device=device, trust_pickle=args.trust_pickle)  # fail now, not at the first job
    cache = FrameCache(args.cache or cache_dir() / "frames", int(args.cache_gb * 2**30))
    chosen = options.look_options(args)
    look = Look().chosen(chosen)  # the daemon's own settings: what a job's look leaves unchosen
    socket = ServerSocket(args.bind, security, max_message_bytes=int(args.max_job_gb * 2**30))  # no message outgrows a job
    if args.curve_secret and not args.curve_clients:
        print(
            "latentcut daemon: WARNING: --curve-any-client: any client that has the daemon's public key may submit jobs",
            file=sys.stderr,
            flush=True,
        )
    ray_pool = None
    try:
        loading = ModelLoading(args.trust_pickle, look, chosen.precision)
        ray_pool = None if args.ray is None else RayPool(args.ray, models, loading, actors=args.ray_actors)
        yield RenderDaemon(
            socket,
            args.out,
            models,
            cache,
            # The daemon's look (truncation, precision ...) applies where a job's look chooses nothing; each job's space is its own.
            load_model=lambda spec, device: generator_for(
                load_generator(spec, device=device, trust_pickle=args.trust_pickle), look, precision=chosen.precision
            ),
            devices=devices,
            local_render=not args.no_local,
            range_frames=args.range_frames,
            range_timeout_s=args.range_timeout,
            max_job_bytes=int(args.max_job_gb * 2**30),
            ray_pool=ray_pool,
        )
    finally:
        socket.close()
        if ray_pool is not None:
            ray_pool.close()


def run_daemon(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.INFO, format="latentcut daemon: %(message)s", stream=sys.stderr)
    open_file_limit_raised()
    with daemon_serving(args) as daemon:
        stop = options.stop_on_signals()  # after joining Ray, whose own SIGTERM handler would end the daemon uncleanly
        print(
            f"latentcut daemon: serving {', '.join(daemon.allowed)} on {daemon.socket.address}, writing to {args.out}",
            file=sys.stderr,
            flush=True,
        )
        daemon.serve(stop)
    print("latentcut daemon: stopped", file=sys.stderr)


def run_worker(args: argparse.Namespace) -> None:
    from latentcut.daemon.transport import Connection
    from latentcut.daemon.worker import run_worker as serve_ranges
    from latentcut.latent.look import Look
    from latentcut.models.latent_space import generator_for
    from latentcut.models.loading import load_generator

    logging.basicConfig(level=logging.INFO, format="latentcut worker: %(message)s", stream=sys.stderr)
    # Each range comes with the daemon's look for its job; the worker sets its copy of the model to it.
    generator = generator_for(
        load_generator(args.model, device=args.device, trust_pickle=args.trust_pickle), Look(), precision=args.precision
    )
    stop = options.stop_on_signals()
    with Connection(args.connect, options.security(args)) as connection:
        print(f"latentcut worker: rendering {generator.spec} for {args.connect}", file=sys.stderr, flush=True)
        rendered = serve_ranges(connection, generator, stop, name=args.name)
    print(f"latentcut worker: stopped after {rendered} ranges", file=sys.stderr)


def run_status(args: argparse.Namespace) -> None:
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection

    with Connection(args.daemon, options.security(args)) as connection:
        status = DaemonClient(connection, timeout_ms=args.timeout_ms).status()
    print(
        f"daemon {args.daemon}: frame cache {status.cache_bytes / 2**30:.2f} GiB; "
        f"workers {', '.join(status.workers) or 'none remote'}"
    )
    if status.running:
        job = status.running
        print(
            f"running  {job.job_id}  {job.output}  {job.done}/{job.frames} frames "
            f"({job.generated} generated, {job.cached} cached)  {job.project}"
        )
    for job in status.queue:
        print(f"queued   {job.job_id}  {job.output}  {job.frames} frames  {job.project}")
    for job in status.recent[-5:]:
        print(f"{job.state:<8} {job.job_id}  {job.output}  {job.error}")
    if not status.running and not status.queue:
        print("idle")


def run_keys(args: argparse.Namespace) -> None:
    from latentcut.daemon.transport import write_keys

    paths = write_keys(args.folder, force=args.force)
    print(f"wrote CURVE keys in {args.folder}:")
    print(f"  daemon:  --curve-secret {paths['daemon_secret']}   (keep it on the render machine)")
    print(f"  clients: --curve-server-key {paths['daemon_public']} --curve-client-key {paths['client_secret']}")
    print(f"  to accept only known clients: copy {paths['client_public'].name} into a folder and give it to --curve-clients")
