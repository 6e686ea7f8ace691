"""Render jobs as the daemon tracks them: the typed job, its state and progress, and what it may cost in memory."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from latentcut.daemon.messages import Job, JobSummary

__all__ = ["MAX_JOB_BYTES", "MAX_QUEUED_JOBS", "JobRecord", "job_memory_bytes"]

MAX_QUEUED_JOBS = 32  # jobs waiting behind the running one; more are refused until the queue drains
MAX_JOB_BYTES = 4 * 2**30  # default memory one job may need (its arrays and one range of frames in flight)
_WORKING_BYTES_PER_PIXEL = 3 * 4  # the model's float32 RGB picture of a frame


def job_memory_bytes(job: Job, range_frames: int) -> int:
    """What rendering ``job`` needs in memory at most: its arrays, and one range's frames as uint8 and as the model's floats."""
    width, height = job.size
    pictures = 2 if job.blended else 1
    per_frame = width * height * (3 + _WORKING_BYTES_PER_PIXEL * pictures)
    return job.array_bytes + min(range_frames, job.frames) * per_frame


@dataclass
class JobRecord:
    """One job in the daemon: queued, running or finished, with the connection that follows it."""

    job: Job
    owner: bytes = b""  # the client connection that follows this job
    state: str = "queued"  # queued, running, done, failed, cancelled, superseded
    done_frames: int = 0
    generated: int = 0
    cached: int = 0
    error: str = ""
    cancel_reason: str = ""  # "cancelled" or "superseded", once asked
    received_at: float = field(default_factory=time.time)
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def job_id(self) -> str:
        return self.job.job_id

    @property
    def frames(self) -> int:
        return self.job.frames

    def summary(self) -> JobSummary:
        return JobSummary(
            job_id=self.job.job_id,
            project=self.job.project,
            output=self.job.output,
            state=self.state,
            frames=self.frames,
            done=self.done_frames,
            generated=self.generated,
            cached=self.cached,
            error=self.error,
        )
