"""A small StyleGAN3 network (config T, 32x32) and its snapshot for the tests: built in a second, rendered in milliseconds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

KWARGS: dict[str, Any] = {
    "z_dim": 16,
    "c_dim": 0,
    "w_dim": 16,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "img_resolution": 32,
    "channel_base": 256,
    "channel_max": 8,
    "num_layers": 6,
}


def tiny_stylegan3(seed: int = 0) -> Any:
    """A ``StyleGanGenerator`` of a fresh StyleGAN3 network on the CPU (spec ``tiny-sg3``)."""
    import torch

    from latentcut.models.stylegan import stylegan3
    from latentcut.models.stylegan.generator import StyleGanGenerator

    torch.manual_seed(seed)
    return StyleGanGenerator(stylegan3.Generator(**KWARGS), spec="tiny-sg3", sha256="3" * 64, device="cpu")


def tiny_stylegan3_snapshot(path: Path, seed: int = 0) -> Path:
    """Write the network of ``tiny_stylegan3(seed)`` as a snapshot in NVIDIA's layout (it loads without --trust-pickle)."""
    from latentcut.models.stylegan.pickle_reader import SG3_MODULE
    from latentcut.models.stylegan.snapshot_writer import write_snapshot

    return write_snapshot(path, tiny_stylegan3(seed).network, SG3_MODULE, KWARGS)
