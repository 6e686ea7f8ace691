"""The ``render`` command: decode a z-sequence through one model, or several snapshots in a labelled grid."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from latentcut.cli import options
from latentcut.cli.arithmetic import add_attribute_option, attributed_sequence
from latentcut.latent.sidecar import load_sequence, sidecar_paths
from latentcut.render.encode import CODECS, PRESETS
from latentcut.timebase import fps_text

__all__ = ["held_path", "register"]


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
    options.add_look_options(p)
    p.add_argument(
        "--preset", choices=PRESETS, default="proxy", help="proxy (default): small intra-only H.264; online: mastering"
    )
    p.add_argument("--codec", choices=CODECS, help="online codec, instead of choosing by extension")
    p.add_argument(
        "--size", type=options.size, help="frame (or grid tile) size WxH; default 256x256 for proxies, the model's own online"
    )
    p.add_argument(
        "--snapshots",
        help="decode through several snapshots, tiled and labelled: 0,9,27 or 0-27 for builtin, model specs (a.pkl,b.pkl), "
        "or a folder of StyleGAN network-snapshot-NNNNNN.pkl (labelled by kimg)",
    )
    p.add_argument("--grid", type=options.size, metavar="CxR", help="tile columns x rows for --snapshots, e.g. 7x4")
    p.add_argument("--fps", type=options.fps, help="frame rate (default: the sidecar's)")
    p.add_argument(
        "--frame-numbers", action="store_true", help="burn each frame's number into the picture (its index in the original pool)"
    )
    p.add_argument(
        "--hold",
        type=int,
        default=1,
        metavar="N",
        help="show each latent for N frames (writes the held sequence OUT-stem.holdN.z.npy beside the video), to cut in an editor",
    )
    p.add_argument(
        "--batch",
        type=int,
        help="frames generated per batch (default: sized to the device: 8 on a CPU; on CUDA the largest power of two "
        "up to 32 that fits, found once per model, size and GPU and remembered)",
    )
    add_attribute_option(p)  # the moved latents go to OUT-stem-attributes.z.npy beside the video
    options.add_device_option(p)
    options.add_no_progress(p)


def held_path(output: Path, hold: int) -> Path:
    """``pool.mp4`` held 8 frames a latent -> ``pool.hold8.z.npy``: the held sequence beside the video, never the plain pool's name."""
    return output.with_name(f"{output.stem}.hold{hold}.z.npy")


def run_render(args: argparse.Namespace) -> None:
    from latentcut.conform.frame_arrays import sequence_frames
    from latentcut.errors import UsageError
    from latentcut.latent.curation import burned_numbers, held_sequence
    from latentcut.models.snapshots import snapshot_specs
    from latentcut.render.batch_size import device_batch
    from latentcut.render.sequence import PROXY_SIZE, render_sequence

    sequence = load_sequence(args.sequence, fps=args.fps)
    fps = options.fps_of(sequence, args.fps)
    frames = sequence_frames(sequence)  # a conformed edit's gaps, fades and pixel blend; a performance's controls
    if not frames.plain_latents and (args.attribute or args.hold != 1):
        what = "input controls are" if frames.controls is not None else "gaps, fades and pixel blend (from the conform) are"
        raise UsageError(f"{args.sequence}: its {what} one row per frame as it is; drop --attribute and --hold")
    if args.attribute:
        sequence = attributed_sequence(sequence, args.attribute, args.output.with_name(args.output.stem + "-attributes.z.npy"))
        frames = sequence_frames(sequence)
    if args.hold != 1:
        held = held_path(args.output, args.hold)
        sequence = held_sequence(sequence, args.hold, held)
        frames = sequence_frames(sequence)
        print(f"wrote {sidecar_paths(held)[0]}: each of {sequence.meta.frames // args.hold} latents held for {args.hold} frames")
    looks = options.looks(args)
    if args.snapshots:
        # Every --snapshots entry is a model the user typed; the sequence's other choices (psi, class ...) apply to each.
        base = args.model or (sequence.meta.model.spec if sequence.meta.model else "builtin:cppn")
        models = [looks.tile(sequence, model=spec) for spec in snapshot_specs(base, args.snapshots)]
    else:
        models = [looks.tile(sequence)]
    first = models[0] if not isinstance(models[0], list) else models[0][0]
    size = args.size or ((PROXY_SIZE, PROXY_SIZE) if args.preset == "proxy" else first.native_size)
    generators = [g for tile in models for g in (tile if isinstance(tile, list) else [tile])]
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
            batch_frames=args.batch if args.batch is not None else min(device_batch(model, size) for model in generators),
            progress=update,
            numbers=burned_numbers(sequence) if args.frame_numbers else None,
            frames=frames,
        )
    finally:
        close()
    seconds = time.monotonic() - started
    print(
        f"wrote {result.path}: {result.frames} frames {result.frame_size[0]}x{result.frame_size[1]} {result.codec} at "
        f"{fps_text(fps)} fps in {seconds:.1f} s ({result.frames / max(seconds, 1e-9):.1f} frames/s)"
    )
