"""Benchmark: what ``latentcut render --hold N`` costs against the plain render of the same latents (goal: at most 2x).

    .venv/bin/python bench/hold.py [--latents 48] [--hold 8] [--sizes 256,512] [--models cppn,stylegan] [--repeats 3] [--batch N]

Each row renders a pool of ``--latents`` latents through the ``render`` command's own code (in this process,
so torch's import is paid once, before timing), plain and held ``--hold`` frames a latent, proxy H.264,
and prints the median wall time of each and their ratio. A held render writes ``--hold`` times the frames
but decodes each distinct latent once, so only encoding grows. ``stylegan``: a StyleGAN2 with random
weights (8 mapping layers, channel_base 8192, channel_max 256, at the row's size), written as a snapshot.
``--batch N`` gives both renders the same batch (default: the device's, 8 on a CPU, where a StyleGAN
makes a picture faster one at a time than eight at a time, so a held render can beat the plain one).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from latentcut.cli.main import main
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import save_sequence
from render import stylegan_snapshot


def timed_render(*args: str) -> float:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main([*args, "--no-progress"])
    if code != 0:
        raise RuntimeError(f"latentcut {' '.join(args)} exited {code}")
    return time.perf_counter() - started


def row(folder: Path, model: str, size: int, hold: int, repeats: int, batch: int | None) -> tuple[float, float]:
    pool = folder / "pool.z.npy"
    common = ["--model", model, "--size", f"{size}x{size}", "--preset", "proxy", *(["--batch", str(batch)] if batch else [])]
    timed_render("render", str(pool), "-o", str(folder / "warm.mp4"), *common)  # loads the model, warms the caches
    plain, held = [], []
    for _ in range(repeats):  # alternated, so that a busy spell of the machine weighs on both alike
        plain.append(timed_render("render", str(pool), "-o", str(folder / "plain.mp4"), *common))
        held.append(timed_render("render", str(pool), "-o", str(folder / "held.mp4"), *common, "--hold", str(hold)))
    return statistics.median(plain), statistics.median(held)


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latents", type=int, default=48)
    parser.add_argument("--hold", type=int, default=8)
    parser.add_argument("--sizes", default="256,512")
    parser.add_argument("--models", default="cppn,stylegan")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, help="frames per model call in both renders (default: the device's)")
    args = parser.parse_args()
    batch = f"--batch {args.batch}" if args.batch else "the device's batch"
    print(f"{args.latents} latents, --hold {args.hold}: median of {args.repeats} renders each, proxy H.264, {batch}")
    print("| model | size | plain s | held s | held frames | held / plain |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="latentcut-bench-hold-") as name:
        folder = Path(name)
        for size in (int(s) for s in args.sizes.split(",")):
            for kind in args.models.split(","):
                model = (
                    "builtin:cppn" if kind == "cppn" else str(stylegan_snapshot(folder, size, channel_base=8192, channel_max=256))
                )
                save_sequence(folder / "pool.z.npy", gaussian_latents(args.latents, 512, 7), fps=Fraction(25))
                plain, held = row(folder, model, size, args.hold, args.repeats, args.batch)
                print(
                    f"| {kind} | {size} | {plain:.2f} | {held:.2f} | {args.latents * args.hold} | {held / plain:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main_bench()
