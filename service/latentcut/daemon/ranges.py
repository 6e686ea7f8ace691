"""Handing out the frames of a job in ranges, to the daemon's own renderer and to remote workers, and taking them back.

A range a worker has not returned within its deadline goes back to the pending list, so a worker that
dies loses no work beyond the range it held. Ranges are handed out in frame order, so the encoder,
which writes strictly in order, waits as little as possible.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["FrameBatch", "RangeBoard"]


@dataclass(frozen=True)
class FrameBatch:
    """Frames ``indices`` of job ``job_id``, handed out as range ``range_id``."""

    job_id: str
    range_id: int
    indices: np.ndarray


class RangeBoard:
    """The frames of one job still to generate, split into ranges of at most ``range_frames``."""

    def __init__(self, job_id: str, missing: np.ndarray, range_frames: int) -> None:
        self.job_id = job_id
        self._ids = itertools.count()
        self._pending: deque[FrameBatch] = deque(
            FrameBatch(job_id, next(self._ids), missing[i : i + range_frames]) for i in range(0, len(missing), range_frames)
        )
        self._out: dict[int, tuple[FrameBatch, str, float]] = {}
        self._lock = threading.Condition()
        self.done_by: dict[str, int] = {}
        self.requeued = 0

    def take(self, worker: str, deadline_s: float) -> FrameBatch | None:
        """Give ``worker`` the next pending range (None when none is pending), due back within ``deadline_s``."""
        with self._lock:
            if not self._pending:
                return None
            batch = self._pending.popleft()
            self._out[batch.range_id] = (batch, worker, time.monotonic() + deadline_s)
            return batch

    def out(self, range_id: int) -> FrameBatch | None:
        """The range ``range_id`` if it is handed out now (its frames are welcome), else None."""
        with self._lock:
            entry = self._out.get(range_id)
            return entry[0] if entry else None

    def returned(self, range_id: int, worker: str) -> FrameBatch | None:
        """Mark a range done; None if it was not out (already re-queued and done elsewhere, or unknown)."""
        with self._lock:
            entry = self._out.pop(range_id, None)
            if entry is None:
                return None
            self.done_by[worker] = self.done_by.get(worker, 0) + 1
            self._lock.notify_all()
            return entry[0]

    def requeue_overdue(self) -> int:
        """Put ranges past their deadline back at the front; return how many."""
        now = time.monotonic()
        with self._lock:
            overdue = [rid for rid, (_, _, due) in self._out.items() if due < now]
            for rid in sorted(overdue, reverse=True):
                self._pending.appendleft(self._out.pop(rid)[0])
            self.requeued += len(overdue)
            return len(overdue)

    @property
    def finished(self) -> bool:
        with self._lock:
            return not self._pending and not self._out
