"""Rendering the page's transitions in the background: one at a time, frames kept as they come, a newer request cancels the older.

The frames come from a ``FrameRenderer``: the explorer's own model (the default) or a render daemon.
The first frame is rendered alone so that it shows as soon as possible; the rest go in small
batches, and a cancelled generation stops at the next batch.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from latentcut.errors import LatentcutError

__all__ = ["FrameRenderer", "Generation", "Generations"]

log = logging.getLogger("latentcut.explore")
_BATCH_FRAMES = 4
_KEPT = 4  # finished generations kept for the page to show and save
_JOIN_TIMEOUT_S = 30.0


class FrameRenderer(Protocol):
    """Whatever turns latents into frames for the explorer: a ``Generator``, or a daemon seen through one."""

    spec: str
    sha256: str

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray: ...


@dataclass
class Generation:
    """One transition being rendered: its latents, its frames so far, and how it ended."""

    id: int
    latents: np.ndarray
    size: tuple[int, int]
    renderer: FrameRenderer
    about: Mapping[str, Any]  # what the page asked for (spec and keys), recorded when it is saved
    frames: list[np.ndarray] = field(default_factory=list)
    error: str | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def total(self) -> int:
        return len(self.latents)

    def state(self) -> str:
        if self.error is not None:
            return "failed"
        if self.cancelled.is_set():
            return "cancelled"
        return "done" if self.finished.is_set() else "running"

    def frame(self, index: int) -> np.ndarray | None:
        frames = self.frames  # appended by the worker; a list read is safe under the GIL
        return frames[index] if 0 <= index < len(frames) else None


class Generations:
    """The explorer's background renderer: one worker thread, the latest request first, the last few results kept."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._pending: Generation | None = None
        self._current: Generation | None = None
        self._kept: OrderedDict[int, Generation] = OrderedDict()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._run, name="latentcut-explore", daemon=True)
        self._worker.start()

    def submit(self, latents: np.ndarray, size: tuple[int, int], renderer: FrameRenderer, about: Mapping[str, Any]) -> Generation:
        """Queue a generation, cancelling the one in flight and any not yet started; return it."""
        generation = Generation(next(self._ids), np.asarray(latents, np.float32), size, renderer, dict(about))
        with self._lock:
            for older in (self._pending, self._current):
                if older is not None:
                    older.cancelled.set()
            self._pending = generation
            self._kept[generation.id] = generation
            while len(self._kept) > _KEPT:
                self._kept.popitem(last=False)
            self._lock.notify_all()
        return generation

    def get(self, generation_id: int) -> Generation | None:
        with self._lock:
            return self._kept.get(generation_id)

    def close(self) -> None:
        """Cancel everything and stop the worker."""
        self._stop.set()
        with self._lock:
            for generation in (self._pending, self._current):
                if generation is not None:
                    generation.cancelled.set()
            self._lock.notify_all()
        self._worker.join(_JOIN_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._stop.is_set():
                    self._lock.wait(0.5)
                if self._stop.is_set():
                    return
                generation, self._pending = self._pending, None
                self._current = generation
            assert generation is not None
            try:
                self._render(generation, generation.cancelled.is_set)
            except LatentcutError as exc:
                generation.error = str(exc)
            except Exception as exc:  # the explorer keeps serving; the page shows the failure
                log.exception("generation %d failed", generation.id)
                generation.error = f"{type(exc).__name__}: {exc}"
            finally:
                generation.finished.set()
                with self._lock:
                    self._current = None

    @staticmethod
    def _render(generation: Generation, cancelled: Callable[[], bool]) -> None:
        start = 0
        while start < generation.total and not cancelled():
            count = 1 if start == 0 else _BATCH_FRAMES
            batch = generation.renderer.render(generation.latents[start : start + count], generation.size)
            generation.frames.extend(np.ascontiguousarray(frame) for frame in batch)
            start += len(batch)
