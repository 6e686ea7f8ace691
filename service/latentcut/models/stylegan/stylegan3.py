"""latentcut's StyleGAN3 generator (configs T and R) in plain PyTorch, with the module and tensor names of NVIDIA's snapshots.

Built from "Alias-Free Generative Adversarial Networks" (Karras et al. 2021) and the architecture
facts of NVIDIA's reference implementation, without its custom CUDA ops: the filtered leaky ReLU is
a bias, an FIR upsampling, a leaky ReLU with clamp and an FIR downsampling, each a torch op. The
constructor arguments and the names of every sub-module, parameter and buffer are those of NVIDIA's
``training/networks_stylegan3.py``, so a snapshot's state dict loads with ``strict=True``.
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
    "FullyConnectedLayer",
    "Generator",
    "MappingNetwork",
    "SynthesisInput",
    "SynthesisLayer",
    "SynthesisNetwork",
    "filtered_lrelu",
    "input_transform_matrix",
    "lowpass_filter",
    "modulated_conv2d",
    "upfirdn2d",
]

_NOISE_MODES = ("random", "const", "none")


# ---------------------------------------------------------------------------------------------------
# Filters


def _kaiser_beta(numtaps: int, width_rel_nyquist: float) -> float:
    """Kaiser's empirical beta for a window of ``numtaps`` with the given transition width (relative to Nyquist)."""
    attenuation_db = 2.285 * (numtaps - 1) * math.pi * width_rel_nyquist + 7.95
    if attenuation_db > 50:
        return 0.1102 * (attenuation_db - 8.7)
    if attenuation_db > 21:
        return 0.5842 * (attenuation_db - 21) ** 0.4 + 0.07886 * (attenuation_db - 21)
    return 0.0


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor | None:
    """Return the Kaiser-windowed low-pass FIR filter of StyleGAN3 (None for the identity, 1 tap).

    Separable filters are 1-D windowed sincs normalised to unit DC gain (the design of
    ``scipy.signal.firwin``); radial ones are 2-D windowed jincs (a Bessel J1 over the radius).
    """
    if numtaps < 1:
        raise ValueError(f"a filter needs at least one tap, not {numtaps}")
    if numtaps == 1:
        return None
    nyquist = fs / 2
    beta = _kaiser_beta(numtaps, width / nyquist)
    window = np.kaiser(numtaps, beta)
    if not radial:
        relative_cutoff = cutoff / nyquist
        taps = np.arange(numtaps) - (numtaps - 1) / 2
        h = relative_cutoff * np.sinc(relative_cutoff * taps) * window
        return torch.as_tensor(h / h.sum(), dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    # Designed on the CPU whatever the default device (the reader sizes a network on "meta" first).
    bessel = torch.special.bessel_j1(torch.as_tensor(2 * cutoff * np.pi * r, dtype=torch.float64, device="cpu")).numpy()
    # J1(a r) / (pi r) tends to a / (2 pi) at r = 0 (only reached with an odd number of taps).
    safe_r = np.where(r == 0, 1.0, r)
    f = np.where(r == 0, cutoff, bessel / (np.pi * safe_r))
    f = f * np.outer(window, window)
    return torch.as_tensor(f / f.sum(), dtype=torch.float32)


def _fir_axis(x: torch.Tensor, f: torch.Tensor, up: int, down: int, pad0: int, pad1: int, axis: int) -> torch.Tensor:
    """Upsample by zero insertion, pad, convolve with 1-D ``f`` and keep every ``down``-th sample, along ``axis`` (2 or 3).

    Every step is a depthwise convolution of the NCHW ``x``. Upsampling is polyphase: output sample
    ``q * up + p`` only meets the taps ``f[p::up]``, so each phase is a short convolution of the
    input itself and the phases are interleaved, never multiplying the inserted zeros.
    """
    channels, taps = x.shape[1], f.shape[0]

    def kernel(taps_1d: torch.Tensor) -> torch.Tensor:
        shape = (1, 1, -1, 1) if axis == 2 else (1, 1, 1, -1)
        return taps_1d.reshape(shape).repeat(channels, 1, 1, 1)

    stride = (down, 1) if axis == 2 else (1, down)
    if up == 1:
        pads = (0, 0, pad0, pad1) if axis == 2 else (pad0, pad1, 0, 0)
        return F.conv2d(F.pad(x, pads), kernel(f.flip(0)), stride=stride, groups=channels)
    length = x.shape[axis]
    phase_taps = -(-taps // up)
    padded = F.pad(f, (0, phase_taps * up - taps))
    conv_padding = (phase_taps - 1, 0) if axis == 2 else (0, phase_taps - 1)
    phases = [F.conv2d(x, kernel(padded[p::up].flip(0)), padding=conv_padding, groups=channels) for p in range(up)]
    full = torch.stack(phases, dim=axis + 1).flatten(axis, axis + 1)
    # The padded, zero-inserted signal convolved with f ("valid") is the full convolution shifted by
    # taps - 1 - pad0 and cut to its length; F.pad crops where its amounts are negative.
    start = taps - 1 - pad0
    out_length = length * up + pad0 + pad1 - taps + 1
    before, after = -start, start + out_length - full.shape[axis]
    full = F.pad(full, (0, 0, before, after) if axis == 2 else (before, after, 0, 0))
    if down > 1:
        full = full[:, :, ::down, :] if axis == 2 else full[:, :, :, ::down]
    return full


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: Sequence[int] = (0, 0, 0, 0),
    gain: float = 1.0,
) -> torch.Tensor:
    """Upsample (zero insertion), pad (``[x0, x1, y0, y1]``, negative crops), FIR-filter and downsample an NCHW batch.

    ``f`` is a separable 1-D filter, a 2-D filter, or None (identity); it is scaled so the whole
    operation multiplies the signal by ``gain``, and applied as a convolution (flipped), as StyleGAN does.
    """
    batch, channels, height, width = x.shape
    px0, px1, py0, py1 = (int(p) for p in padding)
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    f = (f * gain ** (f.ndim / 2)).to(device=x.device, dtype=x.dtype)
    if f.ndim == 1:
        x = _fir_axis(x, f, up, down, px0, px1, axis=3)
        return _fir_axis(x, f, up, down, py0, py1, axis=2)
    if up > 1:
        x = F.pad(x.reshape(batch, channels, height, 1, width, 1), (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(batch, channels, height * up, width * up)
    kernel = f.flip((0, 1))[None, None].repeat(channels, 1, 1, 1)
    return F.conv2d(F.pad(x, (px0, px1, py0, py1)), kernel, stride=down, groups=channels)


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None,
    fd: torch.Tensor | None,
    b: torch.Tensor | None,
    up: int = 1,
    down: int = 1,
    padding: Sequence[int] = (0, 0, 0, 0),
    gain: float = math.sqrt(2),
    slope: float = 0.2,
    clamp: float | None = None,
) -> torch.Tensor:
    """Return StyleGAN3's filtered leaky ReLU: bias, upsample with ``fu``, leaky ReLU times ``gain``, clamp, downsample with ``fd``."""
    if b is not None:
        x = x + b.to(x.dtype).reshape(1, -1, 1, 1)
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up**2)
    x = F.leaky_relu(x, slope)
    if gain != 1:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


# ---------------------------------------------------------------------------------------------------
# Layers


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    demodulate: bool = True,
    padding: int = 0,
    input_gain: torch.Tensor | None = None,
) -> torch.Tensor:
    """Convolve each sample of ``x`` with ``weight`` modulated by its styles (and demodulated), as one grouped convolution."""
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    w = weight.to(torch.float32)
    s = styles.to(torch.float32)
    if demodulate:
        # Pre-normalising keeps fp16 in range; the demodulation below cancels both scales.
        w = w * w.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
        s = s * s.square().mean().rsqrt()
    w = modulated_weight(w, s, demodulate)
    if input_gain is not None:
        w = w * input_gain.to(torch.float32).expand(batch, in_channels).reshape(batch, 1, in_channels, 1, 1)
    y = F.conv2d(
        x.reshape(1, batch * in_channels, *x.shape[2:]),
        w.reshape(batch * out_channels, in_channels, kh, kw).to(x.dtype),
        padding=padding,
        groups=batch,
    )
    return y.reshape(batch, out_channels, *y.shape[2:])


class FullyConnectedLayer(torch.nn.Module):
    """A dense layer with equalised learning rate (weights scaled at run time) and an optional leaky ReLU."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        activation: str = "linear",
        bias: bool = True,
        lr_multiplier: float = 1.0,
        weight_init: float = 1.0,
        bias_init: float | Sequence[float] = 0.0,
        trainable: bool = True,
    ) -> None:
        super().__init__()
        if activation not in ("linear", "lrelu"):
            raise ValueError(f"StyleGAN3's dense layers use 'linear' or 'lrelu', not {activation!r}")
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) * (weight_init / lr_multiplier))
        initial_bias = np.broadcast_to(np.asarray(bias_init, dtype=np.float32), [out_features]) / lr_multiplier
        self.bias = torch.nn.Parameter(torch.as_tensor(initial_bias, dtype=torch.float32)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.matmul((self.weight.to(x.dtype) * self.weight_gain).t())
        if self.bias is not None:
            b = self.bias.to(x.dtype)
            x = x + (b * self.bias_gain if self.bias_gain != 1 else b)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * np.sqrt(2)
        return x

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"


class MappingNetwork(torch.nn.Module):
    """z (and a class label c) to W: normalised input, ``num_layers`` dense layers, broadcast to ``num_ws``, truncation."""

    w_avg: torch.Tensor

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 2,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.998,
        freeze_layers: int = 0,
        freeze_embed: bool = False,
    ) -> None:
        super().__init__()
        del freeze_layers, freeze_embed  # training options; frozen layers load like the others
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.num_ws = num_ws
        self.num_layers = num_layers
        self.w_avg_beta = w_avg_beta
        self.embed = FullyConnectedLayer(c_dim, w_dim) if c_dim > 0 else None
        features = [z_dim + (w_dim if c_dim > 0 else 0)] + [w_dim] * num_layers
        for idx in range(num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu", lr_multiplier=lr_multiplier)
            setattr(self, f"fc{idx}", layer)
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        update_emas: bool = False,
    ) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (n, {self.z_dim}), not {tuple(z.shape)}")
        x = normalize_2nd_moment(z.to(torch.float32))
        if self.embed is not None:
            if c is None or c.ndim != 2 or c.shape[1] != self.c_dim:
                raise ValueError(f"this model is conditional: c must have shape (n, {self.c_dim})")
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        if update_emas:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        return self.truncate(ws, truncation_psi, truncation_cutoff)

    def truncate(self, ws: torch.Tensor, truncation_psi: float = 1, truncation_cutoff: int | None = None) -> torch.Tensor:
        """Return ``ws`` (n, num_ws, w_dim) moved toward ``w_avg`` by ``1 - psi`` in its first ``truncation_cutoff`` entries."""
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)

    def extra_repr(self) -> str:
        return f"z_dim={self.z_dim}, c_dim={self.c_dim}, w_dim={self.w_dim}, num_ws={self.num_ws}"


def input_transform_matrix(translate: tuple[float, float] = (0.0, 0.0), rotate_deg: float = 0.0) -> np.ndarray:
    """Return the 3x3 ``SynthesisInput.transform`` that translates the image by ``translate`` and rotates it by ``rotate_deg``.

    Translation is in image widths (the Fourier features span one unit across the image); the
    buffer holds the inverse of the transform applied to the resulting image, as NVIDIA's does.
    """
    angle = math.radians(rotate_deg)
    sin, cos = math.sin(angle), math.cos(angle)
    forward = np.array([[cos, sin, translate[0]], [-sin, cos, translate[1]], [0.0, 0.0, 1.0]])
    return np.linalg.inv(forward)


class SynthesisInput(torch.nn.Module):
    """Fourier features: sinusoids of random frequencies in a disc, rotated and translated by an affine of w and the user transform."""

    transform: torch.Tensor
    freqs: torch.Tensor
    phases: torch.Tensor

    def __init__(self, w_dim: int, channels: int, size: int | Sequence[int], sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.channels = channels
        self.size = np.broadcast_to(np.asarray(size), [2])
        self.sampling_rate = sampling_rate
        self.bandwidth = bandwidth
        freqs = torch.randn([channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        phases = torch.rand([channels]) - 0.5
        self.weight = torch.nn.Parameter(torch.randn([channels, channels]))
        self.affine = FullyConnectedLayer(w_dim, 4, weight_init=0, bias_init=[1, 0, 0, 0])
        self.register_buffer("transform", torch.eye(3, 3))  # inverse of the user's transform of the image
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", phases)

    def forward(self, w: torch.Tensor, transforms: torch.Tensor | None = None) -> torch.Tensor:
        """Return the (n, channels, h, w) features for ``w``; ``transforms`` (n, 3, 3) replaces the ``transform`` buffer per sample."""
        batch, device = w.shape[0], w.device
        user = self.transform.unsqueeze(0) if transforms is None else transforms.to(device=device, dtype=torch.float32)
        # The affine gives a rotation (cos, sin, normalised) and a translation per sample, as inverse transforms.
        t = self.affine(w)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        m_r = torch.eye(3, device=device).repeat([batch, 1, 1])
        m_r[:, 0, 0] = t[:, 0]
        m_r[:, 0, 1] = -t[:, 1]
        m_r[:, 1, 0] = t[:, 1]
        m_r[:, 1, 1] = t[:, 0]
        m_t = torch.eye(3, device=device).repeat([batch, 1, 1])
        m_t[:, 0, 2] = -t[:, 2]
        m_t[:, 1, 2] = -t[:, 3]
        transform = m_r @ m_t @ user

        freqs = self.freqs.unsqueeze(0)
        phases = self.phases.unsqueeze(0) + (freqs @ transform[:, :2, 2:]).squeeze(2)
        freqs = freqs @ transform[:, :2, :2]
        # A user rotation can push frequencies past the band; fade them out instead of aliasing.
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth) / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)

        width, height = int(self.size[0]), int(self.size[1])
        theta = torch.eye(2, 3, device=device)
        theta[0, 0] = 0.5 * width / self.sampling_rate
        theta[1, 1] = 0.5 * height / self.sampling_rate
        grid = F.affine_grid(theta.unsqueeze(0), [1, 1, height, width], align_corners=False)  # (1, h, w, 2)
        x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)  # (n, h, w, channels)
        x = torch.sin((x + phases.unsqueeze(1).unsqueeze(2)) * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, channels={self.channels}, size={[int(s) for s in self.size]}, "
            f"sampling_rate={self.sampling_rate:g}, bandwidth={self.bandwidth:g}"
        )


class SynthesisLayer(torch.nn.Module):
    """One alias-free layer: modulated convolution, then the filtered leaky ReLU between two sampling rates (or the ToRGB layer)."""

    magnitude_ema: torch.Tensor
    up_filter: torch.Tensor | None
    down_filter: torch.Tensor | None

    def __init__(
        self,
        w_dim: int,
        is_torgb: bool,
        is_critically_sampled: bool,
        use_fp16: bool,
        in_channels: int,
        out_channels: int,
        in_size: int | Sequence[int],
        out_size: int | Sequence[int],
        in_sampling_rate: int,
        out_sampling_rate: int,
        in_cutoff: float,
        out_cutoff: float,
        in_half_width: float,
        out_half_width: float,
        conv_kernel: int = 3,
        filter_size: int = 6,
        lrelu_upsampling: int = 2,
        use_radial_filters: bool = False,
        conv_clamp: float | None = 256,
        magnitude_ema_beta: float = 0.999,
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.is_torgb = is_torgb
        self.is_critically_sampled = is_critically_sampled
        self.use_fp16 = bool(use_fp16)
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.in_size = np.broadcast_to(np.asarray(in_size), [2])
        self.out_size = np.broadcast_to(np.asarray(out_size), [2])
        self.in_sampling_rate = in_sampling_rate
        self.out_sampling_rate = out_sampling_rate
        self.tmp_sampling_rate = max(in_sampling_rate, out_sampling_rate) * (1 if is_torgb else lrelu_upsampling)
        self.in_cutoff = in_cutoff
        self.out_cutoff = out_cutoff
        self.in_half_width = in_half_width
        self.out_half_width = out_half_width
        self.conv_kernel = 1 if is_torgb else conv_kernel
        self.conv_clamp = conv_clamp
        self.magnitude_ema_beta = magnitude_ema_beta

        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, self.conv_kernel, self.conv_kernel]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.register_buffer("magnitude_ema", torch.ones([]))

        self.up_factor = round(self.tmp_sampling_rate / in_sampling_rate)
        if in_sampling_rate * self.up_factor != self.tmp_sampling_rate:
            raise ValueError(f"sampling rates {in_sampling_rate} -> {self.tmp_sampling_rate} are not an integer upsampling")
        self.up_taps = filter_size * self.up_factor if self.up_factor > 1 and not is_torgb else 1
        self.register_buffer(
            "up_filter",
            lowpass_filter(self.up_taps, cutoff=in_cutoff, width=in_half_width * 2, fs=self.tmp_sampling_rate),
        )
        self.down_factor = round(self.tmp_sampling_rate / out_sampling_rate)
        if out_sampling_rate * self.down_factor != self.tmp_sampling_rate:
            raise ValueError(f"sampling rates {self.tmp_sampling_rate} -> {out_sampling_rate} are not an integer downsampling")
        self.down_taps = filter_size * self.down_factor if self.down_factor > 1 and not is_torgb else 1
        # Config R filters radially (rotation-equivariant) everywhere except in the critically sampled layers.
        self.down_radial = use_radial_filters and not is_critically_sampled
        self.register_buffer(
            "down_filter",
            lowpass_filter(
                self.down_taps, cutoff=out_cutoff, width=out_half_width * 2, fs=self.tmp_sampling_rate, radial=self.down_radial
            ),
        )

        # Padding so the output has out_size samples, centred as in the paper's symmetric interpretation (appendix C.3).
        pad_total = (self.out_size - 1) * self.down_factor + 1
        pad_total = pad_total - (self.in_size + self.conv_kernel - 1) * self.up_factor
        pad_total = pad_total + self.up_taps + self.down_taps - 2
        pad_lo = (pad_total + self.up_factor) // 2
        pad_hi = pad_total - pad_lo
        self.padding = [int(pad_lo[0]), int(pad_hi[0]), int(pad_lo[1]), int(pad_hi[1])]

    def compute_dtype(self, device: torch.device, precision: str, force_fp32: bool = False) -> torch.dtype:
        """Return the dtype this layer computes in: the reduced ``precision`` only for fp16 layers on CUDA."""
        return compute_dtype(self.use_fp16 and not force_fp32, device, precision)

    def forward(
        self,
        x: torch.Tensor,
        w: torch.Tensor,
        noise_mode: str = "random",
        force_fp32: bool = False,
        update_emas: bool = False,
        precision: str = "fp16",
    ) -> torch.Tensor:
        if noise_mode not in _NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {_NOISE_MODES}, not {noise_mode!r}")
        if update_emas:
            magnitude = x.detach().to(torch.float32).square().mean()
            self.magnitude_ema.copy_(magnitude.lerp(self.magnitude_ema, self.magnitude_ema_beta))
        input_gain = self.magnitude_ema.rsqrt()
        styles = self.affine(w)
        if self.is_torgb:
            styles = styles * (1 / np.sqrt(self.in_channels * self.conv_kernel**2))
        dtype = self.compute_dtype(x.device, precision, force_fp32)
        x = modulated_conv2d(
            x.to(dtype),
            self.weight,
            styles,
            demodulate=not self.is_torgb,
            padding=self.conv_kernel - 1,
            input_gain=input_gain,
        )
        return filtered_lrelu(
            x,
            self.up_filter,
            self.down_filter,
            self.bias,
            up=self.up_factor,
            down=self.down_factor,
            padding=self.padding,
            gain=1 if self.is_torgb else np.sqrt(2),
            slope=1 if self.is_torgb else 0.2,
            clamp=self.conv_clamp,
        )

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, is_torgb={self.is_torgb}, is_critically_sampled={self.is_critically_sampled}, "
            f"use_fp16={self.use_fp16}, in_sampling_rate={self.in_sampling_rate:g}, "
            f"out_sampling_rate={self.out_sampling_rate:g}, in_cutoff={self.in_cutoff:g}, out_cutoff={self.out_cutoff:g}, "
            f"in_size={[int(s) for s in self.in_size]}, out_size={[int(s) for s in self.out_size]}, "
            f"in_channels={self.in_channels}, out_channels={self.out_channels}"
        )


class SynthesisNetwork(torch.nn.Module):
    """W+ to image: Fourier features, ``num_layers`` alias-free layers whose cutoffs grow geometrically, and ToRGB."""

    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_layers: int = 14,
        num_critical: int = 2,
        first_cutoff: float = 2,
        first_stopband: float = 2**2.1,
        last_stopband_rel: float = 2**0.3,
        margin_size: int = 10,
        output_scale: float = 0.25,
        num_fp16_res: int = 4,
        **layer_kwargs: Any,
    ) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.num_ws = num_layers + 2
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.num_layers = num_layers
        self.num_critical = num_critical
        self.margin_size = margin_size
        self.output_scale = output_scale
        self.num_fp16_res = num_fp16_res
        self.precision = "fp16"

        # Cutoffs and minimum stopbands rise geometrically to the last non-critical layer, then stay.
        last_cutoff = img_resolution / 2
        last_stopband = last_cutoff * last_stopband_rel
        exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
        cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
        stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
        sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, img_resolution))))
        half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
        sizes = sampling_rates + margin_size * 2
        sizes[-2:] = img_resolution
        channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
        channels[-1] = img_channels

        self.input: SynthesisInput = SynthesisInput(
            w_dim=w_dim, channels=int(channels[0]), size=int(sizes[0]), sampling_rate=sampling_rates[0], bandwidth=cutoffs[0]
        )
        self.layer_names: list[str] = []
        for idx in range(num_layers + 1):
            prev = max(idx - 1, 0)
            layer = SynthesisLayer(
                w_dim=w_dim,
                is_torgb=idx == num_layers,
                is_critically_sampled=idx >= num_layers - num_critical,
                use_fp16=bool(sampling_rates[idx] * (2**num_fp16_res) > img_resolution),
                in_channels=int(channels[prev]),
                out_channels=int(channels[idx]),
                in_size=int(sizes[prev]),
                out_size=int(sizes[idx]),
                in_sampling_rate=int(sampling_rates[prev]),
                out_sampling_rate=int(sampling_rates[idx]),
                in_cutoff=cutoffs[prev],
                out_cutoff=cutoffs[idx],
                in_half_width=half_widths[prev],
                out_half_width=half_widths[idx],
                **layer_kwargs,
            )
            name = f"L{idx}_{layer.out_size[0]}_{layer.out_channels}"
            setattr(self, name, layer)
            self.layer_names.append(name)

    def forward(
        self,
        ws: torch.Tensor,
        noise_mode: str = "const",
        force_fp32: bool = False,
        update_emas: bool = False,
        transforms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return float32 images (n, img_channels, res, res), roughly in [-1, 1], for ``ws`` (n, num_ws, w_dim).

        ``transforms`` (n, 3, 3), from ``input_transform_matrix``, sets the input transform per sample
        instead of the ``input.transform`` buffer. StyleGAN3 has no noise; ``noise_mode`` is accepted
        for the common interface.
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f"ws must have shape (n, {self.num_ws}, {self.w_dim}), not {tuple(ws.shape)}")
        per_layer = ws.to(torch.float32).unbind(dim=1)
        x = self.input(per_layer[0], transforms)
        for name, w in zip(self.layer_names, per_layer[1:], strict=True):
            x = getattr(self, name)(
                x, w, noise_mode=noise_mode, force_fp32=force_fp32, update_emas=update_emas, precision=self.precision
            )
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.to(torch.float32)

    def extra_repr(self) -> str:
        return (
            f"w_dim={self.w_dim}, num_ws={self.num_ws}, img_resolution={self.img_resolution}, "
            f"img_channels={self.img_channels}, num_layers={self.num_layers}, num_critical={self.num_critical}, "
            f"margin_size={self.margin_size}, num_fp16_res={self.num_fp16_res}"
        )


class Generator(torch.nn.Module):
    """StyleGAN3 generator (config T; config R with ``conv_kernel=1, use_radial_filters=True``): mapping then synthesis.

    Its arguments are those of NVIDIA's ``training.networks_stylegan3.Generator``, so
    ``Generator(**init_kwargs).load_state_dict(state_dict)`` takes a snapshot's ``G_ema`` as it is.
    """

    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict[str, Any] | None = None,
        **synthesis_kwargs: Any,
    ) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.c_dim = c_dim
        self.w_dim = w_dim
        self.img_resolution = img_resolution
        self.img_channels = img_channels
        self.synthesis: SynthesisNetwork = SynthesisNetwork(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **synthesis_kwargs
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping: MappingNetwork = MappingNetwork(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **(mapping_kwargs or {})
        )

    def forward(
        self,
        z: torch.Tensor,
        c: torch.Tensor | None,
        truncation_psi: float = 1,
        truncation_cutoff: int | None = None,
        *,
        noise_mode: str = "const",
        update_emas: bool = False,
        force_fp32: bool = False,
        transforms: torch.Tensor | None = None,
    ) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff, update_emas=update_emas)
        return self.synthesis(ws, noise_mode=noise_mode, force_fp32=force_fp32, update_emas=update_emas, transforms=transforms)

    def set_precision(self, precision: str) -> None:
        """Compute the layers NVIDIA runs in fp16 in ``precision`` (fp32, fp16 or bf16) on CUDA; CPU stays float32."""
        self.synthesis.precision = checked_precision(precision)

    def set_input_transform(self, translate: tuple[float, float] = (0.0, 0.0), rotate_deg: float = 0.0) -> None:
        """Translate (in image widths) and rotate (degrees) every image this generator makes from now on."""
        matrix = torch.as_tensor(input_transform_matrix(translate, rotate_deg), dtype=torch.float32)
        with torch.no_grad():
            self.synthesis.input.transform.copy_(matrix)
