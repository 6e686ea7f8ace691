"""Small StyleGAN networks and their snapshots for the tests: StyleGAN3 config T at 32x32, StyleGAN2 at 16x16, and several configurations of both."""

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


# Several configurations, so that a rule is tested on more than one sample: (module, constructor arguments).
CONFIGURATIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "sg2-z8-16px": (
        "stylegan2",
        {"z_dim": 8, "w_dim": 8, "c_dim": 0, "img_resolution": 16, "img_channels": 3, "mapping_kwargs": {"num_layers": 2},
         "channel_base": 128, "channel_max": 8},
    ),
    "sg2-z12-w10-32px-3classes": (
        "stylegan2",
        {"z_dim": 12, "w_dim": 10, "c_dim": 3, "img_resolution": 32, "img_channels": 3, "mapping_kwargs": {"num_layers": 3},
         "channel_base": 256, "channel_max": 8},
    ),
    "sg3t-z16-32px": ("stylegan3", KWARGS),
}  # fmt: skip


def tiny_snapshot(path: Path, configuration: str, seed: int = 0, **overrides: Any) -> Path:
    """Write a StyleGAN network of ``configuration`` (see ``CONFIGURATIONS``, ``overrides`` replacing its settings) as a
    snapshot in NVIDIA's layout.

    Its average w and its biases are random too, so truncation and noise change the pictures.
    """
    import torch

    from latentcut.models.stylegan import stylegan2, stylegan3
    from latentcut.models.stylegan.pickle_reader import SG2_MODULE, SG3_MODULE
    from latentcut.models.stylegan.snapshot_writer import write_snapshot

    module, kwargs = CONFIGURATIONS[configuration]
    kwargs = {**kwargs, **overrides}
    torch.manual_seed(seed)
    network = (stylegan2 if module == "stylegan2" else stylegan3).Generator(**kwargs)
    with torch.no_grad():
        network.mapping.w_avg.normal_()
        for name, parameter in network.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                parameter.normal_(0, 0.2)
    return write_snapshot(path, network, SG2_MODULE if module == "stylegan2" else SG3_MODULE, kwargs)
