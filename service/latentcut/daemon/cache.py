"""Rendered frames kept on disk under their keys (``latentcut.daemon.identity``), bounded in size, surviving restarts.

Only frames the daemon rendered itself are put here (see ``latentcut.daemon.server``): a frame in the
cache is served again to every later job whose frame has the same key.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.render.bounded_folder import BoundedFolder

__all__ = ["FrameCache"]

_SUFFIX = ".rgb"


def _name(key: str) -> str:
    return f"{key}{_SUFFIX}"


def _unlinked(path: Path) -> None:
    # A frame the disk will not remove only leaves the count: the put that evicted it has succeeded.
    with contextlib.suppress(OSError):
        os.unlink(path)


class FrameCache:
    """Frames as raw RGB files under ``folder``; the least recently used go first when ``max_bytes`` is passed."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        self._files = BoundedFolder(folder, max_bytes, folder.glob(f"*/*{_SUFFIX}"), _unlinked)

    def _path(self, key: str) -> Path:
        return self._files.path(_name(key))

    def __contains__(self, key: str) -> bool:
        return _name(key) in self._files

    def get(self, key: str, size: tuple[int, int]) -> np.ndarray | None:
        """Return the frame ``(height, width, 3)`` stored under ``key``, or None."""
        width, height = size
        try:
            data = self._path(key).read_bytes()
        except OSError:
            return None
        if len(data) != width * height * 3:
            return None
        self._files.touch(_name(key))
        return np.frombuffer(data, np.uint8).reshape(height, width, 3)

    def put(self, key: str, frame: np.ndarray) -> None:
        """Store a frame under ``key`` (atomically; a crash never leaves half a frame); ``OSError`` if the disk refuses."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = np.ascontiguousarray(frame, np.uint8).tobytes()
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
        self._files.add(_name(key), len(data))

    @property
    def total_bytes(self) -> int:
        return self._files.total_bytes
