"""Handing out the frames of a job in ranges, to the daemon's own renderer and to remote workers, and taking them back.

Each hand-out is a lease: the range, the peer it went to and a fresh random token. Only that peer,
quoting that token, may return the range; a lease not returned within its deadline goes back to the
pending list (its old token dies with it), so a worker that dies loses no work beyond the range it
held, and nobody else can deliver frames for it. Ranges are handed out in frame order, so the
encoder, which writes strictly in order, waits as little as possible.
"""

from __future__ import annotations

import dataclasses
import hmac
import itertools
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

__all__ = ["FrameBatch", "RangeBoard"]


@dataclass(frozen=True, eq=False)
class FrameBatch:
    """Frames ``indices`` of job ``job_id`` as range ``range_id``; ``token`` is set on the copy handed out."""

    job_id: str
    range_id: int
    indices: np.ndarray
    token: str = ""


@dataclass(frozen=True, eq=False)
class _Lease:
    batch: FrameBatch
    holder: str  # credited in done_by: "local" or the worker's name
    peer: bytes  # the connection it went to
    due: float


class RangeBoard:
    """The frames of one job still to generate, split into ranges of at most ``range_frames``."""

    def __init__(self, job_id: str, missing: np.ndarray, range_frames: int) -> None:
        self.job_id = job_id
        self._ids = itertools.count()
        self._pending: deque[FrameBatch] = deque(
            FrameBatch(job_id, next(self._ids), missing[i : i + range_frames]) for i in range(0, len(missing), range_frames)
        )
        self._out: dict[int, _Lease] = {}
        self._lock = threading.Condition()
        self.done_by: dict[str, int] = {}
        self.requeued = 0

    def take(self, holder: str, deadline_s: float, *, peer: bytes = b"", before: int | None = None) -> FrameBatch | None:
        """Lease the next pending range to ``peer`` (None when none is pending, or it starts at or after ``before``)."""
        with self._lock:
            if not self._pending or (before is not None and int(self._pending[0].indices[0]) >= before):
                return None
            batch = dataclasses.replace(self._pending.popleft(), token=secrets.token_hex(16))
            self._out[batch.range_id] = _Lease(batch, holder, peer, time.monotonic() + deadline_s)
            return batch

    def claim(self, range_id: int, peer: bytes, token: str) -> FrameBatch | None:
        """The range ``range_id`` if it is leased now to ``peer`` under ``token`` (its frames are welcome), else None."""
        with self._lock:
            lease = self._out.get(range_id)
            if lease is None or lease.peer != peer or not hmac.compare_digest(lease.batch.token, token):
                return None
            return lease.batch

    def returned(self, batch: FrameBatch) -> bool:
        """Mark a leased range done; False if that lease is over (re-queued, perhaps done by another renderer)."""
        with self._lock:
            lease = self._out.get(batch.range_id)
            if lease is None or lease.batch.token != batch.token:
                return False
            del self._out[batch.range_id]
            self.done_by[lease.holder] = self.done_by.get(lease.holder, 0) + 1
            self._lock.notify_all()
            return True

    def requeue(self, batch: FrameBatch) -> bool:
        """End ``batch``'s lease now (its renderer is lost) and put the range back at the front; False if that lease is over."""
        with self._lock:
            lease = self._out.get(batch.range_id)
            if lease is None or lease.batch.token != batch.token:
                return False
            del self._out[batch.range_id]
            self._pending.appendleft(dataclasses.replace(lease.batch, token=""))
            self.requeued += 1
            return True

    def requeue_overdue(self) -> int:
        """Put ranges past their deadline back at the front (their leases end); return how many."""
        now = time.monotonic()
        with self._lock:
            overdue = [rid for rid, lease in self._out.items() if lease.due < now]
            for rid in sorted(overdue, reverse=True):
                self._pending.appendleft(dataclasses.replace(self._out.pop(rid).batch, token=""))
            self.requeued += len(overdue)
            return len(overdue)

    @property
    def finished(self) -> bool:
        with self._lock:
            return not self._pending and not self._out
