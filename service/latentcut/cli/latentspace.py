"""The ``map`` and ``directions`` commands (W space of a StyleGAN network) and the StyleGAN render options shared by rendering commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latentcut.cli import options
from latentcut.errors import UsageError

if TYPE_CHECKING:
    from latentcut.models.latent_space import RenderSettings

__all__ = ["add_stylegan_options", "register", "render_settings"]

# Kept here (not imported from the torch-using model modules) so that building the parser never imports torch.
PRECISIONS = ("fp32", "fp16", "bf16")
NOISE_MODES = ("const", "random", "none")


def add_stylegan_options(parser: argparse.ArgumentParser) -> None:
    """``--truncation-psi``, ``--class``, ``--precision``, ``--noise-mode``, ``--noise-seed`` (StyleGAN models only)."""
    group = parser.add_argument_group("StyleGAN models")
    group.add_argument(
        "--truncation-psi",
        type=float,
        metavar="P",
        help="move every w toward the model's average w_avg: 1 = none (default), 0.7 is usual; z, w and w+ sequences alike",
    )
    group.add_argument("--class", dest="class_index", type=int, metavar="N", help="class label of a conditional model")
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="what the high-resolution layers compute in on CUDA (default fp16, as NVIDIA does); CPU always uses fp32",
    )
    group.add_argument(
        "--noise-mode",
        choices=NOISE_MODES,
        help="StyleGAN2 per-pixel noise: const (default, the model's own), random (drawn from --noise-seed), none",
    )
    group.add_argument(
        "--noise-seed", type=int, metavar="S", help="seed of --noise-mode random: one draw for every frame (default 0)"
    )
    group.add_argument(
        "--translate",
        type=_pair,
        metavar="DX,DY",
        help="StyleGAN3: shift the picture by DX,DY image widths (its input transform)",
    )
    group.add_argument(
        "--rotate", dest="rotate_deg", type=float, metavar="DEG", help="StyleGAN3: rotate the picture by DEG degrees"
    )


def _pair(text: str) -> tuple[float, float]:
    try:
        x, y = (float(v) for v in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not two numbers like 0.1,-0.05") from exc
    return x, y


def render_settings(args: argparse.Namespace) -> RenderSettings:
    """The StyleGAN render settings the options of ``add_stylegan_options`` ask for."""
    from latentcut.models.latent_space import RenderSettings

    return RenderSettings(
        truncation_psi=getattr(args, "truncation_psi", None),
        class_index=getattr(args, "class_index", None),
        precision=getattr(args, "precision", None),
        noise_mode=getattr(args, "noise_mode", None),
        noise_seed=getattr(args, "noise_seed", None),
        translate=getattr(args, "translate", None),
        rotate_deg=getattr(args, "rotate_deg", None),
    )


def register(sub: Any) -> None:
    """Add ``map`` and ``directions``."""
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
        default=1.0,
        metavar="P",
        help="move each w toward w_avg: 1 = none (default), 0.7 is usual; recorded in OUT.w.json",
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


def run_map(args: argparse.Namespace) -> None:
    from latentcut.latent.curation import origin_record, sequence_origin
    from latentcut.latent.sidecar import ModelRef, load_sequence, save_sequence, sidecar_paths
    from latentcut.models.latent_space import mapped_sequence
    from latentcut.models.loading import load_generator, model_spec_for
    from latentcut.timebase import fps_text

    sequence = load_sequence(args.sequence, fps=args.fps)
    recorded = sequence.meta.model.spec if sequence.meta.model else None
    spec, typed = model_spec_for(args.model, recorded, sequence.path, default="")
    if not spec:
        raise UsageError(f"{sequence.path}: records no model; give the StyleGAN snapshot with --model G.pkl")
    generator = load_generator(spec, device=args.device, trust_pickle=args.trust_pickle, code_allowed=typed)
    output = options.output_checked(args.output, args.sequence)
    w = mapped_sequence(generator, sequence, truncation_psi=args.truncation_psi, class_index=args.class_index)
    made = {
        "how": "mapped",
        "from": {"id": sequence.meta.id, "sidecar": str(sequence.path)},
        "truncation_psi": args.truncation_psi,
        "class": args.class_index,
    }
    origin = sequence_origin(sequence)
    if origin is not None:  # a mapped frame is the same pool frame in W
        made["origin"] = origin_record(origin)
    fps = options.fps_of(sequence, args.fps)
    model = ModelRef(generator.spec, getattr(generator, "weights_sha256", generator.sha256))
    meta = save_sequence(output, w, fps=fps, space="w", model=model, seed=sequence.meta.seed, made=made)
    print(
        f"wrote {sidecar_paths(output)[0]}: {meta.frames} frames x {meta.dim} dims in W space at {fps_text(fps)} fps (id {meta.id})"
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
