"""The watch loop: on every save, re-conform; if the latents changed, send the job; follow it; keep the newest job until sent.

A save that cannot be parsed yet (a half-written file from an editor that writes in place) is tried
again after the next save. Any error in conforming one save is reported once and the loop goes on. A job the daemon
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

from latentcut.conform.latents import latent_chunks, pixel_weight
from latentcut.conform.project import conform_project
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.messages import Job, JobEvent
from latentcut.errors import DaemonUnavailable, JobRejected, LatentcutError, ProtocolError, RenderError, one_line

__all__ = ["WatchOptions", "WatchSession"]

Report = Callable[[str], None]
_LIVENESS_S = 2.0
_RETRY_S = 1.0


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
    truncation_psi: float | None = None  # StyleGAN models: toward w_avg (None: the daemon's own setting)


@dataclass
class _Sent:
    job_id: str
    latents: np.ndarray
    opacity: np.ndarray
    size: tuple[int, int]
    fps: Fraction
    digest: str
    frame_keys: set[str]  # computed once, so the next save compares against it without rehashing
    changed: int
    sent_at: float
    last_news: float = field(default_factory=time.monotonic)
    received_at: float = 0.0  # the daemon's clock when it took the job
    space: str = "z"  # the conformed latents' space: z, or StyleGAN's w / w+
    blend_latents: np.ndarray | None = None  # --blend pixel: the partner picture's latents, cross-faded in pixels
    blend_weight: np.ndarray | None = None  # its weight per frame
    controls: np.ndarray | None = None  # (frames, 4) float32: StyleGAN input controls, where a clip is a tracked performance


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
        self.finished: list[JobEvent] = []
        self._last_error = ""
        self._last_retry = 0.0

    @property
    def output(self) -> str:
        if self.options.output:
            return self.options.output
        return self.project.stem + (".mov" if self.options.preset == "online" else ".mp4")

    def conform(self) -> None:
        """Re-conform the project; queue a job if its latents or opacity changed since the last one.

        Any error in one save (a bad project, or a bug: RecursionError, MemoryError) is reported once,
        on one line, and the watcher waits for the next save.
        """
        try:
            self._conformed()
        except Exception as exc:  # one bad save must never end the watch; the next save may be fine
            if isinstance(exc, LatentcutError):
                text = str(exc)
            else:
                text = f"{self.project}: could not conform this save ({type(exc).__name__}: {one_line(exc)}); please report it"
            if text != self._last_error:
                self.report(f"not sent: {text} (watching for the next save)")
            self._last_error = text
            return
        self._last_error = ""

    def _conformed(self) -> None:
        result = conform_project(
            self.project,
            None,
            sequence=self.options.sequence,
            blend=self.options.blend,
            gaps=self.options.gaps,
            fps=self.options.fps,
        )
        latents = np.concatenate(list(latent_chunks(result.result, result.sequences, blend=self.options.blend)))
        blend_latents = blend_weight = None
        if self.options.blend == "pixel":  # the daemon cross-fades the two pictures with MLT's weight
            blend_latents = np.concatenate(list(latent_chunks(result.result, result.sequences, blend="pixel", part="partner")))
            blend_weight = pixel_weight(result.result)
        opacity = result.result.opacity
        controls = None if result.controls is None else result.controls.table()
        size = self.options.size or (result.frame_map.size if all(result.frame_map.size) else (512, 512))
        fps = result.frame_map.fps
        spaces = {sequence.meta.space for sequence in result.sequences}
        space = spaces.pop() if len(spaces) == 1 else "z"
        # The daemon's frame keys (its model hash left out): a frame that moved in time is not a changed frame.
        frames = frame_keys("", self.options.model, size, latents, opacity, blend_latents, blend_weight, controls)
        digest = hashlib.sha256("".join(frames).encode() + f"{size} {fps} {space} {self.options!r}".encode()).hexdigest()
        newest = self.pending or self.last
        if newest is not None and newest.digest == digest:
            self.report("saved; the conformed sequence did not change: nothing sent")
            return
        changed = len(frames) if newest is None else sum(frame not in newest.frame_keys for frame in frames)
        self.pending = _Sent(
            "", latents, opacity, size, fps, digest, set(frames), changed, time.monotonic(), space=space,
            blend_latents=blend_latents, blend_weight=blend_weight, controls=controls,
        )  # fmt: skip

    def send(self) -> None:
        """Send the pending job, if any; keep it if the daemon does not answer."""
        if self.pending is None or (self._last_retry and time.monotonic() - self._last_retry < _RETRY_S):
            return
        job = self.pending
        try:
            answer = self.client.submit(
                Job(
                    project=str(self.project.resolve()),
                    output=self.output,
                    model=self.options.model,
                    size=job.size,
                    fps=job.fps,
                    latents=job.latents,
                    opacity=job.opacity,
                    preset=self.options.preset,
                    codec=self.options.codec,
                    space=job.space,
                    truncation_psi=self.options.truncation_psi,
                    blend_latents=job.blend_latents,
                    blend_weight=job.blend_weight,
                    controls=job.controls,
                )
            )
        except DaemonUnavailable:
            if self._last_retry == 0:
                self.report(f"daemon {self.client.connection.address} not answering; the job is kept and sent when it answers")
            self._last_retry = time.monotonic()
            return
        except (JobRejected, ProtocolError) as exc:
            self.report(f"not sent: {exc}")
            self.pending = None
            return
        self._last_retry = 0.0
        job.job_id, job.sent_at, job.last_news = answer.job_id, time.monotonic(), time.monotonic()
        job.received_at = answer.received_at
        self.in_flight = self.last = job
        self.pending = None
        self.report(f"sent job {job.job_id}: {len(job.latents)} frames, {job.changed} changed")

    def follow(self, timeout_ms: int) -> None:
        """Take the daemon's events for the job in flight; resend it if the daemon went away meanwhile."""
        try:
            event = self.client.next_event(timeout_ms)
        except ProtocolError as exc:
            self.report(f"ignored a malformed message from the daemon: {exc}")
            return
        job = self.in_flight
        if job is None:
            return
        if event is not None and event.job_id == job.job_id:
            job.last_news = time.monotonic()
            summary = event.summary
            if event.kind == "progress" and self.progress:
                self.progress(summary.done, summary.frames)
            elif event.final:
                self.in_flight = None
                self.finished.append(event)
                seconds = time.monotonic() - job.sent_at
                if event.kind == "done":
                    self.report(
                        f"rendered {self.output}: {job.changed} frames changed, {summary.generated} generated, "
                        f"{summary.cached} from cache, {seconds:.1f} s"
                    )
                elif summary.state != "superseded":
                    self.report(f"render failed: {summary.error or summary.state}")
            return
        if time.monotonic() - job.last_news > _LIVENESS_S:
            try:
                status = self.client.status()
            except (DaemonUnavailable, JobRejected, ProtocolError):
                self._resend(job, "daemon not answering; the job is kept and sent again when it answers")
                return
            if not status.knows(job.job_id):
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

    def run_once(self, timeout_s: float, stop: threading.Event) -> None:
        """Conform once, send the job and follow it to its end; raise if it failed or took longer than ``timeout_s``."""
        self.conform()
        deadline = time.monotonic() + timeout_s
        while (self.pending or self.in_flight) and time.monotonic() < deadline and not stop.is_set():
            self.send()
            self.follow(100)
        if self.pending or self.in_flight:
            raise RenderError(f"{self.project}: the job did not finish within {timeout_s:.0f} s")
        if self.finished and self.finished[-1].summary.state != "done":
            raise RenderError(f"{self.project}: {self.finished[-1].summary.error or 'render failed'}")
