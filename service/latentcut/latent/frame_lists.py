"""Frame lists as people type them: ``3,7,9`` and ranges ``0-27``."""

from __future__ import annotations

import re

from latentcut.errors import UsageError

__all__ = ["frame_numbers"]

_ITEM = re.compile(r"\s*(\d+)(?:-(\d+))?\s*")


def frame_numbers(text: str) -> list[int]:
    """The frame numbers ``text`` lists, in order, ranges inclusive (``2-4`` is 2, 3, 4)."""
    numbers: list[int] = []
    for part in text.split(","):
        item = _ITEM.fullmatch(part)
        if item is None:
            raise UsageError(f"{text!r} is not a list of frame numbers like 3,7,9 or 0-27")
        first = int(item[1])
        last = int(item[2]) if item[2] is not None else first
        if last < first:
            raise UsageError(f"{part.strip()!r} in {text!r} runs backwards; write the smaller frame first")
        numbers.extend(range(first, last + 1))
    return numbers
