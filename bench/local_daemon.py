"""A render daemon process on loopback for the benchmarks, with its own cache, stopped on exit."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from latentcut.daemon.client import DaemonClient
from latentcut.daemon.transport import Connection
from latentcut.errors import DaemonUnavailable

START_TIMEOUT_S = 30.0


@contextlib.contextmanager
def local_daemon(folder: Path, address: str, *extra: str, timeout_ms: int = 2000) -> Iterator[DaemonClient]:
    """Start ``latentcut daemon`` writing into ``folder/renders`` (``extra``: more daemon options); yield a client once it answers."""
    env = {**os.environ, "LATENTCUT_CACHE_DIR": str(folder / "cache")}
    process = subprocess.Popen(
        [sys.executable, "-m", "latentcut", "daemon", "--out", "renders", "--bind", address, *extra],
        cwd=folder,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Connection(address) as connection:
            client = DaemonClient(connection, timeout_ms=timeout_ms)
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    client.ping()
                    break
                except DaemonUnavailable:
                    if time.monotonic() > deadline:
                        raise
            yield client
    finally:
        process.terminate()
        process.wait(30)
