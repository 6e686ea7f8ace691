"""The ``watch`` command: re-conform a project on every save and send the job to a render daemon, or keep a preview beside it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from latentcut.cli import options
from latentcut.cli.conform import add_conform_options
from latentcut.errors import UsageError
from latentcut.render.encode import CODECS, PRESETS

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``watch``."""
    p = options.command(
        sub,
        "watch",
        run_watch,
        "re-conform a project on every save and send it to a render daemon",
        "latentcut watch my-edit.kdenlive --daemon tcp://127.0.0.1:5557 --preset online",
    )
    p.add_argument("project", type=Path, metavar="PROJECT")
    p.add_argument("--daemon", default=options.DEFAULT_DAEMON, help=f"daemon address (default {options.DEFAULT_DAEMON})")
    p.add_argument("--preset", choices=PRESETS, default="online")
    p.add_argument("--codec", choices=CODECS)
    p.add_argument("--size", type=options.size, help="frame size WxH (default: the project's profile)")
    p.add_argument("--output", help="file name in the daemon's --out folder (default: <project>.mov, .mp4 for proxies)")
    add_conform_options(p)
    options.add_look_options(
        p,
        local=False,
        model_help="model the daemon renders with, which it must serve (default: the one the clips' sidecars record, "
        "else builtin:cppn); each look option left out: the clips', else the daemon's",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="instead of sending jobs, keep PROJECT's stem + .latent-preview.mkv beside it: the edit rendered by the daemon "
        "at the project's size (or --size), frames sent back over its socket, only changed frames rendered "
        "(put it on Kdenlive's timeline with latentcut project preview)",
    )
    p.add_argument("--once", action="store_true", help="conform and render once, wait for the render, exit (for scripts)")
    p.add_argument(
        "--timeout", type=float, default=3600.0, help="with --once: seconds to wait for the render (with --preview: per request)"
    )
    options.add_client_security(p)


def run_watch(args: argparse.Namespace) -> None:
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection
    from latentcut.timeline.kdenlive import preview_file
    from latentcut.watch.preview import PreviewFile
    from latentcut.watch.saves import SaveWatcher
    from latentcut.watch.session import WatchOptions, WatchSession

    if not args.project.is_file():
        raise UsageError(f"{args.project}: project file not found")
    if args.preview and (args.output or args.codec):
        raise UsageError("--preview writes PROJECT.latent-preview.mkv (FFV1) beside the project; drop --output and --codec")
    watch_options = WatchOptions(
        look=options.look_options(args),
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

    stop = options.stop_on_signals()
    with Connection(args.daemon, options.security(args)) as connection:
        client = DaemonClient(connection)
        preview = PreviewFile(preview_file(args.project), client, timeout_s=args.timeout) if args.preview else None
        session = WatchSession(args.project, client, watch_options, report, progress, preview)
        if args.once:
            session.run_once(args.timeout, stop)
            return
        if preview is not None:
            report(f"watching; {preview.path.name} kept up to date by {args.daemon}")
        else:
            report(f"watching; jobs go to {args.daemon} as {session.output}")
        with SaveWatcher(args.project) as saves:
            session.run(saves, stop)
