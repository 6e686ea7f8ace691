"""The embedded ``builtin:digits`` model: a small VAE (encoder and decoder) trained on scikit-learn's 8x8 handwritten digits.

The weights ship in the package (``digits_vae.npz``, made by ``python -m latentcut.models.digits_training``).
The decoder draws an 8x8 digit (white ink on black) and resamples it to any frame size; the encoder
maps frames of any size to the posterior mean, so ``encode`` then ``render`` reproduces a digit.
Unlike the CPPN it has attributes anyone can measure on its images: digit class, ink, slant.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from latentcut.errors import ModelError

__all__ = [
    "DIGITS_LATENT_DIM",
    "DIGITS_NATIVE_PIXELS",
    "DIGITS_RECORDED_ERROR",
    "DIGITS_WEIGHTS",
    "DigitsGenerator",
    "DigitsVae",
    "digit_images",
    "held_out_digits",
]

DIGITS_LATENT_DIM = 16
DIGITS_NATIVE_PIXELS = 8  # the digits are 8x8; every other size is a resampling
DIGITS_HIDDEN = 256
DIGITS_HELD_OUT = 297  # the last 297 of sklearn's 1797 digits are never trained on
DIGITS_WEIGHTS = Path(__file__).with_name("digits_vae.npz")
# Mean absolute pixel error (0..1 scale) of encode -> decode on the held-out digits with the shipped weights,
# measured by digits_training.py when it wrote them; tests check the weights still reproduce it.
DIGITS_RECORDED_ERROR = 0.061027


class DigitsVae(torch.nn.Module):
    """An MLP VAE over flattened 8x8 digits in [0, 1]: 64 -> 256 -> 256 -> 2x16 and back."""

    def __init__(self) -> None:
        super().__init__()
        pixels = DIGITS_NATIVE_PIXELS * DIGITS_NATIVE_PIXELS
        self.enc1 = torch.nn.Linear(pixels, DIGITS_HIDDEN)
        self.enc2 = torch.nn.Linear(DIGITS_HIDDEN, DIGITS_HIDDEN)
        self.enc_out = torch.nn.Linear(DIGITS_HIDDEN, 2 * DIGITS_LATENT_DIM)
        self.dec1 = torch.nn.Linear(DIGITS_LATENT_DIM, DIGITS_HIDDEN)
        self.dec2 = torch.nn.Linear(DIGITS_HIDDEN, DIGITS_HIDDEN)
        self.dec_out = torch.nn.Linear(DIGITS_HIDDEN, pixels)

    def posterior(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return ``(mean, log_variance)`` of q(z | pixels) for pixels ``(n, 64)`` in [0, 1]."""
        h = F.elu(self.enc2(F.elu(self.enc1(pixels))))
        mean, log_variance = self.enc_out(h).chunk(2, dim=1)
        return mean, log_variance

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Return per-pixel logits ``(n, 64)``; their sigmoid is the digit's ink in [0, 1]."""
        return self.dec_out(F.elu(self.dec2(F.elu(self.dec1(z)))))


def digit_images() -> tuple[np.ndarray, np.ndarray]:
    """Return scikit-learn's digits as float32 ``(1797, 8, 8)`` ink in [0, 1] and their int classes (no download)."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images / 16.0).astype(np.float32), data.target.astype(np.int64)


def held_out_digits() -> tuple[np.ndarray, np.ndarray]:
    """Return the digits the shipped weights never saw in training (the last ``DIGITS_HELD_OUT``)."""
    images, classes = digit_images()
    return images[-DIGITS_HELD_OUT:], classes[-DIGITS_HELD_OUT:]


def _loaded_vae(weights: Path) -> tuple[DigitsVae, str]:
    try:
        with np.load(weights) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError) as exc:
        raise ModelError(f"{weights}: cannot read the digits weights ({exc}); reinstall latentcut") from exc
    vae = DigitsVae()
    try:
        vae.load_state_dict({name: torch.from_numpy(value) for name, value in arrays.items()})
    except (RuntimeError, TypeError) as exc:
        raise ModelError(
            f"{weights}: does not fit the digits VAE ({exc}); rerun python -m latentcut.models.digits_training"
        ) from exc
    digest = hashlib.sha256(b"latentcut-digits-vae-v1")
    for name in sorted(arrays):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(arrays[name], "<f4").tobytes())
    return vae.eval(), digest.hexdigest()


class DigitsGenerator:
    """``builtin:digits``: renders digits at any size and encodes frames back to latents; satisfies ``Generator``."""

    spec = "builtin:digits"
    latent_dim = DIGITS_LATENT_DIM
    native_size = (DIGITS_NATIVE_PIXELS, DIGITS_NATIVE_PIXELS)

    def __init__(self, *, device: str | None = None, weights: Path = DIGITS_WEIGHTS) -> None:
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        vae, self.sha256 = _loaded_vae(weights)
        self._vae = vae.to(self.device)

    def ink(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Return differentiable ink ``(n, 1, height, width)`` in [0, 1] for latents ``z`` (optimisation uses this)."""
        logits = self._vae.decode_logits(z).reshape(-1, 1, DIGITS_NATIVE_PIXELS, DIGITS_NATIVE_PIXELS)
        width, height = size
        if (width, height) != self.native_size:
            # Resample logits, not ink: the sigmoid afterwards keeps stroke edges crisp at large sizes.
            logits = F.interpolate(logits, size=(height, width), mode="bicubic", align_corners=False)
        return torch.sigmoid(logits)

    def synthesis(self, z: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Return differentiable RGB ``(n, 3, height, width)`` in [0, 1] (grey: the ink in every channel)."""
        return self.ink(z, size).expand(-1, 3, -1, -1)

    @torch.inference_mode()
    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Return uint8 frames ``(n, height, width, 3)``: white digits on black."""
        width, height = size
        if width < 1 or height < 1:
            raise ModelError(f"{self.spec}: frame size {width}x{height} must be positive")
        z = torch.as_tensor(np.array(latents, np.float32), device=self.device)
        frames = []
        for start in range(0, len(z), 256):
            grey = (self.ink(z[start : start + 256], size)[:, 0] * 255.0 + 0.5).clamp(0, 255).to(torch.uint8)
            frames.append(grey[..., None].expand(-1, -1, -1, 3).cpu().numpy())
        return np.concatenate(frames) if frames else np.zeros((0, height, width, 3), np.uint8)

    @torch.inference_mode()
    def encode(self, images: np.ndarray) -> np.ndarray:
        """Return the posterior-mean latents ``(n, 16)`` of uint8 frames ``(n, H, W, 3)`` (or grey ``(n, H, W)``)."""
        array = np.asarray(images)
        if array.ndim == 4:
            array = array[..., :3].mean(axis=3)
        if array.ndim != 3:
            raise ModelError(f"{self.spec}: encode takes frames (n, H, W, 3), got shape {array.shape}")
        grey = torch.as_tensor(array.astype(np.float32) / 255.0, device=self.device)[:, None]
        if tuple(grey.shape[2:]) != (DIGITS_NATIVE_PIXELS, DIGITS_NATIVE_PIXELS):
            grey = F.interpolate(grey, size=(DIGITS_NATIVE_PIXELS, DIGITS_NATIVE_PIXELS), mode="area")
        mean, _ = self._vae.posterior(grey.reshape(len(grey), -1))
        return mean.cpu().numpy().astype(np.float32)
