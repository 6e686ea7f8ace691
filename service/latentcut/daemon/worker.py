"""A remote render worker: asks the daemon for ranges of the running job, renders them, sends the frames back.

Run one per GPU (or machine) with ``latentcut worker --connect tcp://daemon:5557 --model SPEC``. A
worker that dies loses only the range it held: the daemon hands that range out again after its deadline.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np

from latentcut.daemon.protocol import ProtocolError
from latentcut.daemon.server import shaded_frames
from latentcut.daemon.transport import Connection, DaemonUnavailable
from latentcut.models.generator import Generator

__all__ = ["run_worker"]

log = logging.getLogger("latentcut.worker")
_IDLE_S = 0.2
_ANSWER_MS = 2000


def run_worker(connection: Connection, generator: Generator, stop: threading.Event, *, name: str | None = None) -> int:
    """Render ranges until ``stop`` is set; return the number of ranges rendered. Survives a silent or restarted daemon."""
    worker = name or f"{socket.gethostname()}-{connection.identity.decode()[:8]}"
    rendered = 0
    while not stop.is_set():
        try:
            answer = connection.request(
                "ready",
                {"worker": worker, "model_sha256": generator.sha256},
                timeout_ms=_ANSWER_MS,
                retries=0,
                expect=("range", "idle", "error"),
            )
        except DaemonUnavailable:
            log.warning("%s: daemon silent; retrying", connection.address)
            continue
        except ProtocolError as exc:
            log.warning("%s: bad answer (%s); retrying", connection.address, exc)
            connection.reconnect()
            continue
        if answer.kind != "range":
            if answer.kind == "error":
                log.warning("daemon: %s", answer.header.get("error"))
            stop.wait(_IDLE_S)
            continue
        latents, opacity, indices = answer.arrays
        width, height = answer.header["size"]
        frames = np.zeros((len(indices), height, width, 3), np.uint8)
        visible = np.nonzero(opacity > 0)[0]
        if len(visible):
            frames[visible] = generator.render(np.asarray(latents[visible]), (width, height))
        frames = shaded_frames(frames, np.asarray(opacity))
        try:
            connection.request(
                "frames",
                {"worker": worker, "job": answer.header["job"], "range": answer.header["range"]},
                [frames],
                timeout_ms=_ANSWER_MS * 5,
                retries=0,
            )
            rendered += 1
        except DaemonUnavailable:
            log.warning(
                "%s: frames of range %s not acknowledged; the daemon will hand it out again",
                connection.address,
                answer.header["range"],
            )
        time.sleep(0)
    return rendered
