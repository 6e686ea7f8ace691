"""Previews in the daemon: frames a client asks to look at, rendered beside the jobs on one thread and sent back to that client.

A preview's frames are what a job's are (``FrameArrays``: latents, opacity, pixel cross-fade, input
controls), rendered through the same ``render_range``, so a preview of an edit shows the job's pictures.

The socket thread only queues a preview (``ask``) and later sends what is ready (``send_ready``); a
preview thread renders them one at a time, oldest client first. Each connection has at most one
preview waiting or running: a newer one supersedes it (the older is answered ``superseded``, a
running one at its next chunk of frames). At most ``MAX_WAITING_PREVIEWS`` other connections wait; more
are refused as busy. Previews read the frame cache (a frame a job already rendered at that size is not
rendered again) but never fill it: they are many and thrown away, and would evict the edit's frames.
A connection that has not read ``MAX_UNREAD_PER_PEER`` earlier answers is refused, and a finished preview
the socket will not hold for it (``latentcut.daemon.transport``) is answered ``failed`` without its frames.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from latentcut.daemon.cache import FrameCache
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.messages import Accepted, Preview, PreviewFrames
from latentcut.daemon.transport import MAX_UNREAD_PER_PEER
from latentcut.errors import LatentcutError, ProtocolError, failure_line
from latentcut.models.generator import Generator, checked_latents
from latentcut.models.latent_space import checked_weights, generator_for
from latentcut.render.range_frames import FrameMemo, render_range

__all__ = ["MAX_WAITING_PREVIEWS", "Previews", "preview_memory_bytes"]

log = logging.getLogger("latentcut.daemon")
MAX_WAITING_PREVIEWS = 8  # connections with a preview waiting; more are refused as busy
CHUNK_FRAMES = 8  # frames rendered between two looks at whether a newer preview superseded this one
_WORKING_BYTES_PER_PIXEL = 3 * 4  # the model's float32 RGB picture of a frame
_JOIN_TIMEOUT_S = 30.0

Send = Callable[..., bool]  # ServerSocket.send: (peer, kind, header, arrays) -> False if not held for the peer


def _no_wake() -> None:
    pass


def _none_unread(peer: bytes) -> int:
    return 0


def preview_memory_bytes(preview: Preview) -> int:
    """What rendering ``preview`` needs in memory at most: its latents, its frames, and one chunk as the model's floats."""
    width, height = preview.size
    frames = preview.frames
    return (
        preview.arrays.nbytes
        + frames * width * height * 3
        + min(CHUNK_FRAMES, frames) * width * height * _WORKING_BYTES_PER_PIXEL
    )


class _Superseded(Exception):
    pass


@dataclass
class _Asked:
    peer: bytes
    preview: Preview
    superseded: threading.Event = field(default_factory=threading.Event)


class Previews:
    """The daemon's previews: queued by the socket thread, rendered on their own thread with ``generator(spec)``."""

    def __init__(
        self,
        generator: Callable[[str], Generator],
        cache: FrameCache,
        *,
        max_bytes: int,
        max_waiting: int = MAX_WAITING_PREVIEWS,
        wake: Callable[[], None] = _no_wake,  # ServerSocket.wake: a finished preview is sent at once
        unread: Callable[[bytes], int] = _none_unread,  # ServerSocket.unread: large answers a peer has not read
    ) -> None:
        self._generator = generator
        self._wake = wake
        self._unread = unread
        self._cache = cache
        self.max_bytes = max_bytes
        self.max_waiting = max_waiting
        self._lock = threading.Condition()
        self._waiting: OrderedDict[bytes, _Asked] = OrderedDict()  # one per connection, the oldest first
        self._running: _Asked | None = None
        self._ready: queue.SimpleQueue[tuple[bytes, PreviewFrames]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def ask(self, peer: bytes, preview: Preview) -> Accepted:
        """Queue ``preview`` for ``peer``, superseding that peer's older one; refuse it (``ProtocolError``) when busy."""
        need = preview_memory_bytes(preview)
        if need > self.max_bytes:
            width, height = preview.size
            raise ProtocolError(
                f"preview {preview.preview_id}: {preview.frames} frames of {width}x{height} need about "
                f"{need / 2**20:.0f} MiB, over this daemon's {self.max_bytes / 2**20:.0f} MiB per job (--max-job-gb)"
            )
        with self._lock:
            if self._closed:
                raise ProtocolError("the daemon is stopping; no more previews")
            if (unread := self._unread(peer)) >= MAX_UNREAD_PER_PEER:
                raise ProtocolError(
                    f"preview {preview.preview_id}: this connection has not read {unread} earlier previews' frames; "
                    "read the answers, then ask again"
                )
            older = self._waiting.pop(peer, None)
            if older is not None:
                self._ready.put((peer, PreviewFrames(older.preview.preview_id, "superseded")))
            running = self._running if self._running is not None and self._running.peer == peer else None
            if running is not None:
                running.superseded.set()
            # A client replacing its own preview is never refused: it gives up a place as it takes one.
            if older is None and running is None and len(self._waiting) >= self.max_waiting:
                raise ProtocolError(
                    f"busy: {len(self._waiting)} previews are waiting; ask for preview {preview.preview_id} again shortly"
                )
            self._waiting[peer] = _Asked(peer, preview)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="latentcut-previews", daemon=True)
                self._thread.start()
            self._lock.notify_all()
        return Accepted(preview.preview_id, "queued")

    def send_ready(self, send: Send) -> None:
        """Send every finished preview to the connection that asked for it (on the socket's thread)."""
        while True:
            try:
                peer, answer = self._ready.get_nowait()
            except queue.Empty:
                return
            if not send(peer, *answer.to_wire()):
                # Not held for a peer that does not read: a few bytes say why instead of the frames.
                error = "frames not sent: too many earlier answers are unread; read them, then ask again"
                send(peer, *PreviewFrames(answer.preview_id, "failed", error=error).to_wire())

    def close(self) -> None:
        """Drop the waiting previews, stop the running one, and stop the preview thread."""
        with self._lock:
            self._closed = True
            self._waiting.clear()
            if self._running is not None:
                self._running.superseded.set()
            self._lock.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(_JOIN_TIMEOUT_S)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._lock.wait(0.5)
                if self._closed:
                    return
                _, asked = self._waiting.popitem(last=False)
                self._running = asked
            preview = asked.preview
            try:
                answer = self._rendered(asked)
            except _Superseded:
                answer = PreviewFrames(preview.preview_id, "superseded")
            except Exception as exc:  # the daemon survives any single preview; the error goes to the client in one line
                if not isinstance(exc, LatentcutError):
                    log.exception("preview %s failed", preview.preview_id)
                answer = PreviewFrames(preview.preview_id, "failed", error=failure_line(exc))
            finally:
                with self._lock:
                    self._running = None
            self._ready.put((asked.peer, answer))
            self._wake()

    def _rendered(self, asked: _Asked) -> PreviewFrames:
        preview = asked.preview
        where = f"preview {preview.preview_id}"
        base = self._generator(preview.model)
        checked_weights(base, preview.look, where)
        generator = generator_for(base, preview.look, where=where)
        arrays = preview.arrays
        checked_latents(generator, arrays.latents, where)
        width, height = preview.size
        keys = frame_keys(
            generator.sha256,
            generator.spec,
            preview.size,
            arrays.latents,
            arrays.opacity,
            arrays.blend_latents,
            arrays.blend_weight,
            arrays.input_controls(),
        )
        frames = np.empty((arrays.frames, height, width, 3), np.uint8)
        missing = []
        for index, key in enumerate(keys):
            cached = self._cache.get(key, preview.size) if key in self._cache else None
            if cached is None:
                missing.append(index)
            else:
                frames[index] = cached
        memo = FrameMemo()  # a picture repeated in this preview (a held latent) is made once
        for start in range(0, len(missing), CHUNK_FRAMES):
            if asked.superseded.is_set():
                raise _Superseded
            rows = np.array(missing[start : start + CHUNK_FRAMES], np.int64)
            frames[rows] = render_range(generator, preview.size, arrays.rows(rows), memo)
        return PreviewFrames(preview.preview_id, "done", frames, generator.sha256)
