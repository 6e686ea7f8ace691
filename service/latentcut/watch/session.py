"""The watch loop: on every save, re-conform; if the latents changed, send the job; follow it; keep the newest job until sent.

A save that cannot be parsed yet (a half-written file from an editor that writes in place) is tried
again after the next save. Any error in conforming one save is reported once and the loop goes on. A job the daemon
cannot take (it is down, or was restarted and forgot its queue) is kept and sent again when it answers.
With a ``PreviewFile`` the watcher keeps the preview beside the project instead of sending jobs
(``latentcut.watch.preview``): each changed save updates it, and a newer save stops an update between
two requests to the daemon.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from latentcut.conform.frame_arrays import FrameArrays, conformed_frames
from latentcut.conform.project import conform_project
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.messages import Job, JobEvent
from latentcut.editor.soundtrack import ProjectAudio
from latentcut.errors import ConformError, DaemonUnavailable, JobRejected, LatentcutError, ProtocolError, RenderError, one_line
from latentcut.latent.look import Look, LookOptions
from latentcut.watch.preview import PreviewFile

__all__ = ["WatchOptions", "WatchSession"]

Report = Callable[[str], None]
_LIVENESS_S = 2.0
_RETRY_S = 1.0


@dataclass(frozen=True)
class WatchOptions:
    """What each save turns into: the conform's options and the render the daemon is asked for."""

    look: LookOptions = field(default_factory=LookOptions)  # over the clips' look; --model: the model the daemon serves
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
    arrays: FrameArrays
    model: str
    look: Look  # the job's look: the clips' with the watcher's options
    size: tuple[int, int]
    fps: Fraction
    digest: str
    frame_keys: set[str]  # computed once, so the next save compares against it without rehashing
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
        preview: PreviewFile | None = None,
    ) -> None:
        self.project = project
        self.client = client
        self.options = options
        self.report = report
        self.progress = progress
        self.preview = preview  # kept up to date instead of sending jobs
        self.pending: _Sent | None = None  # conformed, not yet accepted by the daemon
        self.in_flight: _Sent | None = None  # accepted, not finished
        self.last: _Sent | None = None  # the newest job sent
        self.finished: list[JobEvent] = []
        self.rejected = ""  # why the daemon refused the last job sent, if it did
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
            audio=ProjectAudio(self.project),
        )
        if result.look_runs:
            looks = "; ".join(dict.fromkeys(run.look.describe() for run in result.look_runs))
            raise ConformError(
                f"{self.project}: its clips have different looks ({looks}), and a daemon renders one look per job; "
                "make the clips with one look, or conform and render the edit with latentcut conform and latentcut render"
            )
        arrays = conformed_frames(result)  # what each frame is: latents, opacity, pixel blend, lanes and input controls
        look = result.look.chosen(self.options.look, str(self.project))
        model = self.options.look.model or (look.model.spec if look.model else "builtin:cppn")
        if self.options.look.model:  # the model named here renders, as with render --model: the daemon checks no recorded weights
            look = dataclasses.replace(look, model=None)
        size = self.options.size or (result.frame_map.size if all(result.frame_map.size) else (512, 512))
        fps = result.frame_map.fps
        # The daemon's frame keys (its model hash left out): a frame that moved in time is not a changed frame.
        frames = frame_keys(
            "",
            model,
            size,
            arrays.latents,
            arrays.opacity,
            arrays.blend_latents,
            arrays.blend_weight,
            arrays.input_controls(),
        )
        settings = f"{size} {fps} {model} {look.space} {look.settings_json()} {self.options!r}"
        digest = hashlib.sha256("".join(frames).encode() + settings.encode()).hexdigest()
        newest = self.pending or self.last
        if newest is not None and newest.digest == digest:
            self.report("saved; the conformed sequence did not change: nothing sent")
            return
        changed = len(frames) if newest is None else sum(frame not in newest.frame_keys for frame in frames)
        self.pending = _Sent("", arrays, model, look, size, fps, digest, set(frames), changed, time.monotonic())

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
                    model=job.model,
                    size=job.size,
                    fps=job.fps,
                    arrays=job.arrays,
                    preset=self.options.preset,
                    codec=self.options.codec,
                    look=job.look,
                )
            )
        except DaemonUnavailable:
            if self._last_retry == 0:
                self.report(f"daemon {self.client.connection.address} not answering; the job is kept and sent when it answers")
            self._last_retry = time.monotonic()
            return
        except (JobRejected, ProtocolError) as exc:
            self.report(f"not sent: {exc}")
            self.pending, self.rejected = None, str(exc)
            return
        self._last_retry, self.rejected = 0.0, ""
        job.job_id, job.sent_at, job.last_news = answer.job_id, time.monotonic(), time.monotonic()
        job.received_at = answer.received_at
        self.in_flight = self.last = job
        self.pending = None
        self.report(f"sent job {job.job_id}: {job.arrays.frames} frames, {job.changed} changed")

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

    def update_preview(self, superseded: Callable[[], bool] = lambda: False) -> None:
        """Make the preview show the newest conformed edit, if it does not yet; keep it if the daemon does not answer.

        Any error in one update is reported on one line and the watcher goes on (a later save tries again).
        """
        job = self.pending
        if job is None or self.preview is None or (self._last_retry and time.monotonic() - self._last_retry < _RETRY_S):
            return
        try:
            updated = self._updated_preview(job, superseded)
        except DaemonUnavailable:
            if self._last_retry == 0:
                self.report(f"daemon {self.client.connection.address} not answering; the preview is updated when it answers")
            self._last_retry = time.monotonic()
            return
        except Exception as exc:  # one failed update must never end the watch; the next save may be fine
            text = str(exc) if isinstance(exc, LatentcutError) else f"{type(exc).__name__}: {one_line(exc)}; please report it"
            self.report(f"preview not updated: {text}")
            self.pending, self._last_retry = None, 0.0
            return
        self._last_retry = 0.0
        if updated:  # else a newer save came, conformed next
            self.pending, self.last = None, job

    def _updated_preview(self, job: _Sent, superseded: Callable[[], bool] = lambda: False) -> bool:
        """Update the preview to ``job``'s frames and report it; False if ``superseded()`` stopped it."""
        assert self.preview is not None
        tags = {"latentcut_preview_of": self.project.name}
        done = self.preview.update(job.arrays, job.model, job.look, job.size, job.fps, tags=tags, superseded=superseded)
        if done is None:
            return False
        self.report(
            f"preview {self.preview.path.name}: {done.frames} frames, {done.changed} changed, {done.rendered} rendered, "
            f"{done.encoded} of {done.segments} segments encoded, {done.seconds:.1f} s"
        )
        return True

    def run(self, saves: object, stop: threading.Event) -> None:
        """Conform now, then after every save, until ``stop``; ``saves`` has ``wait_for_save(timeout_s)``."""
        saved = [False]  # a save noticed while the preview was being updated, conformed next

        def superseded() -> bool:
            saved[0] = saved[0] or saves.wait_for_save(0)  # type: ignore[attr-defined]
            return saved[0] or stop.is_set()

        self.conform()
        while not stop.is_set():
            if self.preview is not None:
                self.update_preview(superseded)
            else:
                self.send()
                self.follow(50)
            if saves.wait_for_save(0.05) or saved[0]:  # type: ignore[attr-defined]
                saved[0] = False
                self.conform()

    def run_once(self, timeout_s: float, stop: threading.Event) -> None:
        """Conform once, send the job and follow it to its end; raise if it failed or took longer than ``timeout_s``.

        With a preview: conform once and update the preview; any error is raised.
        """
        self._conformed()  # once: a project that does not conform is the command's error, not a save to wait past
        if self.preview is not None:
            if self.pending is not None:
                self._updated_preview(self.pending)
            return
        deadline = time.monotonic() + timeout_s
        while (self.pending or self.in_flight) and time.monotonic() < deadline and not stop.is_set():
            self.send()
            self.follow(100)
        if self.pending or self.in_flight:
            raise RenderError(f"{self.project}: the job did not finish within {timeout_s:.0f} s")
        if self.rejected:
            raise RenderError(f"{self.project}: the daemon did not take the job: {self.rejected}")
        if self.finished and self.finished[-1].summary.state != "done":
            raise RenderError(f"{self.project}: {self.finished[-1].summary.error or 'render failed'}")
