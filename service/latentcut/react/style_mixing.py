"""Style mixing for a performance: the steered z goes through StyleGAN's mapping network into W and replaces only the chosen W+ layers of a base.

Frame ``i``'s w+ is the base's w on every layer except ``layers``, which get ``mapping(z_i)``; ``z_i`` is
the steered latent (``latentcut.react.steering``), already smoothed in time, and the mapping network is
smooth, so the chosen layers move as smoothly (and with the same lag) as a z performance. The mapping
runs untruncated: truncation belongs to the render, which applies the model's ``--truncation-psi`` to
every layer as for any w+ sequence. The base (``--base POOL:F``) is a z (mapped the same way), a w (on
every layer) or a w+ latent; without one, the seeded base z of the steering.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.errors import UsageError
from latentcut.latent.sidecar import load_sequence
from latentcut.models.generator import Generator

__all__ = ["StyleMixing", "style_mixing"]


@dataclass(frozen=True)
class StyleMixing:
    """How each steered z becomes a w+: ``layers`` from the mapping network, the rest from ``base_ws``."""

    mapper: Any  # the StyleGAN generator in z space, untruncated (its ``mapped``)
    renderer: Generator  # the same network in w+ space, as the sequence is rendered
    layers: tuple[int, ...]
    base_ws: np.ndarray  # (num_ws, w_dim)

    def ws(self, z: np.ndarray) -> np.ndarray:
        """The w+ ``(num_ws, w_dim)`` for one steered ``z`` ``(z_dim,)``."""
        mixed = self.base_ws.copy()
        mixed[list(self.layers)] = self.mapper.mapped(z[None])[0]
        return mixed


def style_mixing(
    model: Generator, layers: Sequence[int], base: tuple[Path, int] | None, seeded_z: np.ndarray
) -> tuple[StyleMixing, np.ndarray, dict[str, Any]]:
    """The mixing for ``--layers`` and ``--base``, the z the steering moves around, and the base's record for the sidecar."""
    configured = getattr(model, "configured", None)
    if not callable(configured) or not hasattr(model, "num_ws"):
        raise UsageError(
            f"--layers: {model.spec} has no mapping network (W space belongs to StyleGAN models); "
            "use a StyleGAN snapshot (--model G.pkl) or leave out --layers"
        )
    mapper = configured(space="z", truncation_psi=1.0, truncation_cutoff=None)
    num_ws, w_dim = int(mapper.num_ws), int(mapper.w_dim)
    chosen = tuple(sorted(set(layers)))
    if not chosen or chosen[0] < 0 or chosen[-1] >= num_ws:
        raise UsageError(f"--layers {','.join(map(str, layers))}: {model.spec} has W+ layers 0-{num_ws - 1}")
    steering_z = seeded_z
    if base is None:
        base_ws = np.repeat(mapper.mapped(seeded_z[None]), num_ws, axis=0)
        record: dict[str, Any] = {}
    else:
        path, frame = base
        pool = load_sequence(path)
        if not 0 <= frame < pool.meta.frames:
            raise UsageError(f"--base {path}:{frame}: the pool has frames 0-{pool.meta.frames - 1}")
        latent = np.asarray(pool.latents[frame], np.float32)
        widths = {"z": mapper.z_dim, "w": w_dim, "w+": num_ws * w_dim}
        if widths.get(pool.meta.space) != len(latent):
            raise UsageError(
                f"--base {path}: its {pool.meta.space} latents of width {len(latent)} do not fit {model.spec}; "
                "choose a pool made for this model"
            )
        if pool.meta.space == "z":
            steering_z = latent
            base_ws = np.repeat(mapper.mapped(latent[None]), num_ws, axis=0)
        elif pool.meta.space == "w":
            base_ws = np.repeat(latent[None], num_ws, axis=0)
        else:
            base_ws = latent.reshape(num_ws, w_dim)
        record = {"pool": str(path), "pool_id": pool.meta.id, "frame": frame, "space": pool.meta.space}
    mixing = StyleMixing(mapper, configured(space="w+"), chosen, base_ws.astype(np.float32))
    return mixing, steering_z, {**record, "layers": list(chosen)}
