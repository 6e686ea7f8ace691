"""How much more evenly re-timed journeys change, by a measure the re-timing never optimises.

    .venv/bin/python bench/retime.py [--journeys 6] [--frames-per-segment 50] [--measure-size 64] [--check-size 256]

Journeys of builtin:cppn through 3 Gaussian keyframes (seeds 1, 2, ...), slerp and spring. Each is
re-timed as ``latentcut retime`` does (measured at ``--measure-size``); the independent check is the
coefficient of variation (CV) of the mean absolute RGB change per frame, on frames rendered at the
output size ``--check-size``. Slerp journeys are re-timed to constant speed; spring journeys keep their
departure and arrival (``--keep-ease``, the default for them), whose first and last steps are printed
(mean absolute RGB change; their CV is over the stretch between). Goal: slerp ratio >= 3 on every journey.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from latentcut.latent.journey import journey_latents
from latentcut.latent.retime import coefficient_of_variation, mean_rgb_change, retimed
from latentcut.latent.sampling import gaussian_latents
from latentcut.models.cppn import CPPN_LATENT_DIM, CppnGenerator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--journeys", type=int, default=6, help="journeys of each interpolation (default 6)")
    parser.add_argument("--frames-per-segment", type=int, default=50, help="frames per segment (default 50: 101 frames)")
    parser.add_argument("--measure-size", type=int, default=64, help="px the re-timing measures at (default 64)")
    parser.add_argument("--check-size", type=int, default=256, help="px of the independent check: the output size (default 256)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = CppnGenerator(device="cpu")

    def frames(z: np.ndarray, size: int) -> np.ndarray:
        return np.concatenate([model.render(z[i : i + 32], (size, size)) for i in range(0, len(z), 32)])

    print(
        f"builtin:cppn, 3 keyframes, {2 * args.frames_per_segment + 1} frames, measured at {args.measure_size} px, "
        f"checked (mean absolute RGB change) at {args.check_size} px"
    )
    print("| journey | seconds | own CV before -> after | check CV before -> after | ratio | first step | last step |")
    print("|---|---|---|---|---|---|---|")
    ratios = []
    for interpolation in ("slerp", "spring"):
        for seed in range(1, args.journeys + 1):
            path = journey_latents(gaussian_latents(3, CPPN_LATENT_DIM, seed), args.frames_per_segment, interpolation)
            started = time.monotonic()
            result = retimed(path, lambda z: frames(z, args.measure_size), keep_ease=interpolation == "spring")
            seconds = time.monotonic() - started
            before = mean_rgb_change(frames(path, args.check_size))
            after = mean_rgb_change(frames(result.latents, args.check_size))
            cv_before, cv_after = (coefficient_of_variation(c[result.even]) for c in (before, after))
            ratio = cv_before / max(cv_after, 1e-12)
            if interpolation == "slerp":
                ratios.append(ratio)
            print(
                f"| {interpolation} seed {seed} | {seconds:.0f} | {result.cv_before:.3f} -> {result.cv_after:.4f} | "
                f"{cv_before:.3f} -> {cv_after:.3f} | {ratio:.1f}x | {before[0]:.2f} -> {after[0]:.2f} | "
                f"{before[-1]:.2f} -> {after[-1]:.2f} |",
                flush=True,
            )
    print(f"\nslerp: independent CV ratio min {min(ratios):.1f}x, median {float(np.median(ratios)):.1f}x (goal >= 3x)")


if __name__ == "__main__":
    main()
