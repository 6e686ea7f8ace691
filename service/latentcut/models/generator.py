"""The ``Generator`` protocol every model satisfies: latents in, uint8 RGB frames out (no torch needed to use it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from latentcut.errors import ModelError
from latentcut.latent.look import ModelRef

__all__ = ["Encoder", "Generator", "checked_latents", "model_ref_of", "weights_sha256"]


@runtime_checkable
class Generator(Protocol):
    """A model that turns a batch of latents into images.

    ``render(latents, size)`` takes a float32 array ``(n, latent_dim)`` and a ``(width, height)`` and
    returns uint8 frames ``(n, height, width, 3)``; it batches on whatever device the model lives on.
    A model may also encode images back to latents: see ``Encoder``.
    """

    spec: str  # what a user passes to --model to get this model again
    sha256: str  # identity of the weights: two generators with equal sha256 render alike
    latent_dim: int
    native_size: tuple[int, int]  # (width, height) the model was made for
    device: str  # "cpu", "cuda", "cuda:1", ...

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray: ...


@runtime_checkable
class Encoder(Protocol):
    """A ``Generator`` that can also map images back to latents (optional: ``isinstance(model, Encoder)``).

    ``encode(images)`` takes uint8 frames ``(n, H, W, 3)`` of any size and returns float32 latents
    ``(n, latent_dim)`` whose ``render`` resembles them (for a VAE, the posterior mean).
    """

    def encode(self, images: np.ndarray) -> np.ndarray: ...


def checked_latents(generator: Generator, latents: np.ndarray, where: str) -> np.ndarray:
    """Return ``latents`` as float32 ``(n, dim)`` if they fit ``generator``; raise ``ModelError`` naming ``where`` otherwise."""
    array = np.asarray(latents)
    if array.ndim != 2 or array.shape[1] != generator.latent_dim:
        raise ModelError(
            f"{where}: latents have dim {array.shape[-1]} but model {generator.spec} takes {generator.latent_dim}; "
            f"draw latents for it with `latentcut sample OUT.z.npy --count N --seed S --model {generator.spec}` "
            "(`latentcut model` says a model's sizes), or render with the model the sequence was made for (`latentcut info`)"
        )
    return np.asarray(array, np.float32)


class _Named(Protocol):
    spec: str
    sha256: str


def weights_sha256(generator: _Named) -> str:
    """The hash of ``generator``'s weights alone (a StyleGAN view's ``sha256`` also covers its settings): what a sidecar records."""
    return str(getattr(generator, "weights_sha256", generator.sha256))


def model_ref_of(generator: _Named) -> ModelRef:
    """The reference a sidecar records for ``generator``: its spec, its weights' hash, and its file's absolute path."""
    path = Path(generator.spec)
    files = (os.path.abspath(path),) if path.is_file() else ()  # "..", not links, folded
    return ModelRef(generator.spec, weights_sha256(generator), files)
