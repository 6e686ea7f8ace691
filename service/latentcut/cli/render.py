"""The ``render`` command: decode a z-sequence through one model, or several snapshots in a labelled grid."""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

from latentcut.cli import options
from latentcut.cli.arithmetic import add_attribute_option, attributed_sequence
from latentcut.cli.latentspace import add_stylegan_options, render_settings
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
    options.add_model_options(
        p,
        default=None,
        help_text="builtin:cppn[@N], a TorchScript/.pt2/.pkl file, pkg.mod:func, or w.pth=pkg.mod:Cls "
        "(default: the sidecar's model if built in or a model file, else builtin:cppn if it names none)",
    )
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
        help="show each latent for N frames (writes the held sequence OUT-stem.z.npy beside the video), to cut in an editor",
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
    add_stylegan_options(p)


def run_render(args: argparse.Namespace) -> None:
    from latentcut.conform.latents import pixel_blend
    from latentcut.errors import UsageError
    from latentcut.latent.curation import burned_numbers, held_sequence
    from latentcut.models.latent_space import generator_for
    from latentcut.models.loading import load_generator, model_spec_for
    from latentcut.models.snapshots import snapshot_specs
    from latentcut.models.stylegan.input_controls import load_controls
    from latentcut.render.batch_size import device_batch
    from latentcut.render.sequence import PROXY_SIZE, render_sequence

    sequence = load_sequence(args.sequence, fps=args.fps)
    fps = options.fps_of(sequence, args.fps)
    pair = pixel_blend(sequence)  # a --blend pixel conform: two pictures cross-faded per frame
    if pair is not None and (args.attribute or args.hold != 1):
        raise UsageError(f"{args.sequence}: a --blend pixel conform renders as it is; drop --attribute and --hold")
    controls = load_controls(sequence)  # a performance's (or a cut of one's) StyleGAN input controls, beside it
    if controls is not None and (args.attribute or args.hold != 1):
        raise UsageError(f"{args.sequence}: its input controls are one row per frame as it is; drop --attribute and --hold")
    if args.attribute:
        sequence = attributed_sequence(sequence, args.attribute, args.output.with_name(args.output.stem + "-attributes.z.npy"))
    if args.hold != 1:
        held_path = args.output.with_name(args.output.stem + ".z.npy")
        sequence = held_sequence(sequence, args.hold, held_path)
        print(f"wrote {held_path}: each of {sequence.meta.frames // args.hold} latents held for {args.hold} frames")
    recorded = sequence.meta.model.spec if sequence.meta.model else None
    model, typed = model_spec_for(args.model, recorded, sequence.path)
    specs = snapshot_specs(model, args.snapshots)
    models = [
        # Code may run only for a model the user typed: --model, or a --snapshots entry.
        generator_for(
            load_generator(spec, device=args.device, trust_pickle=args.trust_pickle, code_allowed=typed or spec != model),
            sequence.meta.space,  # z, or w / w+ (StyleGAN models render those without their mapping network)
            render_settings(args),
            where=str(sequence.path),
        )
        for spec in specs
    ]
    weights = getattr(models[-1], "weights_sha256", models[-1].sha256)  # a StyleGAN model's sha256 also covers its settings
    if sequence.meta.model and sequence.meta.model.sha256 != weights and not args.snapshots:
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
            batch_frames=args.batch if args.batch is not None else min(device_batch(model, size) for model in models),
            progress=update,
            numbers=burned_numbers(sequence) if args.frame_numbers else None,
            blend=None if pair is None else (pair.partner, pair.weight),
            controls=controls,
        )
    finally:
        close()
    seconds = time.monotonic() - started
    print(
        f"wrote {result.path}: {result.frames} frames {result.frame_size[0]}x{result.frame_size[1]} {result.codec} at "
        f"{fps_text(fps)} fps in {seconds:.1f} s ({result.frames / max(seconds, 1e-9):.1f} frames/s)"
    )
