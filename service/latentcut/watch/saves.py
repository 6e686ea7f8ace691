"""Noticing that a project file was saved, however the editor saves it (watchdog on the project's folder).

Kdenlive 22.12 saves by renaming a finished temp file ``NAME.kdenlive.XXXXXX`` over the project (one
moved event, nothing for the project itself); Save As creates it directly; other editors write in
place. All of these count; temp files, ``*_backup0.kdenlive`` and autosaves never do, because only
events whose (destination) path is the project itself are looked at. Saves in quick succession are
debounced: a save is reported once the folder has been quiet for ``debounce_s``.

Events carry the folder's path as it was when watching began, so a renamed folder would go silent:
each wait checks that the path still names the folder being watched. If another folder now stands
there (the project moved back, or was restored), watching starts again on it and that counts as a
save; if nothing does, ``wait_for_save`` raises ``ProjectError`` with one line.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from latentcut.errors import ProjectError

__all__ = ["SaveWatcher"]

_FOLDER_CHECK_S = 0.5  # how often a long wait looks whether the folder was renamed


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
        self._folder = self._folder_identity()
        self._watch = self._observer.schedule(
            _Handler(self.project, self._saved, self._stamp), str(self.project.parent), recursive=False
        )

    def _folder_identity(self) -> tuple[int, int] | None:
        try:
            info = os.stat(self.project.parent)
        except OSError:
            return None
        return info.st_dev, info.st_ino

    def _folder_checked(self) -> bool:
        """True if the folder was replaced and is watched again (a save); raise if the folder is gone."""
        now = self._folder_identity()
        if now == self._folder:
            return False
        if now is None:
            raise ProjectError(
                f"{self.project.parent}: the project's folder was renamed or removed; watching stopped "
                "(start watching again at its new path)"
            )
        self._observer.unschedule(self._watch)
        self._watch = self._observer.schedule(
            _Handler(self.project, self._saved, self._stamp), str(self.project.parent), recursive=False
        )
        self._folder = now
        return True

    def __enter__(self) -> SaveWatcher:
        self._observer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._observer.stop()
        self._observer.join(timeout=10)

    def wait_for_save(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for a save newer than the last one reported; then let it settle for ``debounce_s``.

        Raises ``ProjectError`` if the project's folder was renamed or removed (see the module docstring).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            # Checked outside the lock: re-arming joins watchdog's thread, which may be waiting for the lock.
            if self._folder_checked():
                with self._saved:
                    self._seen = self._stamp[0]
                return True
            with self._saved:
                if self._stamp[0] > self._seen:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._saved.wait(min(left, _FOLDER_CHECK_S))
        with self._saved:
            while time.monotonic() - self._stamp[0] < self.debounce_s:
                self._saved.wait(self.debounce_s)
            self._seen = self._stamp[0]
        return True
