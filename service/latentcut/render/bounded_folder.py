"""Files (or folders of files) kept under a folder within a size in bytes, the least recently used removed first."""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

__all__ = ["BoundedFolder", "entry_bytes"]


def entry_bytes(path: Path) -> int:
    """Return the bytes ``path`` holds: a file's size, or the sum of the files directly in a folder."""
    return _bytes_of(path, path.stat())


def _bytes_of(path: Path, status: os.stat_result) -> int:
    if stat.S_ISDIR(status.st_mode):
        return sum(entry.stat().st_size for entry in path.iterdir() if entry.is_file())
    return status.st_size


class BoundedFolder:
    """Entries at ``folder/<first two characters of name>/<name>``; past ``max_bytes`` the least recently used are removed.

    The bookkeeping only: its owner writes, reads and names the entries, and tells it of each. On start the
    entries in ``found`` count as used in the order of their modification times. ``remove`` deletes an
    evicted entry, with the lock held; what it does when the disk refuses is the owner's choice.
    Safe to use from several threads.
    """

    def __init__(self, folder: Path, max_bytes: int, found: Iterable[Path], remove: Callable[[Path], None]) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self._remove = remove
        self._lock = threading.Lock()
        self._sizes: OrderedDict[str, int] = OrderedDict()
        scanned = [(path, path.stat()) for path in found]
        for path, status in sorted(scanned, key=lambda item: item[1].st_mtime):
            self._sizes[path.name] = _bytes_of(path, status)
        self._total = sum(self._sizes.values())
        with self._lock:
            self._evict(frozenset())

    def path(self, name: str) -> Path:
        return self.folder / name[:2] / name

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._sizes

    @property
    def total_bytes(self) -> int:
        return self._total

    def touch(self, name: str) -> bool:
        """Count ``name`` as just used; return whether it is held (one gone from the disk is forgotten)."""
        with self._lock:
            if name in self._sizes and self.path(name).exists():
                self._sizes.move_to_end(name)
                return True
            self._total -= self._sizes.pop(name, 0)
            return False

    def add(self, name: str, size_bytes: int, *, keep: Collection[str] = ()) -> None:
        """Count the entry ``name`` just written (``size_bytes``) as the most recent; then evict, except those in ``keep``."""
        with self._lock:
            self._total += size_bytes - self._sizes.pop(name, 0)
            self._sizes[name] = size_bytes
            self._evict(frozenset(keep))

    def forget(self, name: str) -> None:
        """Stop counting ``name`` (gone from the disk, or about to be); nothing is deleted."""
        with self._lock:
            self._total -= self._sizes.pop(name, 0)

    def rename(self, old: str, new: str) -> None:
        """Count the entry moved from ``old`` to ``new`` under ``new``, in place of whatever ``new`` held."""
        with self._lock:
            size = self._sizes.pop(old, 0)
            self._total -= self._sizes.pop(new, 0)
            self._sizes[new] = size

    def _evict(self, keep: frozenset[str]) -> None:
        # Victims are chosen first, from the least recent on, so that a full store costs only the entries removed.
        excess = self._total - self.max_bytes
        victims = []
        for name, size in self._sizes.items():
            if excess <= 0:
                break
            if name not in keep:
                victims.append(name)
                excess -= size
        for name in victims:
            self._total -= self._sizes.pop(name)
            self._remove(self.path(name))
