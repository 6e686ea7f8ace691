"""Text burned into frames and sheets (snapshot names, frame numbers, captions), drawn once with Pillow and stamped with numpy."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import PurePath

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "caption_image",
    "frame_numbers_stamped",
    "label_height_px",
    "short_model_label",
    "stamped",
    "text_patch",
]

_BUILTIN_SNAPSHOT = re.compile(r"^builtin:(\w+)@(\d+)$")
_TRAINING_SNAPSHOT = re.compile(r"(?:^|/)network-snapshot-(\d+)\.pkl$")  # StyleGAN names its snapshots by kimg
_LABEL_CHARS = 14  # longest label kept whole; longer ones keep their end, where snapshot numbers are


def label_height_px(tile_height_px: int) -> int:
    """Height of a label band for tiles ``tile_height_px`` tall: 18 px on 128 px tiles, never under 12."""
    return max(12, round(tile_height_px * 0.14))


def short_model_label(spec: str, final_snapshot: int | None = None) -> str:
    """A tile label for a model spec: ``@9`` for ``builtin:cppn@9``, ``@27`` for the final snapshot, a file's stem.

    ``final_snapshot`` is the number of the snapshot a bare ``builtin:NAME`` spec stands for.
    """
    builtin = _BUILTIN_SNAPSHOT.match(spec)
    if builtin:
        return f"@{builtin[2]}"
    if spec.startswith("builtin:") and final_snapshot is not None:
        return f"@{final_snapshot}"
    training = _TRAINING_SNAPSHOT.search(spec)
    if training:
        return f"{int(training[1])} kimg"
    name = PurePath(spec.split("=", 1)[0]).name if "/" in spec or "." in spec.split(":", 1)[0] else spec
    for suffix in (".pkl", ".pt2", ".pt", ".pth"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name if len(name) <= _LABEL_CHARS else "…" + name[-(_LABEL_CHARS - 1) :]


@lru_cache(maxsize=8)
def _font(size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size_px)


@lru_cache(maxsize=256)
def text_patch(text: str, height_px: int) -> np.ndarray:
    """Return white ``text`` on a translucent black band, as an RGBA uint8 patch ``height_px`` tall."""
    font = _font(max(8, round(height_px * 0.78)))
    left, top, right, bottom = font.getbbox(text)
    pad = max(2, height_px // 6)
    patch = Image.new("RGBA", (int(right - left) + 2 * pad, height_px), (0, 0, 0, 170))
    ImageDraw.Draw(patch).text((pad - left, (height_px - (bottom - top)) // 2 - top), text, font=font, fill=(255, 255, 255, 255))
    array = np.asarray(patch)
    array.setflags(write=False)
    return array


@lru_cache(maxsize=1024)
def caption_image(text: str, width_px: int, height_px: int) -> np.ndarray:
    """Return ``text`` in white on black, left-aligned, as an RGB uint8 image exactly ``width_px`` x ``height_px``.

    Text wider than the caption keeps its end (``…5x2``), where frame numbers and repeats are.
    """
    font = _font(max(8, round(height_px * 0.78)))
    shown = text
    pad = max(2, height_px // 6)
    while len(shown) > 1 and font.getbbox(shown)[2] - font.getbbox(shown)[0] > width_px - 2 * pad:
        shown = "…" + shown[2:] if shown.startswith("…") else "…" + shown[1:]
    image = Image.new("RGB", (width_px, height_px), (0, 0, 0))
    left, top, _, bottom = font.getbbox(shown)
    ImageDraw.Draw(image).text((pad - left, (height_px - (bottom - top)) // 2 - top), shown, font=font, fill=(255, 255, 255))
    array = np.asarray(image)
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


def frame_numbers_stamped(frames: np.ndarray, first_index: int, numbers: np.ndarray | None = None) -> np.ndarray:
    """Burn each frame's number into its bottom-left corner, in place: ``numbers[i]`` when given, else ``first_index + i``.

    ``numbers`` carries each frame's index in the original pool through curation (see ``latent.curation``).
    """
    height = frames.shape[1]
    label_px = max(10, height // 16)
    for offset in range(len(frames)):
        number = int(numbers[offset]) if numbers is not None else first_index + offset
        patch = text_patch(f"{number:06d}", label_px)
        stamped(frames[offset : offset + 1], patch, 0, height - label_px)
    return frames
