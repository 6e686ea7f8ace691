"""Keyframes from pictures: latents whose renders match given images, through the model's encoder or by optimisation.

A model with ``encode`` (an ``Encoder``, such as ``builtin:digits``) maps images in one pass. Any other
model with a differentiable ``synthesis(z, size)`` (the CPPN) is inverted by Adam from a few random
starts, minimising pixel L1 plus a multi-scale structural loss (1 - SSIM averaged over a pyramid);
no downloaded weights (such as a VGG for a perceptual loss) are needed. A StyleGAN model is inverted
in W, starting from the mapping network's average w, and the result is a W sequence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from latentcut.errors import InputError, ModelError, UsageError
from latentcut.models.generator import Encoder, Generator

__all__ = ["Projection", "image_distance", "ms_ssim", "projected_latents", "read_images"]

_SSIM_C1 = 0.01**2
_SSIM_C2 = 0.03**2
_SSIM_SCALES = 4
_STRUCTURE_WEIGHT = 1.0  # of (1 - MS-SSIM) against pixel L1


@dataclass(frozen=True)
class Projection:
    """Latents found for the images, the space they live in, how, and the loss each ended at (0 for an encoder)."""

    latents: np.ndarray  # float32 (n, dim)
    space: str  # "z" or "w"
    method: str  # "encoder" or "optimisation"
    losses: tuple[float, ...]


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    offsets = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    return (kernel[:, None] * kernel[None, :]).expand(channels, 1, size, size).contiguous()


def _ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image SSIM of images in [0, 1], with an 11-pixel Gaussian window (smaller for tiny images)."""
    channels = x.shape[1]
    size = min(11, x.shape[2], x.shape[3])
    size -= 1 - size % 2  # odd, so the window has a centre
    window = _gaussian_window(size, 1.5 * size / 11, channels, x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, window, groups=channels)

    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    ssim_map = ((2 * mx * my + _SSIM_C1) * (2 * cov + _SSIM_C2)) / ((mx * mx + my * my + _SSIM_C1) * (vx + vy + _SSIM_C2))
    return ssim_map.mean(dim=(1, 2, 3))


def ms_ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image multi-scale SSIM of ``(n, C, H, W)`` images in [0, 1]: SSIM averaged over a pyramid halving down to 8 px."""
    scores = [_ssim(x, y)]
    while len(scores) < _SSIM_SCALES and min(x.shape[2:]) >= 16:
        x, y = F.avg_pool2d(x, 2), F.avg_pool2d(y, 2)
        scores.append(_ssim(x, y))
    return torch.stack(scores).mean(dim=0)


def _loss(rendered: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pixel = (rendered - target).abs().mean(dim=(1, 2, 3))
    return pixel + _STRUCTURE_WEIGHT * (1.0 - ms_ssim(rendered, target))


def image_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Return the projection loss (pixel L1 + 1 - MS-SSIM) between uint8 frames ``(n, H, W, 3)``, per frame."""
    ta = torch.as_tensor(np.asarray(a, np.float32) / 255.0).permute(0, 3, 1, 2)
    tb = torch.as_tensor(np.asarray(b, np.float32) / 255.0).permute(0, 3, 1, 2)
    return _loss(ta, tb).numpy()


def read_images(paths: Sequence[Path], size: tuple[int, int]) -> np.ndarray:
    """Return the pictures at ``paths`` as uint8 RGB frames ``(n, height, width, 3)``, each resized to ``size``."""
    from PIL import Image, UnidentifiedImageError

    frames = []
    for path in paths:
        try:
            with Image.open(path) as image:
                frames.append(np.asarray(image.convert("RGB").resize(size, Image.Resampling.LANCZOS), np.uint8))
        except FileNotFoundError as exc:
            raise InputError(f"{path}: image not found") from exc
        except (OSError, UnidentifiedImageError) as exc:
            raise InputError(f"{path}: not an image Pillow can read ({exc}); give PNG or JPEG files") from exc
    return np.stack(frames)


def _stylegan_forward(generator: Any) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """The differentiable W -> images [0, 1] of a StyleGAN model, and its average w to start from."""
    network = generator.network
    num_ws = int(generator.num_ws)

    def forward(w: torch.Tensor) -> torch.Tensor:
        images = network.synthesis(w.unsqueeze(1).repeat([1, num_ws, 1]), noise_mode="const").float()
        images = images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images[:, :3]
        return ((images + 1.0) / 2.0).clamp(0.0, 1.0)  # as render clips: the loss sees what the frame will show

    return forward, network.mapping.w_avg.detach().float()


def projected_latents(
    generator: Generator,
    images: np.ndarray,
    *,
    steps: int = 300,
    starts: int = 8,
    fit_size: tuple[int, int] = (64, 64),
    learning_rate: float = 0.05,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
) -> Projection:
    """Return latents for uint8 frames ``images`` ``(n, H, W, 3)``: encoded, or optimised at ``fit_size`` for ``steps`` steps.

    Optimisation runs ``starts`` random starts per image at once and keeps the best; ``progress`` is
    called with 1 after every step (``steps`` calls per image).
    """
    frames = np.asarray(images)
    if frames.ndim != 4 or frames.shape[3] != 3 or len(frames) == 0:
        raise UsageError(f"give images as frames (n, H, W, 3); got shape {frames.shape}")
    if isinstance(generator, Encoder):
        latents = np.asarray(generator.encode(frames), np.float32)
        return Projection(latents, "z", "encoder", tuple(0.0 for _ in latents))
    if steps < 1 or starts < 1:
        raise UsageError(f"--steps {steps} and starts {starts} must both be at least 1")
    device = torch.device(generator.device)
    rng = torch.Generator(device="cpu").manual_seed(seed)
    if hasattr(generator, "network") and getattr(generator, "space", None) in ("z", "w", "w+"):
        forward, w_avg = _stylegan_forward(generator)
        space = "w"

        def initial() -> torch.Tensor:
            jitter = torch.randn((starts, w_avg.shape[0]), generator=rng) * 0.1 * w_avg.std().cpu()
            jitter[0] = 0  # one start exactly at the average w
            return w_avg.cpu()[None] + jitter

    elif callable(getattr(generator, "synthesis", None)):
        synthesis = generator.synthesis  # type: ignore[attr-defined]
        space = "z"

        def forward(z: torch.Tensor) -> torch.Tensor:
            return synthesis(z, fit_size)

        def initial() -> torch.Tensor:
            return torch.randn((starts, generator.latent_dim), generator=rng)

    else:
        raise ModelError(
            f"{generator.spec}: cannot encode images with this model: it has no encoder and no differentiable "
            "synthesis (builtin:cppn, builtin:digits and StyleGAN pickles have one)"
        )
    width, height = fit_size
    found, losses = [], []
    for frame in frames:
        target = torch.as_tensor(frame.astype(np.float32) / 255.0, device=device).permute(2, 0, 1)[None]
        if tuple(target.shape[2:]) != (height, width):
            target = F.interpolate(target, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        latent = initial().to(device).requires_grad_(True)
        optimiser = torch.optim.Adam([latent], lr=learning_rate)
        for _ in range(steps):
            rendered = forward(latent)
            if tuple(rendered.shape[2:]) != (height, width):
                rendered = F.interpolate(rendered, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
            loss = _loss(rendered, target.expand_as(rendered))
            optimiser.zero_grad()
            loss.sum().backward()
            optimiser.step()
            if progress is not None:
                progress(1)
        with torch.no_grad():
            rendered = forward(latent)
            if tuple(rendered.shape[2:]) != (height, width):
                rendered = F.interpolate(rendered, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
            final = _loss(rendered, target.expand_as(rendered))
        best = int(torch.argmin(final))
        found.append(latent[best].detach().cpu().numpy().astype(np.float32))
        losses.append(float(final[best]))
    return Projection(np.stack(found), space, "optimisation", tuple(losses))
