"""Render daemons on loopback for the tests, with a guaranteed teardown: real processes, or the same daemon served in a thread.

A daemon in a thread of the test process (``daemon_thread``) is ``latentcut daemon ARGS`` without the
process: the same arguments build the same daemon (``latentcut.cli.daemon.daemon_serving``), at no
interpreter or torch start. Tests of what only a process has (killed, SIGTERM, limits set on it, its
output, CURVE on its command line, a worker that dies) start real ones (``daemon``, ``process``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.messages import Job, JobEvent
from latentcut.daemon.transport import Connection, Security
from latentcut.errors import DaemonUnavailable
from latentcut.programs import Program, command_line

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def free_address() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def wait_until_answering(
    address: str, security: Security = Security(), timeout_s: float = START_TIMEOUT_S, started: Program | None = None
) -> None:
    """Return once a daemon answers at ``address``; raise naming ``started`` (and what it wrote) if it ends or never answers."""
    deadline = time.monotonic() + timeout_s
    with Connection(address, security) as connection:
        client = DaemonClient(connection, timeout_ms=500)
        while time.monotonic() < deadline and (started is None or started.poll() is None):
            try:
                client.ping()
                return
            except DaemonUnavailable:
                continue
    said = f"; {command_line(started.command)} (status {started.poll()}) wrote: {started.output()[-2000:]}" if started else ""
    raise TimeoutError(f"no daemon answered at {address} within {timeout_s} s{said}")


@contextlib.contextmanager
def process(*args: str, cwd: Path, preexec=None, env: dict[str, str] | None = None) -> Iterator[Program]:
    """``latentcut ARGS`` as a real process (output and errors in ``output()``), stopped with its process group at the end."""
    child = Program(
        [sys.executable, "-m", "latentcut", *args], cwd=cwd, merged=True, preexec_fn=preexec, env={**os.environ, **(env or {})}
    )
    try:
        yield child
    finally:
        child.stop(STOP_TIMEOUT_S)
        child.close()


@contextlib.contextmanager
def daemon(
    tmp_path: Path,
    *extra: str,
    address: str | None = None,
    security: Security = Security(),
    preexec=None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, Program]]:
    address = address or free_address()
    with process("daemon", "--out", "renders", "--bind", address, *extra, cwd=tmp_path, preexec=preexec, env=env) as child:
        wait_until_answering(address, security, started=child)
        yield address, child


@contextlib.contextmanager
def daemon_thread(folder: Path, *extra: str, address: str | None = None) -> Iterator[str]:
    """``latentcut daemon --out FOLDER/renders EXTRA`` served in a thread of this process until the block ends; yields its address."""
    from latentcut.cli.daemon import daemon_serving
    from latentcut.cli.main import parser

    address = address or free_address()
    args = parser().parse_args(["daemon", "--out", str(folder / "renders"), "--bind", address, *extra])
    stop = threading.Event()
    with daemon_serving(args) as served:
        thread = threading.Thread(target=served.serve, args=(stop,), name="latentcut daemon (in the test process)")
        thread.start()
        try:
            wait_until_answering(address)
            yield address
        finally:
            stop.set()
            thread.join(STOP_TIMEOUT_S)
            assert not thread.is_alive(), "the daemon thread did not stop"


def job_arrays(frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    latents = np.random.default_rng(seed).standard_normal((frames, 512)).astype(np.float32)
    return latents, np.ones(frames, np.float32)


def job(
    latents: np.ndarray,
    opacity: np.ndarray,
    *,
    output: str = "cut.mov",
    project: str = "p",
    size: tuple[int, int] = (32, 32),
    preset: str = "online",
    **extra,
) -> Job:
    frame_fields = {name: extra.pop(name) for name in ("blend_latents", "blend_weight", "controls") if name in extra}
    return Job(
        project=project,
        output=output,
        model="builtin:cppn",
        size=size,
        fps=Fraction(25),
        arrays=FrameArrays(latents, opacity, **frame_fields),
        preset=preset,
        **extra,
    )


def submit(client: DaemonClient, latents: np.ndarray, opacity: np.ndarray, **options) -> str:
    return client.submit(job(latents, opacity, **options)).job_id


def finished(client: DaemonClient, job_id: str, timeout_s: float = 120.0) -> JobEvent:
    last = None
    for event in client.events(job_id, timeout_s=timeout_s):
        last = event
    assert last is not None
    return last
