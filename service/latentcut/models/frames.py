"""From a torch model's float images to the uint8 RGB frames every ``Generator.render`` returns.

Frames are made uint8 on the model's device; on CUDA each batch's copy to host memory (pinned, on a
stream of its own: ``latentcut.models.device_copy``) runs while the next batch is generated.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from latentcut.models.device_copy import FrameCopier, PendingFrames

__all__ = ["rendered_frames"]


def _uint8_frames(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Frames ``(b, height, width, 3)`` uint8 from images ``(b, C, H, W)`` in [-1, 1], made on the images' device."""
    width, height = size
    images = images.float()
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    images = images[:, :3]
    if (images.shape[3], images.shape[2]) != (width, height):
        images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    return ((images.permute(0, 2, 3, 1) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)


@torch.inference_mode()
def rendered_frames(
    images_of: Callable[[np.ndarray], torch.Tensor], latents: np.ndarray, size: tuple[int, int], batch_size: int
) -> np.ndarray:
    """Frames ``(n, height, width, 3)`` uint8 from ``images_of(batch)``, images ``(b, C, H, W)`` in [-1, 1] (grey or RGB(A)).

    Latents go through in batches of ``batch_size``; images of another size are resized (bilinear, antialiased).
    """
    width, height = size
    out: np.ndarray | None = None
    copier: FrameCopier | None = None
    pending: tuple[PendingFrames, slice] | None = None
    for start in range(0, len(latents), batch_size):
        rgb = _uint8_frames(images_of(np.asarray(latents[start : start + batch_size], np.float32)), size)
        copier = copier or FrameCopier(rgb.device)
        started = copier.start(rgb), slice(start, start + len(rgb))
        if pending is not None:  # the batch before this one: its copy ran while this one was generated
            out = out if out is not None else np.empty((len(latents), height, width, 3), np.uint8)
            pending[0].into(out[pending[1]])
        pending = started
    if pending is None:
        return np.zeros((0, height, width, 3), np.uint8)
    if out is None:  # one batch: its frames as they came off the device, not copied again
        return pending[0].result()
    pending[0].into(out[pending[1]])
    return out
