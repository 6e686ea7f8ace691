"""Benchmark: how close end-to-end rendering (generate + encode + verify) comes to the generator alone.

    .venv/bin/python bench/render.py [--frames 96] [--device cpu|cuda]

Prints one row per device, size and codec: generator-only frames/s, end-to-end frames/s and their
ratio (goal >= 0.9: the encoder should almost never make the generator wait).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence
from latentcut.models.cppn import CppnGenerator
from latentcut.render.sequence import render_sequence

BATCH = 8


def generator_fps(model: CppnGenerator, latents, size: int) -> float:
    model.render(latents[:BATCH], (size, size))  # warm-up: coordinate cache, allocator
    started = time.perf_counter()
    for start in range(0, len(latents), BATCH):
        model.render(latents[start : start + BATCH], (size, size))
    if model.device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(latents) / (time.perf_counter() - started)


def end_to_end_fps(model: CppnGenerator, sequence, size: int, folder: Path, name: str, preset: str) -> float:
    started = time.perf_counter()
    render_sequence(sequence, folder / name, [model], preset=preset, fps=Fraction(25), tile_size=(size, size), batch_frames=BATCH)
    return sequence.meta.frames / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--device", action="append", help="cpu and/or cuda (default: cpu, plus cuda when present)")
    args = parser.parse_args()
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {args.frames} frames, batch {BATCH}")
    print(f"{'device':<8}{'size':>6}  {'output':<14}{'generator f/s':>14}{'end-to-end f/s':>16}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        save_sequence(folder / "bench.z.npy", gaussian_latents(args.frames, 512, 1), fps=Fraction(25))
        sequence = load_sequence(folder / "bench.z.npy")
        for device in devices:
            model = CppnGenerator(device=device)
            for size in (256, 512):
                alone = generator_fps(model, sequence.latents, size)
                for preset, name in (("proxy", "p.mp4"), ("online", "o.mkv"), ("online", "o.mov")):
                    full = end_to_end_fps(model, sequence, size, folder, name, preset)
                    label = f"{preset} {Path(name).suffix}"
                    print(f"{device:<8}{size:>6}  {label:<14}{alone:>14.1f}{full:>16.1f}{full / alone:>8.2f}")


if __name__ == "__main__":
    main()
