"""The ``conform`` command: an editor's timeline applied to its clips' sidecars."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from latentcut.cli import options
from latentcut.conform.latents import BLENDS, GAP_POLICIES
from latentcut.errors import UsageError
from latentcut.timebase import fps_text
from latentcut.timeline.mlt_eval import SLOW_MOTION

__all__ = ["add_conform_options", "register"]


def add_conform_options(p: argparse.ArgumentParser) -> None:
    """The options that decide how a project becomes latents: ``--sequence``, ``--blend``, ``--gaps`` and ``--fps``."""
    p.add_argument("--sequence", help="conform this Kdenlive sequence (name, uuid or tractor id) instead of the one melt renders")
    p.add_argument(
        "--blend",
        choices=BLENDS,
        default=BLENDS[0],
        help="mixes and dissolves: slerp (default) or lerp morph the latents; pixel keeps both pictures and MLT's weight, "
        "and the render cross-fades them as Kdenlive shows them",
    )
    p.add_argument(
        "--gaps",
        choices=GAP_POLICIES,
        default=GAP_POLICIES[0],
        help="frames with no latent source: black (default: opacity 0, latent held from a neighbour), hold (shown), error",
    )
    p.add_argument("--fps", type=options.fps, help="frame rate of an EDL (EDLs do not record one; default 25)")


def register(sub: Any) -> None:
    """Add ``conform``."""
    p = options.command(
        sub,
        "conform",
        run_conform,
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
    add_conform_options(p)
    p.add_argument(
        "--slow-motion",
        choices=SLOW_MOTION,
        default=SLOW_MOTION[0],
        help="slow motion and time remap: repeat source latents as MLT repeats frames (default), or interpolate between them",
    )
    p.add_argument("--full-length", action="store_true", help="run as long as melt renders, including Kdenlive's trailing black")


def run_conform(args: argparse.Namespace) -> None:
    from latentcut.conform.explain import explanation
    from latentcut.conform.project import conform_project
    from latentcut.editor.soundtrack import ProjectAudio

    if args.output is None and not args.explain:
        raise UsageError("give -o OUT.z.npy to write the conformed sequence, or --explain to print the edit")
    if args.output is not None:
        options.output_checked(args.output)
    started = time.monotonic()
    conform = conform_project(
        args.project,
        args.output,
        sequence=args.sequence,
        blend=args.blend,
        gaps=args.gaps,
        full_length=args.full_length,
        fps=args.fps,
        slow_motion=args.slow_motion,
        audio=ProjectAudio(args.project),
        lane_support=_lane_support(),
    )
    if args.explain:
        print("\n".join(explanation(conform)))
    if conform.meta is not None and conform.output is not None and conform.provenance is not None:
        gaps = int(conform.result.gap.sum())
        print(
            f"wrote {conform.output}: {conform.meta.frames} frames x {conform.meta.dim} dims at {fps_text(conform.meta.fps) if conform.meta.fps else 'unknown'} fps "
            f"from {len(conform.sequences)} sidecars ({gaps} gap frames, --gaps {args.gaps}) in {time.monotonic() - started:.2f} s; "
            f"provenance in {conform.provenance.name}"
        )
        if conform.controls is not None:
            from latentcut.latent.controls import controls_path

            what = (
                f"its lanes ({', '.join(conform.lanes)})" if conform.lanes else "the input controls of its tracked performances"
            )
            print(f"wrote {controls_path(conform.output)}: {what}, one row per frame")


def _lane_support() -> Callable[[Any], tuple[str, ...] | None]:
    """The controls the model of a look applies, so the conform refuses a lane it cannot (None: the model is not here).

    One ``Looks`` for the whole conform, made at the first lane (torch is imported only then): each model
    is read once, however many look runs use it.
    """
    made: list[Any] = []

    def support(look: Any) -> tuple[str, ...] | None:
        if not made:
            from latentcut.models.looks import Looks

            made.append(Looks(device="cpu"))
        return made[0].controls_of(look)

    return support
