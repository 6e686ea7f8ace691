"""Frames from the model's device into host memory: on CUDA through a pinned buffer on a copy stream of its own, while the next batch is generated; elsewhere a plain copy.

On CUDA, ``FrameCopier.start`` queues the copy of a batch of uint8 frames (converted on the device,
so a quarter of the float bytes cross the bus) into a pinned (page-locked) host buffer with
``non_blocking=True`` on a copy stream that first waits for the generating stream; it returns at
once, so the caller goes on to queue the next batch's generation while the copy runs. ``into``
then waits on the copy's event (torch releases the GIL while it waits) and hands the frames on.
Pinned buffers come from torch's caching host allocator, so each batch reuses the last one's.

Only the CPU path runs in latentcut's tests (no GPU there); the CUDA path is exercised by a test
that runs when CUDA is present, and by ``bench/render.py`` on a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["FrameCopier", "PendingFrames"]


@dataclass(frozen=True)
class PendingFrames:
    """A batch of uint8 frames on its way to host memory: ``into`` waits for it and writes it out."""

    host: torch.Tensor  # pinned host memory being filled (CUDA), or the frames themselves (CPU)
    copied: torch.cuda.Event | None = None  # recorded on the copy stream after the copy; None: nothing to wait for

    def into(self, out: np.ndarray) -> None:
        """Wait for the copy, then write the frames into ``out`` (same shape, uint8)."""
        if self.copied is not None:
            self.copied.synchronize()
        out[...] = self.host.numpy()

    def result(self) -> np.ndarray:
        """Wait for the copy; the frames as one contiguous array (on CUDA the pinned buffer itself: no further copy)."""
        if self.copied is not None:
            self.copied.synchronize()
        return np.ascontiguousarray(self.host.numpy())


class FrameCopier:
    """Copies batches of frames off ``device``: asynchronously through pinned memory on CUDA, plainly elsewhere."""

    def __init__(self, device: torch.device | str) -> None:
        self.device = torch.device(device)
        # CUDA only: a stream of the copier's own, so copies overlap the generating stream's kernels.
        self._stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None

    def start(self, frames: torch.Tensor) -> PendingFrames:
        """Begin copying ``frames`` (uint8, on the device) to host memory; return at once on CUDA."""
        if self._stream is None or frames.device.type != "cuda":
            return PendingFrames(frames.cpu())  # on a CPU a view of the frames themselves: nothing is copied yet
        frames = frames.contiguous()  # on the generating stream: the copy below is then one transfer
        host = torch.empty(frames.shape, dtype=frames.dtype, pin_memory=True)
        self._stream.wait_stream(torch.cuda.current_stream(frames.device))  # the frames are finished before they are copied
        with torch.cuda.stream(self._stream):
            host.copy_(frames, non_blocking=True)
            copied = torch.cuda.Event()
            copied.record(self._stream)
        frames.record_stream(self._stream)  # the allocator keeps the frames' device memory until the copy is done
        return PendingFrames(host, copied)
