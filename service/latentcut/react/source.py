"""Frames of a video file or a camera (``v4l2:/dev/video0``), read through ffmpeg as RGB at a chosen size."""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from latentcut.errors import InputError
from latentcut.media import media_facts

__all__ = ["CAMERA_PREFIX", "FrameSource", "frame_source", "frames"]

CAMERA_PREFIX = "v4l2:"
_STOP_TIMEOUT_S = 10.0


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
    process = subprocess.Popen([*command, "-"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
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
            error = (
                (process.stderr.read().decode(errors="replace").strip().splitlines() or ["no video stream"])[-1]
                if process.stderr
                else ""
            )
            raise InputError(f"{source.spec}: ffmpeg cannot read it ({error})")

    try:
        yield fps, decoded()
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=_STOP_TIMEOUT_S)
