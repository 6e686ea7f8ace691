"""Directions in a StyleGAN network's W space found without labels: SeFa from its style weights, GANSpace from its mapping.

SeFa (Shen & Zhou, "Closed-Form Factorization of Latent Semantics in GANs"): every synthesis layer
turns w into styles through an affine map ``A_l`` (``out x w_dim``); a unit direction ``n`` moves the
styles by ``A n``, so the directions that move them most are the top eigenvectors of
``sum_l A_l^T A_l``, each row of each ``A_l`` scaled to unit length first as in the paper's code.
Strength: the eigenvalue. Only the layers' style affines count, not StyleGAN3's input transform.

GANSpace (Härkönen et al., "GANSpace: Discovering Interpretable GAN Controls"): map ``samples`` seeded
Gaussian z to w (no truncation) and take the principal axes of the cloud. Strength: the standard
deviation of w along the axis, so an amount of 1 is one typical step.

Directions are unit vectors, strongest first; the sign of each is fixed so that its largest component is positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentcut.errors import UsageError
from latentcut.models.stylegan.generator import StyleGanGenerator

__all__ = ["DIRECTION_METHODS", "Directions", "ganspace_directions", "sefa_directions"]

DIRECTION_METHODS = ("sefa", "ganspace")


@dataclass(frozen=True)
class Directions:
    """``vectors`` ``(count, w_dim)`` float32 unit rows, strongest first, and their ``strengths``."""

    method: str
    vectors: np.ndarray
    strengths: np.ndarray


def _signed(vectors: np.ndarray) -> np.ndarray:
    """Each row flipped so its largest-magnitude component is positive: eigenvectors have no sign of their own."""
    rows = np.arange(len(vectors))
    return vectors * np.sign(vectors[rows, np.abs(vectors).argmax(axis=1)])[:, None]


def _checked_count(count: int, w_dim: int) -> None:
    if not 1 <= count <= w_dim:
        raise UsageError(f"--count {count}: W has {w_dim} dimensions, so give 1 to {w_dim} directions")


def _style_affines(generator: StyleGanGenerator) -> list[np.ndarray]:
    """The style affine weights ``(channels, w_dim)`` of every synthesis layer (StyleGAN2's and StyleGAN3's ``SynthesisLayer``)."""
    return [
        module.affine.weight.detach().double().cpu().numpy()
        for module in generator.network.synthesis.modules()
        if type(module).__name__ == "SynthesisLayer"
    ]


def sefa_directions(generator: StyleGanGenerator, count: int) -> Directions:
    """The ``count`` SeFa directions of ``generator`` (see the module docstring)."""
    _checked_count(count, generator.w_dim)
    affines = _style_affines(generator)
    if not affines:
        raise UsageError(f"{generator.spec}: no synthesis layer with a style affine found, so SeFa has nothing to factorise")
    rows = np.concatenate([a / np.linalg.norm(a, axis=1, keepdims=True) for a in affines])
    values, vectors = np.linalg.eigh(rows.T @ rows)
    order = np.argsort(values)[::-1][:count]
    return Directions("sefa", _signed(vectors[:, order].T).astype(np.float32), values[order])


@torch.inference_mode()
def ganspace_directions(generator: StyleGanGenerator, count: int, *, samples: int = 10000, seed: int = 0) -> Directions:
    """The ``count`` GANSpace directions of ``generator`` from ``samples`` mapped z (see the module docstring)."""
    _checked_count(count, generator.w_dim)
    if samples <= generator.w_dim:
        raise UsageError(f"--samples {samples}: PCA of a {generator.w_dim}-dim W needs more samples than that; give 1000 or more")
    z = np.random.default_rng(seed).standard_normal((samples, generator.z_dim)).astype(np.float32)
    untruncated = generator.configured(truncation_psi=1.0)
    w = np.concatenate([untruncated.mapped(z[i : i + 1024]) for i in range(0, samples, 1024)]).astype(np.float64)
    centred = w - w.mean(axis=0)
    _, singular, axes = np.linalg.svd(centred, full_matrices=False)
    return Directions("ganspace", _signed(axes[:count]).astype(np.float32), singular[:count] / np.sqrt(samples - 1))
