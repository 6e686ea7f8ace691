"""What the explorer's page asks for: keyframes named by a pool frame, a seed or a saved transition, the path between them, shadow frames.

A key travels as JSON: ``{"pool": 17}`` (frame 17 of the pool), ``{"seed": 12345}`` (a Gaussian latent
drawn from that seed) or ``{"saved": "walk-1"}`` (the last frame of a saved transition, which chains
a new transition onto it without a jump).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.journey import INTERPOLATIONS, journey_latents
from latentcut.latent.look import MAX_PSI
from latentcut.latent.sampling import gaussian_latents

__all__ = [
    "KEY_KINDS",
    "MAX_STEPS",
    "MIN_STEPS",
    "Key",
    "TransitionSpec",
    "checked_psi",
    "key_from_json",
    "key_vector",
    "silhouette",
    "transition_latents",
]

KEY_KINDS = ("pool", "seed", "saved")
MIN_STEPS = 2
MAX_STEPS = 600
_MAX_SEED = 2**63 - 1
_FIGURE_GREY = 24  # shadow mode: the figure, dark ...
_GROUND_GREY = 236  # ... on light, as an animator traces it


@dataclass(frozen=True)
class Key:
    """One end of a transition: a pool frame, a seeded random latent, or the last frame of a saved transition."""

    kind: str  # one of KEY_KINDS
    value: int | str

    def to_json(self) -> dict[str, int | str]:
        return {self.kind: self.value}


def key_from_json(data: Any) -> Key:
    """Return the key ``data`` describes; raise ``UsageError`` for anything else."""
    if not isinstance(data, Mapping) or len(data) != 1:
        raise UsageError(f"a key is one of {{'pool': N}}, {{'seed': N}}, {{'saved': NAME}}, not {str(data)[:80]!r}")
    ((kind, value),) = data.items()
    if kind in ("pool", "seed"):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_SEED:
            raise UsageError(f"{kind} key {str(value)[:40]!r} is not a whole number from 0 to {_MAX_SEED}")
        return Key(kind, value)
    if kind == "saved" and isinstance(value, str):
        return Key(kind, value)
    raise UsageError(f"unknown key {str(kind)[:40]!r}; use pool, seed or saved")


def key_vector(key: Key, pool: np.ndarray, dim: int, saved_last_frame: Callable[[str], np.ndarray]) -> np.ndarray:
    """Return the latent (float32, ``dim``) that ``key`` names."""
    if key.kind == "pool":
        assert isinstance(key.value, int)
        if key.value >= len(pool):
            raise UsageError(f"pool frame {key.value} does not exist; the pool has {len(pool)} frames")
        return np.asarray(pool[key.value], np.float32)
    if key.kind == "seed":
        assert isinstance(key.value, int)
        return gaussian_latents(1, dim, key.value)[0]
    assert isinstance(key.value, str)
    return np.asarray(saved_last_frame(key.value), np.float32)


@dataclass(frozen=True)
class TransitionSpec:
    """A transition as the page asks for it: two keys, a number of frames, an interpolation and a snapshot."""

    source: Key
    destination: Key
    steps: int  # frames in the transition, both ends included
    interp: str  # one of INTERPOLATIONS
    snapshot: str  # the model spec that renders it
    truncation_psi: float | None = None  # the psi the frames show (StyleGAN models); None: the explorer's

    @staticmethod
    def from_json(data: Any, snapshots: tuple[str, ...]) -> TransitionSpec:
        """Return the spec in a request body; raise ``UsageError`` naming the field that is wrong."""
        if not isinstance(data, Mapping):
            raise UsageError("the request body is not a JSON object")
        steps = data.get("steps")
        if isinstance(steps, bool) or not isinstance(steps, int) or not MIN_STEPS <= steps <= MAX_STEPS:
            raise UsageError(f"steps {str(steps)[:20]!r} is not a whole number from {MIN_STEPS} to {MAX_STEPS}")
        interp = data.get("interp")
        if interp not in INTERPOLATIONS:
            raise UsageError(f"interp {str(interp)[:20]!r} is not one of {', '.join(INTERPOLATIONS)}")
        snapshot = data.get("snapshot")
        if snapshot not in snapshots:
            raise UsageError(f"snapshot {str(snapshot)[:60]!r} is not served here; choose one of {', '.join(snapshots)}")
        psi = checked_psi(data.get("truncation_psi"))
        return TransitionSpec(
            key_from_json(data.get("source")), key_from_json(data.get("destination")), steps, interp, snapshot, psi
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source.to_json(),
            "destination": self.destination.to_json(),
            "steps": self.steps,
            "interp": self.interp,
            "snapshot": self.snapshot,
            **({} if self.truncation_psi is None else {"truncation_psi": self.truncation_psi}),
        }


def checked_psi(value: Any) -> float | None:
    """A truncation psi the page sent (None when it sent none); ``UsageError`` for anything but a number within +-100."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or abs(value) > MAX_PSI:
        raise UsageError(f"truncation_psi {str(value)[:20]!r} is not a number from -{MAX_PSI:g} to {MAX_PSI:g} (1: none)")
    return float(value)


def transition_latents(source: np.ndarray, destination: np.ndarray, steps: int, interp: str) -> np.ndarray:
    """Return the ``steps`` latents from ``source`` (first frame, exactly) to ``destination`` (last frame, exactly)."""
    return journey_latents(np.stack([source, destination]), steps - 1, interp)


def _otsu_threshold(grey: np.ndarray) -> float:
    # The level that best splits the frame's grey histogram into two classes (Otsu's method).
    histogram = np.bincount(grey.ravel(), minlength=256).astype(np.float64)
    weight = np.cumsum(histogram)
    mean = np.cumsum(histogram * np.arange(256))
    total, total_mean = weight[-1], mean[-1]
    below, above = weight[:-1], total - weight[:-1]
    valid = (below > 0) & (above > 0)
    if not valid.any():
        return 255.5  # a flat frame: everything is ground
    between = np.zeros(255)
    between[valid] = (total_mean * below[valid] - total * mean[:-1][valid]) ** 2 / (below[valid] * above[valid])
    return float(np.argmax(between)) + 0.5


def silhouette(frame: np.ndarray) -> np.ndarray:
    """Return the frame's figure dark on a light ground (uint8 RGB, same shape): what an animator traces.

    The frame's luminance is split in two by Otsu's threshold; the class that covers most of the
    frame's border is the ground, the other the figure.
    """
    grey = (frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) + 0.5).astype(np.uint8)
    dark = grey < _otsu_threshold(grey)
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    figure = ~dark if border.mean() > 0.5 else dark
    out = np.where(figure, np.uint8(_FIGURE_GREY), np.uint8(_GROUND_GREY)).astype(np.uint8)
    return np.repeat(out[:, :, None], 3, axis=2)
