"""Figures for latent arithmetic on builtin:digits: what attribute vectors, analogies and encoding do to the decoded images.

    .venv/bin/python bench/latent_arithmetic.py [--steps 200]

Measured on the images (8x8 ink in [0, 1]); the digit class is a logistic regression trained on
scikit-learn's digits. Prints: held-out reconstruction error; ink along the "thick" vector; class
changes per unit of ink for a plain and a bias-corrected thick vector from biased picks; analogy hit
rate against chance; optimisation-based encoding of a CPPN frame against the best of 1,000 random samples.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from latentcut.latent.attributes import balanced_difference, mean_difference, synthetic_difference, with_attributes
from latentcut.latent.grids import analogy_latent
from latentcut.latent.sampling import gaussian_latents
from latentcut.models.cppn import CPPN_LATENT_DIM, CppnGenerator
from latentcut.models.digits import DigitsGenerator, digit_images
from latentcut.models.digits_training import held_out_error
from latentcut.models.projection import image_distance, projected_latents


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200, help="optimisation steps for the CPPN frame (default 200)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = DigitsGenerator(device="cpu")
    images, classes = digit_images()
    frames = np.repeat((images * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=3)
    latents = model.encode(frames)
    with threadpool_limits(1):
        classifier = LogisticRegression(max_iter=3000).fit(images.reshape(len(images), -1), classes)

    def ink(z: np.ndarray) -> np.ndarray:
        return model.render(z, (8, 8))[..., 0] / 255.0

    def predicted(z: np.ndarray) -> np.ndarray:
        with threadpool_limits(1):
            return classifier.predict(ink(z).reshape(len(z), -1))

    print(f"held-out reconstruction error (mean |pixel|, ink 0..1): {held_out_error(model):.4f}")

    amount_ink = images.reshape(len(images), -1).mean(axis=1)
    low, high = np.quantile(amount_ink, [1 / 3, 2 / 3])
    thick = mean_difference(latents, np.flatnonzero(amount_ink >= high), np.flatnonzero(amount_ink <= low))
    synthetic = synthetic_difference(model.encode, frames, "thicken")
    start = latents[-200:]
    print("\namount | ink, thick (labelled) | ink, thick (synthetic, thicken)")
    for amount in (0.0, 0.5, 1.0, 1.5, 2.0):
        labelled = ink(with_attributes(start, [(thick, amount, amount)])).mean()
        made = ink(with_attributes(start, [(synthetic, amount, amount)])).mean()
        print(f"{amount:6.1f} | {labelled:.3f} | {made:.3f}")

    print("\nbiased picks (thick: zeros, thin: sevens) | ink added | class changed | class changes per unit ink")
    groups = {}
    for digit in (0, 7):
        chosen = np.flatnonzero(classes == digit)
        lo, hi = np.quantile(amount_ink[chosen], [0.4, 0.6])
        groups[digit] = (chosen[amount_ink[chosen] >= hi], chosen[amount_ink[chosen] <= lo])
    with_frames = np.concatenate([groups[0][0], groups[7][0][:8]])
    without_frames = np.concatenate([groups[7][1], groups[0][1][:8]])
    labels = {"zero": np.flatnonzero(classes == 0).tolist(), "seven": np.flatnonzero(classes == 7).tolist()}
    pair = latents[np.isin(classes, (0, 7))]
    before_class, before_ink = predicted(pair), ink(pair).mean()
    vectors = {
        "plain": mean_difference(latents, with_frames, without_frames),
        "bias-corrected": balanced_difference(latents, with_frames, without_frames, labels)[0],
    }
    for name, vector in vectors.items():
        moved = with_attributes(pair, [(vector, 1.5, 1.5)])
        added, changed = ink(moved).mean() - before_ink, (predicted(moved) != before_class).mean()
        print(f"{name:>14} | {added:.3f} | {changed:.3f} | {changed / added:.1f}")

    rng = np.random.default_rng(0)
    answers, expected = [], []
    for _ in range(500):
        a_class, b_class = rng.choice(10, 2, replace=False)
        a, c = rng.choice(np.flatnonzero(classes == a_class), 2, replace=False)
        answers.append(analogy_latent(latents[a], latents[rng.choice(np.flatnonzero(classes == b_class))], latents[c]))
        expected.append(b_class)
    print(
        f"\nanalogies (500, A and C one class, B another): D classified as B's class {np.mean(predicted(np.stack(answers)) == expected):.2f} (chance 0.10)"
    )

    cppn = CppnGenerator(device="cpu")
    size = (32, 32)
    target = cppn.render(gaussian_latents(1, CPPN_LATENT_DIM, 11), size)
    started = time.monotonic()
    result = projected_latents(cppn, target, steps=args.steps, starts=8, fit_size=size)
    seconds = time.monotonic() - started
    found = image_distance(cppn.render(result.latents, size), target)[0]
    random = image_distance(cppn.render(gaussian_latents(1000, CPPN_LATENT_DIM, 12), size), np.repeat(target, 1000, axis=0))
    print(
        f"encode a CPPN frame by optimisation ({args.steps} steps x 8 starts, 32x32, {seconds:.1f} s): loss {found:.3f}; "
        f"best of 1,000 random samples {random.min():.3f}, median {np.median(random):.3f}"
    )


if __name__ == "__main__":
    main()
