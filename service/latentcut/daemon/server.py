"""The render daemon: takes jobs over ZeroMQ, renders only the frames its cache lacks, writes the video atomically.

Threads, and what each owns:

    main     the socket: answers every request at once, hands ranges to workers, sends events
    runner   one job at a time: works out the missing frames, encodes all frames strictly in order
    local    renders ranges of the running job on this machine's model (when --local, the default)

Frames travel between them through the frame cache (on disk, so it survives restarts). A newer job for
the same project cancels the older one, queued or running; a cancelled or failed job leaves no file
under its output name, and the daemon goes on serving.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latentcut import __version__
from latentcut.daemon.cache import FrameCache, frame_keys
from latentcut.daemon.jobs import Job, job_from_message
from latentcut.daemon.protocol import Message, ProtocolError
from latentcut.daemon.ranges import FrameBatch, RangeBoard
from latentcut.daemon.transport import ServerSocket
from latentcut.errors import LatentcutError
from latentcut.models.generator import Generator, checked_latents
from latentcut.render.encode import VideoWriter, encoding_for

__all__ = ["RenderDaemon", "shaded_frames"]

log = logging.getLogger("latentcut.daemon")
_POLL_MS = 50
_PROGRESS_EVERY_S = 0.2
_WAIT_S = 0.05
_JOIN_TIMEOUT_S = 30.0


class _Cancelled(Exception):
    pass


def shaded_frames(frames: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Apply per-frame opacity toward black in pixels (the conform's fades and gaps)."""
    shade = opacity.astype(np.float32)[:, None, None, None]
    return np.where(shade >= 1.0, frames, (frames * shade + 0.5).astype(np.uint8))


class RenderDaemon:
    """Serves render jobs on ``socket`` into ``out_dir`` with the models named in ``models``."""

    def __init__(
        self,
        socket: ServerSocket,
        out_dir: Path,
        models: Sequence[str],
        cache: FrameCache,
        *,
        load_model: Any,
        local_render: bool = True,
        range_frames: int = 16,
        range_timeout_s: float = 30.0,
    ) -> None:
        self.socket = socket
        self.out_dir = out_dir
        self.allowed = tuple(models)
        self.cache = cache
        self._load_model = load_model
        self.local_render = local_render
        self.range_frames = range_frames
        self.range_timeout_s = range_timeout_s
        self._models: dict[str, Generator] = {}
        self._queue: deque[Job] = deque()
        self._recent: deque[Job] = deque(maxlen=20)
        self._lock = threading.Condition()
        self._current: Job | None = None  # the job the runner works on, from the moment it leaves the queue
        self._running: tuple[Job, RangeBoard, Generator, list[str]] | None = None  # its ranges, once worked out
        self._events: queue.SimpleQueue[tuple[bytes, str, dict[str, Any]]] = queue.SimpleQueue()
        self._arrived = threading.Condition()
        self._workers: dict[str, float] = {}
        self._stop = threading.Event()
        self._remove_leftovers()

    def _remove_leftovers(self) -> None:
        # A daemon killed while writing leaves its hidden temporary output behind; never anything under an output name.
        for leftover in self.out_dir.glob(".*.partial*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    # ----- models

    def _allowed(self, spec: str) -> bool:
        bases = {s.split("@")[0] for s in self.allowed if s.startswith("builtin:")}
        return spec in self.allowed or (spec.startswith("builtin:") and spec.split("@")[0] in bases)

    def _generator(self, spec: str) -> Generator:
        if spec not in self._models:
            self._models[spec] = self._load_model(spec)
        return self._models[spec]

    # ----- main thread: the socket

    def serve(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; then cancel the running job and return (its partial output removed)."""
        self._stop = stop
        runner = threading.Thread(target=self._run_jobs, name="latentcut-runner", daemon=True)
        runner.start()
        try:
            while not stop.is_set():
                received = self.socket.receive(_POLL_MS)
                if received is not None:
                    self._answer(*received)
                self._send_events()
        finally:
            stop.set()
            with self._lock:
                for job in self._queue:
                    job.cancelled.set()
                if self._current is not None:
                    self._current.cancelled.set()
                self._lock.notify_all()
            runner.join(_JOIN_TIMEOUT_S)
            self._send_events()

    def _send_events(self) -> None:
        while True:
            try:
                peer, kind, header = self._events.get_nowait()
            except queue.Empty:
                return
            self.socket.send(peer, kind, header)

    def _answer(self, peer: bytes, message: Message | ProtocolError) -> None:
        if isinstance(message, ProtocolError):
            self.socket.send(peer, "error", {"error": str(message)})
            return
        try:
            handler = getattr(self, f"_on_{message.kind}", None)
            if handler is None:
                raise ProtocolError(f"{message.kind} is not a request")
            kind, header, arrays = handler(peer, message)
        except LatentcutError as exc:
            kind, header, arrays = "error", {"error": str(exc)}, ()
        self.socket.send(peer, kind, header, arrays)

    def _on_ping(self, peer: bytes, message: Message) -> tuple[str, dict[str, Any], tuple]:
        return "ok", {"version": __version__, "models": list(self.allowed), "time": time.time()}, ()

    def _on_status(self, peer: bytes, message: Message) -> tuple[str, dict[str, Any], tuple]:
        with self._lock:
            running = self._current.summary() if self._current else None
            queued = [job.summary() for job in self._queue]
            recent = [job.summary() for job in self._recent]
        now = time.monotonic()
        workers = {name: round(now - seen, 1) for name, seen in self._workers.items() if now - seen < 60}
        return (
            "ok",
            {"running": running, "queue": queued, "recent": recent, "cache_bytes": self.cache.total_bytes, "workers": workers},
            (),
        )

    def _on_cancel(self, peer: bytes, message: Message) -> tuple[str, dict[str, Any], tuple]:
        job_id = message.header.get("job")
        with self._lock:
            jobs = [*self._queue, *([self._current] if self._current else [])]
            found = [job for job in jobs if job.job_id == job_id]
            for job in found:
                self._cancel(job, "cancelled")
        if not found:
            raise ProtocolError(f"no queued or running job {str(job_id)[:64]!r}")
        return "ok", {"job": job_id, "state": "cancelled"}, ()

    def _cancel(self, job: Job, state: str) -> None:
        job.cancel_reason = state
        job.cancelled.set()
        if job in self._queue:
            self._queue.remove(job)
            self._finish(job, state, "")

    def _on_submit(self, peer: bytes, message: Message) -> tuple[str, dict[str, Any], tuple]:
        job = job_from_message(message, owner=peer)
        if not self._allowed(job.model):
            raise ProtocolError(f"model {job.model!r} is not served here; this daemon serves {', '.join(self.allowed)}")
        with self._lock:
            for older in [*self._queue, *([self._current] if self._current else [])]:
                if older.project == job.project:
                    self._cancel(older, "superseded")
            self._queue.append(job)
            self._lock.notify_all()
        log.info("job %s for %s: %d frames -> %s", job.job_id, job.project, job.frames, job.output)
        return "ok", {"job": job.job_id, "received_at": job.received_at, "state": "queued"}, ()

    def _on_ready(self, peer: bytes, message: Message) -> tuple[str, dict[str, Any], tuple]:
        worker = str(message.header.get("worker", peer.hex()))[:64]
        self._workers[worker] = time.monotonic()
        with self._lock:
            running = self._running
        if running is None or running[0].cancelled.is_set():
            return "idle", {}, ()
        job, board, generator, _ = running
        if message.header.get("model_sha256") != generator.sha256:
            return "idle", {"reason": f"this job needs model {generator.spec} ({generator.sha256[:12]})"}, ()
        batch = board.take(worker, self.range_timeout_s)
        if batch is None:
            return "idle", {}, ()
        header = {"job": job.job_id, "range": batch.range_id, "model": generator.spec, "size": list(job.size)}
        return "range", header, (job.latents[batch.indices], job.opacity[batch.indices], batch.indices)

    def _on_frames(self, peer: bytes, message: Message) -> tuple[str, dict[str, Any], tuple]:
        worker = str(message.header.get("worker", peer.hex()))[:64]
        self._workers[worker] = time.monotonic()
        with self._lock:
            running = self._running
        if running is None or running[0].job_id != message.header.get("job"):
            return "ok", {"dropped": "job no longer running"}, ()
        job, board, _, keys = running
        if len(message.arrays) != 1:
            raise ProtocolError("frames carries one array: (n, height, width, 3) uint8")
        frames = message.arrays[0]
        range_id = message.header.get("range")
        batch = board.out(range_id) if isinstance(range_id, int) else None
        if batch is None:
            return "ok", {"dropped": "range not out"}, ()
        width, height = job.size
        if frames.dtype != np.uint8 or frames.shape != (len(batch.indices), height, width, 3):
            raise ProtocolError(f"frames {frames.dtype} {frames.shape} do not fit range {range_id}")
        self._store(job, batch, keys, frames, generated=True)
        board.returned(batch.range_id, worker)
        return "ok", {}, ()

    # ----- runner thread: one job at a time

    def _run_jobs(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._queue and not self._stop.is_set():
                    self._lock.wait(0.2)
                if self._stop.is_set():
                    return
                job = self._current = self._queue.popleft()
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._current = None

    def _run(self, job: Job) -> None:
        started = time.monotonic()
        job.state = "running"
        try:
            generator = self._generator(job.model)
            checked_latents(generator, job.latents[:1], f"job {job.job_id}")
            keys = frame_keys(generator.sha256, generator.spec, job.size, job.latents, job.opacity)
            missing = np.array([i for i, key in enumerate(keys) if key not in self.cache], np.int64)
            job.cached = len(keys) - len(missing)
            board = RangeBoard(job.job_id, missing, self.range_frames)
            with self._lock:
                self._running = (job, board, generator, keys)
            local = threading.Thread(
                target=self._render_locally, args=(job, board, generator, keys), name="latentcut-local", daemon=True
            )
            if self.local_render:
                local.start()
            try:
                self._encode(job, board, generator, keys)
            finally:
                if local.is_alive():
                    job.cancelled.set()
                    local.join(_JOIN_TIMEOUT_S)
            self._finish(job, "done", "", seconds=time.monotonic() - started, ranges=dict(board.done_by), requeued=board.requeued)
        except _Cancelled:
            self._finish(job, job.cancel_reason or "cancelled", "")
        except LatentcutError as exc:
            self._finish(job, "failed", str(exc))
        except Exception as exc:  # the daemon survives any single job; the error goes to its owner
            log.exception("job %s failed", job.job_id)
            self._finish(job, "failed", f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._running = None

    def _finish(self, job: Job, state: str, error: str, **extra: Any) -> None:
        if job.state in ("done", "failed", "cancelled", "superseded"):
            return
        job.state, job.error = state, error
        self._recent.append(job)
        kind = "done" if state == "done" else "failed"
        self._events.put((job.owner, kind, {**job.summary(), **extra}))

    def _render_locally(self, job: Job, board: RangeBoard, generator: Generator, keys: list[str]) -> None:
        while not job.cancelled.is_set() and not board.finished:
            batch = board.take("local", self.range_timeout_s)
            if batch is None:
                board.requeue_overdue()
                time.sleep(_WAIT_S)
                continue
            frames = self._rendered(job, batch, generator)
            # Stored before the range counts as returned: the encoder takes "all returned" to mean "all in the cache".
            if board.out(batch.range_id) is not None:
                self._store(job, batch, keys, frames, generated=True)
                board.returned(batch.range_id, "local")

    def _rendered(self, job: Job, batch: FrameBatch, generator: Generator) -> np.ndarray:
        width, height = job.size
        opacity = job.opacity[batch.indices]
        frames = np.zeros((len(batch.indices), height, width, 3), np.uint8)
        visible = np.nonzero(opacity > 0)[0]
        if len(visible):
            frames[visible] = generator.render(job.latents[batch.indices[visible]], job.size)
        return shaded_frames(frames, opacity)

    def _store(self, job: Job, batch: FrameBatch, keys: list[str], frames: np.ndarray, *, generated: bool) -> None:
        for index, frame in zip(batch.indices.tolist(), frames, strict=True):
            self.cache.put(keys[index], frame)
        # Frames at opacity 0 are black without a call to the model: they are not counted as generated.
        job.generated += int((job.opacity[batch.indices] > 0).sum()) if generated else 0
        with self._arrived:
            self._arrived.notify_all()

    def _frame(self, job: Job, board: RangeBoard, generator: Generator, keys: list[str], index: int) -> np.ndarray:
        while True:
            if job.cancelled.is_set() or self._stop.is_set():
                raise _Cancelled
            frame = self.cache.get(keys[index], job.size)
            if frame is not None:
                return frame
            if board.finished:
                # Evicted before it was written (cache smaller than one job): render it again, here.
                batch = FrameBatch(job.job_id, -1, np.array([index]))
                frame = self._rendered(job, batch, generator)
                self._store(job, batch, keys, frame, generated=True)
                return frame[0]
            board.requeue_overdue()
            with self._arrived:
                self._arrived.wait(_WAIT_S)

    def _encode(self, job: Job, board: RangeBoard, generator: Generator, keys: list[str]) -> None:
        output = self.out_dir / job.output
        tags = {
            "latent_job": job.job_id,
            "latent_project": job.project,
            "latent_model": generator.spec,
            "latent_model_sha256": generator.sha256,
        }
        last_progress = 0.0
        with VideoWriter(output, job.size, job.fps, encoding_for(output, job.preset, job.codec), tags=tags) as writer:
            for index in range(job.frames):
                writer.write(self._frame(job, board, generator, keys, index)[None])
                job.done_frames = index + 1
                if time.monotonic() - last_progress > _PROGRESS_EVERY_S:
                    last_progress = time.monotonic()
                    self._events.put((job.owner, "progress", job.summary()))
