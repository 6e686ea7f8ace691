"""Frozen convolutional features of camera frames: a fixed-seed random network (no file needed) or a torchvision one with the user's weights.

The default network is four 3x3 convolutions (3→16→32→64→128 channels, stride 2, ReLU) with weights
drawn from a fixed seed, so it is the same everywhere and needs no download. Random convolutional
features respond to the layout of colour and edges at growing scales (layer 1: colour and fine
texture; layer 4: coarse composition); their channel-wise means are the layer's reduction, as in
Porres' "Towards Kinetic Manipulation of the Latent Space".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from latentcut.errors import ModelError, UsageError

__all__ = ["DEFAULT_FEATURES", "FeatureNetwork", "feature_network", "layer_weights"]

DEFAULT_FEATURES = "random"
_RANDOM_CHANNELS = (16, 32, 64, 128)
_RANDOM_SEED = 1955  # fixed: the default network must be the same on every machine
_INPUT_SIZE = 128
_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)  # ImageNet statistics, as torchvision models expect
_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class FeatureNetwork:
    """Channel-wise means of chosen layers of a frozen network, weighted and concatenated into one vector per frame."""

    def __init__(self, spec: str, blocks: nn.ModuleList, weights: Sequence[float], device: str = "cpu") -> None:
        if len(weights) != len(blocks):
            raise UsageError(f"--layer-weights gives {len(weights)} weights; {spec} has {len(blocks)} layers")
        self.spec = spec
        self.blocks = blocks.to(device).eval()
        self.weights = [float(w) for w in weights]
        self.device = device
        self.channels = [_out_channels(block) for block in blocks]
        self.dim = sum(c for c, w in zip(self.channels, self.weights, strict=True) if w != 0)

    @torch.no_grad()
    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Features ``(n, dim)`` float32 of uint8 RGB frames ``(n, h, w, 3)``."""
        x = torch.from_numpy(np.array(frames, copy=True)).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        x = nn.functional.interpolate(x, size=(_INPUT_SIZE, _INPUT_SIZE), mode="area")
        x = (x - _MEAN.to(self.device)) / _STD.to(self.device)
        parts = []
        for block, weight in zip(self.blocks, self.weights, strict=True):
            x = block(x)
            if weight != 0:
                parts.append(weight * x.mean(dim=(2, 3)))
        return torch.cat(parts, dim=1).cpu().numpy().astype(np.float32)


def _out_channels(block: nn.Module) -> int:
    convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ModelError("a feature layer without a convolution cannot be reduced to channel means")
    return convs[-1].out_channels


def _random_blocks() -> nn.ModuleList:
    generator = torch.Generator().manual_seed(_RANDOM_SEED)
    blocks = nn.ModuleList()
    channels_in = 3
    for channels in _RANDOM_CHANNELS:
        conv = nn.Conv2d(channels_in, channels, 3, stride=2, padding=1)
        with torch.no_grad():
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * (2.0 / (9 * channels_in)) ** 0.5)
            conv.bias = nn.Parameter(torch.zeros(channels))
        blocks.append(nn.Sequential(conv, nn.ReLU()))
        channels_in = channels
    return blocks


def _torchvision_blocks(architecture: str, weights_path: Path) -> nn.ModuleList:
    try:
        import torchvision.models as models
    except ImportError as exc:
        raise ModelError(
            f"--features {architecture}={weights_path}: needs torchvision built for this torch ({torch.__version__}); "
            "install it, or use --features random"
        ) from exc
    if not hasattr(models, architecture):
        raise UsageError(f"--features: torchvision has no architecture {architecture!r} (e.g. vgg16, resnet18)")
    if not weights_path.is_file():
        raise ModelError(f"{weights_path}: weights not found; nothing is downloaded, give the .pth file you have")
    network = getattr(models, architecture)(weights=None)
    state = torch.load(weights_path, map_location="cpu", weights_only=True)
    network.load_state_dict(state)
    features = getattr(network, "features", None)
    if features is None:
        # ResNet-like: the stem and the four stages are the layers.
        stages = [nn.Sequential(network.conv1, network.bn1, network.relu, network.maxpool, network.layer1)]
        stages += [network.layer2, network.layer3, network.layer4]
        return nn.ModuleList(stages)
    # VGG-like: one layer per pooling stage.
    blocks, current = nn.ModuleList(), []
    for module in features:
        current.append(module)
        if isinstance(module, nn.MaxPool2d):
            blocks.append(nn.Sequential(*current))
            current = []
    if current:
        blocks.append(nn.Sequential(*current))
    return blocks


def layer_weights(text: str | None, layers: int) -> list[float]:
    """Per-layer weights: ``None`` gives every layer 1; ``0,0,1,1`` mixes the last two; ``mean:3`` takes layer 3 alone."""
    if text is None:
        return [1.0] * layers
    single = re.fullmatch(r"mean:(\d+)", text.strip())
    if single:
        index = int(single[1])
        if not 0 <= index < layers:
            raise UsageError(f"--layer-weights {text}: layers are numbered 0-{layers - 1}")
        return [1.0 if i == index else 0.0 for i in range(layers)]
    try:
        weights = [float(v) for v in text.split(",")]
    except ValueError as exc:
        raise UsageError(f"--layer-weights {text!r}: give numbers like 0,0.5,1,1 or mean:3") from exc
    if len(weights) != layers or not any(weights) or not all(np.isfinite(weights)):
        raise UsageError(f"--layer-weights {text!r}: give {layers} finite weights, not all zero")
    return weights


def feature_network(spec: str = DEFAULT_FEATURES, weights_text: str | None = None, device: str = "cpu") -> FeatureNetwork:
    """The frozen feature network ``spec`` names: ``random`` (default) or ``ARCH=PATH.pth`` (torchvision, the user's weights)."""
    if spec == DEFAULT_FEATURES:
        blocks = _random_blocks()
    else:
        architecture, _, path = spec.partition("=")
        if not path or not re.fullmatch(r"[a-z][a-z0-9_]*", architecture):
            raise UsageError(f"--features {spec!r}: give random, or a torchvision architecture and your weights: vgg16=vgg16.pth")
        blocks = _torchvision_blocks(architecture, Path(path))
    for parameter in blocks.parameters():
        parameter.requires_grad_(False)
    return FeatureNetwork(spec, blocks, layer_weights(weights_text, len(blocks)), device)
