"""The ``latentcut`` command: the parser assembled from the command modules, and the exit codes.

Each command group lives in its own module (``latentcut.cli.<group>``) with a ``register(sub)`` that
declares its options beside its handlers; the handlers are thin layers over the library and import
torch-using modules only when they run, so parsing (and ``--help``) never loads torch.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import traceback
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from latentcut import __version__
from latentcut.errors import LatentcutError, one_line

__all__ = ["BUG_EXIT_CODE", "COMMAND_GROUPS", "main", "parser"]

# In the order ``latentcut --help`` lists them.
COMMAND_GROUPS = (
    "latents",
    "curate",
    "latentspace",
    "arithmetic",
    "render",
    "conform",
    "daemon",
    "watch",
    "project",
    "explore",
    "react",
    "demo",
)

BUG_EXIT_CODE = 70  # EX_SOFTWARE: an exception outside latentcut's error tree is a bug, not the user's doing

EXAMPLES = """\
examples:
  latentcut sample samples.z.npy --count 600 --dim 512 --seed 7
  latentcut render samples.z.npy -o samples.mp4 --model builtin:cppn --preset proxy
  latentcut journey samples.z.npy --keys 3,17,42 --frames-per-segment 96 --interp spring -o trip.z.npy
  latentcut neighbours samples.z.npy --frames 3,7 --radius 12 --count 16 -o near.z.npy
  latentcut render trip.z.npy -o trip.mov --model builtin:cppn --preset online --size 1024x1024
  latentcut render trip.z.npy -o grid.mp4 --model builtin:cppn --preset proxy --snapshots 0-27 --grid 7x4
  latentcut info trip.z.npy --video trip.mov
  latentcut conform my-edit.kdenlive -o my-edit.z.npy
  latentcut conform --explain my-edit.kdenlive
  latentcut daemon --model builtin:cppn --out renders/
  latentcut watch my-edit.kdenlive --daemon tcp://127.0.0.1:5557 --preset online
  latentcut status
  latentcut project new my-edit.kdenlive clips/*.mp4 --timeline
  latentcut online my-edit.kdenlive -o final.mov
  latentcut demo demo-out/
"""


class _Parser(argparse.ArgumentParser):
    """A parser whose usage errors are one line (a hostile value shortened), with where to read more."""

    def error(self, message: str) -> NoReturn:
        if len(message) > 300:
            message = f"{message[:240]}... ({len(message)} characters)"
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    """The whole command line: every group module's sub-commands."""
    root = _Parser(
        prog="latentcut",
        description="Edit journeys through a generative model's latent space in Kdenlive; render them online.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    root.add_argument("--version", action="version", version=f"latentcut {__version__}")
    sub = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        importlib.import_module(f"latentcut.cli.{group}").register(sub)
    return root


def _one_line_warning(
    message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None
) -> None:
    print(f"latentcut: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 1 failed, 2 bad usage, 70 a bug, 130 interrupted)."""
    args = parser().parse_args(argv)
    shown_before, warnings.showwarning = warnings.showwarning, _one_line_warning
    try:
        args.func(args)
    except LatentcutError as exc:
        print(f"latentcut: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("latentcut: interrupted; nothing was written under the output name", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print(
            f"latentcut: internal error in latentcut {__version__}: this is a bug, not your mistake; "
            "please report it with the command line and the traceback above",
            file=sys.stderr,
        )
        return BUG_EXIT_CODE
    finally:
        warnings.showwarning = shown_before
    return 0


if __name__ == "__main__":
    sys.exit(main())
