"""Steering a StyleGAN network per frame: the protocol of a generator that takes input controls (truncation, W directions, input transform), and StyleGAN2's constant noise.

``const_noise`` (a column of ``latentcut.latent.controls.InputControls``) corrupts StyleGAN2's learned
4x4 constant: frame ``i`` starts from ``const + const_noise[i] * std(const) * N``, where ``N`` is one
fixed pattern of standard normal noise of the constant's shape (numpy's generator seeded with
``CONST_NOISE_SEED``), the same for every frame, render and device: the corruption grows smoothly
with ``const_noise`` (0 changes nothing; 1 adds noise as strong as the constant's own spread).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from latentcut.latent.controls import InputControls

__all__ = ["CONST_NOISE_SEED", "ControlledGenerator", "const_noise_pattern"]

CONST_NOISE_SEED = 2021


@runtime_checkable
class ControlledGenerator(Protocol):
    """A ``Generator`` whose input can be steered per frame (StyleGAN2 and StyleGAN3 snapshots)."""

    spec: str
    input_controls: tuple[
        str, ...
    ]  # the kinds of control it applies: translate and rotate or const_noise; truncation_psi, w_direction

    def render_controlled(self, latents: np.ndarray, size: tuple[int, int], controls: InputControls) -> np.ndarray: ...


def const_noise_pattern(shape: tuple[int, ...]) -> np.ndarray:
    """The fixed float32 pattern ``N`` that ``const_noise`` scales (see the module docstring)."""
    return np.random.default_rng(CONST_NOISE_SEED).standard_normal(shape).astype(np.float32)
