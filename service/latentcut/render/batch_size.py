"""How many frames a model renders at once on its device: on CUDA the largest power of two that fits, found once per model, size and device and remembered; on a CPU a fixed default.

The finder renders a batch of ``BATCH_CAP`` frames and halves it each time the device runs out of
memory (``torch.cuda.OutOfMemoryError`` or ``MemoryError``, also when a model wrapped it in its own
error). What it finds is kept in ``batch_sizes.json`` in latentcut's cache folder, keyed by the
model's sha256, the frame size and the device's kind and memory (so a second GPU of the same kind
reuses it); a file that is not what it should be is reported once and measured again.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.errors import RenderError
from latentcut.latent.sidecar import cache_dir
from latentcut.models.generator import Generator

__all__ = [
    "BATCH_CAP",
    "CPU_BATCH",
    "STORE_NAME",
    "BatchSizes",
    "batch_key",
    "batched_frames",
    "device_batch",
    "largest_batch",
    "ran_out_of_memory",
    "remembered_batch",
]

BATCH_CAP = 32  # StyleGAN renders at most 32 frames per forward pass (models.stylegan.generator): more gains nothing
CPU_BATCH = 8  # a CPU has the memory, and its frames/s hardly change with the batch: no probing there
STORE_NAME = "batch_sizes.json"
_MAX_ENTRIES = 10_000  # a file grown past this (years of models and sizes) starts again
_STORE_LOCK = threading.Lock()  # one daemon's renderers (one per GPU) may find their batches at once


def ran_out_of_memory(exc: BaseException) -> bool:
    """True if ``exc``, or an error it was raised from, says the device ran out of memory."""
    import torch

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, (torch.cuda.OutOfMemoryError, MemoryError)):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def _memory_released() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()  # the failed batch's blocks go back, so the next try sees the whole device


def largest_batch(renders: Callable[[int], object], cap: int = BATCH_CAP, *, where: str = "the model") -> int:
    """The largest power of two up to ``cap`` for which ``renders(batch)`` does not run out of memory.

    Any other error is raised as it is; running out of memory at a single frame raises ``RenderError``.
    """
    if cap < 1 or cap & (cap - 1):
        raise RenderError(f"batch cap {cap} is not a power of two")
    batch = cap
    while True:
        try:
            renders(batch)
            return batch
        except Exception as exc:  # only running out of memory is handled; the rest is the model's own error
            if not ran_out_of_memory(exc):
                raise
            if batch == 1:
                raise RenderError(
                    f"{where}: runs out of device memory rendering a single frame; use a smaller --size or another --device"
                ) from exc
        _memory_released()  # outside the except block: the traceback no longer holds the failed batch's tensors
        batch //= 2


class BatchSizes:
    """The batch sizes found so far: one JSON object ``{key: frames}`` in ``path`` (default: the cache folder)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or cache_dir() / STORE_NAME
        self._warned = False

    def _warn(self, problem: str) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"{self.path}: {problem}", stacklevel=3)

    def _read(self) -> dict[str, int]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            self._warn(f"cannot be read ({exc}); batch sizes are measured again")
            return {}
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            self._warn(f"is not JSON ({exc}); batch sizes are measured again and the file written anew")
            return {}
        if not isinstance(entries, dict) or not all(
            isinstance(value, int) and not isinstance(value, bool) and value >= 1 for value in entries.values()
        ):
            self._warn("is not a map of batch sizes; batch sizes are measured again and the file written anew")
            return {}
        return entries

    def get(self, key: str) -> int | None:
        """The batch remembered for ``key``, or None."""
        with _STORE_LOCK:
            return self._read().get(key)

    def put(self, key: str, batch: int) -> None:
        """Remember ``batch`` for ``key`` (an atomic rewrite; a folder that refuses it is reported, not fatal)."""
        with _STORE_LOCK:
            entries = self._read()
            if len(entries) >= _MAX_ENTRIES:
                entries = {}
            entries[key] = batch
            try:
                with atomic_path(self.path) as tmp:
                    tmp.write_text(json.dumps(entries, indent=1, sort_keys=True) + "\n")
            except OSError as exc:
                self._warn(f"cannot be written ({exc}); the batch size is measured again next time")


def remembered_batch(key: str, measure: Callable[[], int], store: BatchSizes) -> int:
    """The batch ``store`` holds for ``key``; else ``measure()``'s, which ``store`` then keeps."""
    found = store.get(key)
    if found is not None:
        return found
    batch = measure()
    store.put(key, batch)
    return batch


def _device_name(device: str) -> str:
    """The device's kind and memory: two GPUs of one kind share their batch sizes."""
    import torch

    index = torch.device(device).index
    properties = torch.cuda.get_device_properties(torch.cuda.current_device() if index is None else index)
    return f"{properties.name} {properties.total_memory >> 20} MiB"


def batch_key(generator: Generator, size: tuple[int, int], device_name: str) -> str:
    """What a batch size is remembered under: the model's weights and settings, the frame size, the device."""
    return f"{generator.sha256} {size[0]}x{size[1]} {device_name}"


def device_batch(generator: Generator, size: tuple[int, int], *, store: BatchSizes | None = None, cap: int = BATCH_CAP) -> int:
    """Frames ``generator`` should render at once at ``size``: ``CPU_BATCH`` off CUDA; on CUDA found once, then remembered.

    CUDA only (a CPU has nothing to find): the first call for a model, size and kind of GPU renders
    black latents at ``cap``, ``cap / 2`` ... frames until one fits.
    """
    if not str(generator.device).startswith("cuda"):
        return min(CPU_BATCH, cap)
    width, height = size

    def measure() -> int:
        latents = np.zeros((cap, generator.latent_dim), np.float32)
        return largest_batch(
            lambda batch: generator.render(latents[:batch], size), cap, where=f"{generator.spec} at {width}x{height}"
        )

    return remembered_batch(batch_key(generator, size, _device_name(generator.device)), measure, store or BatchSizes())


def batched_frames(frames_of: Callable[[np.ndarray], np.ndarray], rows: np.ndarray, batch: int) -> np.ndarray:
    """``frames_of(rows)`` asked for at most ``batch`` rows at a time (the device never holds more), in order."""
    if batch < 1 or len(rows) <= batch:
        return frames_of(rows)
    return np.concatenate([frames_of(rows[start : start + batch]) for start in range(0, len(rows), batch)])
