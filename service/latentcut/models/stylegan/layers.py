"""The pieces the StyleGAN2 and StyleGAN3 generators share: compute precision, 2nd-moment normalisation, truncation and modulated weights."""

from __future__ import annotations

import torch

__all__ = [
    "PRECISIONS",
    "checked_precision",
    "compute_dtype",
    "modulated_weight",
    "normalize_2nd_moment",
    "truncate",
]

# What the layers NVIDIA marks ``use_fp16`` compute in on CUDA; CPU always computes in float32.
PRECISIONS = ("fp32", "fp16", "bf16")
_REDUCED_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def checked_precision(precision: str) -> str:
    """Return ``precision`` if it is one of ``PRECISIONS``; raise ``ValueError`` otherwise."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    return precision


def compute_dtype(use_fp16: bool, device: torch.device, precision: str) -> torch.dtype:
    """What a layer computes in: ``precision`` (fp16/bf16) for the layers NVIDIA runs in fp16, on CUDA only."""
    if use_fp16 and device.type == "cuda":
        return _REDUCED_DTYPES.get(precision, torch.float32)
    return torch.float32


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Return ``x`` scaled to unit mean square along dimension 1."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float | torch.Tensor, cutoff: int | None = None) -> torch.Tensor:
    """Return ``ws`` (n, num_ws, w_dim) moved toward ``w_avg`` by ``1 - psi`` (only the first ``cutoff`` ws when given).

    ``psi``: one number, or one per sample ``(n,)``.
    """
    if isinstance(psi, torch.Tensor):
        psi = psi.to(ws.dtype).reshape(-1, 1, 1)
    elif psi == 1:
        return ws
    if cutoff is None:
        return w_avg.lerp(ws, psi)
    ws = ws.clone()
    ws[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return ws


def modulated_weight(weight: torch.Tensor, styles: torch.Tensor, demodulate: bool = True) -> torch.Tensor:
    """Return the per-sample weights (n, out, in, kh, kw): ``weight`` scaled by each sample's ``styles`` (n, in), then demodulated."""
    batch = styles.shape[0]
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(batch, -1, 1, 1, 1)
    return w
