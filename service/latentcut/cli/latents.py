"""Commands that make and inspect z-sequences without a model: sample, journey, neighbours, info."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.cli import options
from latentcut.cli.arithmetic import add_attribute_option, attributed_latents
from latentcut.errors import SidecarError, UsageError
from latentcut.latent.interpolation import SpringParams
from latentcut.latent.journey import INTERPOLATIONS, journey_latents, keyframes_from_indices
from latentcut.latent.sampling import (
    PRIORS,
    gaussian_latents,
    neighbour_latents,
    psi_truncated,
    seeded_latents,
    truncated_latents,
    uniform_latents,
)
from latentcut.latent.sidecar import load_sequence
from latentcut.timebase import fps_text, frames_from_seconds

__all__ = ["register"]

DEFAULT_DIM = 512


def register(sub: Any) -> None:
    """Add ``sample``, ``journey``, ``neighbours`` and ``info``."""
    p = options.command(
        sub,
        "sample",
        run_sample,
        "sample random latents into a new z-sequence",
        "latentcut sample samples.z.npy --count 600 --seed 7 --model network-snapshot-004000.pkl",
    )
    p.add_argument("output", type=Path, metavar="OUT.z.npy")
    p.add_argument("--count", type=int, help="number of latents (frames)")
    p.add_argument(
        "--dim", type=int, help=f"latent size (default: the --model's z size, else {DEFAULT_DIM}, the embedded model's)"
    )
    p.add_argument("--seed", type=int, help="random seed: the same seed gives the same latents")
    p.add_argument(
        "--seeds",
        type=options.int_list,
        metavar="0-99,123",
        help="one latent per seed, as NVIDIA's gen_images.py --seeds draws it (RandomState(seed).randn(1, z_dim)), "
        "instead of --count and --seed",
    )
    p.add_argument(
        "--prior",
        choices=PRIORS,
        default=PRIORS[0],
        help="gaussian (default), truncated gaussian (resampled beyond --threshold), or uniform in [-1, 1)",
    )
    p.add_argument("--threshold", type=float, default=2.0, help="truncation threshold in standard deviations (default 2)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation trick: scale samples toward the mean (default 1 = off)")
    p.add_argument("--fps", type=options.fps, help="frame rate to record, e.g. 25 or 30000/1001 (default 25)")
    options.add_model_options(p, default=None, help_text="record this model in the sidecar, e.g. builtin:cppn")
    p.add_argument(
        "--near",
        type=Path,
        metavar="CURATED.z.npy",
        help="resample around a curated set instead: each sample turns a curated frame by up to --spread degrees",
    )
    p.add_argument(
        "--spread", type=float, default=10.0, metavar="DEG", help="--near: largest angle from a curated frame (default 10)"
    )

    p = options.command(
        sub,
        "journey",
        run_journey,
        "interpolate a journey through keyframes picked from a z-sequence",
        "latentcut journey samples.z.npy --keys 0,5,9 --frames-per-segment 48 --interp spring -o trip.z.npy",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument(
        "--keys",
        required=True,
        help="keyframes: frames 0,5,9 or timecodes 00:00:01:10, or PROJECT.kdenlive (its guides) or PROJECT.kdenlive#CLIP "
        f"(its markers); {options.TYPED_FRAMES}",
    )
    timing = p.add_mutually_exclusive_group(required=True)
    timing.add_argument("--frames-per-segment", type=int, help="frames from one keyframe to the next")
    timing.add_argument("--seconds", type=float, help="seconds from one keyframe to the next, at the sequence's fps")
    p.add_argument(
        "--interp",
        choices=INTERPOLATIONS,
        default="slerp",
        help="lerp, slerp (default) or spring (physical); slerp suits Gaussian z, lerp is the usual choice in W "
        "(w/w+ sequences from latentcut map); the journey keeps its source's space",
    )
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
    add_attribute_option(p)
    p.add_argument("--fps", type=options.fps, help="frame rate of a bare .npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")

    p = options.command(
        sub,
        "neighbours",
        run_neighbours,
        "sample variations at a fixed angle around chosen frames",
        "latentcut neighbours samples.z.npy --frames 3,7 --radius 10 --count 16 -o near.z.npy",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument(
        "--frames",
        required=True,
        help=f"frames to explore around, e.g. 3,7 or timecodes 00:00:01:10; {options.TYPED_FRAMES}",
    )
    p.add_argument("--radius", type=float, required=True, help="angle between a frame and each neighbour, in degrees")
    p.add_argument("--count", type=int, required=True, help="neighbours per frame")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--include-centre", action="store_true", help="put each chosen frame before its neighbours")
    add_attribute_option(p)
    p.add_argument("--fps", type=options.fps, help="frame rate of a bare .npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")

    p = options.command(
        sub,
        "info",
        run_info,
        "print a z-sequence's metadata and check a video's link to it",
        "latentcut info trip.z.npy --video trip.mp4",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument("--video", type=Path, help="check that this video was rendered from the sequence")


def _dim(args: argparse.Namespace) -> tuple[int, Any]:
    """The latent size to draw (``--dim``, else the model's z size, else the default) and the model's reference, if named."""
    if args.model is None:
        return args.dim or DEFAULT_DIM, None
    from latentcut.models.generator import model_ref_of
    from latentcut.models.loading import load_generator

    model = load_generator(args.model, device="cpu", trust_pickle=args.trust_pickle)
    z_dim = int(getattr(model, "z_dim", model.latent_dim))
    if args.dim is not None and args.dim != z_dim:
        raise UsageError(f"--dim {args.dim}: {model.spec} takes z of {z_dim} values; leave --dim out (it follows --model)")
    return z_dim, model_ref_of(model)


def run_sample(args: argparse.Namespace) -> None:
    if args.near is not None:
        if args.count is None or args.seed is None or args.seeds is not None:
            raise UsageError("--near draws --count N new latents with --seed S; give both (and no --seeds)")
        _sample_near(args)
        return
    if args.seeds is not None and (args.count is not None or args.seed is not None or args.prior != "gaussian"):
        raise UsageError("--seeds draws one latent per seed as NVIDIA does: leave out --count, --seed and --prior")
    if args.seeds is None and (args.count is None or args.seed is None):
        raise UsageError("give --count N and --seed S (or --seeds 0-99,123 for NVIDIA's latents of those seeds)")
    dim, model = _dim(args)
    made: dict[str, Any]
    if args.seeds is not None:
        latents = seeded_latents(args.seeds, dim)
        made = {"how": "sampled", "prior": "seeds", "count": len(args.seeds), "seeds": args.seeds, "psi": args.psi}
    else:
        if args.prior == "gaussian":
            latents = gaussian_latents(args.count, dim, args.seed)
        elif args.prior == "truncated":
            latents = truncated_latents(args.count, dim, args.seed, args.threshold)
        else:
            latents = uniform_latents(args.count, dim, args.seed)
        made = {"how": "sampled", "prior": args.prior, "count": args.count, "psi": args.psi}
    if args.psi != 1.0:
        latents = psi_truncated(latents, args.psi)
    if args.prior == "truncated":
        made["threshold"] = args.threshold
    output = options.output_checked(args.output)
    options.report_saved(output, latents, None, args.fps or options.DEFAULT_FPS, made, seed=args.seed, model=model)


def _sample_near(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import Origin, near_latents, origin_record, picked_origin, sequence_origin

    curated = load_sequence(args.near)
    latents, parents = near_latents(np.asarray(curated.latents), args.count, np.deg2rad(args.spread), args.seed)
    # A new pool, numbered 0..count-1; each frame names the pool number of the frame it was drawn around.
    origin = sequence_origin(curated) or Origin(curated.meta.id, str(curated.path), np.arange(curated.meta.frames))
    made: dict[str, Any] = {
        "how": "near",
        "near": str(args.near),
        "near_id": curated.meta.id,
        "count": args.count,
        "spread_deg": args.spread,
        "parents": origin_record(picked_origin(origin, parents) or origin),
    }
    output = options.output_checked(args.output, args.near)
    model = options.model_ref(args.model, args) if args.model else None
    options.report_saved(output, latents, curated, args.fps or options.fps_of(curated, None), made, seed=args.seed, model=model)


def run_journey(args: argparse.Namespace) -> None:
    source = load_sequence(args.sequence, fps=args.fps)
    fps = options.fps_of(source, args.fps)
    from latentcut.editor.keys import key_frames
    from latentcut.latent.curation import joined_origin, origin_record, picked_origin, placed_origin, sequence_origin

    args.keys = key_frames(args.keys, source)
    keys = keyframes_from_indices(source.latents, args.keys)
    key_origin = picked_origin(sequence_origin(source), args.keys)
    if args.chain_from is not None:
        previous = load_sequence(args.chain_from, fps=args.fps)
        keys = np.concatenate([np.asarray(previous.latents[-1:]), keys])
        key_origin = joined_origin([picked_origin(sequence_origin(previous), [-1]), key_origin], [1, len(args.keys)])
    if len(keys) < 2:
        raise UsageError("a journey needs at least two keyframes: give --keys with two or more indices")
    frames = args.frames_per_segment or frames_from_seconds(args.seconds, fps)
    spring = SpringParams(stiffness=args.stiffness, damping=args.damping, shell_stiffness=args.shell_stiffness)
    latents, attributes = attributed_latents(
        journey_latents(keys, frames, args.interp, spring=spring), args.attribute, source.meta.space
    )
    made: dict[str, Any] = {
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
    if attributes:
        made["attributes"] = attributes
    elif (origin := placed_origin(key_origin, slice(None, None, frames), len(latents))) is not None:
        made["origin"] = origin_record(origin)  # the keyframes are pool frames, the in-betweens are not
    options.report_saved(options.output_checked(args.output, args.sequence), latents, source, fps, made)


def run_neighbours(args: argparse.Namespace) -> None:
    source = load_sequence(args.sequence, fps=args.fps)
    from latentcut.latent.curation import origin_record, picked_origin, placed_origin, selected_frames, sequence_origin

    args.frames = selected_frames(source, args.frames)
    centres = keyframes_from_indices(source.latents, args.frames)
    near = neighbour_latents(centres, np.deg2rad(args.radius), args.count, args.seed)
    if args.include_centre:
        groups = near.reshape(len(centres), args.count, -1)
        near = np.concatenate([np.concatenate([centre[None], group]) for centre, group in zip(centres, groups, strict=True)])
    near, attributes = attributed_latents(near, args.attribute, source.meta.space)
    made: dict[str, Any] = {
        "how": "neighbours",
        "source": str(args.sequence),
        "source_id": source.meta.id,
        "frames": args.frames,
        "radius_deg": args.radius,
        "count": args.count,
        "include_centre": args.include_centre,
    }
    if attributes:
        made["attributes"] = attributes
    elif args.include_centre:  # each centre is its pool frame, first in its group; its neighbours are new latents
        centre_origin = picked_origin(sequence_origin(source), args.frames)
        if (origin := placed_origin(centre_origin, slice(None, None, args.count + 1), len(near))) is not None:
            made["origin"] = origin_record(origin)
    output = options.output_checked(args.output, args.sequence)
    options.report_saved(output, near, source, options.fps_of(source, args.fps), made, seed=args.seed)


def run_info(args: argparse.Namespace) -> None:
    sequence = load_sequence(args.sequence)
    meta = sequence.meta
    print(f"sequence  {sequence.path}")
    print(f"id        {meta.id or '(bare .npy: none)'}")
    print(f"frames    {meta.frames} x {meta.dim} dims ({meta.space} space), fps {fps_text(meta.fps) if meta.fps else 'unknown'}")
    print(f"sha256    {meta.sha256}")
    print(f"model     {f'{meta.model.spec} ({meta.model.sha256[:12]})' if meta.model else 'unknown'}")
    print(
        f"look      {meta.look.describe()}" + (f" and {len(meta.look_runs) - 1} more along its frames" if meta.look_runs else "")
    )
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
