"""Turning a ``--model`` spec into a ``Generator``: the embedded CPPN, TorchScript, entry points, state dicts, StyleGAN pickles.

Spec forms:

    builtin:cppn            the embedded model (final snapshot); builtin:cppn@N for snapshot N (0..27)
    PATH.pt2                a program saved with torch.export.save (the latent size is its input's width)
    PATH.pt / PATH.ts       a TorchScript file (torch deprecates the format, but still loads it)
    package.module:func     an entry point: func() returns a Generator or a torch.nn.Module
    WEIGHTS.pth=pkg.mod:Cls a state dict loaded (weights only, no code) into Cls()
    PATH.pkl                a StyleGAN2-ADA / StyleGAN3 pickle: runs code, so only with trust_pickle

A torch module used as a model takes ``z`` ``(n, dim)`` and returns images ``(n, 3, H, W)`` in
[-1, 1] (the StyleGAN convention); it declares its latent size as ``z_dim`` or ``latent_dim``.
"""

from __future__ import annotations

import hashlib
import importlib
import pickle
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from latentcut.errors import ModelError
from latentcut.models.cppn import CPPN_SNAPSHOTS, CppnGenerator
from latentcut.models.generator import Generator

__all__ = ["TorchModuleGenerator", "load_generator"]

_BUILTIN = re.compile(r"^builtin:cppn(?:@(\d+))?$")
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _module_sha256(module: torch.nn.Module) -> str:
    digest = hashlib.sha256(type(module).__qualname__.encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


class TorchModuleGenerator:
    """Adapts a torch module (z → images in [-1, 1], NCHW) to the ``Generator`` protocol."""

    def __init__(
        self,
        module: torch.nn.Module,
        *,
        spec: str,
        sha256: str,
        latent_dim: int,
        device: str | None = None,
        call: Callable[[torch.Tensor], torch.Tensor] | None = None,
        batch_size: int = 8,
    ) -> None:
        self.spec = spec
        self.sha256 = sha256
        self.latent_dim = latent_dim
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._module = module.to(self.device)
        if not isinstance(module, torch.fx.GraphModule):
            # Exported programs are inference graphs already and refuse eval(); everything else needs it.
            self._module.eval()
        self._call = call or self._module
        self._batch_size = batch_size
        probe = self._images(np.zeros((1, latent_dim), np.float32))
        self.native_size = (int(probe.shape[3]), int(probe.shape[2]))

    @torch.inference_mode()
    def _images(self, latents: np.ndarray) -> torch.Tensor:
        z = torch.as_tensor(np.array(latents, np.float32), device=self.device)  # a writable copy: latents may be read-only
        try:
            images = self._call(z)
        except Exception as exc:  # a user's model can fail in any way; report it as the model's fault
            raise ModelError(f"{self.spec}: the model failed on a batch of {len(z)} latents: {exc}") from exc
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3, 4):
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ModelError(f"{self.spec}: the model returned {shape}, expected images (n, 3, H, W) in [-1, 1]")
        return images

    @torch.inference_mode()
    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Return uint8 frames ``(n, height, width, 3)``, resized from the model's native size if needed."""
        width, height = size
        frames = []
        for start in range(0, len(latents), self._batch_size):
            images = self._images(np.asarray(latents[start : start + self._batch_size], np.float32)).float()
            if images.shape[1] == 1:
                images = images.expand(-1, 3, -1, -1)
            images = images[:, :3]
            if (images.shape[3], images.shape[2]) != (width, height):
                images = F.interpolate(images, size=(height, width), mode="bilinear", antialias=True, align_corners=False)
            rgb = ((images.permute(0, 2, 3, 1) + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)
            frames.append(rgb.cpu().numpy())
        return np.concatenate(frames)


def _latent_dim(module: Any, spec: str) -> int:
    for name in ("z_dim", "latent_dim"):
        value = getattr(module, name, None)
        if isinstance(value, int) and value > 0:
            return value
    raise ModelError(f"{spec}: the model does not say its latent size; give it an int attribute z_dim or latent_dim")


def _imported(target: str, spec: str) -> Any:
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ModelError(f"{spec}: cannot import {module_name} ({exc}); put it on PYTHONPATH or pip install it") from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ModelError(f"{spec}: {module_name} has no {attribute}") from exc


def _from_entry_point(spec: str, device: str | None) -> Generator:
    factory = _imported(spec, spec)
    try:
        made = factory()
    except Exception as exc:  # the user's factory; its failure is a model error, reported with its text
        raise ModelError(f"{spec}: calling it failed: {exc}") from exc
    if isinstance(made, torch.nn.Module):
        return TorchModuleGenerator(
            made, spec=spec, sha256=_module_sha256(made), latent_dim=_latent_dim(made, spec), device=device
        )
    if isinstance(made, Generator):
        return made
    raise ModelError(f"{spec}: returned {type(made).__name__}, expected a torch.nn.Module or a latentcut Generator")


def _from_state_dict(weights: Path, target: str, spec: str, device: str | None) -> Generator:
    cls = _imported(target, spec)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "not a weights-only state dict"
        raise ModelError(
            f"{weights}: not a weights-only state dict ({exc}); save it with torch.save(model.state_dict())"
        ) from exc
    module = cls()
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"{weights}: does not fit {target} ({exc})") from exc
    return TorchModuleGenerator(
        module, spec=spec, sha256=_file_sha256(weights), latent_dim=_latent_dim(module, spec), device=device
    )


def _from_torchscript(path: Path, spec: str, device: str | None) -> Generator:
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript; users' existing files still load, so the notice is not theirs to act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch.jit raises RuntimeError subclasses and more for non-TorchScript files
        raise ModelError(
            f"{path}: not a TorchScript file ({str(exc).splitlines()[0]}); for a state dict use {path}=package.module:Class"
        ) from exc
    return TorchModuleGenerator(module, spec=spec, sha256=_file_sha256(path), latent_dim=_latent_dim(module, spec), device=device)


def _from_exported_program(path: Path, spec: str, device: str | None) -> Generator:
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch.export raises many types for files it cannot read
        raise ModelError(
            f"{path}: not a torch.export program ({str(exc).splitlines()[0]}); save one with torch.export.save"
        ) from exc
    inputs = [
        node for node in program.graph.nodes if node.op == "placeholder" and node.name in program.graph_signature.user_inputs
    ]
    shape = getattr(inputs[0].meta.get("val"), "shape", ()) if inputs else ()
    if len(shape) != 2:
        raise ModelError(f"{path}: the exported program's first input is not latents (n, dim)")
    return TorchModuleGenerator(program.module(), spec=spec, sha256=_file_sha256(path), latent_dim=int(shape[1]), device=device)


def _from_stylegan_pickle(path: Path, spec: str, device: str | None, trust_pickle: bool) -> Generator:
    if not trust_pickle:
        raise ModelError(f"{path}: a pickle runs code when loaded; pass --trust-pickle if you trust where it came from")
    try:
        with path.open("rb") as handle:
            data = pickle.load(handle)  # noqa: S301 - the user opted in with --trust-pickle
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ModelError(
            f"{path}: the pickle needs StyleGAN's own code ({exc}); put the stylegan2-ada-pytorch or stylegan3 "
            "folder on PYTHONPATH (it provides dnnlib and torch_utils)"
        ) from exc
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise ModelError(f"{path}: not a readable pickle ({exc})") from exc
    generator = data.get("G_ema") if isinstance(data, dict) else None
    if not isinstance(generator, torch.nn.Module):
        raise ModelError(f"{path}: no 'G_ema' network in the pickle; is it a StyleGAN2-ADA/StyleGAN3 snapshot?")
    z_dim = _latent_dim(generator, spec)
    c_dim = int(getattr(generator, "c_dim", 0))

    def call(z: torch.Tensor) -> torch.Tensor:
        labels = torch.zeros((len(z), c_dim), device=z.device)
        return generator(z, labels, truncation_psi=1.0, noise_mode="const")

    return TorchModuleGenerator(generator, spec=spec, sha256=_file_sha256(path), latent_dim=z_dim, device=device, call=call)


def load_generator(spec: str, *, device: str | None = None, trust_pickle: bool = False) -> Generator:
    """Return the model ``spec`` names (see the module docstring), on ``device`` (CUDA when present by default)."""
    builtin = _BUILTIN.match(spec)
    if builtin:
        return CppnGenerator(int(builtin.group(1)) if builtin.group(1) else CPPN_SNAPSHOTS - 1, device=device)
    if spec.startswith("builtin:"):
        raise ModelError(f"{spec}: unknown built-in model; the embedded one is builtin:cppn (or builtin:cppn@0..27)")
    if "=" in spec:
        weights, _, target = spec.partition("=")
        if not Path(weights).is_file():
            raise ModelError(f"{weights}: weights file not found")
        if not _ENTRY.match(target):
            raise ModelError(f"{spec}: after '=' give the class as package.module:Class")
        return _from_state_dict(Path(weights), target, spec, device)
    path = Path(spec)
    if path.is_file():
        if path.suffix == ".pkl":
            return _from_stylegan_pickle(path, spec, device, trust_pickle)
        if path.suffix == ".pt2":
            return _from_exported_program(path, spec, device)
        return _from_torchscript(path, spec, device)
    if _ENTRY.match(spec):
        return _from_entry_point(spec, device)
    raise ModelError(
        f"{spec}: unknown model; use builtin:cppn, a .pt2, TorchScript or .pkl file, package.module:function, "
        "or weights.pth=package.module:Class"
    )
