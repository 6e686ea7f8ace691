"""Exploring and curating a pool: sheet, pick, concat, curate, journeys, retime and hone."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.cli import options
from latentcut.cli.arithmetic import add_attribute_option
from latentcut.errors import UsageError
from latentcut.latent.interpolation import SpringParams
from latentcut.latent.journey import INTERPOLATIONS
from latentcut.latent.sidecar import ZSequence, load_sequence
from latentcut.timebase import frames_from_seconds

__all__ = ["register"]

_DEFAULT_RADII = "2,4,8,16,32"


def register(sub: Any) -> None:
    """Add ``sheet``, ``pick``, ``concat``, ``curate``, ``journeys``, ``retime`` and ``hone``."""
    p = options.command(
        sub,
        "sheet",
        run_sheet,
        "a contact sheet: a labelled PNG grid of a sequence's frames, neighbourhoods or snapshots",
        "latentcut sheet pool.z.npy --model builtin:cppn -o pool.png --frames 0-199 --columns 10",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="SHEET.png", help="paged as SHEET-001.png, ... when large")
    options.add_look_options(p)
    p.add_argument("--frames", help=f"frames to show: 0-199, 3,7x2, timecodes 00:00:01:10 (default: all); {options.TYPED_FRAMES}")
    p.add_argument("--columns", type=int, help="tiles per row (default 10; with --around or --snapshots, one row each)")
    p.add_argument("--tile", type=options.size, default=(128, 128), metavar="WxH", help="tile size (default 128x128)")
    p.add_argument(
        "--around",
        help="neighbourhood sheet: a row per centre frame (numbered as --frames), the centre then variations by growing radius",
    )
    p.add_argument("--radii", default=_DEFAULT_RADII, help=f"--around: angles in degrees, growing (default {_DEFAULT_RADII})")
    p.add_argument("--per-radius", type=int, default=1, help="--around: variations at each radius (default 1)")
    p.add_argument("--seed", type=int, default=0, help="--around: random seed (default 0)")
    p.add_argument("--save", type=Path, metavar="NEAR.z.npy", help="--around: also save the sheet's latents, in sheet order")
    p.add_argument("--snapshots", help="a row per snapshot: 0,9,27 or 0-27 for builtin, or model specs")
    options.add_device_option(p)

    p = options.command(
        sub,
        "pick",
        run_pick,
        "keep, drop and repeat frames of a sequence: the curation an editor makes by deleting and duplicating",
        "latentcut pick pool.z.npy --frames 3,7x2,9-12 -o picked.z.npy",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument(
        "--frames",
        required=True,
        help=f"3,7x2,9-12: frames in order, x2 repeats one; timecodes 00:00:01:10 too; {options.TYPED_FRAMES}",
    )
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")

    p = options.command(sub, "concat", run_concat, "join sequences end to end", "latentcut concat a.z.npy b.z.npy -o both.z.npy")
    p.add_argument("sequences", type=Path, nargs="+", metavar="SEQ.z.npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")

    p = options.command(
        sub,
        "curate",
        run_curate,
        "the latents a curation in Kdenlive keeps: one per kept frame, one per kept block of a held proxy",
        "latentcut curate pool-curation.kdenlive -o curated.z.npy",
    )
    p.add_argument("project", type=Path, metavar="PROJECT.kdenlive")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")
    p.add_argument("--sequence", help="which sequence of a Kdenlive 23.04+ project (name, uuid or tractor id)")

    p = options.command(
        sub,
        "journeys",
        run_journeys,
        "a batch of journeys between pool frames: sidecars, proxies, a Kdenlive project and a contact sheet",
        "latentcut journeys pool.z.npy --count 8 -o trips/ --keys 2 --seconds 3 --interp spring --seed 1",
    )
    p.add_argument("pool", type=Path, metavar="POOL.z.npy")
    p.add_argument("--count", type=int, required=True, help="number of journeys")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="folder for journey-001.z.npy, .mp4, ...")
    p.add_argument("--keys", type=int, default=2, choices=(2, 3), help="keyframes per journey (default 2)")
    p.add_argument(
        "--from",
        dest="among",
        help="frames to travel between: 3,17,40 (timecodes too), or PROJECT.kdenlive (its guides) "
        f"or PROJECT.kdenlive#CLIP (that clip's markers); {options.TYPED_FRAMES}",
    )
    timing = p.add_mutually_exclusive_group()
    timing.add_argument("--seconds", type=float, help="seconds per segment (default 3)")
    timing.add_argument("--frames-per-segment", type=int, help="frames per segment")
    p.add_argument("--interp", choices=INTERPOLATIONS, default="spring", help="spring (default), slerp or lerp")
    p.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same journeys")
    order = p.add_mutually_exclusive_group()
    order.add_argument("--chain", action="store_true", help="each journey starts where the previous one ends")
    order.add_argument("--keep-source", action="store_true", help="every journey starts at the same frame")
    p.add_argument("--timeline", action="store_true", help="also lay the journeys end to end on V1 of the project")
    p.add_argument("--size", type=options.size, help="proxy size (default 256x256)")
    add_attribute_option(p)
    options.add_look_options(
        p, model_help="model for the proxies and the sheet (default: the pool's, else builtin:cppn); the journeys record the look"
    )
    options.add_device_option(p)
    options.add_no_progress(p)

    p = options.command(
        sub,
        "retime",
        run_retime,
        "re-time a journey to constant perceptual speed (same frame count, start and end)",
        "latentcut retime trip.z.npy --model builtin:cppn -o trip-even.z.npy",
    )
    p.add_argument("sequence", type=Path, metavar="JOURNEY.z.npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")
    options.add_look_options(p, model_help="model to measure with (default: the journey's, else builtin:cppn)")
    p.add_argument("--measure-size", type=int, default=64, help="square size of the frames measured (default 64)")
    p.add_argument(
        "--check-size",
        type=int,
        default=256,
        help="square size of the frames the independent check (mean absolute RGB change) renders: the output's (default 256)",
    )
    p.add_argument(
        "--keep-ease",
        action=argparse.BooleanOptionalAction,
        help="keep the journey's departure and arrival speed, even out the rest (default: on for spring journeys)",
    )
    options.add_device_option(p)

    p = options.command(
        sub,
        "hone",
        run_hone,
        "bend a journey through a waypoint (toward or away from a pool frame), or add smooth noise around it",
        "latentcut hone trip.z.npy -o trip2.z.npy --at 40 --toward 17 --pool pool.z.npy --amount 0.5 --width 20",
    )
    p.add_argument("sequence", type=Path, metavar="JOURNEY.z.npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")
    p.add_argument(
        "--at", help="waypoint: the frame to move, as the sequence's sheet numbers it (a journey's: its place) or a timecode"
    )
    way = p.add_mutually_exclusive_group()
    way.add_argument("--toward", metavar="FRAME", help="waypoint: move toward this frame of --pool")
    way.add_argument("--away", metavar="FRAME", help="waypoint: move away from this frame of --pool")
    p.add_argument(
        "--pool",
        type=Path,
        metavar="POOL.z.npy",
        help=f"waypoint: the pool or curated set --toward/--away name a frame of; {options.TYPED_FRAMES}",
    )
    p.add_argument("--amount", type=float, default=0.5, help="waypoint: fraction of the way along the great circle (default 0.5)")
    p.add_argument("--width", type=int, default=25, help="waypoint: frames either side that bend with it (default 25)")
    p.add_argument("--noise", type=float, metavar="DEG", help="noise: angular radius around the journey, in degrees")
    p.add_argument("--smooth", type=float, default=12.0, help="noise: time correlation in frames (default 12)")
    p.add_argument("--seed", type=int, default=0, help="noise: random seed (default 0)")


def _looked(args: argparse.Namespace, sequence: ZSequence, spec: str | None = None) -> Any:
    """The sequence's look with the command's choices, and its generator (``latentcut.models.looks.LoadedLook``).

    ``spec``: a ``--snapshots`` entry, which the user typed.
    """
    return options.looks(args).of_sequence(sequence, model=spec)


def _frames(text: str | None, sequence: ZSequence) -> list[int]:
    from latentcut.latent.curation import selected_frames

    return list(range(sequence.meta.frames)) if text is None else selected_frames(sequence, text)


def run_sheet(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import (
        burned_numbers,
        frame_labels,
        origin_record,
        picked_origin,
        placed_origin,
        sequence_origin,
    )
    from latentcut.render.sheet import rendered_tiles, write_sheet

    sequence = load_sequence(args.sequence)
    numbers = burned_numbers(sequence)  # every label shows the number typed to name the frame
    frames = _frames(args.frames, sequence)
    if args.around and args.snapshots:
        raise UsageError("--around and --snapshots make different sheets; choose one")
    tiles: list[np.ndarray] = []
    if args.around:
        from latentcut.latent.sampling import neighbour_latents

        centres = _frames(args.around, sequence)
        radii = [float(r) for r in args.radii.split(",")]
        looked = _looked(args, sequence)
        generator = looked.generator
        rows, labels = [], []
        for row, centre in enumerate(centres):
            latent = np.asarray(sequence.latents[centre : centre + 1])
            rows.append(latent)
            labels.append(f"{numbers[centre]}")
            for step, radius in enumerate(radii):
                seed = args.seed + 1000 * row + step
                rows.append(neighbour_latents(latent, math.radians(radius), args.per_radius, seed))
                labels += [f"{numbers[centre]} +{radius:g}°"] * args.per_radius
        latents = np.concatenate(rows)
        tiles = list(rendered_tiles(generator, latents, args.tile))
        columns = 1 + len(radii) * args.per_radius
        if args.save is not None:
            made: dict[str, Any] = {
                "how": "neighbourhood sheet",
                "source_id": sequence.meta.id,
                "centres": centres,
                "radii_deg": radii,
            }
            # Each row's centre is its pool frame, the variations are new latents.
            origin = placed_origin(picked_origin(sequence_origin(sequence), centres), slice(None, None, columns), len(latents))
            if origin is not None:
                made["origin"] = origin_record(origin)
            options.report_saved(
                options.output_checked(args.save, args.sequence),
                latents,
                sequence,
                options.fps_of(sequence, None),
                made,
                seed=args.seed,
                look=looked.look,  # the look the sheet showed
            )
    elif args.snapshots:
        from latentcut.models.snapshots import snapshot_specs
        from latentcut.render.labels import short_model_label

        base = args.model or (sequence.meta.model.spec if sequence.meta.model else "builtin:cppn")
        labels = []
        for spec in snapshot_specs(base.split("@")[0] if base.startswith("builtin:") else base, args.snapshots):
            generator = _looked(args, sequence, spec).generator
            tiles += list(rendered_tiles(generator, np.asarray(sequence.latents[frames]), args.tile))
            labels += [f"f{numbers[frame]} · {short_model_label(spec)}" for frame in frames]
        columns = len(frames)
    else:
        generator = _looked(args, sequence).generator
        tiles = list(rendered_tiles(generator, np.asarray(sequence.latents[frames]), args.tile))
        labels = frame_labels(sequence, frames)
        columns = args.columns or 10
    pages = write_sheet(args.output, tiles, labels, args.columns or columns)
    print(f"wrote {', '.join(str(p) for p in pages)}: {len(tiles)} tiles {args.tile[0]}x{args.tile[1]}")


def run_pick(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import origin_record, picked_origin, sequence_origin

    source = load_sequence(args.sequence)
    frames = _frames(args.frames, source)
    made: dict[str, Any] = {"how": "picked", "source": str(args.sequence), "source_id": source.meta.id, "frames": frames}
    origin = picked_origin(sequence_origin(source), frames)
    if origin is not None:
        made["origin"] = origin_record(origin)
    latents = np.asarray(source.latents[frames])
    options.report_saved(options.output_checked(args.output, args.sequence), latents, source, options.fps_of(source, None), made)


def run_concat(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import joined_origin, origin_record, sequence_origin

    sequences = [load_sequence(path) for path in args.sequences]
    first = sequences[0]
    for sequence in sequences[1:]:
        if sequence.meta.dim != first.meta.dim:
            raise UsageError(f"{sequence.path}: dim {sequence.meta.dim} differs from {first.path}'s {first.meta.dim}")
        if sequence.meta.fps != first.meta.fps:
            raise UsageError(f"{sequence.path}: frame rate differs from {first.path}'s; join sequences of one rate")
    made: dict[str, Any] = {
        "how": "concatenated",
        "sources": [{"id": s.meta.id, "sidecar": str(s.path), "frames": s.meta.frames} for s in sequences],
    }
    origin = joined_origin([sequence_origin(s) for s in sequences], [s.meta.frames for s in sequences])
    if origin is not None:
        made["origin"] = origin_record(origin)
    latents = np.concatenate([np.asarray(s.latents) for s in sequences])
    output = options.output_checked(args.output, *args.sequences)
    options.report_saved(output, latents, first, options.fps_of(first, None), made)


def run_curate(args: argparse.Namespace) -> None:
    from latentcut.conform.holds import curated_from_project

    result = curated_from_project(args.project, args.output, sequence=args.sequence)
    held = f", {result.held_blocks} from held blocks" if result.held_blocks else ""
    print(
        f"wrote {args.output}: {result.frames} latents from {result.timeline_frames} timeline frames{held} (id {result.meta.id})"
    )


def _among(text: str | None, pool: ZSequence) -> tuple[int, ...] | None:
    from latentcut.editor.keys import key_frames

    return None if text is None else tuple(key_frames(text, pool))


def run_journeys(args: argparse.Namespace) -> None:
    from latentcut.latent.attributes import loaded_attributes
    from latentcut.latent.directions import checked_direction_spaces
    from latentcut.render.sequence import PROXY_SIZE
    from latentcut.workflows.journey_batch import BatchPlan, write_journey_batch

    pool = load_sequence(args.pool)
    checked_direction_spaces([use.path for use in args.attribute], pool.meta.space)
    fps = options.fps_of(pool, None)
    frames = args.frames_per_segment or frames_from_seconds(args.seconds or 3.0, fps)
    plan = BatchPlan(
        count=args.count,
        keys=args.keys,
        frames_per_segment=frames,
        interpolation=args.interp,
        seed=args.seed,
        among=_among(args.among, pool),
        chain=args.chain,
        keep_source=args.keep_source,
        spring=SpringParams(),
    )
    looked = _looked(args, pool)
    total = args.count * ((args.keys - 1) * frames + 1)
    update, close = options.progress_bar(total, args.output.name, not args.no_progress)
    try:
        batch = write_journey_batch(
            pool,
            args.output,
            plan,
            looked.generator,
            fps=fps,
            look=looked.look,
            size=args.size or (PROXY_SIZE, PROXY_SIZE),
            timeline=args.timeline,
            progress=update,
            attributes=loaded_attributes(args.attribute, pool.meta.dim),
        )
    finally:
        close()
    for sidecar, keys in zip(batch.sidecars, batch.keys, strict=True):
        print(f"{sidecar.name}: {' -> '.join(str(k) for k in keys)}")
    print(
        f"wrote {len(batch.sidecars)} journeys to {args.output}, {batch.project.name}, {', '.join(p.name for p in batch.sheets)}"
    )


def run_retime(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import kept_origin, origin_record, sequence_origin
    from latentcut.latent.retime import coefficient_of_variation, mean_rgb_change, retimed

    source = load_sequence(args.sequence)
    generator = _looked(args, source).generator
    interpolation = source.meta.made.get("interpolation")
    keep_ease = args.keep_ease if args.keep_ease is not None else interpolation == "spring"
    size = (args.measure_size, args.measure_size)
    result = retimed(np.asarray(source.latents), lambda z: _rendered(generator, z, size), keep_ease=keep_ease)
    check = (args.check_size, args.check_size)
    check_before = coefficient_of_variation(mean_rgb_change(_rendered(generator, np.asarray(source.latents), check))[result.even])
    check_after = coefficient_of_variation(mean_rgb_change(_rendered(generator, result.latents, check))[result.even])
    made: dict[str, Any] = {
        "how": "retimed",
        "source": str(args.sequence),
        "source_id": source.meta.id,
        "interpolation": interpolation,
        "keep_ease": keep_ease,
        "distance": "mean sRGB distance per pixel",
        "measure_size": args.measure_size,
        "model": generator.spec,
        "cv_before": round(result.cv_before, 5),
        "cv_after": round(result.cv_after, 5),
        "check": {
            "measure": "mean absolute RGB change",
            "size": args.check_size,
            "cv_before": round(check_before, 5),
            "cv_after": round(check_after, 5),
        },
    }
    origin = kept_origin(sequence_origin(source), np.asarray(source.latents), result.latents)
    if origin is not None:  # the first and last frames stay what they were
        made["origin"] = origin_record(origin)
    steps = len(result.even)
    even = np.nonzero(result.even)[0]
    kept = f" (departure 0-{even[0]} and arrival {even[-1] + 1}-{steps} kept)" if keep_ease and len(even) < steps else ""
    print(
        f"change per frame{kept}, coefficient of variation before -> after: "
        f"own measure (mean sRGB distance at {args.measure_size} px) {result.cv_before:.3f} -> {result.cv_after:.3f}; "
        f"independent check (mean absolute RGB change at {args.check_size} px) {check_before:.3f} -> {check_after:.3f} "
        f"({check_before / max(check_after, 1e-12):.1f}x more even)"
    )
    options.report_saved(
        options.output_checked(args.output, args.sequence), result.latents, source, options.fps_of(source, None), made
    )


def _rendered(generator: Any, latents: np.ndarray, size: tuple[int, int], batch: int = 32) -> np.ndarray:
    return np.concatenate([generator.render(latents[i : i + batch], size) for i in range(0, len(latents), batch)])


def run_hone(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import burned_numbers, kept_origin, origin_record, selected_frame, sequence_origin
    from latentcut.latent.honing import noisy_journey, waypoint_journey

    source = load_sequence(args.sequence)
    latents = np.asarray(source.latents)
    made: dict[str, Any] = {"how": "honed", "source": str(args.sequence), "source_id": source.meta.id}
    if args.at is None and args.noise is None:
        raise UsageError("say what to change: --at FRAME with --toward/--away, and/or --noise DEG")
    if args.at is not None:
        target = args.toward if args.toward is not None else args.away
        if target is None or args.pool is None:
            raise UsageError("--at needs --toward FRAME or --away FRAME, and --pool POOL.z.npy they count in")
        pool = load_sequence(args.pool)
        target = selected_frame(pool, target, "--toward" if args.toward is not None else "--away")
        at = selected_frame(source, args.at, "--at")
        amount = args.amount if args.toward is not None else -args.amount
        latents = waypoint_journey(latents, at, np.asarray(pool.latents[target]), amount, args.width)
        made["waypoint"] = {
            "at": at,
            "pool": str(args.pool),
            "pool_id": pool.meta.id,
            "frame": target,
            "pool_number": int(burned_numbers(pool)[target]),
            "amount": amount,
            "width": args.width,
        }
    if args.noise is not None:
        latents = noisy_journey(latents, math.radians(args.noise), args.smooth, args.seed)
        made["noise"] = {"radius_deg": args.noise, "smooth_frames": args.smooth, "seed": args.seed}
    origin = kept_origin(sequence_origin(source), np.asarray(source.latents), latents)
    if origin is not None:  # frames the bend or the noise moved are no longer pool frames
        made["origin"] = origin_record(origin)
    options.report_saved(options.output_checked(args.output, args.sequence), latents, source, options.fps_of(source, None), made)
