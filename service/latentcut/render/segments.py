"""Online renders kept as content-addressed segments, assembled into the final file by stream copy.

A render is cut into segments by its frames' keys (``latentcut.daemon.identity``): a segment ends
after a frame whose key, read as a number, is a multiple of ``SEGMENT_DIVISOR`` (once the segment
holds ``SEGMENT_MIN_FRAMES``), or at ``SEGMENT_MAX_FRAMES``. The cut points are thus the content's
own, not positions in time: after an edit moves frames without changing them, they fall in the same
segments as before, and only the segments around the frames that changed are encoded again. A
segment's key is the sha256 of its frames' keys and of everything about its encoding (ffmpeg's
version included), so a stored segment stands for any new encode of the same frames.

Segments are used for the encodings that code every frame alone, the same whatever came before
(ProRes, FFV1, PNG folders): the stream-copied concatenation then decodes to exactly the frames of a
one-piece encode. H.264 and H.265 outputs are encoded in one piece as before (see ``segmentable``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import imageio_ffmpeg
import numpy as np

from latentcut.atomic import atomic_dir, atomic_path, stale_temps_removed
from latentcut.errors import EncodeError
from latentcut.programs import run_program
from latentcut.render.bounded_folder import BoundedFolder, entry_bytes
from latentcut.render.encode import (
    SEQUENCE_TAGS_FILE,
    Encoding,
    VideoWriter,
    container_tags,
    free_space,
    metadata_params,
    video_frame_count_and_size,
)

__all__ = [
    "SEGMENT_DIVISOR",
    "SEGMENT_MAX_FRAMES",
    "SEGMENT_MIN_FRAMES",
    "Segment",
    "SegmentStore",
    "segment_plan",
    "segmentable",
]

SEGMENT_MIN_FRAMES = 25  # no content cut before this many frames: a flicker of keys does not make tiny files
SEGMENT_DIVISOR = 200  # about one frame in this many ends a segment: segments of ~225 frames on average
SEGMENT_MAX_FRAMES = 1000  # a run of frames whose keys never cut (a long hold) is cut here
_ASSEMBLE_TIMEOUT_S = 3600
_ASSEMBLE_STALL_S = 120.0  # the joined file grows as ffmpeg copies; a stream copy never pauses that long


@dataclass(frozen=True)
class Segment:
    """Frames ``start`` to ``stop - 1`` of a render, stored under ``key`` as a file (or PNG folder) ending in ``suffix``."""

    key: str
    start: int
    stop: int
    suffix: str  # the output's suffix (".mov", ".mkv", ".mp4"), or "" for a PNG folder

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return f"{self.key}{self.suffix}"

    def draft(self, job_id: str) -> Segment:
        """The same frames under a key no plan gives: written first, then adopted, or removed after the job's assembly."""
        key = hashlib.sha256(f"draft|{job_id}|{self.key}".encode()).hexdigest()
        return Segment(key, self.start, self.stop, self.suffix)


def segmentable(encoding: Encoding) -> bool:
    """Whether ``encoding`` codes every frame alone and the same whatever came before, so segments join exactly.

    Intra H.264 proxies are not: x264's constant-rate-factor control carries state from frame to frame,
    so a frame's quantiser depends on the frames encoded before it in the same file.
    """
    return encoding.codec in ("prores", "ffv1", "png")


@functools.cache
def _ffmpeg_version() -> str:
    return str(imageio_ffmpeg.get_ffmpeg_version())


def _form(encoding: Encoding, size: tuple[int, int], fps: Fraction, suffix: str) -> bytes:
    # Everything but the frames that decides a segment's bytes: segments of another ffmpeg may not join.
    fields = [encoding.codec, encoding.ffmpeg_codec, encoding.pix_fmt, list(encoding.params), list(size), str(fps), suffix]
    return json.dumps([*fields, _ffmpeg_version()]).encode()


def segment_plan(
    frame_keys: Sequence[str],
    encoding: Encoding,
    size: tuple[int, int],
    fps: Fraction,
    suffix: str,
    *,
    min_frames: int = SEGMENT_MIN_FRAMES,
    divisor: int = SEGMENT_DIVISOR,
    max_frames: int = SEGMENT_MAX_FRAMES,
) -> tuple[Segment, ...]:
    """Return the segments of a render of frames with ``frame_keys`` (hex sha256 each), in order, covering every frame."""
    form = _form(encoding, size, fps, suffix)
    segments: list[Segment] = []
    start = 0
    for index, frame_key in enumerate(frame_keys):
        length = index + 1 - start
        last = index == len(frame_keys) - 1
        cut = length >= min_frames and int(frame_key[:12], 16) % divisor == 0
        if last or length >= max_frames or cut:
            digest = hashlib.sha256(form)
            for key in frame_keys[start : index + 1]:
                digest.update(key.encode())
            segments.append(Segment(digest.hexdigest(), start, index + 1, suffix))
            start = index + 1
    return tuple(segments)


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _concat_line(path: Path) -> str:
    # The concat demuxer resolves a relative name against the list's own folder, not ours: names are absolute.
    # It quotes with single quotes; a quote inside is closed, escaped and reopened.
    return "file '" + str(path.absolute()).replace("'", "'\\''") + "'\n"


class SegmentStore:
    """Encoded segments under ``folder``, the least recently used removed past ``max_bytes`` (never one a job still needs)."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        folder.mkdir(parents=True, exist_ok=True)
        for sub in folder.iterdir():
            if sub.is_dir():
                stale_temps_removed(sub)
        found = [path for path in folder.glob("*/*") if len(path.parent.name) == 2 and not path.name.startswith(".")]
        self._files = BoundedFolder(folder, max_bytes, found, _delete)

    def writable(self) -> bool:
        """Whether a segment can be written now (the folder is there and takes a file)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.folder):
                return True
        except OSError:
            return False

    def path(self, segment: Segment) -> Path:
        return self._files.path(segment.name)

    def has(self, segment: Segment) -> bool:
        """Whether ``segment`` is stored; if so it counts as just used."""
        if not self._files.touch(segment.name):
            return False
        os.utime(self.path(segment))
        return True

    @property
    def total_bytes(self) -> int:
        return self._files.total_bytes

    def write(
        self,
        segment: Segment,
        frames: Callable[[int], np.ndarray],
        size: tuple[int, int],
        fps: Fraction,
        encoding: Encoding,
        *,
        keep: Collection[str] = (),
    ) -> None:
        """Encode frames ``segment.start .. stop - 1`` (``frames(index)`` gives each) as ``segment``, atomically and verified.

        Then remove the least recently used segments past the size limit, except those named in ``keep``.
        """
        path = self.path(segment)
        with VideoWriter(path, size, fps, encoding) as writer:
            for index in range(segment.start, segment.stop):
                writer.write(frames(index)[None])
        self._files.add(segment.name, entry_bytes(path), keep={*keep, segment.name})

    def frames(self, segment: Segment, size: tuple[int, int]) -> np.ndarray:
        """The stored video ``segment`` decoded, ``(n, height, width, 3)`` uint8: the very frames written, for lossless codecs."""
        path = self.path(segment)
        command = [
            imageio_ffmpeg.get_ffmpeg_exe(),
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]
        result = run_program(command, stall_s=_ASSEMBLE_STALL_S, timeout_s=_ASSEMBLE_TIMEOUT_S)
        width, height = size
        if result.returncode != 0 or len(result.stdout) % (width * height * 3):
            reason = (result.stderr.decode(errors="replace").strip().splitlines() or ["not frames of that size"])[-1]
            raise EncodeError(f"{path}: cannot read the stored segment back ({reason}); remove {self.folder} and render again")
        return np.frombuffer(result.stdout, np.uint8).reshape(-1, height, width, 3)

    def discard(self, segment: Segment) -> None:
        """Remove ``segment`` from the store (one encoded from frames the daemon does not trust beyond their job)."""
        self._files.forget(segment.name)
        _delete(self.path(segment))

    def adopt(self, draft: Segment, segment: Segment) -> None:
        """Store the written ``draft`` as ``segment`` (the same frames), where later jobs find it."""
        source, target = self.path(draft), self.path(segment)
        target.parent.mkdir(parents=True, exist_ok=True)
        _delete(target)  # a folder is not renamed over another
        os.replace(source, target)
        self._files.rename(draft.name, segment.name)

    def assemble(
        self,
        segments: Sequence[Segment],
        output: Path,
        size: tuple[int, int],
        fps: Fraction,
        tags: Mapping[str, str],
    ) -> None:
        """Write ``output`` from the stored ``segments`` by stream copy, atomically; verified as ``VideoWriter`` verifies.

        The frame count and size are read back from the result, and its container tags must be there.
        """
        frames = sum(segment.frames for segment in segments)
        missing = [segment.name for segment in segments if not self.path(segment).exists()]
        if missing:
            raise EncodeError(f"{output}: segment {missing[0]} left the store {self.folder} before assembly; render again")
        if segments and segments[0].suffix == "":
            self._assemble_folder(segments, output, size, tags, frames)
            return
        with atomic_path(output) as tmp, tempfile.TemporaryDirectory(prefix="latentcut-concat-") as work:
            listing = Path(work) / "segments.txt"
            listing.write_text("".join(_concat_line(self.path(segment)) for segment in segments))
            command = [
                imageio_ffmpeg.get_ffmpeg_exe(),
                *("-v", "error", "-nostdin", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)),
                *("-map", "0:v:0", "-c", "copy", *metadata_params(output, tags), str(tmp)),
            ]
            result = run_program(command, stall_s=_ASSEMBLE_STALL_S, timeout_s=_ASSEMBLE_TIMEOUT_S, watch=(tmp,), text=True)
            if result.returncode != 0:
                reason = (result.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
                raise EncodeError(f"{output}: joining {len(segments)} segments failed (ffmpeg: {reason}; {free_space(output)})")
            self._verify(output, tmp, frames, size, tags)

    def _assemble_folder(
        self, segments: Sequence[Segment], output: Path, size: tuple[int, int], tags: Mapping[str, str], frames: int
    ) -> None:
        with atomic_dir(output) as folder:
            for segment in segments:
                source = self.path(segment)
                for offset in range(segment.frames):
                    shutil.copyfile(source / f"{offset:06d}.png", folder / f"{segment.start + offset:06d}.png")
            (folder / SEQUENCE_TAGS_FILE).write_text(json.dumps(dict(tags), indent=2, sort_keys=True) + "\n")
            self._verify(output, folder, frames, size, tags)

    @staticmethod
    def _verify(output: Path, written: Path, frames: int, size: tuple[int, int], tags: Mapping[str, str]) -> None:
        if written.is_dir():
            count = len(list(written.glob("*.png")))
            found = video_frame_count_and_size(written / "000000.png")[1] if count else None
        else:
            count, found = video_frame_count_and_size(written)
        if count != frames or found != size:
            raise EncodeError(
                f"{output}: the joined segments hold {count} frames of {found}, not {frames} of {size}; "
                f"nothing was written under that name ({free_space(output)})"
            )
        present = container_tags(written)
        lost = [key for key, value in tags.items() if present.get(key.lower()) != value]
        if lost:
            raise EncodeError(f"{output}: tag {lost[0]} was lost joining segments; nothing was written under that name")
