"""Talking to a render daemon: submit a job, follow its events, ask status, cancel, get frames back; every answer arrives typed."""

from __future__ import annotations

import time
from collections.abc import Iterator

from latentcut.daemon.messages import (
    EVENT_KINDS,
    Accepted,
    Cancel,
    Hello,
    Job,
    JobEvent,
    Preview,
    PreviewFrames,
    Refusal,
    Status,
    WireForm,
)
from latentcut.daemon.protocol import Message
from latentcut.daemon.transport import Connection
from latentcut.errors import DaemonUnavailable, JobRejected, ProtocolError

__all__ = ["DaemonClient"]


class DaemonClient:
    """Requests to one daemon over one connection (its identity stays, so events of submitted jobs keep arriving)."""

    def __init__(self, connection: Connection, *, timeout_ms: int = 3000) -> None:
        self.connection = connection
        self.timeout_ms = timeout_ms

    def _request(self, request: WireForm, retries: int = 2) -> Message:
        answer = self.connection.request(*request, timeout_ms=self.timeout_ms, retries=retries)
        if answer.kind == "error":
            raise JobRejected(f"{self.connection.address}: {Refusal.from_wire(answer).error}")
        return answer

    def ping(self) -> Hello:
        return Hello.from_wire(self._request(("ping", {}, ())))

    def status(self) -> Status:
        return Status.from_wire(self._request(("status", {}, ())))

    def cancel(self, job_id: str) -> Accepted:
        return Accepted.from_wire(self._request(Cancel(job_id).to_wire()))

    def submit(self, job: Job) -> Accepted:
        """Send a job; return the daemon's acknowledgement (job id, time received). Not retried: a resend could double it."""
        return Accepted.from_wire(self._request(job.to_wire(), retries=0))

    def next_event(self, timeout_ms: int) -> JobEvent | None:
        """The next job event to arrive within ``timeout_ms``, or None; other messages (late answers) are skipped."""
        deadline = time.monotonic() + timeout_ms / 1000
        while True:
            message = self.connection.receive(max(0, int((deadline - time.monotonic()) * 1000)))
            if message is None:
                return None
            if message.kind in EVENT_KINDS:
                return JobEvent.from_wire(message)
            if time.monotonic() >= deadline:
                return None

    def events(self, job_id: str, *, timeout_s: float) -> Iterator[JobEvent]:
        """Yield the events of ``job_id``, its done or failed event last; raise ``DaemonUnavailable`` after ``timeout_s`` of silence."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            event = self.next_event(200)
            if event is None or event.job_id != job_id:
                continue
            deadline = time.monotonic() + timeout_s
            yield event
            if event.final:
                return
        raise DaemonUnavailable(f"{self.connection.address}: no news of job {job_id} for {timeout_s:.0f} s")

    def preview(self, preview: Preview, *, timeout_s: float) -> PreviewFrames:
        """Have the daemon render ``preview`` and return its frames; ``JobRejected`` if refused, failed or superseded.

        Raises ``DaemonUnavailable`` if the frames do not come within ``timeout_s``. Messages other than
        this preview's answer (older previews', job events) are skipped: give previews their own connection.
        Not resent on silence: the daemon would take a resend for a newer preview superseding this one.
        """
        self._request(preview.to_wire(), retries=0)
        address, preview_id = self.connection.address, preview.preview_id
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            message = self.connection.receive(int(left * 1000) + 1)
            if message is None or message.kind != "rendered":
                continue
            answer = PreviewFrames.from_wire(message)
            if answer.preview_id != preview_id:
                continue
            if answer.state != "done" or answer.frames is None:
                raise JobRejected(f"{address}: preview {preview_id} {answer.state}{': ' + answer.error if answer.error else ''}")
            width, height = preview.size
            if answer.frames.shape != (preview.frames, height, width, 3):
                raise ProtocolError(
                    f"{address}: preview {preview_id} came back as {list(answer.frames.shape)}, "
                    f"not {preview.frames} frames of {width}x{height}"
                )
            return answer
        raise DaemonUnavailable(f"{address}: no frames of preview {preview_id} within {timeout_s:.0f} s")
