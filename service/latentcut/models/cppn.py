"""The embedded default model ``builtin:cppn``: a deterministic CPPN-style torch generator with 28 training snapshots.

A CPPN (compositional pattern-producing network) maps pixel coordinates to a colour. Here the latent
modulates every layer's gain and bias, so the image is a smooth function of the latent: nearby
latents give nearby images. The weights come from a fixed seed through numpy's PCG64 generator, so
the model ships as code, needs no download, and renders at any resolution.

Snapshots ``builtin:cppn@0`` … ``@27`` imitate checkpoints of one training run: the weights drift
from a perturbed start toward the final weights (``@27``, also plain ``builtin:cppn``), and early
snapshots see coarser coordinates and paler colour, as an undertrained GAN does.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict

import numpy as np
import torch

from latentcut.errors import ModelError

__all__ = ["COORDINATE_CACHE_SIZES", "CPPN_LATENT_DIM", "CPPN_SNAPSHOTS", "CppnGenerator"]

CPPN_LATENT_DIM = 512
CPPN_SNAPSHOTS = 28
_ARCHITECTURE = "latentcut-cppn-v1"
_SEED = 20181128  # fixes the weights; changing it makes a different model (and hash)
_HIDDEN = 32  # width of every hidden layer
_STYLE = 64  # width of the latent's style vector
_FOURIER = 8  # random Fourier features of the coordinates (x2 for sin and cos)
_ACTIVATIONS = ("sin", "tanh", "gauss", "sin")
COORDINATE_CACHE_SIZES = 4  # frame sizes whose pixel coordinates stay computed
_MAX_ELEMENTS = 1 << 24  # hidden activations per chunk, bounds memory at any resolution


def _weights(snapshot: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(_SEED)
    coord_in = 3 + 2 * _FOURIER
    final = {
        "fourier": rng.normal(0.0, 2.2, (2, _FOURIER)),
        "style": rng.normal(0.0, 1.0, (CPPN_LATENT_DIM, _STYLE)) / math.sqrt(CPPN_LATENT_DIM),
        "w0": rng.normal(0.0, 1.6, (coord_in, _HIDDEN)) / math.sqrt(coord_in),
        "out": rng.normal(0.0, 2.4, (_HIDDEN, 3)) / math.sqrt(_HIDDEN),
    }
    for layer in range(len(_ACTIVATIONS)):
        final[f"gain{layer}"] = rng.normal(0.0, 0.8, (_STYLE, _HIDDEN)) / math.sqrt(_STYLE)
        final[f"bias{layer}"] = rng.normal(0.0, 1.5, (_STYLE, _HIDDEN)) / math.sqrt(_STYLE)
        if layer:
            final[f"w{layer}"] = rng.normal(0.0, 1.8, (_HIDDEN, _HIDDEN)) / math.sqrt(_HIDDEN)
    # One fixed perturbation per tensor: the "start of training" each snapshot moves away from.
    drift = {name: rng.normal(0.0, 1.0, value.shape) * value.std() for name, value in sorted(final.items())}
    progress = (snapshot + 1) / CPPN_SNAPSHOTS
    weights = {name: value + (1.0 - progress) ** 1.5 * 0.7 * drift[name] for name, value in final.items()}
    weights["fourier"] = weights["fourier"] * (0.35 + 0.65 * progress)
    for layer in range(1, len(_ACTIVATIONS)):
        weights[f"w{layer}"] = weights[f"w{layer}"] * (0.55 + 0.45 * progress)
    weights["out"] = weights["out"] * (0.45 + 0.55 * progress)
    return {name: value.astype(np.float32) for name, value in weights.items()}


def _activation(name: str, x: torch.Tensor) -> torch.Tensor:
    if name == "sin":
        return torch.sin(x)
    if name == "tanh":
        return torch.tanh(x)
    return torch.exp(-x * x)


class CppnGenerator:
    """``builtin:cppn@N``: renders any size on CPU or CUDA; satisfies ``latentcut.models.Generator``."""

    latent_dim = CPPN_LATENT_DIM
    native_size = (512, 512)

    def __init__(self, snapshot: int = CPPN_SNAPSHOTS - 1, *, device: str | None = None) -> None:
        if not 0 <= snapshot < CPPN_SNAPSHOTS:
            raise ModelError(f"builtin:cppn@{snapshot}: snapshots run from 0 to {CPPN_SNAPSHOTS - 1}")
        self.snapshot = snapshot
        self.spec = "builtin:cppn" if snapshot == CPPN_SNAPSHOTS - 1 else f"builtin:cppn@{snapshot}"
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        arrays = _weights(snapshot)
        digest = hashlib.sha256(_ARCHITECTURE.encode())
        for name in sorted(arrays):
            digest.update(name.encode())
            digest.update(arrays[name].astype("<f4").tobytes())
        self.sha256 = digest.hexdigest()
        self._w = {name: torch.from_numpy(value).to(self.device) for name, value in arrays.items()}
        self._coords: OrderedDict[tuple[int, int], torch.Tensor] = OrderedDict()

    def _coordinates(self, size: tuple[int, int]) -> torch.Tensor:
        if size in self._coords:
            self._coords.move_to_end(size)
        else:
            width, height = size
            scale = max(width, height)
            xs = (torch.arange(width, device=self.device) + 0.5 - width / 2) * (2.0 / scale)
            ys = (torch.arange(height, device=self.device) + 0.5 - height / 2) * (2.0 / scale)
            y, x = torch.meshgrid(ys, xs, indexing="ij")
            xy = torch.stack([x.reshape(-1), y.reshape(-1)], dim=1)
            r = xy.norm(dim=1, keepdim=True)
            proj = xy @ self._w["fourier"] * math.pi
            features = torch.cat([xy, r, torch.sin(proj), torch.cos(proj)], dim=1)
            self._coords[size] = features @ self._w["w0"]
            # A few sizes are in use at a time (proxy, online, a grid's tiles); a daemon sees many over its life.
            while len(self._coords) > COORDINATE_CACHE_SIZES:
                self._coords.popitem(last=False)
        return self._coords[size]

    @torch.inference_mode()
    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Return uint8 frames ``(n, height, width, 3)`` for float32 latents ``(n, 512)``."""
        width, height = size
        if width < 1 or height < 1:
            raise ModelError(f"{self.spec}: frame size {width}x{height} must be positive")
        # A copy: latents are often read-only (memory-mapped sidecars), and torch wants writable memory.
        z = torch.as_tensor(np.array(latents, np.float32), device=self.device)
        style = torch.tanh(z @ self._w["style"])
        base = self._coordinates((width, height))
        pixels = base.shape[0]
        per_chunk = max(1, _MAX_ELEMENTS // (pixels * _HIDDEN))
        frames = []
        for start in range(0, len(z), per_chunk):
            rgb = self._rgb(style[start : start + per_chunk], base)
            frames.append((rgb * 255.0 + 0.5).clamp_(0, 255).to(torch.uint8).reshape(-1, height, width, 3))
        return torch.cat(frames).cpu().numpy()

    def _rgb(self, style: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        s = style[:, None, :]
        h = base[None]
        for layer, name in enumerate(_ACTIVATIONS):
            if layer:
                h = h @ self._w[f"w{layer}"]
            gain = 1.0 + s @ self._w[f"gain{layer}"]
            h = _activation(name, h * gain + s @ self._w[f"bias{layer}"])
        return torch.sigmoid(h @ self._w["out"] * 2.0)

    def synthesis(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Return differentiable RGB ``(n, 3, height, width)`` in [0, 1] for latents ``z`` (image-to-latent optimisation uses it)."""
        width, height = size
        base = self._coordinates(size).clone()  # a normal tensor: the cached one may come from inference mode
        rgb = self._rgb(torch.tanh(z @ self._w["style"]), base)
        return rgb.reshape(-1, height, width, 3).permute(0, 3, 1, 2)
