"""A remote render worker: leases ranges of the running job from the daemon, renders them, sends the frames back.

Run one per GPU (or machine) with ``latentcut worker --connect tcp://daemon:5557 --model SPEC``. A
worker that dies loses only the range it held: the daemon leases that range again after its deadline.
Whatever the daemon answers (even garbage), the worker logs one line and asks again.
"""

from __future__ import annotations

import logging
import re
import socket
import threading

import numpy as np

from latentcut.daemon.messages import WORKER_NAME, Accepted, Delivery, Idle, Lease, Ready, Refusal
from latentcut.daemon.transport import Connection
from latentcut.errors import DaemonUnavailable, ProtocolError, UsageError
from latentcut.models.generator import Generator, weights_sha256
from latentcut.models.latent_space import generator_for
from latentcut.render.batch_size import batched_frames, device_batch
from latentcut.render.range_frames import FrameMemo, render_range

__all__ = ["default_worker_name", "run_worker"]

log = logging.getLogger("latentcut.worker")
_IDLE_S = 0.2
_ANSWER_MS = 2000


def default_worker_name(connection: Connection) -> str:
    """This machine's host name and the connection's identity, as a name status can show."""
    host = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname())[:40].lstrip("._-") or "worker"
    return f"{host}-{connection.identity.decode(errors='replace')[:8]}"


def _lease(connection: Connection, ready: Ready) -> Lease | None:
    """Ask for a range; None when there is none now (the reason is logged)."""
    try:
        answer = connection.request(*ready.to_wire(), timeout_ms=_ANSWER_MS, retries=0, expect=("range", "idle", "error"))
        if answer.kind == "range":
            return Lease.from_wire(answer)
        if answer.kind == "error":
            log.warning("daemon: %s", Refusal.from_wire(answer).error)
        elif reason := Idle.from_wire(answer).reason:
            log.info("daemon: %s", reason)
    except DaemonUnavailable:
        log.warning("%s: daemon silent; retrying", connection.address)
    except ProtocolError as exc:
        log.warning("%s: bad answer (%s); retrying", connection.address, exc)
        connection.reconnect()
    return None


def _rendered(generator: Generator, lease: Lease, batches: dict[tuple[int, int], int]) -> np.ndarray:
    """The frames of ``lease`` in the look the daemon renders its job with, at most the device's batch at a time."""
    view = generator_for(generator, lease.look, where=f"range {lease.range_id} of job {lease.job_id}")
    if lease.size not in batches:
        batches[lease.size] = device_batch(view, lease.size)
    memo = FrameMemo()

    def frames_of(rows: np.ndarray) -> np.ndarray:
        return render_range(view, lease.size, lease.arrays.rows(rows), memo)

    return batched_frames(frames_of, np.arange(len(lease.indices)), batches[lease.size])


def run_worker(connection: Connection, generator: Generator, stop: threading.Event, *, name: str | None = None) -> int:
    """Render ranges until ``stop`` is set; return the number of ranges delivered. Survives a silent, restarted or hostile daemon."""
    worker = name or default_worker_name(connection)
    if not WORKER_NAME.fullmatch(worker):
        raise UsageError(f"worker name {worker!r}: use 1-64 letters, digits and ._:@+- (starting with a letter or digit)")
    # The weights, not a view's settings: each range comes with the look the daemon renders it with.
    ready = Ready(worker, weights_sha256(generator))
    delivered = 0
    batches: dict[tuple[int, int], int] = {}  # frames per model call at each size: found once per size (CUDA), then kept
    while not stop.is_set():
        lease = _lease(connection, ready)
        if lease is None:
            stop.wait(_IDLE_S)
            continue
        try:
            frames = _rendered(generator, lease, batches)
        except Exception as exc:  # the range goes back to the daemon after its deadline; this worker asks again
            log.warning("range %d of job %s: rendering failed (%s: %s)", lease.range_id, lease.job_id, type(exc).__name__, exc)
            stop.wait(_IDLE_S)
            continue
        delivery = Delivery(worker, lease.job_id, lease.range_id, lease.token, frames)
        try:
            answer = connection.request(*delivery.to_wire(), timeout_ms=_ANSWER_MS * 5, retries=0)
            if answer.kind == "error":
                log.info("range %d not taken: %s", lease.range_id, Refusal.from_wire(answer).error)
            else:
                Accepted.from_wire(answer)
                delivered += 1
        except DaemonUnavailable:
            log.warning(
                "%s: frames of range %d not acknowledged; the daemon will lease it again", connection.address, lease.range_id
            )
        except ProtocolError as exc:
            log.warning("%s: bad answer (%s); retrying", connection.address, exc)
            connection.reconnect()
    return delivered
