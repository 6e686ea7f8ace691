"""From a torch model's float images to the uint8 RGB frames every ``Generator.render`` returns."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["rendered_frames"]


@torch.inference_mode()
def rendered_frames(
    images_of: Callable[[np.ndarray], torch.Tensor], latents: np.ndarray, size: tuple[int, int], batch_size: int
) -> np.ndarray:
    """Frames ``(n, height, width, 3)`` uint8 from ``images_of(batch)``, images ``(b, C, H, W)`` in [-1, 1] (grey or RGB(A)).

    Latents go through in batches of ``batch_size``; images of another size are resized (bilinear, antialiased).
    """
    width, height = size
    frames = []
    for start in range(0, len(latents), batch_size):
        images = images_of(np.asarray(latents[start : start + batch_size], np.float32)).float()
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        images = images[:, :3]
        if (images.shape[3], images.shape[2]) != (width, height):
            images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
        rgb = ((images.permute(0, 2, 3, 1) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)
        frames.append(rgb.cpu().numpy())
    if not frames:
        return np.zeros((0, height, width, 3), np.uint8)
    return np.concatenate(frames)
