"""Noticing that a project file was saved, however the editor saves it (watchdog on the project's folder).

Kdenlive 22.12 saves by renaming a finished temp file ``NAME.kdenlive.XXXXXX`` over the project (one
moved event, nothing for the project itself); Save As creates it directly; other editors write in
place. All of these count; temp files, ``*_backup0.kdenlive`` and autosaves never do, because only
events whose (destination) path is the project itself are looked at. Saves in quick succession are
debounced: a save is reported once the folder has been quiet for ``debounce_s``.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

__all__ = ["SaveWatcher"]


class _Handler(FileSystemEventHandler):
    def __init__(self, project: Path, saved: threading.Condition, stamp: list[float]) -> None:
        self.project = str(project)
        self.saved = saved
        self.stamp = stamp

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory or event.event_type in ("deleted", "opened", "closed_no_write"):
            return
        target = getattr(event, "dest_path", "") if event.event_type == "moved" else event.src_path
        if target == self.project:
            with self.saved:
                self.stamp[0] = time.monotonic()
                self.saved.notify_all()


class SaveWatcher:
    """Context manager: ``wait_for_save(timeout_s)`` returns True once the project was saved and the folder is quiet."""

    def __init__(self, project: Path, *, debounce_s: float = 0.05) -> None:
        self.project = project.resolve()
        self.debounce_s = debounce_s
        self._saved = threading.Condition()
        self._stamp = [0.0]
        self._seen = 0.0
        self._observer = Observer()
        self._observer.schedule(_Handler(self.project, self._saved, self._stamp), str(self.project.parent), recursive=False)

    def __enter__(self) -> SaveWatcher:
        self._observer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._observer.stop()
        self._observer.join(timeout=10)

    def wait_for_save(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a save newer than the last one reported; then let it settle for ``debounce_s``."""
        deadline = time.monotonic() + timeout_s
        with self._saved:
            while self._stamp[0] <= self._seen:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._saved.wait(left)
            while time.monotonic() - self._stamp[0] < self.debounce_s:
                self._saved.wait(self.debounce_s)
            self._seen = self._stamp[0]
        return True
