"""The ``render`` command: decode a z-sequence through one model, or several snapshots in a labelled grid."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

from latentcut.cli import options
from latentcut.latent.sidecar import load_sequence
from latentcut.render.encode import CODECS, PRESETS
from latentcut.timebase import fps_text

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``render``."""
    p = options.command(
        sub,
        "render",
        run_render,
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
    options.add_model_options(p)
    p.add_argument(
        "--preset", choices=PRESETS, default="proxy", help="proxy (default): small intra-only H.264; online: mastering"
    )
    p.add_argument("--codec", choices=CODECS, help="online codec, instead of choosing by extension")
    p.add_argument(
        "--size", type=options.size, help="frame (or grid tile) size WxH; default 256x256 for proxies, the model's own online"
    )
    p.add_argument(
        "--snapshots", help="decode through several snapshots, tiled and labelled: 0,9,27 or 0-27 for builtin, or model specs"
    )
    p.add_argument("--grid", type=options.size, metavar="CxR", help="tile columns x rows for --snapshots, e.g. 7x4")
    p.add_argument("--fps", type=options.fps, help="frame rate (default: the sidecar's)")
    p.add_argument("--frame-numbers", action="store_true", help="burn each frame's index into the picture")
    p.add_argument("--batch", type=int, default=8, help="frames generated per batch (default 8)")
    options.add_device_option(p)
    options.add_no_progress(p)


def run_render(args: argparse.Namespace) -> None:
    from latentcut.models.loading import load_generator
    from latentcut.models.snapshots import snapshot_specs
    from latentcut.render.sequence import PROXY_SIZE, render_sequence

    sequence = load_sequence(args.sequence, fps=args.fps)
    fps = options.fps_of(sequence, args.fps)
    specs = snapshot_specs(args.model, args.snapshots)
    models = [load_generator(spec, device=args.device, trust_pickle=args.trust_pickle) for spec in specs]
    if sequence.meta.model and sequence.meta.model.sha256 != models[-1].sha256 and not args.snapshots:
        warnings.warn(f"{sequence.path}: made for {sequence.meta.model.spec}, rendering with {models[-1].spec}", stacklevel=1)
    size = args.size or ((PROXY_SIZE, PROXY_SIZE) if args.preset == "proxy" else models[0].native_size)
    update, close = options.progress_bar(sequence.meta.frames, args.output.name, not args.no_progress)
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
