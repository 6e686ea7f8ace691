"""Text burned into frames (snapshot names, frame numbers), drawn once with Pillow and stamped with numpy."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["frame_numbers_stamped", "stamped", "text_patch"]


@lru_cache(maxsize=256)
def text_patch(text: str, height_px: int) -> np.ndarray:
    """Return white ``text`` on a translucent black band, as an RGBA uint8 patch ``height_px`` tall."""
    font = ImageFont.load_default(size=max(6, int(height_px * 0.72)))
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, height_px // 6)
    patch = Image.new("RGBA", (right - left + 2 * pad, height_px), (0, 0, 0, 150))
    ImageDraw.Draw(patch).text((pad - left, (height_px - (bottom - top)) // 2 - top), text, font=font, fill=(255, 255, 255, 255))
    array = np.asarray(patch)
    array.setflags(write=False)
    return array


def stamped(frames: np.ndarray, patch: np.ndarray, x: int, y: int) -> np.ndarray:
    """Alpha-blend an RGBA ``patch`` onto every frame of ``frames`` (n, h, w, 3) at ``(x, y)``, in place; return ``frames``.

    The patch is clipped to the frame, so a label wider than a small tile is cut, never an error.
    """
    height, width = frames.shape[1:3]
    h = min(patch.shape[0], height - y)
    w = min(patch.shape[1], width - x)
    if h <= 0 or w <= 0:
        return frames
    alpha = patch[:h, :w, 3:4].astype(np.float32) / 255.0
    region = frames[:, y : y + h, x : x + w].astype(np.float32)
    frames[:, y : y + h, x : x + w] = (region * (1.0 - alpha) + patch[:h, :w, :3] * alpha + 0.5).astype(np.uint8)
    return frames


def frame_numbers_stamped(frames: np.ndarray, first_index: int) -> np.ndarray:
    """Burn each frame's index (``first_index``, ``first_index + 1``, …) into its bottom-left corner, in place."""
    height = frames.shape[1]
    label_px = max(10, height // 16)
    for offset in range(len(frames)):
        patch = text_patch(f"{first_index + offset:06d}", label_px)
        stamped(frames[offset : offset + 1], patch, 0, height - label_px)
    return frames
