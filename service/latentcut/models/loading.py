"""Turning a ``--model`` spec into a ``Generator``: the embedded CPPN, TorchScript, entry points, state dicts, StyleGAN pickles.

Spec forms:

    builtin:cppn            the embedded model (final snapshot); builtin:cppn@N for snapshot N (0..27)
    builtin:digits          the embedded digits VAE, which also encodes images (latentcut.models.digits)
    PATH.pt2                a program saved with torch.export.save (the latent size is its input's width)
    PATH.pt / PATH.ts       a TorchScript file (torch deprecates the format, but still loads it)
    package.module:func     an entry point: func() returns a Generator or a torch.nn.Module
    WEIGHTS.pth=pkg.mod:Cls a state dict loaded (weights only, no code) into Cls()
    PATH.pkl                a StyleGAN2-ADA / StyleGAN3 snapshot, read without running any of its code
                            (latentcut.models.stylegan); any other pickle runs code, so only with trust_pickle

A model named by a file (a sidecar's look, a project) rather than typed by the user loads only in a
form that cannot carry code: ``load_generator(..., code_allowed=False)`` takes built-in models and
StyleGAN snapshots (through the restricted reader, never ``--trust-pickle``'s), and refuses entry
points, state dicts (their class is code) and TorchScript, ``torch.export`` and other pickle files
(their loading runs code from the file) in one line; ``latentcut.models.looks`` also checks that the
file's content hash is the one recorded. A file the user names loads in any form, TorchScript and
``.pt2`` after a child process has loaded it first (``latentcut.models.isolation``).

Limits: a TorchScript or torch.export file may hold at most ``PROGRAM_MAX_BYTES`` (32 MiB) outside its
tensor data (code, debug info, pickled structure) in at most ``ARCHIVE_MAX_ENTRIES`` parts, checked
from the zip directory before torch reads it (torch crashes the process on huge sources); any model
file is at most ``MODEL_FILE_MAX_BYTES`` (16 GiB). A TorchScript file is first loaded once in a child
process (``latentcut.models.isolation``), since small hostile sources crash torch too; so is a ``.pt2``.

A torch module used as a model takes ``z`` ``(n, dim)`` and returns images ``(n, 3, H, W)`` in
[-1, 1] (the StyleGAN convention); it declares its latent size as ``z_dim`` or ``latent_dim``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import logging
import pickle
import re
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from latentcut.errors import ModelError, one_line
from latentcut.files import NotRegularFileError, file_sha256, open_regular, regular_size
from latentcut.models.cppn import CPPN_SNAPSHOTS, CppnGenerator
from latentcut.models.frames import rendered_frames
from latentcut.models.generator import Generator
from latentcut.models.isolation import loads_in_a_child

__all__ = [
    "ARCHIVE_MAX_ENTRIES",
    "MODEL_FILE_MAX_BYTES",
    "MODEL_SUFFIXES",
    "PROGRAM_MAX_BYTES",
    "TorchModuleGenerator",
    "builtin_spec",
    "load_generator",
    "looks_like_a_path",
]

PROGRAM_MAX_BYTES = 32 << 20
ARCHIVE_MAX_ENTRIES = 100_000
MODEL_FILE_MAX_BYTES = 16 << 30
MODEL_SUFFIXES = (".pt", ".pt2", ".ts", ".pth", ".pkl", ".jit", ".ckpt", ".bin")
_CODE_KINDS = {".pt2": "torch.export program", ".pt": "TorchScript file", ".ts": "TorchScript file", ".jit": "TorchScript file"}

_BUILTIN = re.compile(r"^builtin:(?:cppn(?:@(\d+))?|digits)$")
_ENTRY = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


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
            raise ModelError(f"{self.spec}: the model failed on a batch of {len(z)} latents: {one_line(exc)}") from exc
        if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] not in (1, 3, 4):
            shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
            raise ModelError(f"{self.spec}: the model returned {shape}, expected images (n, 3, H, W) in [-1, 1]")
        return images

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Return uint8 frames ``(n, height, width, 3)``, resized from the model's native size if needed."""
        return rendered_frames(self._images, latents, size, self._batch_size)


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
        raise ModelError(
            f"{spec}: cannot import {module_name} ({one_line(exc)}); put it on PYTHONPATH or pip install it"
        ) from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ModelError(f"{spec}: {module_name} has no {attribute}") from exc


def _from_entry_point(spec: str, device: str | None) -> Generator:
    factory = _imported(spec, spec)
    try:
        made = factory()
    except Exception as exc:  # the user's factory; its failure is a model error, reported with its text
        raise ModelError(f"{spec}: calling it failed: {one_line(exc)}") from exc
    if isinstance(made, torch.nn.Module):
        return TorchModuleGenerator(
            made, spec=spec, sha256=_module_sha256(made), latent_dim=_latent_dim(made, spec), device=device
        )
    if isinstance(made, Generator):
        return made
    raise ModelError(f"{spec}: returned {type(made).__name__}, expected a torch.nn.Module or a latentcut Generator")


def _from_state_dict(weights: Path, target: str, spec: str, device: str | None) -> Generator:
    cls = _imported(target, spec)
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ModelError(f"{spec}: {target} is not a torch.nn.Module class; after '=' name the model's class")
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "not a weights-only state dict"
        raise ModelError(
            f"{weights}: not a weights-only state dict ({one_line(exc)}); save it with torch.save(model.state_dict())"
        ) from exc
    try:
        module = cls()
    except Exception as exc:  # the user's class; its failure is a model error, reported with its text
        raise ModelError(f"{spec}: {target}() failed: {one_line(exc)}") from exc
    try:
        module.load_state_dict(state)
    except (RuntimeError, TypeError) as exc:
        raise ModelError(f"{weights}: does not fit {target} ({one_line(exc)})") from exc
    return TorchModuleGenerator(
        module, spec=spec, sha256=file_sha256(weights), latent_dim=_latent_dim(module, spec), device=device
    )


def _checked_archive(path: Path, kind: str) -> None:
    """Refuse a TorchScript / torch.export zip whose code and structure (all but tensor data) exceed the limits.

    Read from the zip's directory only, before torch parses anything: torch.jit.load crashes the
    whole process (not an exception) on a file with a huge source.
    """
    try:
        with open_regular(path) as handle, zipfile.ZipFile(handle) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise ModelError(f"{path}: not a {kind} file (not a zip archive: {one_line(exc)})") from exc
    except OSError as exc:
        raise ModelError(f"{path}: cannot read the model file ({exc.strerror or exc})") from exc
    if len(entries) > ARCHIVE_MAX_ENTRIES:
        raise ModelError(f"{path}: {len(entries):,} parts, over the {ARCHIVE_MAX_ENTRIES:,} a {kind} file may have")
    # Tensors live under <archive>/data/; everything else is code, debug info or pickled structure.
    program = sum(entry.file_size for entry in entries if entry.filename.split("/")[1:2] != ["data"])
    if program > PROGRAM_MAX_BYTES:
        raise ModelError(
            f"{path}: {program:,} bytes of code and structure, over the {PROGRAM_MAX_BYTES:,} latentcut loads from a {kind} file"
        )


def _from_torchscript(path: Path, spec: str, device: str | None) -> Generator:
    _checked_archive(path, "TorchScript")
    loads_in_a_child(path, "TorchScript")  # torch segfaults on some files; a child's death is an error, ours would be a crash
    try:
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript; users' existing files still load, so the notice is not theirs to act on.
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch.jit raises RuntimeError subclasses and more for non-TorchScript files
        raise ModelError(
            f"{path}: not a TorchScript file ({one_line(exc)}); for a state dict use {path}=package.module:Class"
        ) from exc
    return TorchModuleGenerator(module, spec=spec, sha256=file_sha256(path), latent_dim=_latent_dim(module, spec), device=device)


@contextlib.contextmanager
def _held_back(logger_name: str) -> Iterator[list[str]]:
    """Keep what logger ``logger_name`` writes from the user's terminal; yield it, as formatted text, to the caller."""
    logger, logged = logging.getLogger(logger_name), []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logged.append(self.format(record))

    handlers, propagate = logger.handlers, logger.propagate  # torch gives its loggers a stderr handler of their own
    logger.handlers, logger.propagate = [Collect()], False
    try:
        yield logged
    finally:
        logger.handlers, logger.propagate = handlers, propagate


def _from_exported_program(path: Path, spec: str, device: str | None) -> Generator:
    _checked_archive(path, "torch.export")
    loads_in_a_child(path, "torch.export")  # it evaluates the file's shape expressions: a crash there is the child's
    try:
        with _held_back("torch.export") as logged:  # it logs a 15-line traceback, then raises "see the warnings above"
            program = torch.export.load(str(path))
    except Exception as exc:  # torch.export raises many types for files it cannot read
        reason = logged[-1].strip().splitlines()[-1] if logged else str(exc)
        raise ModelError(f"{path}: not a torch.export program ({one_line(reason)}); save one with torch.export.save") from exc
    inputs = [
        node for node in program.graph.nodes if node.op == "placeholder" and node.name in program.graph_signature.user_inputs
    ]
    shape: tuple[int, ...] = tuple(getattr(inputs[0].meta.get("val"), "shape", ())) if inputs else ()
    if len(shape) != 2:
        raise ModelError(f"{path}: the exported program's first input is not latents (n, dim)")
    return TorchModuleGenerator(program.module(), spec=spec, sha256=file_sha256(path), latent_dim=int(shape[1]), device=device)


def _from_stylegan_pickle(path: Path, spec: str, device: str | None, trust_pickle: bool, code_allowed: bool) -> Generator:
    from latentcut.models.stylegan.generator import load_stylegan
    from latentcut.models.stylegan.pickle_reader import NotASnapshotError

    try:
        # A StyleGAN snapshot is read by a restricted unpickler that runs nothing from the file: no flag needed.
        return load_stylegan(path, spec=spec, device=device)
    except NotASnapshotError:
        if not (trust_pickle and code_allowed):
            raise
    try:
        with open_regular(path) as handle:
            data = pickle.load(handle)  # noqa: S301 - the user opted in with --trust-pickle
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ModelError(
            f"{path}: the pickle needs StyleGAN's own code ({one_line(exc)}); put the stylegan2-ada-pytorch or stylegan3 "
            "folder on PYTHONPATH (it provides dnnlib and torch_utils)"
        ) from exc
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise ModelError(f"{path}: not a readable pickle ({one_line(exc)})") from exc
    generator = data.get("G_ema") if isinstance(data, dict) else None
    if not isinstance(generator, torch.nn.Module):
        raise ModelError(f"{path}: no 'G_ema' network in the pickle; is it a StyleGAN2-ADA/StyleGAN3 snapshot?")
    z_dim = _latent_dim(generator, spec)
    c_dim = int(getattr(generator, "c_dim", 0))

    def call(z: torch.Tensor) -> torch.Tensor:
        labels = torch.zeros((len(z), c_dim), device=z.device)
        return generator(z, labels, truncation_psi=1.0, noise_mode="const")

    return TorchModuleGenerator(generator, spec=spec, sha256=file_sha256(path), latent_dim=z_dim, device=device, call=call)


def _model_file(path: Path, spec: str) -> Path | None:
    """``path`` if it is a model file (refused in one line if it is not a regular file or too large); None if absent."""
    try:
        size = regular_size(path)
    except FileNotFoundError:
        return None
    except NotRegularFileError as exc:
        raise ModelError(f"{one_line(path)}: {exc.strerror}") from exc
    except OSError as exc:  # a name too long, a folder not searchable: say so, naming the path as given
        raise ModelError(f"{one_line(path)}: cannot read the model file ({exc.strerror or exc})") from exc
    if size > MODEL_FILE_MAX_BYTES:
        raise ModelError(f"{path}: {size:,} bytes, over the {MODEL_FILE_MAX_BYTES:,} latentcut loads as a model file")
    return path


def looks_like_a_path(spec: str) -> bool:
    """True if ``spec`` names a file (a path, or a name with a model file's suffix) rather than a built-in or an entry point."""
    return "=" not in spec and ("/" in spec or spec.lower().endswith(MODEL_SUFFIXES))


def builtin_spec(spec: str) -> bool:
    """True for ``builtin:cppn``, ``builtin:cppn@N`` and ``builtin:digits``: latentcut's own models."""
    return _BUILTIN.match(spec) is not None


def load_generator(spec: str, *, device: str | None = None, trust_pickle: bool = False, code_allowed: bool = True) -> Generator:
    """Return the model ``spec`` names (see the module docstring), on ``device`` (CUDA when present by default).

    With ``code_allowed=False`` (a spec read from a file, not typed by the user) only built-in models
    and model files load; entry points and ``weights=package.module:Class`` are refused unimported.
    """
    builtin = _BUILTIN.match(spec)
    if builtin and spec == "builtin:digits":
        from latentcut.models.digits import DigitsGenerator  # reads its weights file, so only when asked for

        return DigitsGenerator(device=device)
    if builtin:
        return CppnGenerator(int(builtin.group(1)) if builtin.group(1) else CPPN_SNAPSHOTS - 1, device=device)
    if spec.startswith("builtin:"):
        raise ModelError(
            f"{one_line(spec)}: unknown built-in model; the embedded ones are builtin:cppn (or builtin:cppn@0..27) and builtin:digits"
        )
    path = _model_file(Path(spec), spec) if "=" not in spec or not code_allowed else None
    if path is None and not code_allowed:
        raise ModelError(
            f"{one_line(spec)}: a model named by a file is only loaded if it is built in or an existing model file; "
            "give --model to choose one"
        )
    if path is None and "=" in spec:
        weights, _, target = spec.partition("=")
        if _model_file(Path(weights), spec) is None:
            raise ModelError(f"{weights}: weights file not found")
        if not _ENTRY.match(target):
            raise ModelError(f"{one_line(spec)}: after '=' give the class as package.module:Class")
        return _from_state_dict(Path(weights), target, spec, device)
    if path is not None:
        if path.suffix == ".pkl":
            return _from_stylegan_pickle(path, spec, device, trust_pickle, code_allowed)
        if not code_allowed:
            kind = _CODE_KINDS.get(path.suffix, "model file other than a StyleGAN snapshot (.pkl)")
            raise ModelError(
                f"{one_line(spec)}: named by a file, and a {kind} can run code when it is loaded; latentcut loads one only "
                f"when you name it yourself: --model {one_line(spec)}"
            )
        if path.suffix == ".pt2":
            return _from_exported_program(path, spec, device)
        return _from_torchscript(path, spec, device)
    if _ENTRY.match(spec):
        return _from_entry_point(spec, device)
    if looks_like_a_path(spec):
        raise ModelError(f"{one_line(spec)}: model file not found; check the path")
    raise ModelError(
        f"{one_line(spec)}: unknown model; use builtin:cppn, a .pt2, TorchScript or .pkl file, package.module:function, "
        "or weights.pth=package.module:Class"
    )
