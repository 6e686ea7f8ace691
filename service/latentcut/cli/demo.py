"""The ``demo`` command: a first set of clips, journeys and a snapshot grid with the embedded model."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from latentcut.cli import options

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``demo``."""
    p = options.command(
        sub,
        "demo",
        run_demo,
        "samples and their contact sheet, journeys (one by one, in a batch, retimed) and a snapshot grid with the embedded model",
        "latentcut demo demo-out/",
    )
    p.add_argument("output_dir", type=Path, metavar="OUT_DIR")
    options.add_device_option(p)
    options.add_no_progress(p)


def run_demo(args: argparse.Namespace) -> None:
    from latentcut.workflows.demo import run_demo as make_demo

    started = time.monotonic()
    made = make_demo(
        args.output_dir,
        device=args.device,
        progress=lambda total, label: options.progress_bar(total, label, not args.no_progress),
    )
    print(f"demo finished in {time.monotonic() - started:.1f} s; in {args.output_dir}:")
    for path, what in made:
        print(f"  {path.name:<24} {what}")
