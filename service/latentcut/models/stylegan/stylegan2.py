"""latentcut's StyleGAN2 generator in plain PyTorch, with the constructor and state_dict keys of NVIDIA's snapshots.

Built from the StyleGAN2 paper (Karras et al. 2020, "Analyzing and Improving the Image Quality of
StyleGAN") and the architecture of NVIDIA's ``training/networks_stylegan2.py`` (StyleGAN2-ADA's
``training/networks.py`` is the same network): an 8-layer mapping network with ``w_avg`` truncation, and
a synthesis network of blocks at 4x4 .. NxN, each one or two modulated 3x3 convolutions (done as one
grouped convolution per layer, demodulated), with [1,3,3,1] up-sampling filters and a ToRGB output per
block summed across resolutions (``skip``), or only at the end (``orig``, ``resnet``).

The resampling follows NVIDIA's reference (non-CUDA) ops so that the same weights give the same images:
zero-insertion up-sampling, padding, then an FIR filter, with the same paddings and gains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from latentcut.models.stylegan.layers import checked_precision, compute_dtype, modulated_weight, normalize_2nd_moment, truncate

__all__ = [
    "ACTIVATIONS",
    "Generator",
    "MappingNetwork",
    "SynthesisNetwork",
    "bias_act",
    "conv2d_resample",
    "modulated_conv2d",
    "setup_filter",
    "upfirdn2d",
    "upsample2d",
]


# name -> (function, default gain): the gains keep activations' variance, as NVIDIA's bias_act does.
ACTIVATIONS: dict[str, tuple[Any, float]] = {
    "linear": (lambda x: x, 1.0),
    "relu": (F.relu, math.sqrt(2)),
    "lrelu": (lambda x: F.leaky_relu(x, 0.2), math.sqrt(2)),
    "tanh": (torch.tanh, 1.0),
    "sigmoid": (torch.sigmoid, 1.0),
    "elu": (F.elu, 1.0),
    "selu": (F.selu, 1.0),
    "softplus": (F.softplus, 1.0),
    "swish": (lambda x: torch.sigmoid(x) * x, math.sqrt(2)),
}


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    *,
    act: str = "linear",
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Return ``clamp(act(x + b) * gain)`` with the bias on dimension 1 and ``act``'s default gain."""
    function, default_gain = ACTIVATIONS[act]
    if b is not None:
        x = x + b.reshape([1, -1] + [1] * (x.ndim - 2))
    x = function(x)
    gain = default_gain if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def setup_filter(f: Sequence[float] | torch.Tensor, *, normalize: bool = True, gain: float = 1.0) -> torch.Tensor:
    """Return the 2-D (or, for long taps, separable 1-D) FIR filter for ``f``, normalised to sum 1."""
    f = torch.as_tensor(f, dtype=torch.float32)
    if f.ndim == 0:
        f = f[None]
    if f.ndim == 1 and f.numel() < 8:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    return f * (gain ** (f.ndim / 2))


def _filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    if f is None:
        return 1, 1
    return int(f.shape[-1]), int(f.shape[0])


def _pads(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return padding[0], padding[1], padding[2], padding[3]


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    *,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    flip_filter: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Up-sample by zero insertion, pad (or crop, for negative pads), FIR-filter, then down-sample; pads are (x0, x1, y0, y1)."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    batch, channels, height, width = x.shape
    pad_x0, pad_x1, pad_y0, pad_y1 = _pads(padding)
    if up > 1:
        x = x.reshape([batch, channels, height, 1, width, 1])
        x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
        x = x.reshape([batch, channels, height * up, width * up])
    x = F.pad(x, [max(pad_x0, 0), max(pad_x1, 0), max(pad_y0, 0), max(pad_y1, 0)])
    x = x[:, :, max(-pad_y0, 0) : x.shape[2] - max(-pad_y1, 0), max(-pad_x0, 0) : x.shape[3] - max(-pad_x1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[None, None].repeat([channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=channels)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=channels)
        x = F.conv2d(x, f.unsqueeze(3), groups=channels)
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def upsample2d(x: torch.Tensor, f: torch.Tensor, *, up: int = 2) -> torch.Tensor:
    """Return ``x`` up-sampled by ``up`` through filter ``f`` (same size out as in, times ``up``)."""
    fw, fh = _filter_size(f)
    padding = [(fw + up - 1) // 2, (fw - up) // 2, (fh + up - 1) // 2, (fh - up) // 2]
    return upfirdn2d(x, f, up=up, padding=padding, gain=up * up)


def _conv2d(
    x: torch.Tensor,
    w: torch.Tensor,
    *,
    stride: int = 1,
    padding: int | Sequence[int] = 0,
    groups: int = 1,
    transpose: bool = False,
    flip_weight: bool = True,
) -> torch.Tensor:
    _, _, kh, kw = w.shape
    if not flip_weight and (kw > 1 or kh > 1):
        w = w.flip([2, 3])
    if transpose:
        return F.conv_transpose2d(x, w, stride=stride, padding=padding, groups=groups)
    return F.conv2d(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    *,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """Return the 2-D convolution of ``x`` by ``w``, up- or down-sampled through ``f`` (NVIDIA's order of operations)."""
    out_channels, in_per_group, kh, kw = w.shape
    fw, fh = _filter_size(f)
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        x = upfirdn2d(x, f, down=down, padding=[px0, px1, py0, py1])
        return _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if kw == 1 and kh == 1 and up > 1 and down == 1:
        x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
        return upfirdn2d(x, f, up=up, padding=[px0, px1, py0, py1], gain=up * up)
    if down > 1 and up == 1:
        x = upfirdn2d(x, f, padding=[px0, px1, py0, py1])
        return _conv2d(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        # A strided transposed convolution does the zero insertion and the 3x3 in one op; the FIR filter follows.
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_channels // groups, in_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_per_group, out_channels // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt = max(min(-px0, -px1), 0)
        pyt = max(min(-py0, -py1), 0)
        x = _conv2d(x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight)
        x = upfirdn2d(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up * up)
        if down > 1:
            x = upfirdn2d(x, f, down=down)
        return x
    if px0 == px1 and py0 == py1 and px0 >= 0 and py0 >= 0:
        return _conv2d(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)
    x = upfirdn2d(x, f if up > 1 else None, up=up, padding=[px0, px1, py0, py1], gain=up * up)
    x = _conv2d(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1:
        x = upfirdn2d(x, f, down=down)
    return x


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
) -> torch.Tensor:
    """Return ``x`` convolved by ``weight`` scaled per sample by ``styles`` (and demodulated), as one grouped convolution."""
    batch = x.shape[0]
    _, in_channels, kh, kw = weight.shape
    if x.dtype in (torch.float16, torch.bfloat16) and demodulate:
        # Pre-normalise so the products below cannot overflow half precision; demodulation cancels it.
        weight = weight * (1 / math.sqrt(in_channels * kh * kw) / weight.norm(float("inf"), dim=[1, 2, 3], keepdim=True))
        styles = styles / styles.norm(float("inf"), dim=1, keepdim=True)
    w = modulated_weight(weight, styles, demodulate)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w.to(x.dtype), f=resample_filter, up=up, padding=padding, groups=batch, flip_weight=flip_weight)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise.to(x.dtype)
    return x


class FullyConnectedLayer(torch.nn.Module):
    """A dense layer with equalised learning rate (weights scaled at run time by ``lr_multiplier / sqrt(in)``)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
        bias_init: float = 0.0,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b: torch.Tensor | None = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


class MappingNetwork(torch.nn.Module):
    """z (and a class label) -> w, broadcast to ``num_ws`` copies, with truncation toward ``w_avg``."""

    w_avg: torch.Tensor

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int | None,
        num_layers: int = 8,
        embed_features: int | None = None,
        layer_features: int | None = None,
        activation: str = "lrelu",
        lr_multiplier: float = 0.01,
        w_avg_beta: float | None = 0.998,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers = z_dim, c_dim, w_dim, num_ws, num_layers
        if embed_features is None:
            embed_features = w_dim
        if c_dim == 0:
            embed_features = 0
        if layer_features is None:
            layer_features = w_dim
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for index in range(num_layers):
            layer = FullyConnectedLayer(features[index], features[index + 1], activation=activation, lr_multiplier=lr_multiplier)
            setattr(self, f"fc{index}", layer)
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor | None,
        c: torch.Tensor | None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
    ) -> torch.Tensor:
        x = None
        if self.z_dim > 0 and z is not None:
            x = normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim > 0 and c is not None:
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1) if x is not None else y
        assert x is not None
        for index in range(self.num_layers):
            x = getattr(self, f"fc{index}")(x)
        if self.num_ws is not None:
            x = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        if truncation_psi != 1:
            x = truncate(x, self.w_avg, truncation_psi, truncation_cutoff)
        return x


class SynthesisLayer(torch.nn.Module):
    """One modulated convolution (optionally up-sampling by 2), noise, bias and leaky ReLU."""

    resample_filter: torch.Tensor
    noise_const: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.resolution, self.up, self.use_noise, self.activation, self.conv_clamp = (
            resolution,
            up,
            use_noise,
            activation,
            conv_clamp,
        )
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATIONS[activation][1]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "const",
        gain: float = 1.0,
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            # With a seeded generator every image gets the same draw: frames neither flicker nor depend on batching.
            count = 1 if noise_generator is not None else x.shape[0]
            shape = [count, 1, self.resolution, self.resolution]
            noise = torch.randn(shape, device=x.device, generator=noise_generator) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias.to(x.dtype), act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(torch.nn.Module):
    """A modulated (not demodulated) 1x1 convolution to image channels."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        kernel_size: int = 1,
        conv_clamp: float | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False)
        return bias_act(x, self.bias.to(x.dtype), clamp=self.conv_clamp)


class Conv2dLayer(torch.nn.Module):
    """A plain convolution with equalised learning rate (the ``resnet`` architecture's skip path)."""

    resample_filter: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = None,
        channels_last: bool = False,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.act_gain = ACTIVATIONS[activation][1]
        weight = torch.randn([out_channels, in_channels, kernel_size, kernel_size])
        bias_tensor = torch.zeros([out_channels]) if bias else None
        if trainable:
            self.weight = torch.nn.Parameter(weight)
            self.bias = torch.nn.Parameter(bias_tensor) if bias_tensor is not None else None
        else:
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias_tensor)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        w = self.weight * self.weight_gain
        b = self.bias.to(x.dtype) if self.bias is not None else None
        x = conv2d_resample(
            x, w.to(x.dtype), f=self.resample_filter, up=self.up, down=self.down, padding=self.padding, flip_weight=self.up == 1
        )
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, b, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class SynthesisBlock(torch.nn.Module):
    """One resolution: a learned constant (4x4) or an up-sampling conv, a second conv, and a ToRGB."""

    resample_filter: torch.Tensor

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: Sequence[float] = (1, 3, 3, 1),
        conv_clamp: float | None = 256,
        use_fp16: bool = False,
        fp16_channels_last: bool = False,
        fused_modconv_default: Any = True,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        if architecture not in ("orig", "skip", "resnet"):
            raise ValueError(f"unknown StyleGAN2 architecture {architecture!r}")
        self.in_channels, self.resolution, self.is_last, self.architecture = in_channels, resolution, is_last, architecture
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter))
        self.num_conv = 0
        self.num_torgb = 0
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(
                in_channels,
                out_channels,
                w_dim,
                resolution,
                up=2,
                resample_filter=resample_filter,
                conv_clamp=conv_clamp,
                **layer_kwargs,
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp, **layer_kwargs)
        self.num_conv += 1
        if is_last or architecture == "skip":
            self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
            self.num_torgb += 1
        if in_channels != 0 and architecture == "resnet":
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2, resample_filter=resample_filter)

    def forward(
        self,
        x: torch.Tensor | None,
        img: torch.Tensor | None,
        ws: torch.Tensor,
        *,
        precision: str = "fp32",
        noise_mode: str = "const",
        noise_generator: torch.Generator | None = None,
        const_offset: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        w_iter = iter(ws.unbind(dim=1))
        dtype = compute_dtype(self.use_fp16, ws.device, precision)
        noise = {"noise_mode": noise_mode, "noise_generator": noise_generator}
        if x is None and const_offset is not None:
            x = (self.const.unsqueeze(0) + const_offset.to(self.const.dtype)).to(dtype)
            x = self.conv1(x, next(w_iter), **noise)
        elif x is None:
            x = self.const.to(dtype).unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), **noise)
        elif self.architecture == "resnet":
            x = x.to(dtype)
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv0(x, next(w_iter), **noise)
            x = self.conv1(x, next(w_iter), gain=math.sqrt(0.5), **noise)
            x = y + x
        else:
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), **noise)
            x = self.conv1(x, next(w_iter), **noise)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == "skip":
            y = self.torgb(x, next(w_iter)).to(torch.float32)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """ws (n, num_ws, w_dim) -> images (n, img_channels, R, R) in about [-1, 1]."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 4,
        **block_kwargs: Any,
    ) -> None:
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution {img_resolution} is not a power of two >= 4")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        self.precision = "fp16"  # what NVIDIA runs its fp16 blocks in (CUDA only); see Generator.set_precision
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = channels[res // 2] if res > 4 else 0
            is_last = res == img_resolution
            block = SynthesisBlock(
                in_channels,
                channels[res],
                w_dim,
                res,
                img_channels,
                is_last,
                use_fp16=res >= fp16_resolution,
                **block_kwargs,
            )
            self.num_ws += block.num_conv
            if is_last:
                self.num_ws += block.num_torgb
            setattr(self, f"b{res}", block)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        *,
        noise_generator: torch.Generator | None = None,
        const_offset: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return float32 images (n, img_channels, R, R) for ``ws`` (n, num_ws, w_dim).

        ``const_offset`` (n, C, 4, 4) is added to the learned constant per sample (see ``input_controls``).
        """
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be const, random or none, not {noise_mode!r}")
        ws = ws.to(torch.float32)
        x = img = None
        w_index = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            block_ws = ws.narrow(1, w_index, block.num_conv + block.num_torgb)
            w_index += block.num_conv
            offset = const_offset if x is None else None
            x, img = block(
                x,
                img,
                block_ws,
                precision=self.precision,
                noise_mode=noise_mode,
                noise_generator=noise_generator,
                const_offset=offset,
            )
        assert img is not None
        return img


class Generator(torch.nn.Module):
    """StyleGAN2: ``mapping`` (z, c -> ws) then ``synthesis`` (ws -> images), NVIDIA's constructor and weights layout.

    Accepts both NVIDIA layouts of settings: StyleGAN3-repo ``**synthesis_kwargs`` and StyleGAN2-ADA
    ``synthesis_kwargs={...}``.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict[str, Any] | None = None,
        synthesis_kwargs: dict[str, Any] | None = None,
        **more_synthesis_kwargs: Any,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.img_resolution, self.img_channels = (
            z_dim,
            c_dim,
            w_dim,
            img_resolution,
            img_channels,
        )
        self.synthesis = SynthesisNetwork(
            w_dim, img_resolution, img_channels, **{**(synthesis_kwargs or {}), **more_synthesis_kwargs}
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None = None,
        truncation_psi: float = 1.0,
        truncation_cutoff: int | None = None,
        *,
        noise_mode: str = "const",
        noise_generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, noise_generator=noise_generator)

    def set_precision(self, precision: str) -> None:
        """Compute the blocks NVIDIA runs in fp16 in ``precision`` (fp32, fp16 or bf16) on CUDA; CPU stays float32."""
        self.synthesis.precision = checked_precision(precision)
