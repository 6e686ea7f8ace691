"""Frames off the model's device: the CPU's plain copy here, the pinned asynchronous CUDA copy where a GPU is present."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentcut.models.device_copy import FrameCopier
from latentcut.models.frames import rendered_frames


def _images(latents: np.ndarray) -> torch.Tensor:
    """Images (n, 3, 12, 10) in [-1, 1] that differ per latent and per pixel, so any mix-up of batches shows."""
    z = torch.as_tensor(latents)
    ramp = torch.linspace(-1, 1, 12 * 10).reshape(1, 1, 12, 10)
    return torch.tanh(z[:, :3, None, None] + ramp)


def test_frames_come_out_the_same_whatever_the_batch():
    latents = np.random.default_rng(3).standard_normal((11, 8)).astype(np.float32)
    whole = rendered_frames(_images, latents, (10, 12), 64)
    assert whole.shape == (11, 12, 10, 3) and whole.dtype == np.uint8 and len(np.unique(whole)) > 50
    assert whole.flags.c_contiguous and whole.flags.writeable  # one batch comes back without a further copy, but whole
    for batch in (1, 3, 4, 10):
        np.testing.assert_array_equal(rendered_frames(_images, latents, (10, 12), batch), whole)
    expected = (
        torch.tanh(torch.as_tensor(latents[4, :3])[:, None, None] + torch.linspace(-1, 1, 120).reshape(12, 10)) + 1
    ) * 127.5 + 0.5
    np.testing.assert_array_equal(whole[4], expected.clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())
    assert rendered_frames(_images, latents[:0], (10, 12), 4).shape == (0, 12, 10, 3)


def test_on_a_cpu_the_copy_is_a_plain_one():
    frames = torch.randint(0, 256, (3, 4, 5, 3), dtype=torch.uint8)
    pending = FrameCopier("cpu").start(frames)
    assert pending.copied is None
    out = np.zeros((3, 4, 5, 3), np.uint8)
    pending.into(out)
    np.testing.assert_array_equal(out, frames.numpy())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (the pinned, asynchronous path)")
def test_on_cuda_frames_go_through_pinned_memory_on_a_copy_stream_and_match():
    latents = np.random.default_rng(4).standard_normal((9, 8)).astype(np.float32)

    def on_gpu(batch: np.ndarray) -> torch.Tensor:
        return _images(batch).cuda()

    np.testing.assert_array_equal(rendered_frames(on_gpu, latents, (10, 12), 2), rendered_frames(_images, latents, (10, 12), 2))
    frames = torch.randint(0, 256, (2, 4, 5, 3), dtype=torch.uint8, device="cuda").permute(0, 2, 1, 3)
    pending = FrameCopier("cuda").start(frames)
    assert pending.host.is_pinned() and pending.copied is not None
    out = np.zeros(tuple(frames.shape), np.uint8)
    pending.into(out)
    np.testing.assert_array_equal(out, frames.cpu().numpy())
