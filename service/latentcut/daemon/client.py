"""Talking to a render daemon: submit a conformed sequence, follow its progress, ask status, cancel."""

from __future__ import annotations

import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import numpy as np

from latentcut.daemon.protocol import Message
from latentcut.daemon.transport import Connection, DaemonUnavailable
from latentcut.errors import LatentcutError
from latentcut.timebase import fps_text

__all__ = ["DaemonClient", "JobRejected"]


class JobRejected(LatentcutError):
    """The daemon answered a request with an error."""


class DaemonClient:
    """Requests to one daemon over one connection (its identity stays, so events of submitted jobs keep arriving)."""

    def __init__(self, connection: Connection, *, timeout_ms: int = 3000) -> None:
        self.connection = connection
        self.timeout_ms = timeout_ms

    def _request(self, kind: str, header: dict[str, Any], arrays: tuple = (), retries: int = 2) -> Message:
        answer = self.connection.request(kind, header, arrays, timeout_ms=self.timeout_ms, retries=retries)
        if answer.kind == "error":
            raise JobRejected(f"{self.connection.address}: {answer.header.get('error', 'refused')}")
        return answer

    def ping(self) -> dict[str, Any]:
        return dict(self._request("ping", {}).header)

    def status(self) -> dict[str, Any]:
        return dict(self._request("status", {}).header)

    def cancel(self, job_id: str) -> None:
        self._request("cancel", {"job": job_id})

    def submit(
        self,
        *,
        project: str,
        output: str,
        model: str,
        size: tuple[int, int],
        fps: Fraction,
        latents: np.ndarray,
        opacity: np.ndarray,
        preset: str = "online",
        codec: str | None = None,
        job_id: str | None = None,
    ) -> dict[str, Any]:
        """Send a job; return the daemon's acknowledgement (job id, time received). Not retried: a resend could double it."""
        header = {
            "project": project,
            "output": output,
            "model": model,
            "size": list(size),
            "fps": fps_text(fps),
            "preset": preset,
            "codec": codec,
        }
        if job_id:
            header["job"] = job_id
        arrays = (np.ascontiguousarray(latents, np.float32), np.ascontiguousarray(opacity, np.float32))
        return dict(self._request("submit", header, arrays, retries=0).header)

    def events(self, job_id: str, *, timeout_s: float) -> Iterator[Message]:
        """Yield progress events of ``job_id`` and, last, its done or failed event; stop silently after ``timeout_s`` of silence."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = self.connection.receive(200)
            if message is None or message.header.get("job") != job_id:
                continue
            deadline = time.monotonic() + timeout_s
            yield message
            if message.kind in ("done", "failed"):
                return
        raise DaemonUnavailable(f"{self.connection.address}: no news of job {job_id} for {timeout_s:.0f} s")
