"""Frames for the explorer from a running render daemon, on this machine or another: previews over the daemon's protocol.

Each batch of frames the explorer asks for is one ``preview`` request; the daemon renders it and sends
the frames back over the same connection (``latentcut.daemon.previews``), so nothing is shared but the
socket. The explorer asks a frame, then a few at a time, so frames appear as they come and a newer
transition waits at most one batch; a newer preview from this connection supersedes an older one.
"""

from __future__ import annotations

import copy
import itertools
import threading
import uuid
from pathlib import Path

import numpy as np

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.messages import MAX_PREVIEW_FRAMES, MAX_PREVIEW_PIXELS, Preview
from latentcut.daemon.transport import Connection, Security
from latentcut.errors import UsageError
from latentcut.files import file_sha256
from latentcut.latent.look import Look

__all__ = ["DaemonRenderer", "daemon_model_sha256"]

_PREVIEW_TIMEOUT_S = 120.0  # the daemon may load the model on the first preview
_ANSWER_MS = 5000


def daemon_model_sha256(spec: str) -> str:
    """The identity a sidecar records for ``spec`` rendered elsewhere: the built-in model's, a local file's hash, or ``""``."""
    if spec.startswith("builtin:"):
        from latentcut.models.loading import load_generator

        return load_generator(spec, device="cpu").sha256
    return file_sha256(spec) if Path(spec).is_file() else ""


class DaemonRenderer:
    """A ``FrameRenderer`` whose frames the daemon at ``address`` renders with model ``spec`` and sends back."""

    def __init__(self, address: str, spec: str, *, security: Security = Security(), sha256: str = "") -> None:
        self.spec = spec
        self.sha256 = sha256  # replaced by the daemon's own once it has rendered (its weights in the look asked for)
        self.weights_sha256 = sha256  # the weights, as a sidecar records them
        self.address = address
        self.look = Look()  # asked of the daemon with every preview
        self._prefix = f"explore-{uuid.uuid4().hex[:12]}"
        self._count = itertools.count(1)
        self._connection = Connection(address, security)
        self._client = DaemonClient(self._connection, timeout_ms=_ANSWER_MS)
        self._lock = threading.Lock()  # one socket, one preview at a time
        try:
            self._client.ping()  # fail now, in one line, if nobody answers there
        except BaseException:
            self._connection.close()
            raise

    def looking(self, look: Look) -> DaemonRenderer:
        """This renderer asking its previews in ``look`` (the same connection: close the one it came from)."""
        view = copy.copy(self)
        view.look = look
        return view

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """Return uint8 frames ``(n, height, width, 3)`` of ``latents``, rendered by the daemon (in previews it accepts)."""
        width, height = size
        if width * height > MAX_PREVIEW_PIXELS:
            raise UsageError(
                f"{width}x{height}: a daemon sends back frames of at most {MAX_PREVIEW_PIXELS} pixels; use a smaller --size"
            )
        per_preview = max(1, min(MAX_PREVIEW_FRAMES, MAX_PREVIEW_PIXELS // (width * height)))
        rows = np.ascontiguousarray(latents, np.float32)
        parts = []
        with self._lock:
            for start in range(0, len(rows), per_preview):
                preview = Preview(
                    f"{self._prefix}-{next(self._count)}",
                    self.spec,
                    size,
                    FrameArrays.plain(rows[start : start + per_preview]),
                    self.look,
                )
                answer = self._client.preview(preview, timeout_s=_PREVIEW_TIMEOUT_S)
                assert answer.frames is not None  # a done preview carries its frames (PreviewFrames.from_wire)
                self.sha256 = answer.model_sha256
                parts.append(answer.frames)
        return np.concatenate(parts) if parts else np.zeros((0, height, width, 3), np.uint8)

    def close(self) -> None:
        with self._lock:
            self._connection.close()
