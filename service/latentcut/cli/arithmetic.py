"""Latent arithmetic commands (White, "Sampling Generative Networks"): attribute, analogy, jdiagram, mine, encode; and ``--attribute``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.cli import options
from latentcut.errors import UsageError
from latentcut.latent.attributes import ATTRIBUTE_SUFFIX, SYNTHETIC_AUGMENTATIONS, AttributeUse, parse_attribute_use
from latentcut.latent.sidecar import ZSequence, load_sequence, save_sequence, sidecar_paths

__all__ = ["add_attribute_option", "attributed_latents", "attributed_sequence", "register"]

_TILE = (128, 128)


def _attribute_use(text: str) -> AttributeUse:
    try:
        return parse_attribute_use(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_attribute_option(parser: argparse.ArgumentParser) -> None:
    """``--attribute NAME.attr.npy=AMOUNT`` (repeatable): add an attribute vector, constant or ramped ``=0:1.5``."""
    parser.add_argument(
        "--attribute",
        type=_attribute_use,
        action="append",
        default=[],
        metavar=f"NAME{ATTRIBUTE_SUFFIX}=AMOUNT",
        help="add an attribute vector (from `latentcut attribute`) times AMOUNT, or ramped over the frames with START:END "
        "(e.g. thick.attr.npy=0:1.5); in z each latent keeps its norm; repeatable",
    )


def attributed_latents(latents: np.ndarray, uses: list[AttributeUse], space: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Return ``latents`` with the ``--attribute`` vectors applied, and what was applied (for the sidecar's ``made``)."""
    from latentcut.latent.attributes import attribute_records, loaded_attributes, with_attributes
    from latentcut.latent.directions import checked_direction_spaces

    if not uses:
        return latents, []
    array = np.asarray(latents)
    checked_direction_spaces([use.path for use in uses], space)
    attributes = loaded_attributes(uses, array.shape[1])
    return with_attributes(array, attributes, space=space), attribute_records(attributes)


def attributed_sequence(sequence: ZSequence, uses: list[AttributeUse], output: Path) -> ZSequence:
    """Write ``sequence`` with the attributes applied to ``output`` (a new sidecar, so renders stay traceable) and load it."""
    if sidecar_paths(output)[0].resolve() == sequence.path.resolve():
        raise UsageError(f"{output}: would overwrite {sequence.path}; give the output another name")
    latents, record = attributed_latents(np.asarray(sequence.latents), uses, sequence.meta.space)
    if sequence.meta.fps is None:
        raise UsageError(f"{sequence.path}: frame rate unknown; pass --fps")
    made = {"how": "attributes", "source": {"id": sequence.meta.id, "sidecar": str(sequence.path)}, "attributes": record}
    save_sequence(output, latents, fps=sequence.meta.fps, look=sequence.meta.look, look_runs=sequence.meta.look_runs, made=made)
    print(f"wrote {sidecar_paths(output)[0]}: {sequence.meta.frames} frames with {len(uses)} attribute(s) applied")
    return load_sequence(output)


def register(sub: Any) -> None:
    """Add ``attribute``, ``analogy``, ``jdiagram``, ``mine`` and ``encode``."""
    p = options.command(
        sub,
        "attribute",
        run_attribute,
        "an attribute vector: the mean difference of pool frames with and without it (bias-corrected, or synthetic)",
        f"latentcut attribute pool.z.npy --with 3,8,12-15 --without 0-2,9 --balance-by labels.json -o thick{ATTRIBUTE_SUFFIX}",
    )
    p.add_argument("pool", type=Path, metavar="POOL.z.npy")
    p.add_argument(
        "--with", dest="with_frames", metavar="FRAMES", help=f"frames that have the attribute, 3,8,12-15; {options.TYPED_FRAMES}"
    )
    p.add_argument("--without", dest="without_frames", metavar="FRAMES", help="frames that lack it (numbered as --with)")
    p.add_argument(
        "--balance-by",
        type=Path,
        metavar="LABELS.json",
        help='bias correction: {"label": "0-9,40", ...} (frames numbered as --with); every combination of labels counts '
        "equally on both sides",
    )
    p.add_argument(
        "--synthetic",
        choices=SYNTHETIC_AUGMENTATIONS,
        help="instead of labels: render pool frames (--with, default all), augment them, and encode both (needs a model "
        "that encodes, e.g. builtin:digits)",
    )
    options.add_model_options(p, default=None, help_text="--synthetic: the model (default: the pool's)")
    options.add_device_option(p)
    p.add_argument("-o", "--output", type=Path, required=True, metavar=f"NAME{ATTRIBUTE_SUFFIX}")

    p = options.command(
        sub,
        "analogy",
        run_analogy,
        "A is to B as C is to D: the latent D = C + (B - A), kept on the prior's shell",
        "latentcut analogy pool.z.npy 3 17 42 -o d.z.npy",
    )
    p.add_argument("pool", type=Path, metavar="POOL.z.npy")
    for name in ("a", "b", "c"):
        p.add_argument(name, metavar=name.upper(), help=f"frame {name.upper()}; {options.TYPED_FRAMES}")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")

    p = options.command(
        sub,
        "jdiagram",
        run_jdiagram,
        "a J-diagram: a labelled grid with A, B, C at three corners, the analogy at the fourth, slerps between",
        "latentcut jdiagram pool.z.npy 3 17 42 --model builtin:digits -o jd.png --size 5",
    )
    p.add_argument("pool", type=Path, metavar="POOL.z.npy")
    for name in ("a", "b", "c"):
        p.add_argument(
            name,
            metavar=name.upper(),
            help=f"the frame at the {'top left' if name == 'a' else 'top right' if name == 'b' else 'bottom left'}; "
            f"{options.TYPED_FRAMES}",
        )
    _add_grid_outputs(p)
    p.add_argument("--size", type=int, default=5, help="cells per side (default 5)")

    p = options.command(
        sub,
        "mine",
        run_mine,
        "a MINE grid: a pool frame at the centre, its nearest neighbours (cosine) around it, slerps between",
        "latentcut mine pool.z.npy --frame 7 --model builtin:digits -o mine.png --grid 5x5",
    )
    p.add_argument("pool", type=Path, metavar="POOL.z.npy")
    p.add_argument("--frame", required=True, help=f"the frame at the centre; {options.TYPED_FRAMES}")
    _add_grid_outputs(p)
    p.add_argument(
        "--grid", type=options.size, default=(5, 5), metavar="CxR", help="columns x rows (default 5x5; odd shows every anchor)"
    )

    p = options.command(
        sub,
        "encode",
        run_encode,
        "keyframes from pictures: latents whose renders match the images (the model's encoder, else optimisation)",
        "latentcut encode seven.png three.png --model builtin:digits -o keys.z.npy",
    )
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    options.add_look_options(p, model_help="the model to find latents for (default builtin:cppn); the sequence records the look")
    options.add_device_option(p)
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.z.npy")
    p.add_argument("--steps", type=int, default=300, help="optimisation: Adam steps per image (default 300)")
    p.add_argument("--starts", type=int, default=8, help="optimisation: random starts per image, the best kept (default 8)")
    p.add_argument(
        "--fit-size", type=options.size, default=(64, 64), metavar="WxH", help="size images are compared at (default 64x64)"
    )
    p.add_argument("--seed", type=int, default=0, help="optimisation: random seed of the starts (default 0)")
    p.add_argument("--fps", type=options.fps, help="frame rate to record (default 25)")
    options.add_no_progress(p)


def _add_grid_outputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", type=Path, required=True, metavar="GRID.png")
    options.add_look_options(p, model_help="model to decode with (default: the pool's, else builtin:cppn)")
    options.add_device_option(p)
    p.add_argument("--tile", type=options.size, default=_TILE, metavar="WxH", help="tile size (default 128x128)")
    p.add_argument("--save", type=Path, metavar="GRID.z.npy", help="also save the grid's latents, row by row")


def _pool_look(args: argparse.Namespace, pool: ZSequence) -> Any:
    """The pool's look with the command's choices, and its generator (``latentcut.models.looks.LoadedLook``)."""
    return options.looks(args).of_sequence(pool)


def run_attribute(args: argparse.Namespace) -> None:
    from latentcut.latent.attributes import balanced_difference, labels_from_json, mean_difference, save_attribute
    from latentcut.latent.curation import frames_showing, selected_frames, sequence_numbering

    pool = load_sequence(args.pool)
    latents = np.asarray(pool.latents)
    with_frames = None if args.with_frames is None else selected_frames(pool, args.with_frames)
    if args.synthetic:
        if args.without_frames is not None or args.balance_by is not None:
            raise UsageError("--synthetic derives the attribute from augmented images; leave out --without and --balance-by")
        vector, how = _synthetic_vector(args, pool, latents, with_frames), f"synthetic, {args.synthetic}"
    else:
        if with_frames is None or args.without_frames is None:
            raise UsageError("give --with FRAMES and --without FRAMES (or --synthetic AUGMENTATION with a model that encodes)")
        without_frames = selected_frames(pool, args.without_frames)
        if args.balance_by is not None:
            numbering = sequence_numbering(pool)
            labels = {name: frames_showing(numbering, frames) for name, frames in labels_from_json(args.balance_by).items()}
            vector, balance = balanced_difference(latents, with_frames, without_frames, labels)
            print(
                f"balanced over {len(balance.combinations)} label combination(s), each side replicated to "
                f"{balance.replicated_to} frames; {len(balance.dropped_frames)} frame(s) left out (their combination lacks a side)"
            )
            how = "bias-corrected"
        else:
            vector, how = mean_difference(latents, with_frames, without_frames), "mean difference"
    save_attribute(args.output, vector)
    print(f"wrote {args.output}: {len(vector)} dims, length {float(np.linalg.norm(vector)):.3f} ({how})")


def _synthetic_vector(
    args: argparse.Namespace, pool: ZSequence, latents: np.ndarray, with_frames: list[int] | None
) -> np.ndarray:
    from latentcut.latent.attributes import synthetic_difference
    from latentcut.models.generator import Encoder, Generator

    generator: Generator = _pool_look(args, pool).generator
    if not isinstance(generator, Encoder):
        raise UsageError(f"--synthetic needs a model that encodes images; {generator.spec} does not (builtin:digits does)")
    chosen = np.asarray(latents[with_frames if with_frames is not None else slice(None)])
    images = generator.render(chosen, generator.native_size)
    return synthetic_difference(generator.encode, images, args.synthetic)


def run_analogy(args: argparse.Namespace) -> None:
    from latentcut.latent.grids import analogy_latent

    pool = load_sequence(args.pool)
    latents = np.asarray(pool.latents)
    a, b, c = _corners(args, pool)
    d = analogy_latent(latents[a], latents[b], latents[c])
    made = {"how": "analogy", "pool": str(args.pool), "pool_id": pool.meta.id, "a": a, "b": b, "c": c}
    options.report_saved(options.output_checked(args.output, args.pool), d[None], pool, options.fps_of(pool, None), made)


def _write_grid(args: argparse.Namespace, pool: ZSequence, grid: Any, how: dict[str, Any]) -> None:
    from latentcut.render.sheet import rendered_tiles, write_sheet

    looked = _pool_look(args, pool)
    tiles = rendered_tiles(looked.generator, grid.latents, args.tile)
    written = write_sheet(args.output, list(tiles), list(grid.labels), grid.columns)
    print(f"wrote {', '.join(str(path) for path in written)}: {grid.columns}x{grid.rows} tiles of {args.tile[0]}x{args.tile[1]}")
    if args.save is not None:
        made = {**how, "pool": str(args.pool), "pool_id": pool.meta.id, "columns": grid.columns, "rows": grid.rows}
        output = options.output_checked(args.save, args.pool)
        options.report_saved(output, grid.latents, pool, options.fps_of(pool, None), made, look=looked.look)


def _corners(args: argparse.Namespace, pool: ZSequence) -> tuple[int, int, int]:
    """The positions of frames A, B and C, typed as the pool's sheet numbers them."""
    from latentcut.latent.curation import selected_frame

    a, b, c = (selected_frame(pool, getattr(args, name), name.upper()) for name in ("a", "b", "c"))
    return a, b, c


def run_jdiagram(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import burned_numbers
    from latentcut.latent.grids import jdiagram_grid

    pool = load_sequence(args.pool)
    a, b, c = _corners(args, pool)
    grid = jdiagram_grid(np.asarray(pool.latents), a, b, c, args.size, burned_numbers(pool))
    _write_grid(args, pool, grid, {"how": "jdiagram", "a": a, "b": b, "c": c})


def run_mine(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import burned_numbers, selected_frame
    from latentcut.latent.grids import mine_grid

    pool = load_sequence(args.pool)
    columns, rows = args.grid
    frame = selected_frame(pool, args.frame, "--frame")
    grid = mine_grid(np.asarray(pool.latents), frame, rows, columns, burned_numbers(pool))
    _write_grid(args, pool, grid, {"how": "mine", "frame": frame})


def run_encode(args: argparse.Namespace) -> None:
    import dataclasses

    from latentcut.latent.look import Look
    from latentcut.models.generator import Encoder
    from latentcut.models.projection import projected_latents, read_images

    looked = options.looks(args).of_look(Look(), where="encode")
    generator = looked.generator
    images = read_images(args.images, args.fit_size)
    steps = 0 if isinstance(generator, Encoder) else args.steps * len(images)
    update, close = options.progress_bar(max(steps, 1), "encode", not args.no_progress and steps > 0)
    try:
        result = projected_latents(
            generator, images, steps=args.steps, starts=args.starts, fit_size=args.fit_size, seed=args.seed, progress=update
        )
    finally:
        close()
    for path, loss in zip(args.images, result.losses, strict=True):
        print(
            f"{path}: {result.method}"
            + (f", final loss {loss:.4f} (pixel L1 + 1 - MS-SSIM)" if result.method != "encoder" else "")
        )
    made: dict[str, Any] = {"how": "encoded", "method": result.method, "images": [str(path) for path in args.images]}
    if result.method == "optimisation":
        made.update(steps=args.steps, starts=args.starts, fit_size=list(args.fit_size), losses=list(result.losses))
    meta = save_sequence(
        options.output_checked(args.output),
        result.latents,
        fps=args.fps or options.DEFAULT_FPS,
        look=dataclasses.replace(looked.look, space=result.space),
        seed=args.seed if result.method == "optimisation" else None,
        made=made,
    )
    print(f"wrote {sidecar_paths(args.output)[0]}: {meta.frames} frames x {meta.dim} dims in {result.space}")
