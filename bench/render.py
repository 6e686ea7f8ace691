"""Benchmark: how close end-to-end rendering (generate + encode + verify) comes to the generator alone.

    .venv/bin/python bench/render.py [--frames 96] [--device cpu|cuda] [--suite cppn|stylegan|all] [--size 1024]

cppn: one row per device, size and codec: generator-only frames/s, end-to-end frames/s (render
command path) and their ratio (goal >= 0.9: the encoder should almost never make the generator wait).

stylegan: a real-sized StyleGAN2 (8 mapping layers, channel_base 32768, channel_max 512, z = w = 512,
``--size`` square, default 1024; random weights built here and written as a snapshot pickle), at
batch 1, 8 and 32, fp32 and (CUDA only) fp16: generator-only frames/s against a real daemon process's
end-to-end frames/s (``--range-frames`` = batch, ProRes 4444 .mov, frame cache on) and their ratio
(goal >= 0.9), with the GPU's mean utilisation during each (sampled by ``gpu_use``; "n/a" on a CPU).
``--batches auto`` uses the batch the daemon sizes to the device (``latentcut.render.batch_size``:
8 on a CPU; on CUDA the largest power of two up to 32 that fits). On a CPU keep it short:
``--suite stylegan --size 256 --frames 16``. On a GPU:
``--suite stylegan --size 1024 --frames 96 --device cuda --batches 8,32,auto``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

from gpu_use import GpuUse
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence
from latentcut.models.cppn import CppnGenerator
from latentcut.render.sequence import render_sequence

BATCH = 8
STYLEGAN_BATCHES = (1, 8, 32)
STYLEGAN_ADDRESS = "tcp://127.0.0.1:5593"


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


def stylegan_snapshot(folder: Path, size: int, *, channel_base: int = 32768, channel_max: int = 512) -> Path:
    """Write a StyleGAN2 of the standard configuration (or narrower channels) with random weights, as an NVIDIA-layout snapshot."""
    from latentcut.models.stylegan.pickle_reader import SG2_MODULE
    from latentcut.models.stylegan.snapshot_writer import write_snapshot
    from latentcut.models.stylegan.stylegan2 import Generator

    kwargs = {
        "z_dim": 512,
        "w_dim": 512,
        "c_dim": 0,
        "img_resolution": size,
        "img_channels": 3,
        "mapping_kwargs": {"num_layers": 8},
        "channel_base": channel_base,
        "channel_max": channel_max,
        "num_fp16_res": 4,
        "conv_clamp": 256,
    }
    torch.manual_seed(0)
    return write_snapshot(folder / f"network-snapshot-{size:06d}.pkl", Generator(**kwargs), SG2_MODULE, kwargs)


def stylegan_generator_fps(model, latents, batch: int) -> float:
    size = model.native_size
    model.render(latents[: batch if model.device.startswith("cuda") else 1], size)  # warm-up: allocator, kernels
    if model.device.startswith("cuda"):
        torch.cuda.synchronize()
    started = time.perf_counter()
    for start in range(0, len(latents), batch):
        model.render(latents[start : start + batch], size)
    if model.device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(latents) / (time.perf_counter() - started)


def stylegan_daemon_fps(
    folder: Path, snapshot: Path, latents, device: str, precision: str, batch: int, size: int
) -> tuple[float, str]:
    """Frames/s of one job through a fresh daemon process (after a warm-up job), submit to done, and the GPU's use meanwhile."""
    import numpy as np

    from latentcut.conform.frame_arrays import FrameArrays
    from latentcut.daemon.messages import Job
    from local_daemon import local_daemon

    run = Path(tempfile.mkdtemp(prefix=f"daemon-{device}-{precision}-{batch}-", dir=folder))  # a cold cache for each run
    options = ("--model", str(snapshot), "--device", device, "--precision", precision, "--range-frames", str(batch))
    with local_daemon(run, STYLEGAN_ADDRESS, *options, "--cache", str(run / "frames")) as client:
        # A one-frame job first: the daemon loads the model on its first job, which is not what is measured.
        for name, job_latents in (("warm.mov", latents[:1] + 1.0), ("bench.mov", latents)):
            started = time.perf_counter()
            opacity = np.ones(len(job_latents), np.float32)
            arrays = FrameArrays(np.ascontiguousarray(job_latents), opacity)
            job = Job("bench", name, str(snapshot), (size, size), Fraction(25), arrays)
            last = None
            with GpuUse(device) as use:
                for event in client.events(client.submit(job).job_id, timeout_s=3600):
                    last = event
            if last is None or last.kind != "done":
                raise RuntimeError(f"daemon job {name} did not finish: {last.summary.error if last else 'no answer'}")
            seconds = time.perf_counter() - started
    return len(latents) / seconds, use.text()


def stylegan_suite(devices: list[str], frames: int, size: int, batches: list[str]) -> None:
    from latentcut.models.loading import load_generator
    from latentcut.render.batch_size import device_batch

    print(f"StyleGAN2 {size}x{size} (mapping 8 layers, channel_base 32768, channel_max 512), {frames} frames")
    print(f"{'device':<8}{'precision':<10}{'batch':>8}{'generator f/s':>15}{'GPU':>6}{'daemon f/s':>12}{'GPU':>6}{'ratio':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        snapshot = stylegan_snapshot(folder, size)
        latents = gaussian_latents(frames, 512, 1)
        for device in devices:
            for precision in ("fp32", "fp16") if device.startswith("cuda") else ("fp32",):
                model = load_generator(str(snapshot), device=device).configured(precision=precision)
                for chosen in batches:
                    batch = device_batch(model, (size, size)) if chosen == "auto" else int(chosen)
                    label = f"auto={batch}" if chosen == "auto" else str(batch)
                    with GpuUse(device) as use:
                        alone = stylegan_generator_fps(model, latents, batch)
                    full, full_use = stylegan_daemon_fps(folder, snapshot, latents, device, precision, batch, size)
                    print(
                        f"{device:<8}{precision:<10}{label:>8}{alone:>15.2f}{use.text():>6}{full:>12.2f}{full_use:>6}"
                        f"{full / alone:>8.2f}",
                        flush=True,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--device", action="append", help="cpu and/or cuda (default: cpu, plus cuda when present)")
    parser.add_argument("--suite", choices=("cppn", "stylegan", "all"), default="all")
    parser.add_argument("--size", type=int, default=1024, help="StyleGAN2 resolution (default 1024; 256 keeps a CPU run short)")
    parser.add_argument(
        "--batches",
        default=",".join(map(str, STYLEGAN_BATCHES)),
        help="StyleGAN batch sizes (default 1,8,32); auto: the batch sized to the device, as the daemon finds it",
    )
    args = parser.parse_args()
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {args.frames} frames")
    if args.suite in ("stylegan", "all"):
        stylegan_suite(devices, args.frames, args.size, args.batches.split(","))
    if args.suite == "stylegan":
        return
    print(f"CPPN, batch {BATCH}")
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
