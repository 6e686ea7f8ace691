"""Frames for the explorer from a running render daemon, over its job protocol: one small PNG job per batch of frames.

The daemon's protocol returns no pixels to a client: a job writes its output into the daemon's own
folder. So each batch the explorer asks for becomes a job whose output is a PNG sequence (lossless:
the frames are exactly the model's), and the explorer reads it from that folder as this machine sees
it (``--daemon-out``: the same machine, or a shared mount), then removes it. Jobs of one explorer
share one project name, so the daemon drops any still queued when a newer one comes.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import uuid
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from latentcut.daemon.client import DaemonClient
from latentcut.daemon.messages import Job
from latentcut.daemon.transport import Connection, Security
from latentcut.errors import RenderError, UsageError

__all__ = ["DaemonRenderer", "daemon_model_sha256"]

_JOB_SILENCE_S = 120.0
_ANSWER_MS = 5000


def daemon_model_sha256(spec: str) -> str:
    """The identity a sidecar records for ``spec`` rendered elsewhere: the built-in model's, a local file's hash, or ``""``."""
    if spec.startswith("builtin:"):
        from latentcut.models.loading import load_generator

        return load_generator(spec, device="cpu").sha256
    path = Path(spec)
    if path.is_file():
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()
    return ""


class DaemonRenderer:
    """A ``FrameRenderer`` whose frames the daemon at ``address`` renders with model ``spec``."""

    def __init__(self, address: str, spec: str, shared_out: Path, *, security: Security = Security(), sha256: str = "") -> None:
        if not shared_out.is_dir():
            raise UsageError(f"{shared_out}: not a folder; give --daemon-out the daemon's --out folder as this machine sees it")
        self.spec = spec
        self.sha256 = sha256
        self.address = address
        self.shared_out = shared_out
        self._project = f"latentcut-explore-{uuid.uuid4().hex[:12]}"
        self._count = 0
        self._connection = Connection(address, security)
        self._client = DaemonClient(self._connection, timeout_ms=_ANSWER_MS)
        self._lock = threading.Lock()  # one socket, one job at a time
        try:
            self._client.ping()  # fail now, in one line, if nobody answers there
        except BaseException:
            self._connection.close()
            raise

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Return uint8 frames ``(n, height, width, 3)`` of ``latents``, rendered by the daemon."""
        with self._lock:
            self._count += 1
            output = f"{self._project}-{self._count:06d}"
            job = Job(
                project=self._project,
                output=output,
                model=self.spec,
                size=size,
                fps=Fraction(25),
                latents=np.ascontiguousarray(latents, np.float32),
                opacity=np.ones(len(latents), np.float32),
                preset="online",
                codec="png",
            )
            accepted = self._client.submit(job)
            last = None
            for event in self._client.events(accepted.job_id, timeout_s=_JOB_SILENCE_S):
                last = event
            if last is None or last.kind != "done":
                error = last.summary.error if last is not None else "no answer"
                raise RenderError(f"{self.address}: the daemon did not render frames with {self.spec}: {error}")
            folder = self.shared_out / output
            try:
                frames = [np.asarray(Image.open(folder / f"{index:06d}.png").convert("RGB")) for index in range(len(latents))]
            except OSError as exc:
                raise RenderError(
                    f"{folder}: the daemon rendered the frames but they are not readable here ({exc}); "
                    "give --daemon-out the daemon's --out folder as this machine sees it"
                ) from exc
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return np.stack(frames)

    def close(self) -> None:
        with self._lock:
            self._connection.close()
