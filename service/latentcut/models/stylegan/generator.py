"""A StyleGAN snapshot as a latentcut ``Generator``: z, w or w+ latents in, frames out, with truncation, class, precision and per-frame input controls.

One loaded network serves every latent space: ``in_space("w")`` returns a view of the same weights
whose ``render`` takes W latents ``(n, w_dim)`` and skips the mapping network; ``"w+"`` takes one w per
synthesis layer, flattened per frame to ``(n, num_ws * w_dim)`` (a ``w+`` sidecar stores it as
``(frames, num_ws, w_dim)``). Truncation moves every w toward the mapping network's ``w_avg`` by
``1 - psi``, in all three spaces, as StyleGAN does.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentcut.errors import ModelError, UsageError
from latentcut.files import file_sha256
from latentcut.latent.controls import InputControls
from latentcut.models.frames import rendered_frames
from latentcut.models.stylegan.input_controls import const_noise_pattern
from latentcut.models.stylegan.layers import PRECISIONS, truncate
from latentcut.models.stylegan.pickle_reader import NetworkRecord, NotASnapshotError, build_generator, read_snapshot

__all__ = [
    "LATENT_SPACES",
    "NOISE_MODES",
    "PRECISIONS",
    "StyleGanGenerator",
    "StyleGanSettings",
    "load_stylegan",
    "snapshot_kimg",
]

LATENT_SPACES = ("z", "w", "w+")
NOISE_MODES = ("const", "random", "none")
_MAX_BATCH = 32  # frames per forward pass: bounds memory for a long render handed over at once


@dataclasses.dataclass(frozen=True)
class StyleGanSettings:
    """How a StyleGAN network renders: which latents it takes, truncation, class, noise and precision."""

    space: str = "z"
    truncation_psi: float = 1.0
    truncation_cutoff: int | None = None  # truncate only the first N ws (coarse layers); None: all
    class_index: int | None = None  # for conditional models (c_dim > 0)
    noise_mode: str = "const"  # StyleGAN2's per-pixel noise: const (repeatable), random (seeded), none
    noise_seed: int = 0
    precision: str = "fp16"  # what NVIDIA's fp16 layers compute in on CUDA; CPU always uses fp32
    translate: tuple[float, float] = (0.0, 0.0)  # StyleGAN3's input transform: shift, in image widths
    rotate_deg: float = 0.0  # StyleGAN3's input transform: rotation in degrees

    def checked(self) -> StyleGanSettings:
        """Return these settings, or raise ``UsageError`` naming the bad one."""
        if self.space not in LATENT_SPACES:
            raise UsageError(f"latent space {self.space!r} is not one of {', '.join(LATENT_SPACES)}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.noise_mode not in NOISE_MODES:
            raise UsageError(f"noise mode {self.noise_mode!r} is not one of {', '.join(NOISE_MODES)}")
        if not np.isfinite([*self.translate, self.rotate_deg]).all():
            raise UsageError(f"--translate {self.translate} / --rotate {self.rotate_deg} must be finite numbers")
        if not np.isfinite(self.truncation_psi):
            raise UsageError(f"--truncation-psi {self.truncation_psi} is not a finite number (1 = none, 0.7 is usual)")
        return self


def snapshot_kimg(path: str | Path) -> int | None:
    """Return the training progress (kimg) a ``network-snapshot-NNNNNN.pkl`` name records, else None."""
    stem = Path(path).stem
    prefix = "network-snapshot-"
    if stem.startswith(prefix) and stem[len(prefix) :].isdigit():
        return int(stem[len(prefix) :])
    return None


class StyleGanGenerator:
    """latentcut's StyleGAN2/3 network rebuilt from a snapshot; satisfies ``latentcut.models.Generator``."""

    def __init__(
        self,
        network: torch.nn.Module,
        *,
        spec: str,
        sha256: str,
        device: str | None = None,
        settings: StyleGanSettings | None = None,
    ) -> None:
        self.spec = spec
        self.weights_sha256 = sha256
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.settings = (settings or StyleGanSettings()).checked()
        # Duck-typed: latentcut's StyleGAN2 or StyleGAN3 Generator (mapping, synthesis, z_dim, w_dim, num_ws ...).
        net: Any = network.to(self.device).eval().requires_grad_(False)
        self.network = net
        self.z_dim = int(self.network.z_dim)
        self.w_dim = int(self.network.w_dim)
        self.c_dim = int(self.network.c_dim)
        self.num_ws = int(self.network.num_ws)
        resolution = int(self.network.img_resolution)
        self.native_size = (resolution, resolution)
        self._check_settings()
        self._derive()

    @property
    def _transformed(self) -> bool:
        return self.settings.translate != (0.0, 0.0) or self.settings.rotate_deg != 0.0

    def _check_settings(self) -> None:
        if self._transformed and "transforms" not in _parameters(self.network.synthesis):
            raise UsageError(f"--translate/--rotate: {self.spec} is not a StyleGAN3 model; only StyleGAN3 has an input transform")
        index = self.settings.class_index
        if index is not None and self.c_dim == 0:
            raise UsageError(f"--class {index}: {self.spec} is not a conditional model (it has no classes)")
        if index is not None and not 0 <= index < self.c_dim:
            raise UsageError(f"--class {index}: {self.spec} has classes 0..{self.c_dim - 1}")

    @property
    def input_controls(self) -> tuple[str, ...]:
        """The per-frame controls this network takes (``latentcut.latent.controls``): StyleGAN3 translate and rotate, StyleGAN2
        const_noise, and on both truncation and W directions."""
        parameters = _parameters(self.network.synthesis)
        own = ("translate", "rotate") if "transforms" in parameters else ("const_noise",) if "const_offset" in parameters else ()
        return (*own, "truncation_psi", "w_direction")

    def _check_controls(self, controls: InputControls, count: int) -> None:
        if len(controls) != count:
            raise ModelError(f"{self.spec}: {len(controls)} frames of input controls for {count} latents")
        missing = controls.uses() - set(self.input_controls)
        if missing:
            kind = "StyleGAN3" if missing & {"translate", "rotate"} else "StyleGAN2" if "const_noise" in missing else "other"
            raise UsageError(
                f"{self.spec}: has no {' or '.join(sorted(missing))} input control; these controls were made for a {kind} model"
            )
        offsets = controls.w_offsets()
        if offsets is not None and offsets.shape[1] != self.w_dim:
            raise UsageError(f"{self.spec}: W directions of width {offsets.shape[1]} do not fit its W of width {self.w_dim}")

    @property
    def space(self) -> str:
        """The latent space ``render`` takes: z, w or w+."""
        return self.settings.space

    def _derive(self) -> None:
        # Plain attributes, as the Generator protocol has them; set again by each configured view.
        self.latent_dim = {"z": self.z_dim, "w": self.w_dim, "w+": self.num_ws * self.w_dim}[self.space]
        # The weights' hash with default settings; else weights and settings (frames differ, so caches must too).
        default = self.settings == StyleGanSettings()
        self.sha256 = (
            self.weights_sha256 if default else hashlib.sha256(f"{self.weights_sha256} {self.settings}".encode()).hexdigest()
        )

    def configured(self, **changes: Any) -> StyleGanGenerator:
        """Return a view of the same weights with some settings changed (``space=``, ``truncation_psi=``, ...)."""
        view = object.__new__(StyleGanGenerator)
        view.__dict__.update(self.__dict__)
        view.settings = dataclasses.replace(self.settings, **changes).checked()
        view._check_settings()
        view._derive()
        return view

    def in_space(self, space: str) -> StyleGanGenerator:
        """Return a view of this network that takes latents in ``space`` (z, w or w+)."""
        return self.configured(space=space)

    def _labels(self, count: int) -> torch.Tensor | None:
        if self.c_dim == 0:
            return None
        labels = torch.zeros([count, self.c_dim], device=self.device)
        if self.settings.class_index is None:
            raise UsageError(f"{self.spec} is a conditional model with {self.c_dim} classes; choose one with --class N")
        labels[:, self.settings.class_index] = 1
        return labels

    def _truncated(self, ws: torch.Tensor, controls: InputControls | None = None) -> torch.Tensor:
        psi: float | torch.Tensor = self.settings.truncation_psi
        if controls is not None and "truncation_psi" in controls.uses():
            # One truncation per frame by the look's psi times the frame's: truncating twice would round twice.
            per_frame = self.settings.truncation_psi * controls.truncation_psi.astype(np.float64)
            psi = torch.as_tensor(per_frame.astype(np.float32), device=ws.device)
        return truncate(ws, self.network.mapping.w_avg, psi, self.settings.truncation_cutoff)

    @torch.inference_mode()
    def ws_for(self, latents: np.ndarray, controls: InputControls | None = None) -> torch.Tensor:
        """Return the per-layer w ``(n, num_ws, w_dim)`` for latents in this generator's space, moved by ``controls``' W
        directions, then truncated (by the look's psi times each frame's)."""
        x = torch.as_tensor(np.array(latents, np.float32), device=self.device)
        if x.ndim != 2 or x.shape[1] != self.latent_dim:
            raise ModelError(
                f"{self.spec}: latents of width {x.shape[-1]} do not fit its {self.space} space (width {self.latent_dim}); "
                f"draw z for it with `latentcut sample OUT.z.npy --count N --seed S --model {self.spec}`, or use the model "
                "the sequence was made for"
            )
        if self.space == "z":
            ws = self.network.mapping(x, self._labels(len(x)))
        elif self.space == "w":
            ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])
        else:
            ws = x.reshape(len(x), self.num_ws, self.w_dim)
        offsets = None if controls is None else controls.w_offsets()
        if offsets is not None:
            ws = ws + torch.as_tensor(offsets, device=self.device).to(ws.dtype)[:, None, :]
        return self._truncated(ws, controls)

    @torch.inference_mode()
    def images(self, latents: np.ndarray, controls: InputControls | None = None) -> torch.Tensor:
        """Return float images ``(n, C, R, R)`` about [-1, 1] for latents in this generator's space, with per-frame ``controls``."""
        if controls is not None:
            self._check_controls(controls, len(latents))
        ws = self.ws_for(latents, controls)
        # Views of one network may differ in precision: set it for each call, not once per network.
        if hasattr(self.network, "set_precision"):
            self.network.set_precision(self.settings.precision)
        extra: dict[str, Any] = {}
        if self.settings.noise_mode == "random" and "noise_generator" in _parameters(self.network.synthesis):
            extra["noise_generator"] = torch.Generator(device=self.device).manual_seed(self.settings.noise_seed)
        if self._transformed or (controls is not None and controls.uses() & {"translate", "rotate"}):
            matrices = _input_transforms(self.settings, controls, len(ws))
            extra["transforms"] = torch.as_tensor(matrices, dtype=torch.float32, device=self.device)
        if controls is not None and "const_noise" in controls.uses():
            const = self.network.synthesis.b4.const.float()
            pattern = torch.as_tensor(const_noise_pattern(tuple(const.shape)), device=self.device) * const.std()
            strength = torch.as_tensor(controls.const_noise, dtype=torch.float32, device=self.device)
            extra["const_offset"] = strength[:, None, None, None] * pattern
        return self.network.synthesis(ws, noise_mode=self.settings.noise_mode, **extra)

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Return uint8 frames ``(n, height, width, 3)``, resized from the native size if ``size`` differs."""
        return rendered_frames(self.images, latents, size, _MAX_BATCH)

    def render_controlled(self, latents: np.ndarray, size: tuple[int, int], controls: InputControls) -> np.ndarray:
        """``render`` with one set of input controls per latent (translate/rotate on StyleGAN3, const_noise on StyleGAN2,
        truncation and W directions on both)."""
        self._check_controls(controls, len(latents))
        parts = [
            rendered_frames(
                functools.partial(self.images, controls=controls.between(start, start + _MAX_BATCH)),
                latents[start : start + _MAX_BATCH],
                size,
                _MAX_BATCH,
            )
            for start in range(0, len(latents), _MAX_BATCH)
        ]
        return np.concatenate(parts) if parts else rendered_frames(self.images, latents, size, _MAX_BATCH)

    @torch.inference_mode()
    def mapped(self, z: np.ndarray) -> np.ndarray:
        """Return W latents ``(n, w_dim)`` for z ``(n, z_dim)``: the mapping network, then truncation (all ws alike)."""
        ws = self.in_space("z").configured(truncation_cutoff=None).ws_for(z)
        return ws[:, 0].float().cpu().numpy()


def _input_transforms(settings: StyleGanSettings, controls: InputControls | None, count: int) -> np.ndarray:
    """StyleGAN3's input transform per frame ``(count, 3, 3)``: the settings' shift and turn plus each frame's controls."""
    from latentcut.models.stylegan.stylegan3 import input_transform_matrix

    if controls is None:
        return input_transform_matrix(settings.translate, settings.rotate_deg)[None].repeat(count, 0)
    shifts = np.asarray(settings.translate, np.float64) + controls.translate.astype(np.float64)
    turns = settings.rotate_deg + controls.rotate_deg.astype(np.float64)
    return np.stack([input_transform_matrix((x, y), turn) for (x, y), turn in zip(shifts.tolist(), turns.tolist(), strict=True)])


def _parameters(module: torch.nn.Module) -> tuple[str, ...]:
    code = type(module).forward.__code__
    return code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]


def load_stylegan(
    path: str | Path, *, spec: str | None = None, device: str | None = None, settings: StyleGanSettings | None = None
) -> StyleGanGenerator:
    """Return the ``G_ema`` network of the snapshot at ``path``, read without running its code, as a ``Generator``."""
    path = Path(path)
    snapshot = read_snapshot(path)
    record = snapshot.get("G_ema")
    if not isinstance(record, NetworkRecord):
        raise NotASnapshotError(
            f"{path}: no G_ema network in the pickle, so not a StyleGAN2-ADA/StyleGAN3 training snapshot; "
            "pass --trust-pickle only if you trust where this pickle came from"
        )
    network = build_generator(record, where=str(path))
    return StyleGanGenerator(network, spec=spec or str(path), sha256=file_sha256(path), device=device, settings=settings)
