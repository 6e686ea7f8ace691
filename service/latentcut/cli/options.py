"""Argument types and option groups shared by the command modules, so each option is declared once."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

from latentcut.errors import UsageError
from latentcut.latent.look import NOISE_MODES, Look, LookOptions, ModelRef
from latentcut.latent.sidecar import ZSequence, save_sequence, sidecar_paths
from latentcut.timebase import fps_from_text, fps_text

if TYPE_CHECKING:
    from latentcut.daemon.transport import Security

__all__ = [
    "DEFAULT_DAEMON",
    "DEFAULT_FPS",
    "TYPED_FRAMES",
    "Handler",
    "add_client_security",
    "add_device_option",
    "add_look_options",
    "add_model_options",
    "add_no_progress",
    "add_trust_pickle",
    "command",
    "device",
    "devices",
    "fps",
    "fps_of",
    "int_list",
    "look_options",
    "looks",
    "model_ref",
    "output_checked",
    "progress_bar",
    "report_saved",
    "security",
    "size",
    "stop_on_signals",
]

PRECISIONS = ("fp32", "fp16", "bf16")  # as latentcut.models.stylegan.layers has them: kept here so the parser never imports torch
DEFAULT_FPS = Fraction(25)
DEFAULT_DAEMON = "tcp://127.0.0.1:5557"
# How every command reads the frame numbers it is given (latentcut.latent.curation.sequence_numbering).
TYPED_FRAMES = "numbers as the sequence's sheet shows them: pool numbers on a pool or curated set, positions on a journey"

Handler = Callable[[argparse.Namespace], None]


def command(sub: Any, name: str, handler: Handler, help_text: str, example: str) -> argparse.ArgumentParser:
    """Add sub-command ``name`` running ``handler(args)``, with its one-line help and an example in ``--help``."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name,
        help=help_text,
        description=help_text,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(func=handler)
    return parser


def int_list(text: str) -> list[int]:
    """Parse ``3,7,9`` and ranges ``0-27`` into a list of ints."""
    from latentcut.latent.frame_lists import frame_numbers

    try:
        return frame_numbers(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (also ``CxR`` for grids) into two positive ints."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512x512") from exc
    if width < 1 or height < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive")
    return width, height


def fps(text: str) -> Fraction:
    """Parse a frame rate: ``25``, ``29.97`` or ``30000/1001``."""
    try:
        return fps_from_text(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def add_model_options(parser: argparse.ArgumentParser, *, default: str | None = "builtin:cppn", help_text: str = "") -> None:
    """``--model`` and ``--trust-pickle``."""
    parser.add_argument(
        "--model",
        default=default,
        help=help_text or "builtin:cppn[@N], a TorchScript/.pt2/.pkl file, pkg.mod:func, or w.pth=pkg.mod:Cls",
    )
    add_trust_pickle(parser)


def add_trust_pickle(parser: argparse.ArgumentParser) -> None:
    """``--trust-pickle``: a pickle that is not a StyleGAN snapshot runs code, so it loads only when asked."""
    parser.add_argument(
        "--trust-pickle", action="store_true", help="allow loading a pickled model that is not a StyleGAN snapshot (runs code)"
    )


def add_look_options(parser: argparse.ArgumentParser, *, model: bool = True, local: bool = True, model_help: str = "") -> None:
    """The look a command shows or renders pictures with: ``--model``, ``--trust-pickle`` and the StyleGAN options.

    Each option left out takes the value the sequence's sidecar records (``latentcut.latent.look``), else
    the model's default; ``model=False`` for a command that names its models otherwise (the daemon),
    ``local=False`` for one whose pictures another process renders (no ``--trust-pickle``, ``--precision``).
    """
    if model:
        parser.add_argument(
            "--model",
            help=model_help
            or "builtin:cppn[@N], a TorchScript/.pt2/.pkl file, pkg.mod:func, or w.pth=pkg.mod:Cls (default: the model the "
            "sidecar records, else builtin:cppn)",
        )
    if model and local:
        add_trust_pickle(parser)
    group = parser.add_argument_group("the look of StyleGAN models (default: what the sidecar records, else the model's own)")
    group.add_argument(
        "--truncation-psi",
        type=float,
        metavar="P",
        help="the psi the pictures show: every w moved toward the model's average w_avg, 1 = none, 0.7 is usual "
        "(W latents that carry a psi already are not truncated twice)",
    )
    group.add_argument("--class", dest="class_index", type=int, metavar="N", help="class label of a conditional model")
    if local:
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


def look_options(args: argparse.Namespace) -> LookOptions:
    """What the options of ``add_look_options`` chose (None for each left out)."""
    return LookOptions(
        model=getattr(args, "model", None),
        truncation_psi=getattr(args, "truncation_psi", None),
        class_index=getattr(args, "class_index", None),
        noise_mode=getattr(args, "noise_mode", None),
        noise_seed=getattr(args, "noise_seed", None),
        translate=getattr(args, "translate", None),
        rotate_deg=getattr(args, "rotate_deg", None),
        precision=getattr(args, "precision", None),
    )


def looks(args: argparse.Namespace, *, default_model: str | None = "builtin:cppn", device: str | None = None) -> Any:
    """The ``latentcut.models.looks.Looks`` of the command's look options (imports torch)."""
    from latentcut.models.looks import Looks

    return Looks(
        look_options(args),
        device=device if device is not None else getattr(args, "device", None),
        trust_pickle=getattr(args, "trust_pickle", False),
        default_model=default_model,
    )


def device(text: str) -> str:
    """Parse one torch device name (``cpu``, ``cuda:1``); a list is refused: only the daemon runs one renderer per device."""
    if "," in text:
        raise argparse.ArgumentTypeError(
            f"{text!r}: one device here; a list (cuda:0,cuda:1) is for latentcut daemon, which runs one renderer per device "
            "(or run one latentcut worker per GPU)"
        )
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty device name; give cpu, cuda or cuda:N")
    return text.strip()


def devices(text: str) -> tuple[str, ...]:
    """Parse ``cuda:0,cuda:1`` (or one device) into device names, in order; a name may repeat (two renderers on it)."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r}: an empty device name in the list; give e.g. cuda:0,cuda:1")
    return names


def add_device_option(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """``--device``: one device; with ``several``, a comma-separated list (the daemon: one renderer per device)."""
    if several:
        parser.add_argument(
            "--device",
            type=devices,
            help="torch device, or several: cuda:0,cuda:1 runs one renderer per device (default: CUDA when present)",
        )
    else:
        parser.add_argument("--device", type=device, help="torch device, e.g. cpu or cuda:0 (default: CUDA when present)")


def add_no_progress(parser: argparse.ArgumentParser) -> None:
    """``--no-progress``."""
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def add_client_security(parser: argparse.ArgumentParser) -> None:
    """The CURVE options of a client (watch, worker, status) of a remote daemon."""
    parser.add_argument(
        "--curve-server-key", type=Path, metavar="daemon.key", help="the daemon's public CURVE key (remote daemons)"
    )
    parser.add_argument("--curve-client-key", type=Path, metavar="client.key_secret", help="this client's secret CURVE key")


def security(args: argparse.Namespace) -> Security:
    """The transport security the CURVE options ask for."""
    from latentcut.daemon.transport import Security

    return Security(
        server_secret=getattr(args, "curve_secret", None),
        allowed_clients=getattr(args, "curve_clients", None),
        server_public=getattr(args, "curve_server_key", None),
        client_secret=getattr(args, "curve_client_key", None),
        insecure=getattr(args, "insecure", False),
    )


def progress_bar(total: int, label: str, enabled: bool) -> tuple[Callable[[int], None], Callable[[], None]]:
    """Return ``(update, close)`` for a bar on stderr that appears with the first finished frames, on a terminal only."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: a bar must not outlive its command
    bar: list[tqdm] = []

    def update(frames: int) -> None:
        if not bar:
            # disable=None: tqdm draws only when stderr is a terminal, so logs stay clean.
            bar.append(tqdm(total=total, desc=label, unit="frame", disable=None if enabled else True, file=sys.stderr))
        bar[0].update(frames)

    def close() -> None:
        if bar:
            bar[0].close()

    return update, close


def fps_of(sequence: ZSequence, override: Fraction | None) -> Fraction:
    """The frame rate given on the command line, else the sidecar's, else 25 with a warning."""
    if override is not None:
        return override
    if sequence.meta.fps is not None:
        return sequence.meta.fps
    warnings.warn(f"{sequence.path}: frame rate unknown; assuming {fps_text(DEFAULT_FPS)} (pass --fps to choose)", stacklevel=2)
    return DEFAULT_FPS


def output_checked(output: Path, *inputs: Path) -> Path:
    """``output``, refused when it would overwrite one of the ``inputs``."""
    for source in inputs:
        if sidecar_paths(output)[0].resolve() == sidecar_paths(source)[0].resolve():
            raise UsageError(f"{output}: output would overwrite the input; choose another name")
    return output


def model_ref(spec: str | None, args: argparse.Namespace) -> ModelRef | None:
    """The identity (spec, sha256 and file) of the model ``--model`` names, to record in a sidecar."""
    if spec is None:
        return None
    from latentcut.models.generator import model_ref_of
    from latentcut.models.loading import load_generator

    return model_ref_of(load_generator(spec, device="cpu", trust_pickle=args.trust_pickle))


def report_saved(
    output: Path,
    latents: Any,
    source: ZSequence | None,
    fps: Fraction,
    made: dict[str, Any],
    seed: int | None = None,
    model: ModelRef | None = None,
    look: Look | None = None,
) -> None:
    """Save a new z-sequence with ``look`` (default: ``source``'s, with ``model`` if given) and print one line about it."""
    meta = save_sequence(
        output,
        latents,
        fps=fps,
        look=look or (source.meta.look if source else Look()),
        model=model,
        seed=seed,
        made=made,
    )
    print(f"wrote {sidecar_paths(output)[0]}: {meta.frames} frames x {meta.dim} dims at {fps_text(fps)} fps (id {meta.id})")


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so a long-running command stops cleanly."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return stop
