"""Frame lists as people type them: ``3,7,9`` and ranges ``0-27``."""

from __future__ import annotations

import re

from latentcut.errors import UsageError

__all__ = ["MAX_LISTED", "frame_numbers"]

_ITEM = re.compile(r"\s*(\d{1,18})(?:-(\d{1,18}))?\s*")  # 18 digits: past any frame or seed, and past no int parse
MAX_LISTED = 100_000  # numbers one list may name: 10,000 NVIDIA seeds take 3.5 s to draw here


def frame_numbers(text: str) -> list[int]:
    """The frame numbers ``text`` lists, in order, ranges inclusive (``2-4`` is 2, 3, 4)."""
    numbers: list[int] = []
    for part in text.split(","):
        item = _ITEM.fullmatch(part)
        if item is None:
            raise UsageError(f"{_shown(text)} is not a list of numbers like 3,7,9 or 0-27 (each of at most 18 digits)")
        first = int(item[1])
        last = int(item[2]) if item[2] is not None else first
        if last < first:
            raise UsageError(f"{part.strip()!r} in {_shown(text)} runs backwards; write the smaller number first")
        if len(numbers) + last - first + 1 > MAX_LISTED:
            raise UsageError(f"{_shown(text)} names more than {MAX_LISTED:,} numbers; list fewer")
        numbers.extend(range(first, last + 1))
    return numbers


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}... ({len(text)} characters)"
