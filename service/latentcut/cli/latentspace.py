"""Models and their latent spaces: ``model`` (what a model says about itself), ``map`` (z -> W through a StyleGAN mapping network), ``directions`` (named W-space directions)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from latentcut.cli import options
from latentcut.errors import UsageError

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``model``, ``map`` and ``directions``."""
    p = options.command(
        sub,
        "model",
        run_model,
        "what a model says about itself: kind, z_dim, w_dim, c_dim, num_ws, resolution, mapping layers, snapshot, sha256",
        "latentcut model network-snapshot-004000.pkl --json",
    )
    p.add_argument(
        "spec", metavar="MODEL", help="builtin:cppn[@N], builtin:digits, a .pkl/.pt2/TorchScript file, pkg.mod:func ..."
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    options.add_trust_pickle(p)

    p = options.command(
        sub,
        "map",
        run_map,
        "map a z-sequence through a StyleGAN model's mapping network into W latents (space w)",
        "latentcut map samples.z.npy --model network-snapshot-004000.pkl -o samples.w.npy --truncation-psi 0.7",
    )
    p.add_argument("sequence", type=Path, metavar="SEQ.z.npy")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="OUT.w.npy", help="the W latents (and OUT.w.json)")
    options.add_model_options(p, default=None, help_text="the StyleGAN snapshot (.pkl); default: the sidecar's model")
    p.add_argument(
        "--truncation-psi",
        type=float,
        metavar="P",
        help="move each w toward w_avg: 1 = none, 0.7 is usual (default: the sidecar's look, else 1); the W latents carry it "
        "(OUT.w.json says so), so a render never applies it twice",
    )
    p.add_argument("--class", dest="class_index", type=int, metavar="N", help="class label of a conditional model")
    p.add_argument("--fps", type=options.fps, help="frame rate of a bare .npy")
    options.add_device_option(p)

    p = options.command(
        sub,
        "directions",
        run_directions,
        "named W-space directions of a StyleGAN model, found without labels (SeFa from its style weights, GANSpace from PCA)",
        "latentcut directions network-snapshot-004000.pkl --method sefa --count 16 -o sefa/",
    )
    p.add_argument("model", metavar="G.pkl", help="the StyleGAN snapshot")
    p.add_argument("--method", choices=("sefa", "ganspace"), default="sefa", help="sefa (closed form, default) or ganspace (PCA)")
    p.add_argument("--count", type=int, default=16, metavar="K", help="how many directions, strongest first (default 16)")
    p.add_argument(
        "-o", "--output", type=Path, required=True, metavar="DIR", help="folder for DIR/METHOD-NN.attr.npy and directions.json"
    )
    p.add_argument("--samples", type=int, default=10000, metavar="N", help="ganspace: mapped samples to analyse (default 10000)")
    p.add_argument("--seed", type=int, default=0, help="ganspace: seed of the sampled z (default 0)")
    p.add_argument("--class", dest="class_index", type=int, metavar="N", help="ganspace: class label of a conditional model")
    options.add_device_option(p)


def run_model(args: argparse.Namespace) -> None:
    from latentcut.models.description import model_description
    from latentcut.models.loading import load_generator

    description = model_description(load_generator(args.spec, device="cpu", trust_pickle=args.trust_pickle))
    print(json.dumps(description.to_json()) if args.json else "\n".join(description.lines()))


def run_map(args: argparse.Namespace) -> None:
    import dataclasses

    from latentcut.latent.curation import origin_record, sequence_origin
    from latentcut.latent.look import LookOptions
    from latentcut.latent.sidecar import load_sequence, save_sequence, sidecar_paths
    from latentcut.models.latent_space import mapped_sequence
    from latentcut.models.looks import Looks
    from latentcut.timebase import fps_text

    sequence = load_sequence(args.sequence, fps=args.fps)
    chosen = LookOptions(model=args.model, class_index=args.class_index)
    looks = Looks(chosen, device=args.device, trust_pickle=args.trust_pickle, default_model=None)
    loaded = looks.of_sequence(sequence)
    output = options.output_checked(args.output, args.sequence)
    recorded = sequence.meta.look.truncation_psi  # psi 0 is a psi (the average w), not "none chosen"
    psi = args.truncation_psi if args.truncation_psi is not None else (1.0 if recorded is None else recorded)
    class_index = args.class_index if args.class_index is not None else sequence.meta.look.class_index
    w = mapped_sequence(loaded.generator, sequence, truncation_psi=psi, class_index=class_index)
    made = {
        "how": "mapped",
        "from": {"id": sequence.meta.id, "sidecar": str(sequence.path)},
        "truncation_psi": psi,
        "class": class_index,
    }
    origin = sequence_origin(sequence)
    if origin is not None:  # a mapped frame is the same pool frame in W
        made["origin"] = origin_record(origin)
    fps = options.fps_of(sequence, args.fps)
    # The W latents carry the psi: a render shows psi ``psi`` and truncates no further (latentcut.latent.look).
    look = dataclasses.replace(loaded.look, space="w", truncation_psi=psi, psi_in_latents=psi, class_index=class_index)
    meta = save_sequence(output, w, fps=fps, look=look, seed=sequence.meta.seed, made=made)
    print(
        f"wrote {sidecar_paths(output)[0]}: {meta.frames} frames x {meta.dim} dims in W space at {fps_text(fps)} fps "
        f"(psi {psi:g}, carried by the latents; id {meta.id})"
    )


def run_directions(args: argparse.Namespace) -> None:
    from latentcut.latent.directions import save_directions
    from latentcut.models.directions import ganspace_directions, sefa_directions
    from latentcut.models.loading import load_generator
    from latentcut.models.stylegan.generator import StyleGanGenerator

    generator = load_generator(args.model, device=args.device)
    if not isinstance(generator, StyleGanGenerator):
        raise UsageError(f"{args.model}: directions need a StyleGAN snapshot (its W space); this is {generator.spec}")
    if args.method == "sefa":
        found = sefa_directions(generator, args.count)
    else:
        found = ganspace_directions(
            generator.configured(class_index=args.class_index), args.count, samples=args.samples, seed=args.seed
        )
    model = {"spec": generator.spec, "sha256": generator.weights_sha256}
    files = save_directions(args.output, found.method, found.vectors, found.strengths.tolist(), model=model)
    strengths = ", ".join(f"{s:.3g}" for s in found.strengths[:4].tolist())
    print(
        f"wrote {len(files)} {found.method} directions of {generator.spec} to {args.output}/ "
        f"({files[0].name} ... {files[-1].name}; strengths {strengths}{', ...' if len(files) > 4 else ''}); "
        f"use one as --attribute {files[0]}=AMOUNT on W latents"
    )
