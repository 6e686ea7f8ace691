"""Render jobs as the daemon receives them: checked input, a safe output name, state and progress."""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.daemon.protocol import Message, ProtocolError
from latentcut.render.encode import CODECS, PRESETS
from latentcut.timebase import fps_from_text

__all__ = ["MAX_FRAME_SIDE", "Job", "job_from_message", "safe_output_name"]

MAX_FRAME_SIDE = 8192
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._+-]{0,200}$")
_SUFFIXES = {".mov", ".mkv", ".mp4", ""}


def safe_output_name(name: object) -> str:
    """Return ``name`` if it is a plain file name for the daemon's output folder; a client never picks a path."""
    if not isinstance(name, str) or not _NAME.match(name) or name in (".", "..") or ".." in name:
        raise ProtocolError(f"output name {str(name)[:80]!r} is not a plain file name (letters, digits, space, ._+-)")
    if Path(name).suffix.lower() not in _SUFFIXES:
        raise ProtocolError(f"output name {name!r}: use .mov, .mkv, .mp4, or no extension for a PNG folder")
    return name


@dataclass
class Job:
    """One render of a conformed sequence into ``<out>/<output>``."""

    job_id: str
    project: str  # what a newer job must match to supersede this one
    output: str
    model: str
    size: tuple[int, int]
    preset: str
    codec: str | None
    fps: Fraction
    latents: np.ndarray
    opacity: np.ndarray
    owner: bytes = b""  # the client connection that follows this job
    state: str = "queued"  # queued, running, done, failed, cancelled
    done_frames: int = 0
    generated: int = 0
    cached: int = 0
    error: str = ""
    cancel_reason: str = ""  # "cancelled" or "superseded", once asked
    received_at: float = field(default_factory=time.time)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def frames(self) -> int:
        return len(self.latents)

    def summary(self) -> dict[str, object]:
        return {
            "job": self.job_id,
            "project": self.project,
            "output": self.output,
            "state": self.state,
            "frames": self.frames,
            "done": self.done_frames,
            "generated": self.generated,
            "cached": self.cached,
            "error": self.error,
        }


def _int_pair(value: object, what: str) -> tuple[int, int]:
    if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and 1 <= v <= MAX_FRAME_SIDE for v in value)):
        raise ProtocolError(f"{what} {value!r} is not [width, height] within 1..{MAX_FRAME_SIDE}")
    return value[0], value[1]


def job_from_message(message: Message, *, owner: bytes) -> Job:
    """Build a job from a ``submit`` message, checking every field; raise ``ProtocolError`` naming the bad one."""
    header = message.header
    if len(message.arrays) != 2:
        raise ProtocolError("submit carries two arrays: latents (frames, dim) float32 and opacity (frames,) float32")
    latents, opacity = message.arrays
    if latents.dtype != np.float32 or latents.ndim != 2 or latents.shape[0] < 1 or latents.shape[1] < 1:
        raise ProtocolError(f"latents {latents.dtype} {latents.shape} are not float32 (frames, dim)")
    if opacity.dtype != np.float32 or opacity.shape != (latents.shape[0],):
        raise ProtocolError(f"opacity {opacity.dtype} {opacity.shape} is not float32 ({latents.shape[0]},)")
    if not np.isfinite(latents).all() or not np.isfinite(opacity).all():
        raise ProtocolError("latents or opacity hold NaN or infinity")
    preset, codec = header.get("preset", "online"), header.get("codec")
    if preset not in PRESETS or (codec is not None and codec not in CODECS):
        raise ProtocolError(f"preset {preset!r} / codec {codec!r} unknown")
    for key in ("project", "model"):
        if not isinstance(header.get(key), str) or not header[key]:
            raise ProtocolError(f"submit needs a {key} (string)")
    try:
        fps = fps_from_text(str(header.get("fps", "25")))
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc
    job_id = header.get("job") or uuid.uuid4().hex
    if not isinstance(job_id, str) or not re.match(r"^[A-Za-z0-9_-]{1,64}$", job_id):
        raise ProtocolError(f"job id {str(job_id)[:40]!r} is not 1-64 letters, digits, _ or -")
    return Job(
        job_id=job_id,
        project=header["project"][:500],
        output=safe_output_name(header.get("output")),
        model=header["model"],
        size=_int_pair(header.get("size"), "size"),
        preset=preset,
        codec=codec,
        fps=fps,
        latents=latents.copy(),
        opacity=np.clip(opacity, 0.0, 1.0),
        owner=owner,
    )
