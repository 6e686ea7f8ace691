"""A window that shows a performance's pictures as they are generated, where a display exists (Tk)."""

from __future__ import annotations

import os
from types import TracebackType

import numpy as np

__all__ = ["PreviewWindow", "display_available"]


def display_available() -> bool:
    """Whether a window can be opened (an X display is set)."""
    return bool(os.environ.get("DISPLAY"))


class PreviewWindow:
    """``with PreviewWindow(title) as window: window.show(frame)``: each frame replaces the last; closing the window is allowed."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.shown = 0

    def __enter__(self) -> PreviewWindow:
        import tkinter

        self._root = tkinter.Tk()
        self._root.title(self.title)
        self._label = tkinter.Label(self._root)
        self._label.pack()
        self._open = True
        self._root.protocol("WM_DELETE_WINDOW", self._closed)
        return self

    def _closed(self) -> None:
        self._open = False
        self._root.destroy()

    def show(self, frame: np.ndarray) -> None:
        """Show ``frame`` (``(h, w, 3)`` uint8) now."""
        if not self._open:
            return
        from PIL import Image, ImageTk

        picture = ImageTk.PhotoImage(Image.fromarray(frame), master=self._root)
        self._label.configure(image=picture)
        self._label.image = picture  # type: ignore[attr-defined]  # Tk keeps no reference of its own
        self._root.update()
        self.shown += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._open:
            self._root.destroy()
