"""The ``latentcut`` command: one sub-command per job, each a thin layer over the library."""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from latentcut import __version__
from latentcut.errors import LatentcutError, SidecarError, UsageError

if TYPE_CHECKING:
    from latentcut.daemon.transport import Security
from latentcut.latent.interpolation import SpringParams
from latentcut.latent.journey import INTERPOLATIONS, journey_latents, keyframes_from_indices
from latentcut.latent.sampling import gaussian_latents, neighbour_latents, psi_truncated, truncated_latents, uniform_latents
from latentcut.latent.sidecar import ModelRef, ZSequence, load_sequence, save_sequence, sidecar_paths
from latentcut.timebase import fps_from_text, fps_text, frames_from_seconds

__all__ = ["main"]

DEFAULT_FPS = Fraction(25)
DEFAULT_DAEMON = "tcp://127.0.0.1:5557"
DEFAULT_DIM = 512

EXAMPLES = """\
examples:
  latentcut sample samples.z.npy --count 600 --dim 512 --seed 7
  latentcut render samples.z.npy -o samples.mp4 --model builtin:cppn --preset proxy
  latentcut journey samples.z.npy --keys 3,17,42 --frames-per-segment 96 --interp spring -o trip.z.npy
  latentcut neighbours samples.z.npy --frames 3,7 --radius 12 --count 16 -o near.z.npy
  latentcut render trip.z.npy -o trip.mov --model builtin:cppn --preset online --size 1024x1024
  latentcut render trip.z.npy -o grid.mp4 --model builtin:cppn --preset proxy --snapshots 0-27 --grid 7x4
  latentcut info trip.z.npy --video trip.mov
  latentcut conform my-edit.kdenlive -o my-edit.z.npy
  latentcut conform --explain my-edit.kdenlive
  latentcut daemon --model builtin:cppn --out renders/
  latentcut watch my-edit.kdenlive --daemon tcp://127.0.0.1:5557 --preset online
  latentcut status
  latentcut project new my-edit.kdenlive clips/*.mp4 --timeline
  latentcut online my-edit.kdenlive -o final.mov
  latentcut demo demo-out/
"""


def _int_list(text: str) -> list[int]:
    """Parse ``3,7,-1`` and ranges ``0-27`` into a list of ints."""
    values: list[int] = []
    for part in text.split(","):
        span = re.fullmatch(r"\s*(\d+)-(\d+)\s*", part)
        try:
            values.extend(range(int(span[1]), int(span[2]) + 1) if span else [int(part)])
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers like 3,7,9 or 0-27") from exc
    return values


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512x512") from exc
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive")
    return width, height


def _fps(text: str) -> Fraction:
    try:
        return fps_from_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _progress_bar(total: int, label: str, enabled: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    """Return ``(update, close)`` for a bar on stderr that appears with the first finished frames, on a terminal only."""
    from tqdm import tqdm

    bar: list[tqdm] = []

    def update(frames: int) -> None:
        if not bar:
            # disable=None: tqdm draws only when stderr is a terminal, so logs stay clean.
            bar.append(tqdm(total=total, desc=label, unit="frame", disable=None if enabled else True, file=sys.stderr))
        bar[0].update(frames)

    def close() -> None:
        if bar:
            bar[0].close()

    return update, close


def _fps_of(sequence: ZSequence, override: Fraction | None) -> Fraction:
    if override is not None:
        return override
    if sequence.meta.fps is not None:
        return sequence.meta.fps
    warnings.warn(f"{sequence.path}: frame rate unknown; assuming {fps_text(DEFAULT_FPS)} (pass --fps to choose)", stacklevel=2)
    return DEFAULT_FPS


def _output_checked(output: Path, *inputs: Path) -> Path:
    for source in inputs:
        if sidecar_paths(output)[0].resolve() == sidecar_paths(source)[0].resolve():
            raise UsageError(f"{output}: output would overwrite the input; choose another name")
    return output


def _model_ref(spec: str | None, args: argparse.Namespace) -> ModelRef | None:
    if spec is None:
        return None
    from latentcut.models.loading import load_generator

    model = load_generator(spec, device="cpu", trust_pickle=args.trust_pickle)
    return ModelRef(model.spec, model.sha256)


def _saved(
    output: Path,
    latents: np.ndarray,
    source: ZSequence | None,
    fps: Fraction,
    made: dict[str, Any],
    seed: int | None = None,
    model: ModelRef | None = None,
) -> None:
    meta = save_sequence(
        output,
        latents,
        fps=fps,
        space=source.meta.space if source else "z",
        model=model or (source.meta.model if source else None),
        seed=seed,
        made=made,
    )
    print(f"wrote {sidecar_paths(output)[0]}: {meta.frames} frames x {meta.dim} dims at {fps_text(fps)} fps (id {meta.id})")


def cmd_sample(args: argparse.Namespace) -> None:
    model = _model_ref(args.model, args)
    if args.prior == "gaussian":
        latents = gaussian_latents(args.count, args.dim, args.seed)
    elif args.prior == "truncated":
        latents = truncated_latents(args.count, args.dim, args.seed, args.threshold)
    else:
        latents = uniform_latents(args.count, args.dim, args.seed)
    if args.psi != 1.0:
        latents = psi_truncated(latents, args.psi)
    made = {"how": "sampled", "prior": args.prior, "count": args.count, "psi": args.psi}
    if args.prior == "truncated":
        made["threshold"] = args.threshold
    _saved(_output_checked(args.output), latents, None, args.fps or DEFAULT_FPS, made, seed=args.seed, model=model)


def cmd_journey(args: argparse.Namespace) -> None:
    source = load_sequence(args.sequence, fps=args.fps)
    fps = _fps_of(source, args.fps)
    keys = keyframes_from_indices(source.latents, args.keys)
    if args.chain_from is not None:
        previous = load_sequence(args.chain_from, fps=args.fps)
        keys = np.concatenate([np.asarray(previous.latents[-1:]), keys])
    if len(keys) < 2:
        raise UsageError("a journey needs at least two keyframes: give --keys with two or more indices")
    frames = args.frames_per_segment or frames_from_seconds(args.seconds, fps)
    spring = SpringParams(stiffness=args.stiffness, damping=args.damping, shell_stiffness=args.shell_stiffness)
    latents = journey_latents(keys, frames, args.interp, spring=spring)
    made = {
        "how": "journey",
        "source": str(args.sequence),
        "source_id": source.meta.id,
        "keys": args.keys,
        "interpolation": args.interp,
        "frames_per_segment": frames,
    }
    if args.interp == "spring":
        made["spring"] = {"stiffness": spring.stiffness, "damping": spring.damping, "shell_stiffness": spring.shell_stiffness}
    if args.chain_from is not None:
        made["chained_from"] = str(args.chain_from)
    _saved(_output_checked(args.output, args.sequence), latents, source, fps, made)


def cmd_neighbours(args: argparse.Namespace) -> None:
    source = load_sequence(args.sequence, fps=args.fps)
    centres = keyframes_from_indices(source.latents, args.frames)
    near = neighbour_latents(centres, np.deg2rad(args.radius), args.count, args.seed)
    if args.include_centre:
        groups = near.reshape(len(centres), args.count, -1)
        near = np.concatenate([np.concatenate([centre[None], group]) for centre, group in zip(centres, groups, strict=True)])
    made = {
        "how": "neighbours",
        "source": str(args.sequence),
        "source_id": source.meta.id,
        "frames": args.frames,
        "radius_deg": args.radius,
        "count": args.count,
        "include_centre": args.include_centre,
    }
    _saved(_output_checked(args.output, args.sequence), near, source, _fps_of(source, args.fps), made, seed=args.seed)


def _snapshot_specs(model: str, snapshots: str | None) -> list[str]:
    if not snapshots:
        return [model]
    specs = []
    for item in snapshots.split(","):
        item = item.strip()
        if model.startswith("builtin:") and item.replace("-", "").isdigit():
            specs += [f"{model.split('@')[0]}@{n}" for n in _int_list(item)]
        else:
            specs.append(item)
    return specs


def cmd_render(args: argparse.Namespace) -> None:
    from latentcut.models.loading import load_generator
    from latentcut.render.sequence import PROXY_SIZE, render_sequence

    sequence = load_sequence(args.sequence, fps=args.fps)
    fps = _fps_of(sequence, args.fps)
    specs = _snapshot_specs(args.model, args.snapshots)
    models = [load_generator(spec, device=args.device, trust_pickle=args.trust_pickle) for spec in specs]
    if sequence.meta.model and sequence.meta.model.sha256 != models[-1].sha256 and not args.snapshots:
        warnings.warn(f"{sequence.path}: made for {sequence.meta.model.spec}, rendering with {models[-1].spec}", stacklevel=1)
    size = args.size or ((PROXY_SIZE, PROXY_SIZE) if args.preset == "proxy" else models[0].native_size)
    update, close = _progress_bar(sequence.meta.frames, args.output.name, not args.no_progress)
    started = time.monotonic()
    try:
        result = render_sequence(
            sequence,
            args.output,
            models,
            preset=args.preset,
            fps=fps,
            tile_size=size,
            grid=args.grid,
            codec=args.codec,
            frame_numbers=args.frame_numbers,
            batch_frames=args.batch,
            progress=update,
        )
    finally:
        close()
    seconds = time.monotonic() - started
    print(
        f"wrote {result.path}: {result.frames} frames {result.frame_size[0]}x{result.frame_size[1]} {result.codec} at "
        f"{fps_text(fps)} fps in {seconds:.1f} s ({result.frames / max(seconds, 1e-9):.1f} frames/s)"
    )


def cmd_info(args: argparse.Namespace) -> None:
    sequence = load_sequence(args.sequence)
    meta = sequence.meta
    print(f"sequence  {sequence.path}")
    print(f"id        {meta.id or '(bare .npy: none)'}")
    print(f"frames    {meta.frames} x {meta.dim} dims ({meta.space} space), fps {fps_text(meta.fps) if meta.fps else 'unknown'}")
    print(f"sha256    {meta.sha256}")
    print(f"model     {f'{meta.model.spec} ({meta.model.sha256[:12]})' if meta.model else 'unknown'}")
    print(f"seed      {meta.seed if meta.seed is not None else '-'}")
    print(f"made      {meta.made}")
    if args.video is None:
        return
    from latentcut.render.encode import container_tags, video_frame_count_and_size

    if not args.video.exists():
        raise UsageError(f"{args.video}: video not found")
    tags = container_tags(args.video)
    if args.video.is_dir():
        frames, size = len(list(args.video.glob("*.png"))), video_frame_count_and_size(args.video / "000000.png")[1]
    else:
        frames, size = video_frame_count_and_size(args.video)
    problems = []
    if tags.get("latent_sidecar_id") != meta.id:
        problems.append(f"its sidecar id is {tags.get('latent_sidecar_id', 'missing')}, not {meta.id}")
    if tags.get("latent_sidecar_sha256") != meta.sha256:
        problems.append("its sidecar sha256 differs (the z-sequence changed after the video was rendered)")
    if frames != meta.frames:
        problems.append(f"it has {frames} frames, the sequence {meta.frames}")
    print(f"video     {args.video}: {frames} frames, {f'{size[0]}x{size[1]}' if size else 'size unknown'}")
    if problems:
        raise SidecarError(
            f"{args.video}: not linked to {sequence.path}: " + "; ".join(problems) + "; re-render it with latentcut render"
        )
    print("link      ok: the video was rendered from this sequence")


def cmd_conform(args: argparse.Namespace) -> None:
    from latentcut.conform.explain import explanation
    from latentcut.conform.project import conform_project

    if args.output is None and not args.explain:
        raise UsageError("give -o OUT.z.npy to write the conformed sequence, or --explain to print the edit")
    if args.output is not None:
        _output_checked(args.output)
    started = time.monotonic()
    conform = conform_project(
        args.project,
        args.output,
        sequence=args.sequence,
        blend=args.blend,
        gaps=args.gaps,
        full_length=args.full_length,
        fps=args.fps,
    )
    if args.explain:
        print("\n".join(explanation(conform)))
    if conform.meta is not None:
        gaps = int(conform.result.gap.sum())
        print(
            f"wrote {conform.output}: {conform.meta.frames} frames x {conform.meta.dim} dims at {fps_text(conform.meta.fps)} fps "
            f"from {len(conform.sequences)} sidecars ({gaps} gap frames, --gaps {args.gaps}) in {time.monotonic() - started:.2f} s; "
            f"provenance in {conform.provenance.name}"
        )


def _security(args: argparse.Namespace) -> Security:
    from latentcut.daemon.transport import Security

    return Security(
        server_secret=getattr(args, "curve_secret", None),
        allowed_clients=getattr(args, "curve_clients", None),
        server_public=getattr(args, "curve_server_key", None),
        client_secret=getattr(args, "curve_client_key", None),
        insecure=getattr(args, "insecure", False),
    )


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop


def cmd_daemon(args: argparse.Namespace) -> None:
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
    socket = ServerSocket(args.bind, _security(args))
    stop = _stop_on_signals()
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


def cmd_worker(args: argparse.Namespace) -> None:
    from latentcut.daemon.transport import Connection
    from latentcut.daemon.worker import run_worker
    from latentcut.models.loading import load_generator

    logging.basicConfig(level=logging.INFO, format="latentcut worker: %(message)s", stream=sys.stderr)
    generator = load_generator(args.model, device=args.device, trust_pickle=args.trust_pickle)
    stop = _stop_on_signals()
    with Connection(args.connect, _security(args)) as connection:
        print(f"latentcut worker: rendering {generator.spec} for {args.connect}", file=sys.stderr, flush=True)
        rendered = run_worker(connection, generator, stop, name=args.name)
    print(f"latentcut worker: stopped after {rendered} ranges", file=sys.stderr)


def cmd_status(args: argparse.Namespace) -> None:
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection

    with Connection(args.daemon, _security(args)) as connection:
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


def cmd_keys(args: argparse.Namespace) -> None:
    from latentcut.daemon.transport import write_keys

    paths = write_keys(args.folder)
    print(f"wrote CURVE keys in {args.folder}:")
    print(f"  daemon:  --curve-secret {paths['daemon_secret']}   (keep it on the render machine)")
    print(f"  clients: --curve-server-key {paths['daemon_public']} --curve-client-key {paths['client_secret']}")
    print(f"  to accept only known clients: copy {paths['client_public'].name} into a folder and give it to --curve-clients")


def cmd_watch(args: argparse.Namespace) -> None:
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection
    from latentcut.watch.saves import SaveWatcher
    from latentcut.watch.session import WatchOptions, WatchSession

    if not args.project.is_file():
        raise UsageError(f"{args.project}: project file not found")
    options = WatchOptions(
        model=args.model,
        size=args.size,
        preset=args.preset,
        codec=args.codec,
        output=args.output,
        gaps=args.gaps,
        blend=args.blend,
        sequence=args.sequence,
        fps=args.fps,
    )
    bars: dict[str, Any] = {}

    def progress(done: int, total: int) -> None:
        from tqdm import tqdm

        bar = bars.get("bar")
        if bar is None or bar.total != total or done < bar.n:
            if bar is not None:
                bar.close()
            bar = bars["bar"] = tqdm(total=total, desc="render", unit="frame", disable=None, file=sys.stderr, leave=False)
        bar.update(done - bar.n)

    def report(line: str) -> None:
        if bars.get("bar") is not None:
            bars.pop("bar").close()
        print(f"{time.strftime('%H:%M:%S')} {args.project.name}: {line}", flush=True)

    stop = _stop_on_signals()
    with Connection(args.daemon, _security(args)) as connection:
        session = WatchSession(args.project, DaemonClient(connection), options, report, progress)
        if args.once:
            session.conform()
            deadline = time.monotonic() + args.timeout
            while (session.pending or session.in_flight) and time.monotonic() < deadline and not stop.is_set():
                session.send()
                session.follow(100)
            if session.pending or session.in_flight:
                raise LatentcutError(f"{args.project}: the job did not finish within {args.timeout:.0f} s")
            if session.finished and session.finished[-1].get("state") != "done":
                raise LatentcutError(f"{args.project}: {session.finished[-1].get('error') or 'render failed'}")
            return
        report(f"watching; jobs go to {args.daemon} as {session.output}")
        with SaveWatcher(args.project) as saves:
            session.run(saves, stop)


def cmd_project(args: argparse.Namespace) -> None:
    from latentcut.kdenlive_project import project_clips, write_kdenlive_project

    if args.output.suffix != ".kdenlive":
        raise UsageError(f"{args.output}: a Kdenlive project ends in .kdenlive")
    clips = project_clips(args.clips, args.output)
    profile = write_kdenlive_project(args.output, clips, timeline=args.timeline)
    where = f"in the bin{' and end to end on V1' if args.timeline else ''}"
    print(
        f"wrote {args.output}: {len(clips)} latent clips {where}; profile {profile or 'custom'} "
        f"({clips[0].size[0]}x{clips[0].size[1]} at {fps_text(clips[0].fps)} fps)"
    )


def cmd_online(args: argparse.Namespace) -> None:
    from latentcut.models.loading import load_generator
    from latentcut.online import online_render

    models: dict[str, Any] = {}

    def model(sequence: ZSequence) -> Any:
        spec = args.model or (sequence.meta.model.spec if sequence.meta.model else "builtin:cppn")
        if spec not in models:
            models[spec] = load_generator(spec, device=args.device, trust_pickle=args.trust_pickle)
        return models[spec]

    started = time.monotonic()
    result = online_render(args.project, args.output, model, full_length=args.full_length)
    made = f"; rendered {len(result.rendered)} online clips first" if result.rendered else ""
    print(
        f"wrote {result.path}: {result.frames} frames through MLT, {len(result.online_files)} latent clips online{made} "
        f"({time.monotonic() - started:.1f} s)"
    )


def cmd_kdenlive(args: argparse.Namespace) -> None:
    from latentcut.mlt_module import mlt_environment

    if shutil.which("kdenlive") is None:
        raise UsageError("Kdenlive is not installed; on Debian/Ubuntu: sudo apt-get install kdenlive")
    command = ["kdenlive", *([str(args.project)] if args.project else [])]
    os.execvpe(command[0], command, mlt_environment())  # noqa: S606 - this command becomes Kdenlive


def cmd_demo(args: argparse.Namespace) -> None:
    from latentcut.demo import run_demo

    started = time.monotonic()
    made = run_demo(
        args.output_dir, device=args.device, progress=lambda total, label: _progress_bar(total, label, not args.no_progress)
    )
    print(f"demo finished in {time.monotonic() - started:.1f} s; in {args.output_dir}:")
    for path, what in made:
        print(f"  {path.name:<24} {what}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="latentcut",
        description="Edit journeys through a generative model's latent space in Kdenlive; render them online.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"latentcut {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], None], help_text: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=f"example:\n  {example}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(func=func)
        return p

    p = command(
        "sample",
        cmd_sample,
        "sample random latents into a new z-sequence",
        "latentcut sample samples.z.npy --count 600 --dim 512 --seed 7",
    )
    p.add_argument("output", type=Path, metavar="OUT.z.npy")
    p.add_argument("--count", type=int, required=True, help="number of latents (frames)")
    p.add_argument("--dim", type=int, default=DEFAULT_DIM, help=f"latent size (default {DEFAULT_DIM}, the embedded model's)")
    p.add_argument("--seed", type=int, required=True, help="random seed: the same seed gives the same latents")
    p.add_argument(
        "--prior",
        choices=("gaussian", "truncated", "uniform"),
        default="gaussian",
        help="gaussian (default), truncated gaussian (resampled beyond --threshold), or uniform in [-1, 1)",
    )
    p.add_argument("--threshold", type=float, default=2.0, help="truncation threshold in standard deviations (default 2)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation trick: scale samples toward the mean (default 1 = off)")
    p.add_argument("--fps", type=_fps, help="frame rate to record, e.g. 25 or 30000/1001 (default 25)")
    p.add_argument("--model", help="record this model in the sidecar, e.g. builtin:cppn")
    p.add_argument("--trust-pickle", action="store_true", help="allow loading a pickled model (runs code from the file)")

    p = command(
        "journey",
        cmd_journey,
        "interpolate a journey through keyframes picked from a z-sequence",
        "latentcut journey samples.z.npy --keys 0,5,9 --frames-per-segment 48 --interp spring -o trip.z.npy",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument("--keys", type=_int_list, required=True, help="keyframe frame indices, e.g. 0,5,9")
    timing = p.add_mutually_exclusive_group(required=True)
    timing.add_argument("--frames-per-segment", type=int, help="frames from one keyframe to the next")
    timing.add_argument("--seconds", type=float, help="seconds from one keyframe to the next, at the sequence's fps")
    p.add_argument("--interp", choices=INTERPOLATIONS, default="slerp", help="lerp, slerp (default) or spring (physical)")
    p.add_argument("--stiffness", type=float, default=SpringParams.stiffness, help="spring: keyframe spring stiffness")
    p.add_argument("--damping", type=float, default=SpringParams.damping, help="spring: damping ratio (1 = critical)")
    p.add_argument(
        "--shell-stiffness", type=float, default=SpringParams.shell_stiffness, help="spring: pull toward the sqrt(dim) shell"
    )
    p.add_argument(
        "--chain-from",
        type=Path,
        metavar="PREV.z.npy",
        help="start where this journey ends (its last frame is the first keyframe)",
    )
    p.add_argument("--fps", type=_fps, help="frame rate of a bare .npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")

    p = command(
        "neighbours",
        cmd_neighbours,
        "sample variations at a fixed angle around chosen frames",
        "latentcut neighbours samples.z.npy --frames 3,7 --radius 10 --count 16 -o near.z.npy",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument("--frames", type=_int_list, required=True, help="frames to explore around, e.g. 3,7")
    p.add_argument("--radius", type=float, required=True, help="angle between a frame and each neighbour, in degrees")
    p.add_argument("--count", type=int, required=True, help="neighbours per frame")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--include-centre", action="store_true", help="put each chosen frame before its neighbours")
    p.add_argument("--fps", type=_fps, help="frame rate of a bare .npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")

    p = command(
        "render",
        cmd_render,
        "decode a z-sequence through a model into a proxy or online video",
        "latentcut render trip.z.npy -o trip.mp4 --model builtin:cppn --preset proxy",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument(
        "-o",
        "--output",
        type=Path,
        required=True,
        help="proxy: .mp4/.mkv/.mov; online: .mov ProRes 4444, .mkv FFV1, .mp4 H.264, a folder name for PNGs",
    )
    p.add_argument(
        "--model", default="builtin:cppn", help="builtin:cppn[@N], a TorchScript/.pkl file, pkg.mod:func, w.pth=pkg.mod:Cls"
    )
    p.add_argument(
        "--preset",
        choices=("proxy", "online"),
        default="proxy",
        help="proxy (default): small intra-only H.264; online: mastering",
    )
    p.add_argument(
        "--codec", choices=("h264", "h265", "prores", "ffv1", "png"), help="online codec, instead of choosing by extension"
    )
    p.add_argument(
        "--size", type=_size, help="frame (or grid tile) size WxH; default 256x256 for proxies, the model's own online"
    )
    p.add_argument(
        "--snapshots", help="decode through several snapshots, tiled and labelled: 0,9,27 or 0-27 for builtin, or model specs"
    )
    p.add_argument("--grid", type=_size, metavar="CxR", help="tile columns x rows for --snapshots, e.g. 7x4")
    p.add_argument("--fps", type=_fps, help="frame rate (default: the sidecar's)")
    p.add_argument("--frame-numbers", action="store_true", help="burn each frame's index into the picture")
    p.add_argument("--batch", type=int, default=8, help="frames generated per batch (default 8)")
    p.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: CUDA when present)")
    p.add_argument("--trust-pickle", action="store_true", help="allow loading a pickled model (runs code from the file)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = command(
        "info",
        cmd_info,
        "print a z-sequence's metadata and check a video's link to it",
        "latentcut info trip.z.npy --video trip.mp4",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument("--video", type=Path, help="check that this video was rendered from the sequence")

    p = command(
        "conform",
        cmd_conform,
        "apply a Kdenlive/MLT (or EDL, FCP XML, OTIO) edit to the clips' sidecars",
        "latentcut conform my-edit.kdenlive -o my-edit.z.npy",
    )
    p.add_argument(
        "project", type=Path, metavar="PROJECT", help=".kdenlive, .mlt, Shotcut .mlt, .otio, .edl, FCP .xml or .fcpxml"
    )
    p.add_argument(
        "-o", "--output", type=Path, metavar="OUT.z.npy", help="write the conformed sequence, its .z.json and .provenance.npz"
    )
    p.add_argument("--explain", action="store_true", help="print the edit as a table and the frames latents cannot express")
    p.add_argument("--sequence", help="conform this Kdenlive sequence (name, uuid or tractor id) instead of the one melt renders")
    p.add_argument(
        "--blend", choices=("slerp", "lerp"), default="slerp", help="how mixes and dissolves blend latents (default slerp)"
    )
    p.add_argument(
        "--gaps",
        choices=("black", "hold", "error"),
        default="black",
        help="frames with no latent source: black (default: opacity 0, latent held from a neighbour), hold (shown), error",
    )
    p.add_argument("--full-length", action="store_true", help="run as long as melt renders, including Kdenlive's trailing black")
    p.add_argument("--fps", type=_fps, help="frame rate of an EDL (EDLs do not record one; default 25)")

    def add_client_security(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--curve-server-key", type=Path, metavar="daemon.key", help="the daemon's public CURVE key (remote daemons)"
        )
        p.add_argument("--curve-client-key", type=Path, metavar="client.key_secret", help="this client's secret CURVE key")

    p = command(
        "daemon",
        cmd_daemon,
        "render jobs sent over ZeroMQ (from latentcut watch) into a folder",
        "latentcut daemon --model builtin:cppn --out renders/",
    )
    p.add_argument("--out", type=Path, required=True, help="folder the renders are written to (jobs only name files in it)")
    p.add_argument("--model", action="append", help="model to serve (repeatable; builtin:cppn serves all its snapshots)")
    p.add_argument("--bind", default=DEFAULT_DAEMON, help=f"address (default {DEFAULT_DAEMON}: this machine only)")
    p.add_argument("--cache", type=Path, help="frame cache folder (default: ~/.cache/latentcut/frames)")
    p.add_argument("--cache-gb", type=float, default=20.0, help="frame cache size limit in GiB (default 20)")
    p.add_argument("--no-local", action="store_true", help="render nothing here: only hand frame ranges to workers")
    p.add_argument("--range-frames", type=int, default=16, help="frames per range handed to a renderer (default 16)")
    p.add_argument("--range-timeout", type=float, default=30.0, help="seconds before a worker's range is handed out again")
    p.add_argument("--curve-secret", type=Path, metavar="daemon.key_secret", help="CURVE secret key (needed off loopback)")
    p.add_argument("--curve-clients", type=Path, metavar="DIR", help="accept only clients whose public keys are in DIR")
    p.add_argument("--insecure", action="store_true", help="allow a non-loopback --bind without CURVE (anyone can submit)")
    p.add_argument("--device", help="torch device (default: CUDA when present)")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickled models (runs code from the file)")

    p = command(
        "worker",
        cmd_worker,
        "render frame ranges for a daemon (several workers share one job)",
        "latentcut worker --connect tcp://127.0.0.1:5557 --model builtin:cppn",
    )
    p.add_argument("--connect", default=DEFAULT_DAEMON, help=f"the daemon (default {DEFAULT_DAEMON})")
    p.add_argument("--model", default="builtin:cppn", help="the model the daemon's jobs use")
    p.add_argument("--name", help="name shown in latentcut status")
    p.add_argument("--device", help="torch device (default: CUDA when present)")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickled models (runs code from the file)")
    add_client_security(p)

    p = command(
        "watch",
        cmd_watch,
        "re-conform a project on every save and send it to a render daemon",
        "latentcut watch my-edit.kdenlive --daemon tcp://127.0.0.1:5557 --preset online",
    )
    p.add_argument("project", type=Path, metavar="PROJECT")
    p.add_argument("--daemon", default=DEFAULT_DAEMON, help=f"daemon address (default {DEFAULT_DAEMON})")
    p.add_argument("--preset", choices=("proxy", "online"), default="online")
    p.add_argument("--codec", choices=("h264", "h265", "prores", "ffv1", "png"))
    p.add_argument("--model", default="builtin:cppn", help="model the daemon renders with (it must serve it)")
    p.add_argument("--size", type=_size, help="frame size WxH (default: the project's profile)")
    p.add_argument("--output", help="file name in the daemon's --out folder (default: <project>.mov, .mp4 for proxies)")
    p.add_argument("--gaps", choices=("black", "hold", "error"), default="black")
    p.add_argument("--blend", choices=("slerp", "lerp"), default="slerp")
    p.add_argument("--sequence", help="Kdenlive sequence to conform")
    p.add_argument("--fps", type=_fps, help="frame rate of an EDL")
    p.add_argument("--once", action="store_true", help="conform and render once, wait for the render, exit (for scripts)")
    p.add_argument("--timeout", type=float, default=3600.0, help="with --once: seconds to wait for the render")
    add_client_security(p)

    p = command(
        "status", cmd_status, "show a daemon's queue, progress and workers", "latentcut status --daemon tcp://127.0.0.1:5557"
    )
    p.add_argument("--daemon", default=DEFAULT_DAEMON, help=f"daemon address (default {DEFAULT_DAEMON})")
    p.add_argument("--timeout-ms", type=int, default=3000, help="how long to wait for an answer")
    add_client_security(p)

    p = command(
        "keys", cmd_keys, "make CURVE key pairs for a daemon reachable from other machines", "latentcut keys ~/.latentcut-keys"
    )
    p.add_argument("folder", type=Path, metavar="DIR")

    p = command(
        "project",
        cmd_project,
        "write a Kdenlive project with latent clips (proxies linked to their sidecars)",
        "latentcut project new my-edit.kdenlive clips/*.mp4 --timeline",
    )
    p.add_argument("action", choices=("new",), help="new: write a new project")
    p.add_argument("output", type=Path, metavar="PROJECT.kdenlive")
    p.add_argument("clips", type=Path, nargs="+", metavar="PROXY", help="proxy videos rendered by latentcut render")
    p.add_argument("--timeline", action="store_true", help="also lay the clips end to end on the first video track")

    p = command(
        "online",
        cmd_online,
        "render the whole project with MLT, every latent clip from its online render",
        "latentcut online my-edit.kdenlive -o final.mov",
    )
    p.add_argument("project", type=Path, metavar="PROJECT")
    p.add_argument("-o", "--output", type=Path, required=True, help=".mov (ProRes 4444), .mkv (FFV1) or .mp4 (H.264)")
    p.add_argument("--model", help="model for missing online clip renders (default: each sidecar's own)")
    p.add_argument("--full-length", action="store_true", help="include Kdenlive's trailing black")
    p.add_argument("--device", help="torch device (default: CUDA when present)")
    p.add_argument("--trust-pickle", action="store_true", help="allow pickled models (runs code from the file)")

    p = command(
        "kdenlive",
        cmd_kdenlive,
        "start Kdenlive with the latent MLT module and latentcut's profiles available",
        "latentcut kdenlive my-edit.kdenlive",
    )
    p.add_argument("project", type=Path, nargs="?", metavar="PROJECT")

    p = command(
        "demo",
        cmd_demo,
        "sample, render proxies, three journeys and a snapshot grid with the embedded model",
        "latentcut demo demo-out/",
    )
    p.add_argument("output_dir", type=Path, metavar="OUT_DIR")
    p.add_argument("--device", help="torch device (default: CUDA when present)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None
) -> None:
    print(f"latentcut: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 failed, 2 bad usage, 130 interrupted)."""
    parser = _parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _one_line_warning
    try:
        args.func(args)
    except LatentcutError as exc:
        print(f"latentcut: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except (IndexError, ValueError) as exc:
        print(f"latentcut: error: {exc}", file=sys.stderr)
        return UsageError.exit_code
    except KeyboardInterrupt:
        print("latentcut: interrupted; nothing was written under the output name", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
