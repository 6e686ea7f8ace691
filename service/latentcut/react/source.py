"""Frames of a video file or a camera (``v4l2:/dev/video0``), read through ffmpeg as RGB at a chosen size."""

from __future__ import annotations

import contextlib
import re
import subprocess
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from latentcut.errors import InputError, one_line
from latentcut.media import media_facts
from latentcut.timebase import FPS_RANGE, fps_in_range, fps_text

__all__ = ["CAMERA_PREFIX", "FrameSource", "frame_source", "frames"]

CAMERA_PREFIX = "v4l2:"
_STOP_TIMEOUT_S = 10.0
_ERROR_LINES = 20  # the last lines of ffmpeg's errors kept for the message


@dataclass(frozen=True)
class FrameSource:
    """Where frames come from: ``spec`` as the user wrote it, and whether it is a live camera."""

    spec: str
    path: str
    live: bool


def frame_source(spec: str) -> FrameSource:
    """Parse ``SOURCE``: a video file, or ``v4l2:/dev/videoN`` for a camera; refuse what cannot be read."""
    if spec.startswith(CAMERA_PREFIX):
        device = spec[len(CAMERA_PREFIX) :]
        if not re.fullmatch(r"/dev/video\d+", device):
            raise InputError(f"{spec}: a camera is named like v4l2:/dev/video0")
        if not Path(device).exists():
            raise InputError(f"{device}: no such camera; plug it in or give a video file")
        return FrameSource(spec, device, live=True)
    path = Path(spec)
    if not path.is_file():
        raise InputError(f"{spec}: video not found (or not a regular file); give a video file or v4l2:/dev/video0")
    return FrameSource(spec, str(path), live=False)


@contextlib.contextmanager
def frames(
    source: FrameSource, size: tuple[int, int], max_frames: int | None = None, camera_fps: Fraction = Fraction(30)
) -> Iterator[tuple[Fraction, Iterator[np.ndarray]]]:
    """Yield ``(fps, frames)``: the source's frame rate and its frames as ``(height, width, 3)`` uint8, scaled to ``size``.

    A file's rate is the one its stream declares (as MLT reads it); a camera is asked for ``camera_fps``.
    """
    width, height = size
    if source.live:
        fps = camera_fps
        input_params = ["-f", "v4l2", "-framerate", str(camera_fps)]
    else:
        fps = media_facts(Path(source.path)).fps or Fraction(25)
        input_params = []
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-nostdin", *input_params, "-i", source.path]
    command += ["-an", "-vf", f"scale={width}:{height}:flags=area", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    if max_frames is not None:
        command += ["-frames:v", str(max_frames)]
    if not fps_in_range(fps):
        raise InputError(
            f"{source.spec}: its frame rate {fps_text(fps)} is not one latentcut renders ({FPS_RANGE}); "
            "give it another with ffmpeg -r"
        )
    process = subprocess.Popen([*command, "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    # Read while frames are: a corrupt stream's decode errors would fill the pipe (64 KiB) and block ffmpeg.
    errors: deque[bytes] = deque(maxlen=_ERROR_LINES)
    reader = threading.Thread(target=errors.extend, args=(process.stderr,), name="latentcut-ffmpeg-stderr", daemon=True)
    reader.start()
    frame_bytes = width * height * 3

    def decoded() -> Iterator[np.ndarray]:
        assert process.stdout is not None
        count = 0
        while True:
            raw = process.stdout.read(frame_bytes)
            if len(raw) < frame_bytes:
                break
            count += 1
            yield np.frombuffer(raw, np.uint8).reshape(height, width, 3)
        if count == 0:
            process.wait(_STOP_TIMEOUT_S)
            reader.join(_STOP_TIMEOUT_S)
            lines = [line.decode(errors="replace").strip() for line in errors]
            raise InputError(
                f"{source.spec}: ffmpeg cannot read it ({one_line(([''] + [x for x in lines if x])[-1]) or 'no video stream'})"
            )

    try:
        yield fps, decoded()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(_STOP_TIMEOUT_S)
        reader.join(_STOP_TIMEOUT_S)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
