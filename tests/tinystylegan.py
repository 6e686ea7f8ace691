"""Small StyleGAN networks (StyleGAN3 config T at 32x32, StyleGAN2 at 16x16) and their snapshots for the tests: built in a second."""

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


SG2_KWARGS: dict[str, Any] = {
    "z_dim": 12,
    "c_dim": 0,
    "w_dim": 12,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "img_resolution": 16,
    "channel_base": 128,
    "channel_max": 8,
}


def tiny_stylegan3(seed: int = 0, **overrides: Any) -> Any:
    """A ``StyleGanGenerator`` of a fresh StyleGAN3 network on the CPU (spec ``tiny-sg3``); ``overrides`` change ``KWARGS``."""
    import torch

    from latentcut.models.stylegan import stylegan3
    from latentcut.models.stylegan.generator import StyleGanGenerator

    torch.manual_seed(seed)
    return StyleGanGenerator(stylegan3.Generator(**{**KWARGS, **overrides}), spec="tiny-sg3", sha256="3" * 64, device="cpu")


def tiny_stylegan3_snapshot(path: Path, seed: int = 0, **overrides: Any) -> Path:
    """Write the network of ``tiny_stylegan3(seed)`` as a snapshot in NVIDIA's layout (it loads without --trust-pickle)."""
    from latentcut.models.stylegan.pickle_reader import SG3_MODULE
    from latentcut.models.stylegan.snapshot_writer import write_snapshot

    return write_snapshot(path, tiny_stylegan3(seed, **overrides).network, SG3_MODULE, {**KWARGS, **overrides})


def tiny_stylegan2_snapshot(path: Path, seed: int = 0, **overrides: Any) -> Path:
    """Write a fresh StyleGAN2 network (``SG2_KWARGS`` with ``overrides``) as a snapshot in NVIDIA's layout."""
    import torch

    from latentcut.models.stylegan import stylegan2
    from latentcut.models.stylegan.pickle_reader import SG2_MODULE
    from latentcut.models.stylegan.snapshot_writer import write_snapshot

    torch.manual_seed(seed)
    kwargs = {**SG2_KWARGS, **overrides}
    return write_snapshot(path, stylegan2.Generator(**kwargs), SG2_MODULE, kwargs)
