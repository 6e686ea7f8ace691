"""The ``react`` command: a video or a camera steers the latents; the performance becomes a sequence to cut."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path
from typing import Any

from latentcut.cli import options
from latentcut.errors import UsageError

__all__ = ["register"]


def _base(text: str) -> tuple[Path, int]:
    match = re.fullmatch(r"(.+):(\d+)", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not POOL.z.npy:FRAME, e.g. pool.z.npy:31")
    return Path(match[1]), int(match[2])


def _discard(frame: Any) -> None:
    """A preview with nowhere to show: the frame was generated (and timed) all the same."""


def register(sub: Any) -> None:
    """Add ``react``."""
    from latentcut.react.tracker import TRACKERS

    p = options.command(
        sub,
        "react",
        run_react,
        "steer the latents with a video or a camera; write the performance as a z-sequence, its proxy and a project",
        "latentcut react dance.mp4 --model builtin:cppn -o perf.z.npy --smooth 0.3 --gain 1.5",
    )
    p.add_argument("source", metavar="SOURCE", help="a video file, or a camera: v4l2:/dev/video0")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="PERF.z.npy")
    options.add_look_options(p, model_help="the model to perform with (default builtin:cppn); the performance records the look")
    p.add_argument(
        "--features",
        default="random",
        help="random (default: a fixed-seed convolutional network, no file) or ARCH=WEIGHTS.pth (torchvision, e.g. vgg16=vgg16.pth)",
    )
    p.add_argument(
        "--layer-weights",
        metavar="W,W,...|mean:N",
        help="how the network's layers mix (default: all equally); mean:N takes the channel means of layer N alone",
    )
    p.add_argument("--no-image-stats", action="store_true", help="leave out the colour and optical-flow statistics")
    p.add_argument(
        "--smooth",
        type=float,
        default=0.2,
        metavar="S",
        help="time constant of the smoothing in seconds (default 0.2; lag about S)",
    )
    p.add_argument("--gain", type=float, default=1.0, help="how far the source moves the latent from its base (default 1)")
    p.add_argument(
        "--base",
        type=_base,
        metavar="POOL.z.npy:F",
        help="the latent the performance moves around; with --layers, the z, w or w+ whose other layers stay (default: seeded)",
    )
    p.add_argument(
        "--layers",
        type=options.int_list,
        metavar="L,L-L",
        help="StyleGAN: the W+ layers the source controls (style mixing, e.g. 0-3); writes a w+ sequence",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the default base latent (default 0)")
    p.add_argument("--frames", type=int, help="stop after this many source frames (needed for a camera)")
    p.add_argument("--size", type=options.size, default=(256, 256), help="proxy and input video size (default 256x256)")
    p.add_argument(
        "--tracker",
        choices=TRACKERS,
        help="StyleGAN controls: follow a face, the brightest or the most moving region; its offset translates and its "
        "angle rotates StyleGAN3's input, its distance from the centre corrupts StyleGAN2's constant",
    )
    p.add_argument("--no-project", action="store_true", help="do not write PERF.kdenlive")
    p.add_argument("--preview", action="store_true", help="decode each latent as it is made; report frames/s and latency")
    options.add_device_option(p)
    options.add_no_progress(p)


def run_react(args: argparse.Namespace) -> None:
    from latentcut.latent.look import Look
    from latentcut.react.performance import ReactSettings, perform
    from latentcut.react.preview import PreviewWindow, display_available

    if args.frames is not None and args.frames < 1:
        raise UsageError(f"--frames {args.frames}: give 1 or more")
    looked = options.looks(args).of_look(Look(), where=args.source)
    settings = ReactSettings(
        features=args.features,
        layer_weights=args.layer_weights,
        image_stats=not args.no_image_stats,
        smooth_s=args.smooth,
        gain=args.gain,
        base_seed=args.seed,
        max_frames=args.frames,
        tracker=args.tracker,
        layers=tuple(args.layers) if args.layers is not None else None,
    )
    update, close = options.progress_bar(args.frames or 0, "react", not args.no_progress)
    with contextlib.ExitStack() as stack:
        stack.callback(close)
        preview = None
        if args.preview and display_available():
            preview = stack.enter_context(PreviewWindow(f"latentcut react {args.source}")).show
        elif args.preview:
            print("latentcut: no display: frames are generated live and timed, but not shown", file=sys.stderr)
            preview = _discard
        result = perform(
            args.source,
            looked.generator,
            args.output,
            settings,
            base=args.base,
            proxy_size=args.size,
            preview=preview,
            progress=update,
            project=not args.no_project,
            look=looked.look,
        )
    print(
        f"wrote {result.sequence}: {result.frames} latents at {result.fps} fps ({result.steer_frames_per_s:.1f} frames/s steered)"
    )
    print(f"wrote {result.proxy} (the performance) and {result.input_video} (the source frames it used)")
    if args.tracker is not None:
        from latentcut.latent.controls import controls_path

        print(f"wrote {controls_path(result.sequence)}: the {args.tracker} tracker's input controls, one row per latent")
    if result.project is not None:
        print(f"wrote {result.project}: both on two tracks, frame-aligned")
    if result.live_frames_per_s is not None and result.latency_ms is not None:
        print(
            f"live: {result.live_frames_per_s:.1f} frames/s, latency source frame to picture "
            f"median {result.latency_ms[0]:.0f} ms, 95th percentile {result.latency_ms[1]:.0f} ms",
            file=sys.stderr,
        )
