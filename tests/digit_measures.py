"""Measures taken on decoded digit images by the builtin:digits tests: ink, a digit classifier, the encoded dataset."""

from __future__ import annotations

import functools

import numpy as np
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from latentcut.models.digits import DigitsGenerator, digit_images


@functools.cache
def digits_model() -> DigitsGenerator:
    return DigitsGenerator(device="cpu")


@functools.cache
def classifier() -> LogisticRegression:
    """A logistic regression trained on all of scikit-learn's digits (8x8 ink in [0, 1])."""
    images, classes = digit_images()
    # One BLAS thread: with torch loaded too, two OpenBLAS pools contend on a busy machine (100x slower).
    with threadpool_limits(1):
        return LogisticRegression(max_iter=3000).fit(images.reshape(len(images), -1), classes)


def as_frames(images: np.ndarray) -> np.ndarray:
    """Ink ``(n, 8, 8)`` in [0, 1] as uint8 RGB frames, the way a picture of a digit reaches the encoder."""
    return np.repeat((images * 255.0 + 0.5).astype(np.uint8)[..., None], 3, axis=3)


@functools.cache
def encoded_digits() -> tuple[np.ndarray, np.ndarray]:
    """Every digit's posterior-mean latent, and its class."""
    images, classes = digit_images()
    return digits_model().encode(as_frames(images)), classes


def decoded_ink(latents: np.ndarray) -> np.ndarray:
    """Each latent's decoded 8x8 digit as ink ``(n, 8, 8)`` in [0, 1]."""
    return digits_model().render(np.asarray(latents, np.float32), (8, 8))[..., 0] / 255.0


def predicted_classes(latents: np.ndarray) -> np.ndarray:
    ink = decoded_ink(latents)
    with threadpool_limits(1):
        return classifier().predict(ink.reshape(len(ink), -1))
