"""The render daemon: takes jobs over ZeroMQ, renders only the frames its cache lacks, writes the video atomically.

Threads, and what each owns:

    main     the socket: answers every request at once, leases ranges to workers, sends events and previews
    runner   one job at a time: works out the missing frames, encodes all frames strictly in order
    local    renders ranges of the running job on this machine's model, one thread per --device (when --local, the
             default), each with a helper that writes a range into the frame cache while the next one is generated
    ray      sends ranges of the running job to Ray actors and keeps their frames (with --ray; latentcut.daemon.ray_pool)
    previews renders the frames clients ask to look at, one preview at a time (latentcut.daemon.previews)

Frames the daemon renders itself go through the frame cache (on disk, so it survives restarts). Frames
from remote workers are held in memory for the running job only and never enter the cache, nor does
a stored segment encoded from them (frames from the daemon's own Ray actors count as its own): a worker is trusted with the range it leased (by its connection
and the lease's token), not with the pictures every later job would be served. A cache the disk refuses is logged and the job goes on uncached.

A newer job for the same project cancels the older one, queued or running; a cancelled or failed job
leaves no file under its output name. Whatever one request or one job does (a hostile message, a
render that runs out of memory, a full disk), the daemon answers with one line and goes on serving.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import shutil
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from latentcut import __version__
from latentcut.daemon.cache import FrameCache
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.jobs import MAX_JOB_BYTES, MAX_QUEUED_JOBS, JobRecord, job_memory_bytes
from latentcut.daemon.messages import (
    Accepted,
    Cancel,
    Delivery,
    Hello,
    Idle,
    Job,
    JobEvent,
    JobSummary,
    Lease,
    Preview,
    Ready,
    Refusal,
    Status,
)
from latentcut.daemon.previews import Previews
from latentcut.daemon.protocol import MAX_HEADER_BYTES, Message
from latentcut.daemon.ranges import FrameBatch, RangeBoard
from latentcut.daemon.ray_pool import PoolEmpty, RangeWork, RayPool
from latentcut.daemon.renderers import LOCAL, renderer_names
from latentcut.daemon.transport import ServerSocket
from latentcut.errors import EncodeError, LatentcutError, ProtocolError, RenderError, failure_line
from latentcut.files import file_sha256
from latentcut.latent.look import Look
from latentcut.models.generator import Generator, checked_latents, weights_sha256
from latentcut.models.latent_space import checked_weights, generator_for, rendered_look
from latentcut.render.batch_size import batched_frames, device_batch
from latentcut.render.encode import VideoWriter, encoding_for
from latentcut.render.range_frames import FrameMemo, checked_controls, render_range
from latentcut.render.segments import Segment, SegmentStore, segment_plan, segmentable

__all__ = ["RECENT_JOBS", "RenderDaemon"]

log = logging.getLogger("latentcut.daemon")
RECENT_JOBS = 20  # finished jobs listed by status (their summaries only; their arrays are let go)
_POLL_MS = 50
_PROGRESS_EVERY_S = 0.2
_WAIT_S = 0.05
_JOIN_TIMEOUT_S = 30.0
_WORKER_SEEN_S = 60.0
_MAX_WORKERS_LISTED = 256

Answer = Accepted | Hello | Idle | Lease | Refusal | Status


class _Cancelled(Exception):
    pass


@dataclass
class _Render:
    """The running job's frames in flight: its ranges, its keys, and the frames held for the encoder outside the cache."""

    record: JobRecord
    board: RangeBoard
    generator: Generator
    keys: list[str]
    plan: tuple[Segment, ...] = ()  # the output's segments (latentcut.render.segments); empty: encoded in one piece
    held: dict[int, np.ndarray] = field(default_factory=dict)  # from workers, or refused by the cache's disk
    from_workers: set[int] = field(default_factory=set)  # frames a worker rendered: good for this job only
    failure: str = ""  # why the local renderer stopped, if it failed
    cache_refused: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


def _kind_of(message: Message | ProtocolError) -> str:
    return message.kind if isinstance(message, Message) else "a malformed message"


class RenderDaemon:
    """Serves render jobs on ``socket`` into ``out_dir`` with the models named in ``models``."""

    def __init__(
        self,
        socket: ServerSocket,
        out_dir: Path,
        models: Sequence[str],
        cache: FrameCache,
        *,
        load_model: Callable[[str, str | None], Generator],  # (spec, device): the model loaded on that device
        local_render: bool = True,
        devices: Sequence[str | None] = (None,),  # one local renderer per device; None: the model's default device
        range_frames: int = 16,
        range_timeout_s: float = 30.0,
        max_job_bytes: int = MAX_JOB_BYTES,
        max_queued: int = MAX_QUEUED_JOBS,
        segments: SegmentStore | None = None,
        ray_pool: RayPool | None = None,
    ) -> None:
        self.socket = socket
        # Segments of online renders live beside the frames, in a budget of the same size (--cache-gb).
        self.segments = segments or SegmentStore(cache.folder / "segments", cache.max_bytes)
        self.out_dir = out_dir
        self.allowed = tuple(models)
        # The served model files by their weights: a job may name a file as its sidecars' folder sees it.
        self._by_weights = {file_sha256(spec): spec for spec in self.allowed if Path(spec).is_file()}
        self.cache = cache
        self._load_model = load_model
        self.devices = tuple(devices) or (None,)
        self._renderers = tuple(zip(renderer_names(self.devices), self.devices, strict=True))
        self.local_render = local_render
        self.ray_pool = ray_pool
        self.range_frames = range_frames
        self.range_timeout_s = range_timeout_s
        self.max_job_bytes = max_job_bytes
        self.max_queued = max_queued
        self._models: dict[tuple[str, str | None], Generator] = {}  # (spec, device)
        self._queue: deque[JobRecord] = deque()
        self._recent: deque[JobSummary] = deque(maxlen=RECENT_JOBS)
        self._lock = threading.Condition()
        self._current: JobRecord | None = None  # the job the runner works on, from the moment it leaves the queue
        self._render: _Render | None = None  # its frames in flight, once worked out
        self._events: queue.SimpleQueue[tuple[bytes, JobEvent]] = queue.SimpleQueue()
        self._arrived = threading.Condition()
        self._workers: dict[str, float] = {}
        self._stop = threading.Event()
        self._handlers: dict[str, Callable[[bytes, Message], Answer]] = {
            "ping": self._on_ping,
            "status": self._on_status,
            "cancel": self._on_cancel,
            "submit": self._on_submit,
            "ready": self._on_ready,
            "frames": self._on_frames,
            "preview": self._on_preview,
        }
        self.previews = Previews(self._generator, cache, max_bytes=max_job_bytes, wake=socket.wake, unread=socket.unread)
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

    def _served(self, spec: str, look: Look) -> str:
        """The served model a request names: by its spec, else by the weights its latents were made with; else refused."""
        if self._allowed(spec):
            return spec
        served = self._by_weights.get(look.model.sha256 if look.model is not None else "")
        if served is None:
            raise ProtocolError(f"model {spec!r} is not served here; this daemon serves {', '.join(self.allowed)}")
        return served

    def _generator(self, spec: str, device: str | None = None) -> Generator:
        """The model ``spec`` loaded on ``device`` (default: the first of ``--device``), once per device."""
        key = (spec, device if device is not None else self.devices[0])
        if key not in self._models:
            self._models[key] = self._load_model(*key)
        return self._models[key]

    def _job_generator(self, job: Job, device: str | None = None) -> Generator:
        # The job's look (its latent space, psi ...) over the daemon's own settings: a view of the model, with its own sha256.
        base = self._generator(job.model, device)
        checked_weights(base, job.look, f"job {job.job_id}")
        return generator_for(base, job.look, where=f"job {job.job_id}")

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
                for record in self._queue:
                    record.cancelled.set()
                if self._current is not None:
                    self._current.cancelled.set()
                self._lock.notify_all()
            runner.join(_JOIN_TIMEOUT_S)
            self.previews.close()
            self._send_events()

    def _send_events(self) -> None:
        self.previews.send_ready(self.socket.send)
        while True:
            try:
                peer, event = self._events.get_nowait()
            except queue.Empty:
                return
            self.socket.send(peer, *event.to_wire())

    def _answer(self, peer: bytes, message: Message | ProtocolError) -> None:
        answer: Answer
        if isinstance(message, ProtocolError):
            answer = Refusal(str(message))
        else:
            try:
                handler = self._handlers.get(message.kind)
                if handler is None:
                    raise ProtocolError(f"{message.kind} is not a request")
                answer = handler(peer, message)
            except LatentcutError as exc:
                answer = Refusal(str(exc))
            except Exception:  # a bug in one request must not stop the daemon: logged with its traceback
                log.exception("request %s failed", message.kind)
                answer = Refusal(f"internal error handling {message.kind}; see the daemon's log")
        try:
            self.socket.send(peer, *answer.to_wire())
        except ProtocolError as exc:  # an answer that cannot travel (too large): say so instead
            self.socket.send(peer, *Refusal(f"the answer to {_kind_of(message)} cannot be sent: {exc}").to_wire())

    def _on_ping(self, peer: bytes, message: Message) -> Answer:
        return Hello(__version__, self.allowed, time.time())

    def _on_status(self, peer: bytes, message: Message) -> Answer:
        with self._lock:
            running = self._current.summary() if self._current else None
            queued = tuple(record.summary() for record in self._queue)
            recent = tuple(self._recent)
        now = time.monotonic()
        workers = {name: round(now - seen, 1) for name, seen in self._workers.items() if now - seen < _WORKER_SEEN_S}
        if self.local_render and len(self._renderers) > 1:  # several devices: each renderer is listed by name
            workers.update(dict.fromkeys((name for name, _ in self._renderers), 0.0))
        status = Status(running, queued, recent, self.cache.total_bytes, workers)
        while len(json.dumps(status.to_wire()[1])) > MAX_HEADER_BYTES // 2 and (status.recent or status.queue):
            # Long project paths and errors: the oldest finished jobs go first, then the last queued ones.
            status = dataclasses.replace(
                status, recent=status.recent[1:], queue=status.queue if status.recent else status.queue[:-1]
            )
        return status

    def _on_cancel(self, peer: bytes, message: Message) -> Answer:
        job_id = Cancel.from_wire(message).job_id
        with self._lock:
            found = [record for record in self._jobs() if record.job_id == job_id]
            for record in found:
                self._cancel(record, "cancelled")
        if not found:
            raise ProtocolError(f"no queued or running job {job_id!r}")
        return Accepted(job_id, "cancelled")

    def _jobs(self) -> list[JobRecord]:
        return [*self._queue, *([self._current] if self._current else [])]

    def _cancel(self, record: JobRecord, state: str) -> None:
        record.cancel_reason = state
        record.cancelled.set()
        if record in self._queue:
            self._queue.remove(record)
            self._finish(record, state, "")

    def _on_submit(self, peer: bytes, message: Message) -> Answer:
        job = Job.from_wire(message, default_id=uuid.uuid4().hex)
        job = dataclasses.replace(job, model=self._served(job.model, job.look))
        if Path(job.output).suffix and (self.out_dir / job.output).is_dir():
            raise ProtocolError(f"output {job.output!r} is a folder in {self.out_dir}; choose another name, or remove it")
        need = job_memory_bytes(job, self.range_frames)
        if need > self.max_job_bytes:
            raise ProtocolError(
                f"job {job.job_id}: {job.frames} frames of {job.size[0]}x{job.size[1]} need about {need / 2**30:.1f} GiB, "
                f"over this daemon's {self.max_job_bytes / 2**30:.1f} GiB per job (--max-job-gb); use a smaller size or fewer frames"
            )
        record = JobRecord(job, owner=peer)
        with self._lock:
            jobs = self._jobs()
            if any(older.job_id == job.job_id for older in jobs):
                raise ProtocolError(f"job id {job.job_id} is already queued or running; use a new one")
            for older in jobs:
                if older.job.project == job.project:
                    self._cancel(older, "superseded")
            if len(self._queue) >= self.max_queued:
                raise ProtocolError(f"the queue is full ({self.max_queued} jobs waiting); send the job again later")
            # Queued jobs hold their arrays in memory: together at most one job's budget, beside the running one.
            waiting = sum(queued.job.array_bytes for queued in self._queue)
            if waiting + job.array_bytes > self.max_job_bytes:
                raise ProtocolError(
                    f"the queue is full ({len(self._queue)} jobs holding {waiting / 2**30:.2f} GiB of latents; this daemon "
                    f"queues at most {self.max_job_bytes / 2**30:.2f} GiB, --max-job-gb); send the job again later"
                )
            self._queue.append(record)
            self._lock.notify_all()
        project = job.project if len(job.project) <= 120 else "..." + job.project[-117:]
        log.info("job %s for %s: %d frames -> %s", job.job_id, project, job.frames, job.output)
        return Accepted(job.job_id, "queued", record.received_at)

    def _on_preview(self, peer: bytes, message: Message) -> Answer:
        preview = Preview.from_wire(message)
        preview = dataclasses.replace(preview, model=self._served(preview.model, preview.look))
        return self.previews.ask(peer, preview)

    def _seen(self, worker: str) -> None:
        now = time.monotonic()
        if len(self._workers) >= _MAX_WORKERS_LISTED:
            self._workers = {name: seen for name, seen in self._workers.items() if now - seen < _WORKER_SEEN_S}
        if worker in self._workers or len(self._workers) < _MAX_WORKERS_LISTED:
            self._workers[worker] = now

    def _window_end(self, render: _Render) -> int:
        """The first frame not to hand out yet: frames held in memory stay within a budget ahead of the encoder."""
        width, height = render.record.job.size
        budget = max(4 * self.range_frames, self.max_job_bytes // 2 // (width * height * 3))
        return render.record.done_frames + budget

    def _on_ready(self, peer: bytes, message: Message) -> Answer:
        ready = Ready.from_wire(message)
        self._seen(ready.worker)
        with self._lock:
            render = self._render
        if render is None or render.record.cancelled.is_set() or render.failure:
            return Idle()
        weights = weights_sha256(render.generator)
        if ready.model_sha256 != weights:
            return Idle(f"this job needs model {render.generator.spec} ({weights[:12]})")
        batch = render.board.take(ready.worker, self.range_timeout_s, peer=peer, before=self._window_end(render))
        if batch is None:
            return Idle()
        job, rows = render.record.job, batch.indices
        return Lease(
            job_id=job.job_id,
            range_id=batch.range_id,
            token=batch.token,
            model=render.generator.spec,
            size=job.size,
            arrays=job.arrays.rows(rows),
            indices=rows.astype(np.int64),
            look=rendered_look(render.generator),  # every setting the daemon renders with: the worker's own do not apply
        )

    def _on_frames(self, peer: bytes, message: Message) -> Answer:
        delivery = Delivery.from_wire(message)
        self._seen(delivery.worker)
        with self._lock:
            render = self._render
        if render is None or render.record.job_id != delivery.job_id:
            return Refusal(f"job {delivery.job_id} is not running now; frames dropped")
        batch = render.board.claim(delivery.range_id, peer, delivery.token)
        if batch is None:
            return Refusal(
                f"range {delivery.range_id} of job {delivery.job_id} is not leased to this connection now; frames dropped"
            )
        width, height = render.record.job.size
        if delivery.frames.shape != (len(batch.indices), height, width, 3):
            raise ProtocolError(f"frames {list(delivery.frames.shape)} do not fit range {delivery.range_id}")
        with render.lock:
            render.from_workers.update(batch.indices.tolist())
        self._keep(render, batch, delivery.frames, cache=False)
        if render.board.returned(batch):
            render.record.generated += self._visible(render, batch)
        return Accepted(delivery.job_id, "running")

    # ----- runner thread: one job at a time

    def _run_jobs(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                while not self._queue and not self._stop.is_set():
                    self._lock.wait(0.2)
                if self._stop.is_set():
                    return
                record = self._current = self._queue.popleft()
            try:
                self._run(record)
            finally:
                with self._lock:
                    self._current = None

    def _run(self, record: JobRecord) -> None:
        started = time.monotonic()
        record.state = "running"
        job = record.job
        try:
            generator = self._job_generator(job)
            arrays = job.arrays
            checked_latents(generator, arrays.latents[:1], f"job {job.job_id}")
            controls = arrays.input_controls()
            model_controls = None if controls is None else controls.model_part()
            checked_controls(generator, model_controls, f"job {job.job_id}")  # a model without them: one line
            keys = frame_keys(
                generator.sha256,
                generator.spec,
                job.size,
                arrays.latents,
                arrays.opacity,
                arrays.blend_latents,
                arrays.blend_weight,
                controls,
            )
            plan = self._segment_plan(job, keys)
            stored = np.zeros(len(keys), bool)  # frames inside segments already encoded: neither generated nor read
            for segment in plan:
                stored[segment.start : segment.stop] = self.segments.has(segment)
            missing = np.array([i for i, key in enumerate(keys) if not stored[i] and key not in self.cache], np.int64)
            record.cached = len(keys) - len(missing)
            render = _Render(record, RangeBoard(job.job_id, missing, self.range_frames), generator, keys, plan)
            with self._lock:
                self._render = render
            # One renderer per device, each with the model loaded there, all taking ranges from the one board.
            local = [
                threading.Thread(
                    target=self._render_locally,
                    args=(render, name, self._job_generator(job, device)),
                    name=f"latentcut-{name}",
                    daemon=True,
                )
                for name, device in (self._renderers if self.local_render else ())
            ]
            for thread in local:
                thread.start()
            on_ray = threading.Thread(target=self._render_on_ray, args=(render,), name="latentcut-ray", daemon=True)
            if self.ray_pool is not None:
                on_ray.start()
            try:
                self._encode(render)
            finally:
                if any(thread.is_alive() for thread in local):
                    record.cancelled.set()
                for thread in local:
                    thread.join(_JOIN_TIMEOUT_S)
                if on_ray.is_alive():
                    record.cancelled.set()
                    on_ray.join(_JOIN_TIMEOUT_S)
            self._finish(
                record,
                "done",
                "",
                seconds=time.monotonic() - started,
                ranges=dict(render.board.done_by),
                requeued=render.board.requeued,
            )
        except _Cancelled:
            self._finish(record, record.cancel_reason or "cancelled", "")
        except (LatentcutError, OSError) as exc:  # bad input, or a file the system refused: one line, no traceback
            self._finish(record, "failed", failure_line(exc))
        except Exception as exc:  # the daemon survives any single job; the error goes to its owner
            log.exception("job %s failed", job.job_id)
            self._finish(record, "failed", failure_line(exc))
        finally:
            with self._lock:
                self._render = None

    def _finish(self, record: JobRecord, state: str, error: str, **extra: float | int | dict[str, int]) -> None:
        if record.state in ("done", "failed", "cancelled", "superseded"):
            return
        record.state, record.error = state, error
        summary = record.summary()
        self._recent.append(summary)
        if state == "failed":
            log.warning("job %s failed: %s", record.job_id, error)
        self._events.put((record.owner, JobEvent("done" if state == "done" else "failed", summary, **extra)))  # type: ignore[arg-type]
        self.socket.wake()  # sent now, not when the socket's wait for a request ends

    def _render_locally(self, render: _Render, name: str = LOCAL, generator: Generator | None = None) -> None:
        record, board = render.record, render.board
        generator = generator or render.generator
        # Each range is kept (written to the frame cache) on a thread of its own while the next is generated,
        # so the device does not wait on the disk.
        keeper = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"latentcut-{name}-keep")
        kept: Future[None] | None = None
        memo = FrameMemo()  # a picture made for one range serves its repeats in the job's later ranges
        try:
            batch_frames = device_batch(generator, record.job.size)  # found once per model, size and GPU, then remembered
            while not record.cancelled.is_set() and not board.finished:
                batch = board.take(name, self.range_timeout_s, before=self._window_end(render))
                if batch is None:
                    board.requeue_overdue()
                    time.sleep(_WAIT_S)
                    continue
                frames = self._rendered(render, batch.indices, generator, batch_frames, memo)
                if kept is not None:
                    kept.result()  # the range before, kept while this one was generated; its error fails the job
                kept = keeper.submit(self._keep_own, render, batch, frames)
            if kept is not None:
                kept.result()
        except Exception as exc:  # the job fails with one line; the daemon goes on with the next
            render.failure = f"rendering failed: {failure_line(exc)}"
            log.warning("job %s: %s", record.job_id, render.failure)
            with self._arrived:
                self._arrived.notify_all()
        finally:
            keeper.shutdown(wait=True)

    def _render_on_ray(self, render: _Render) -> None:
        assert self.ray_pool is not None
        work = RangeWork(
            render.record.job,
            render.generator,
            render.board,
            self.range_timeout_s,
            before=lambda: self._window_end(render),
            keep=lambda batch, frames: self._keep_own(render, batch, frames),
            cancelled=render.record.cancelled,
        )
        try:
            self.ray_pool.render(work)
        except Exception as exc:  # the job fails with one line, unless its actors are gone and this machine renders on
            if isinstance(exc, PoolEmpty) and self.local_render:
                log.warning("job %s: %s; rendering goes on here", render.record.job_id, exc)
                return
            render.failure = f"rendering on Ray failed: {failure_line(exc)}"
            log.warning("job %s: %s", render.record.job_id, render.failure)
            with self._arrived:
                self._arrived.notify_all()

    def _keep_own(self, render: _Render, batch: FrameBatch, frames: np.ndarray) -> None:
        """Keep the frames of a range the daemon leased to its own renderer (they enter the cache), if that lease still holds."""
        # Kept before the range counts as returned: the encoder takes "all returned" to mean "all kept".
        if render.board.claim(batch.range_id, b"", batch.token) is not None:
            self._keep(render, batch, frames, cache=True)
            if render.board.returned(batch):
                with render.lock:  # the local renderers (one per device) and Ray's thread count at once
                    render.record.generated += self._visible(render, batch)

    def _rendered(
        self,
        render: _Render,
        rows: np.ndarray,
        generator: Generator | None = None,
        batch_frames: int = 0,
        memo: FrameMemo | None = None,
    ) -> np.ndarray:
        """The frames of ``rows`` through ``generator`` (default: the job's first), ``batch_frames`` at a time (0: all at once)."""
        job = render.record.job

        def frames_of(part: np.ndarray) -> np.ndarray:
            return render_range(generator or render.generator, job.size, job.arrays.rows(part), memo)

        return batched_frames(frames_of, rows, batch_frames)

    @staticmethod
    def _visible(render: _Render, batch: FrameBatch) -> int:
        # Frames at opacity 0 are black without a call to the model: they are not counted as generated.
        return int((render.record.job.arrays.opacity[batch.indices] > 0).sum())

    def _keep(self, render: _Render, batch: FrameBatch, frames: np.ndarray, *, cache: bool) -> None:
        """Put frames where the encoder finds them: the cache for the daemon's own renders, else memory."""
        for index, frame in zip(batch.indices.tolist(), frames, strict=True):
            if cache and not render.cache_refused:
                try:
                    self.cache.put(render.keys[index], frame)
                    continue
                except OSError as exc:
                    render.cache_refused = True
                    log.warning(
                        "frame cache %s refused a frame (%s); job %s goes on uncached",
                        self.cache.folder,
                        exc,
                        render.record.job_id,
                    )
            with render.lock:
                render.held[index] = np.array(frame)
        with self._arrived:
            self._arrived.notify_all()

    def _frame(self, render: _Render, index: int) -> np.ndarray:
        record = render.record
        while True:
            if record.cancelled.is_set() or self._stop.is_set():
                raise _Cancelled
            if render.failure:
                raise RenderError(f"job {record.job_id}: {render.failure}")
            with render.lock:
                frame = render.held.pop(index, None)
            if frame is None:
                frame = self.cache.get(render.keys[index], record.job.size)
            if frame is not None:
                return frame
            if render.board.finished:
                # Evicted before it was written (cache smaller than one job): render it again, here.
                batch = FrameBatch(record.job_id, -1, np.array([index]))
                frames = self._rendered(render, batch.indices)
                self._keep(render, batch, frames, cache=True)
                with render.lock:
                    render.held.pop(index, None)
                record.generated += self._visible(render, batch)
                return frames[0]
            render.board.requeue_overdue()
            with self._arrived:
                self._arrived.wait(_WAIT_S)

    def _segment_plan(self, job: Job, keys: list[str]) -> tuple[Segment, ...]:
        output = self.out_dir / job.output
        encoding = encoding_for(output, job.preset, job.codec)
        if not segmentable(encoding):
            return ()
        if not self.segments.writable():
            log.warning("segment store %s takes no files; job %s is encoded in one piece", self.segments.folder, job.job_id)
            return ()
        return segment_plan(keys, encoding, job.size, job.fps, output.suffix)

    def _encode_segments(self, render: _Render, output: Path, tags: dict[str, str]) -> None:
        """Encode the segments not stored yet, then join all of them into ``output`` by stream copy."""
        record, job = render.record, render.record.job
        encoding = encoding_for(output, job.preset, job.codec)
        names = {segment.name for segment in render.plan}
        progress_at = [0.0]

        def frame(index: int) -> np.ndarray:
            # Frames before ``index`` are encoded: the window of frames handed out moves on with them.
            record.done_frames = index
            if time.monotonic() - progress_at[0] > _PROGRESS_EVERY_S:
                progress_at[0] = time.monotonic()
                self._events.put((record.owner, JobEvent("progress", record.summary())))
                self.socket.wake()
            return self._frame(render, index)

        # A new segment is written as a draft (a key no plan gives) and adopted under its own key only if
        # no worker rendered any of its frames: like those frames, it serves this job only, even if the
        # daemon is killed before the drafts are removed.
        used: list[Segment] = []
        drafts: list[Segment] = []
        try:
            for segment in render.plan:
                if not self.segments.has(segment):
                    draft = segment.draft(job.job_id)
                    drafts.append(draft)
                    names.add(draft.name)
                    try:
                        self.segments.write(draft, frame, job.size, job.fps, encoding, keep=names)
                    except EncodeError as exc:  # the message names the segment; the job's owner knows the output
                        raise EncodeError(f"{output}: {exc}") from exc
                    with render.lock:
                        trusted = render.from_workers.isdisjoint(range(segment.start, segment.stop))
                    if trusted:
                        self.segments.adopt(draft, segment)
                        drafts.remove(draft)
                    else:
                        segment = draft
                used.append(segment)
                record.done_frames = segment.stop
            self.segments.assemble(used, output, job.size, job.fps, tags)
        finally:
            for draft in drafts:
                self.segments.discard(draft)

    def _encode(self, render: _Render) -> None:
        record, job = render.record, render.record.job
        output = self.out_dir / job.output
        tags = {
            "latent_job": job.job_id,
            "latent_project": job.project,
            "latent_model": render.generator.spec,
            "latent_model_sha256": weights_sha256(render.generator),
        }
        if render.plan:
            self._encode_segments(render, output, tags)
            return
        last_progress = 0.0
        with VideoWriter(output, job.size, job.fps, encoding_for(output, job.preset, job.codec), tags=tags) as writer:
            for index in range(job.frames):
                writer.write(self._frame(render, index)[None])
                record.done_frames = index + 1
                if time.monotonic() - last_progress > _PROGRESS_EVERY_S:
                    last_progress = time.monotonic()
                    self._events.put((record.owner, JobEvent("progress", record.summary())))
                    self.socket.wake()
