"""Rendered frames kept on disk under their keys (``latentcut.daemon.identity``), bounded in size, surviving restarts.

Only frames the daemon rendered itself are put here (see ``latentcut.daemon.server``): a frame in the
cache is served again to every later job whose frame has the same key.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from latentcut.atomic import atomic_path

__all__ = ["FrameCache"]

_SUFFIX = ".rgb"


class FrameCache:
    """Frames as raw RGB files under ``folder``; the least recently used go first when ``max_bytes`` is passed."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()
        folder.mkdir(parents=True, exist_ok=True)
        found = sorted(folder.glob(f"*/*{_SUFFIX}"), key=lambda p: p.stat().st_mtime)
        for path in found:
            self._sizes[path.stem] = path.stat().st_size
        self._total = sum(self._sizes.values())
        self._evict()

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}{_SUFFIX}"

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._sizes

    def get(self, key: str, size: tuple[int, int]) -> np.ndarray | None:
        """Return the frame ``(height, width, 3)`` stored under ``key``, or None."""
        width, height = size
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        if len(data) != width * height * 3:
            return None
        with self._lock:
            if key in self._sizes:
                self._sizes.move_to_end(key)
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)

    def put(self, key: str, frame: np.ndarray) -> None:
        """Store a frame under ``key`` (atomically; a crash never leaves half a frame); ``OSError`` if the disk refuses."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.ascontiguousarray(frame, np.uint8).tobytes()
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        with self._lock:
            self._total += len(data) - self._sizes.pop(key, 0)
            self._sizes[key] = len(data)
            self._evict()

    def _evict(self) -> None:
        while self._total > self.max_bytes and self._sizes:
            key, size = self._sizes.popitem(last=False)
            self._total -= size
            try:
                os.unlink(self._path(key))
            except OSError:
                continue

    @property
    def total_bytes(self) -> int:
        return self._total
