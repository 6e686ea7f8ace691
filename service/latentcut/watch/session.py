"""The watch loop: on every save, re-conform; if the latents changed, send the job; follow it; keep the newest job until sent.

A save that cannot be parsed yet (a half-written file from an editor that writes in place) is tried
again after the next save. A conform error is reported once and the loop goes on. A job the daemon
cannot take (it is down, or was restarted and forgot its queue) is kept and sent again when it answers.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.conform.latents import latent_chunks
from latentcut.conform.project import conform_project
from latentcut.daemon.client import DaemonClient, JobRejected
from latentcut.daemon.transport import DaemonUnavailable
from latentcut.errors import LatentcutError

__all__ = ["WatchOptions", "WatchSession", "frame_digests"]

Report = Callable[[str], None]
_LIVENESS_S = 2.0
_RETRY_S = 1.0


def frame_digests(latents: np.ndarray, opacity: np.ndarray) -> list[bytes]:
    """One digest per frame of what decides its picture: a frame that moved in time is not a changed frame."""
    rows = np.ascontiguousarray(latents, np.float32)
    alphas = np.ascontiguousarray(opacity, np.float32)
    return [
        hashlib.blake2b(row.tobytes() + alpha.tobytes(), digest_size=16).digest() for row, alpha in zip(rows, alphas, strict=True)
    ]


@dataclass(frozen=True)
class WatchOptions:
    """What each save turns into: the conform's options and the render the daemon is asked for."""

    model: str = "builtin:cppn"
    size: tuple[int, int] | None = None  # default: the project's profile size
    preset: str = "online"
    codec: str | None = None
    output: str | None = None  # default: <project stem>.mov (online) or .mp4 (proxy)
    gaps: str = "black"
    blend: str = "slerp"
    sequence: str | None = None
    fps: Fraction | None = None


@dataclass
class _Sent:
    job_id: str
    latents: np.ndarray
    opacity: np.ndarray
    size: tuple[int, int]
    fps: Fraction
    digest: str
    frame_digests: set[bytes]  # computed once, so the next save compares against it without rehashing
    changed: int
    sent_at: float
    last_news: float = field(default_factory=time.monotonic)
    received_at: float = 0.0  # the daemon's clock when it took the job


class WatchSession:
    """Turns saves of ``project`` into daemon jobs; ``step`` does one round, ``run`` loops until stopped."""

    def __init__(
        self,
        project: Path,
        client: DaemonClient,
        options: WatchOptions,
        report: Report,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        self.project = project
        self.client = client
        self.options = options
        self.report = report
        self.progress = progress
        self.pending: _Sent | None = None  # conformed, not yet accepted by the daemon
        self.in_flight: _Sent | None = None  # accepted, not finished
        self.last: _Sent | None = None  # the newest job sent
        self.finished: list[dict] = []
        self._last_error = ""
        self._last_retry = 0.0

    @property
    def output(self) -> str:
        if self.options.output:
            return self.options.output
        return self.project.stem + (".mov" if self.options.preset == "online" else ".mp4")

    def conform(self) -> None:
        """Re-conform the project; queue a job if its latents or opacity changed since the last one."""
        try:
            result = conform_project(
                self.project,
                None,
                sequence=self.options.sequence,
                blend=self.options.blend,
                gaps=self.options.gaps,
                fps=self.options.fps,
            )
            latents = np.concatenate(list(latent_chunks(result.result, result.sequences, blend=self.options.blend)))
        except LatentcutError as exc:
            if str(exc) != self._last_error:
                self.report(f"not sent: {exc} (watching for the next save)")
            self._last_error = str(exc)
            return
        self._last_error = ""
        opacity = result.result.opacity
        size = self.options.size or (result.frame_map.size if all(result.frame_map.size) else (512, 512))
        fps = result.frame_map.fps
        digest = hashlib.sha256(latents.tobytes() + opacity.tobytes() + f"{size} {fps} {self.options!r}".encode()).hexdigest()
        newest = self.pending or self.last
        if newest is not None and newest.digest == digest:
            self.report("saved; the conformed sequence did not change: nothing sent")
            return
        frames = frame_digests(latents, opacity)
        changed = len(frames) if newest is None else sum(frame not in newest.frame_digests for frame in frames)
        self.pending = _Sent("", latents, opacity, size, fps, digest, set(frames), changed, time.monotonic())

    def send(self) -> None:
        """Send the pending job, if any; keep it if the daemon does not answer."""
        if self.pending is None or (self._last_retry and time.monotonic() - self._last_retry < _RETRY_S):
            return
        job = self.pending
        try:
            answer = self.client.submit(
                project=str(self.project.resolve()),
                output=self.output,
                model=self.options.model,
                size=job.size,
                fps=job.fps,
                latents=job.latents,
                opacity=job.opacity,
                preset=self.options.preset,
                codec=self.options.codec,
            )
        except DaemonUnavailable:
            if self._last_retry == 0:
                self.report(f"daemon {self.client.connection.address} not answering; the job is kept and sent when it answers")
            self._last_retry = time.monotonic()
            return
        except JobRejected as exc:
            self.report(f"not sent: {exc}")
            self.pending = None
            return
        self._last_retry = 0.0
        job.job_id, job.sent_at, job.last_news = answer["job"], time.monotonic(), time.monotonic()
        job.received_at = float(answer.get("received_at", 0.0))
        self.in_flight = self.last = job
        self.pending = None
        self.report(f"sent job {job.job_id}: {len(job.latents)} frames, {job.changed} changed")

    def follow(self, timeout_ms: int) -> None:
        """Take the daemon's events for the job in flight; resend it if the daemon went away meanwhile."""
        message = self.client.connection.receive(timeout_ms)
        job = self.in_flight
        if job is None:
            return
        if message is not None and message.header.get("job") == job.job_id:
            job.last_news = time.monotonic()
            header = message.header
            if message.kind == "progress" and self.progress:
                self.progress(int(header.get("done", 0)), int(header.get("frames", 0)))
            elif message.kind in ("done", "failed"):
                self.in_flight = None
                self.finished.append(dict(header))
                seconds = time.monotonic() - job.sent_at
                if message.kind == "done":
                    self.report(
                        f"rendered {self.output}: {job.changed} frames changed, {header.get('generated')} generated, "
                        f"{header.get('cached')} from cache, {seconds:.1f} s"
                    )
                elif header.get("state") != "superseded":
                    self.report(f"render failed: {header.get('error') or header.get('state')}")
            return
        if time.monotonic() - job.last_news > _LIVENESS_S:
            try:
                status = self.client.status()
            except (DaemonUnavailable, JobRejected):
                self._resend(job, "daemon not answering; the job is kept and sent again when it answers")
                return
            known = [status.get("running") or {}, *status.get("queue", []), *status.get("recent", [])]
            if not any(entry.get("job") == job.job_id for entry in known):
                self._resend(job, "the daemon forgot the job (restarted?); sending it again")
            job.last_news = time.monotonic()

    def _resend(self, job: _Sent, why: str) -> None:
        self.report(why)
        self.in_flight = None
        if self.pending is None:
            self.pending = job

    def run(self, saves: object, stop: threading.Event) -> None:
        """Conform now, then after every save, until ``stop``; ``saves`` has ``wait_for_save(timeout_s)``."""
        self.conform()
        while not stop.is_set():
            self.send()
            self.follow(50)
            if saves.wait_for_save(0.05):  # type: ignore[attr-defined]
                self.conform()
