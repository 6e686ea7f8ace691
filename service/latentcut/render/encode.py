"""Writing frames to video files with ffmpeg (through imageio-ffmpeg): presets, atomic verified output, container tags.

Every output is written under a temporary name, then checked (frame count and size, decoded back
from the file) and only then renamed to its final name.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Generator as PyGenerator
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import imageio_ffmpeg
import numpy as np

from latentcut.atomic import atomic_dir, atomic_path
from latentcut.errors import EncodeError
from latentcut.files import regular_size
from latentcut.programs import run_program
from latentcut.timebase import FPS_RANGE, fps_in_range

__all__ = [
    "CODECS",
    "MAX_SIDE",
    "PRESETS",
    "Encoding",
    "VideoWriter",
    "check_frame_format",
    "container_tags",
    "encoding_for",
    "free_space",
    "metadata_params",
    "video_frame_count_and_size",
]

PRESETS = ("proxy", "online")
CODECS = ("h264", "h265", "prores", "ffv1", "png")
SEQUENCE_TAGS_FILE = "latentcut.json"
_STREAM_SIZE = re.compile(r"Stream #\S+.*? Video: .*?, (\d+)x(\d+)[,\s\[]")
_FRAME_COUNT = re.compile(r"frame=\s*(\d+)")
_STALL_S = 60.0  # ffmpeg reading back a file writes at least every few seconds, even on a loaded machine


@dataclass(frozen=True)
class Encoding:
    """How ffmpeg encodes one output: codec, pixel format and the rest of its arguments."""

    codec: str  # one of CODECS
    ffmpeg_codec: str
    pix_fmt: str
    params: tuple[str, ...] = ()

    @property
    def is_sequence(self) -> bool:
        return self.codec == "png"


_INTRA_H264 = ("-g", "1", "-keyint_min", "1", "-sc_threshold", "0", "-bf", "0")
_ENCODINGS = {
    # proxy: small, every frame a keyframe so that an editor seeks exactly
    ("proxy", "h264"): Encoding("h264", "libx264", "yuv420p", (*_INTRA_H264, "-crf", "23", "-preset", "veryfast")),
    ("online", "h264"): Encoding("h264", "libx264", "yuv444p", ("-crf", "12", "-preset", "slow", "-profile:v", "high444")),
    ("online", "h265"): Encoding(
        "h265", "libx265", "yuv444p10le", ("-crf", "12", "-preset", "medium", "-x265-params", "log-level=error")
    ),
    # ProRes 4444 (profile 4), 10-bit 4:4:4: the usual mastering intermediate
    ("online", "prores"): Encoding("prores", "prores_ks", "yuv444p10le", ("-profile:v", "4", "-vendor", "apl0")),
    # FFV1 in planar RGB is lossless: the decoded frames are exactly the generated ones
    ("online", "ffv1"): Encoding("ffv1", "ffv1", "gbrp", ("-level", "3", "-g", "1", "-slicecrc", "1")),
    ("online", "png"): Encoding("png", "png", "rgb24"),
}
_CODEC_BY_SUFFIX = {".mov": "prores", ".mkv": "ffv1", ".mp4": "h264", "": "png"}


def encoding_for(path: Path, preset: str, codec: str | None = None) -> Encoding:
    """Return the encoding for ``preset`` at ``path``, the codec chosen by ``codec`` or by the file's extension.

    proxy: intra-only H.264 (.mp4 / .mkv / .mov). online: .mov → ProRes 4444, .mkv → FFV1,
    .mp4 → H.264 4:4:4 (or H.265 with ``codec="h265"``), a name without extension → PNG sequence folder.
    """
    if preset not in PRESETS:
        raise EncodeError(f"{path}: unknown preset {preset!r}; use proxy or online")
    suffix = path.suffix.lower()
    if preset == "proxy":
        if codec not in (None, "h264") or suffix not in (".mp4", ".mkv", ".mov"):
            raise EncodeError(f"{path}: proxies are intra-only H.264 in .mp4, .mkv or .mov; choose such a name")
        return _ENCODINGS[("proxy", "h264")]
    chosen = codec or _CODEC_BY_SUFFIX.get(suffix)
    if chosen is None:
        raise EncodeError(
            f"{path}: no online codec for {suffix!r}; use .mov (ProRes), .mkv (FFV1), .mp4 (H.264) or a folder (PNG)"
        )
    if (chosen == "png") != (suffix == ""):
        raise EncodeError(f"{path}: PNG sequences go to a folder name without extension; video codecs need .mov/.mkv/.mp4")
    if ("online", chosen) not in _ENCODINGS:
        raise EncodeError(f"{path}: unknown codec {chosen!r}; use one of {', '.join(CODECS)}")
    return _ENCODINGS[("online", chosen)]


MAX_SIDE = 16384  # pixels: libx264 refuses wider or taller frames
_MIN_H265_SIDE = 64  # x265 fails, or corrupts its heap and crashes, on some smaller frames


def check_frame_format(path: Path, encoding: Encoding, size: tuple[int, int], fps: Fraction) -> None:
    """Raise ``EncodeError`` (one line) unless ``encoding`` can write frames of ``size`` at ``fps``; ffmpeg is never started otherwise."""
    width, height = size
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise EncodeError(f"{path}: frame size {width}x{height} is outside 1..{MAX_SIDE} pixels a side; choose another --size")
    if encoding.pix_fmt.startswith("yuv420") and (width % 2 or height % 2):
        raise EncodeError(
            f"{path}: {encoding.codec} in {encoding.pix_fmt} needs an even width and height, not {width}x{height}; "
            "choose an even --size"
        )
    if encoding.codec == "h265" and min(width, height) < _MIN_H265_SIDE:
        raise EncodeError(
            f"{path}: H.265 needs frames at least {_MIN_H265_SIDE} pixels a side, not {width}x{height}; "
            "choose a larger --size or another codec"
        )
    if not isinstance(fps, Fraction) or not fps_in_range(fps):
        shown = f"{fps.numerator}/{fps.denominator}" if isinstance(fps, Fraction) else repr(fps)
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        raise EncodeError(f"{path}: frame rate {shown} is not one latentcut renders ({FPS_RANGE}); give another --fps")


def metadata_params(path: Path, tags: Mapping[str, str]) -> list[str]:
    """The ffmpeg options that write ``tags`` into ``path``'s container, so MLT and latentcut can read them back."""
    params: list[str] = []
    if path.suffix.lower() in (".mp4", ".mov"):
        # Without use_metadata_tags the MP4/MOV muxer drops keys it does not know.
        params += ["-movflags", "+use_metadata_tags+faststart"]
    for key, value in tags.items():
        params += ["-metadata", f"{key}={value}"]
    return params


class VideoWriter:
    """Context manager that writes uint8 RGB frames to ``path`` and, on success, verifies and renames the result.

    with VideoWriter(Path("out.mp4"), (256, 256), Fraction(25), encoding_for(...)) as video:
        video.write(frames)          # (n, 256, 256, 3) uint8, any n, any number of calls
    """

    def __init__(
        self,
        path: Path,
        size: tuple[int, int],
        fps: Fraction,
        encoding: Encoding,
        *,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        check_frame_format(path, encoding, size, fps)
        self.path = path
        self.size = size
        self.fps = fps
        self.encoding = encoding
        self.tags = dict(tags or {})
        self.frames_written = 0
        self._stack = contextlib.ExitStack()
        self._sink: PyGenerator[None, bytes | np.ndarray | None, None] | None = None
        self._target: Path | None = None

    def __enter__(self) -> VideoWriter:
        try:
            if self.encoding.is_sequence:
                folder = self._stack.enter_context(atomic_dir(self.path))
                self._target = folder / "%06d.png"
                params = ["-start_number", "0"]
            else:
                self._target = self._stack.enter_context(atomic_path(self.path))
                params = metadata_params(self.path, self.tags)
            self._sink = imageio_ffmpeg.write_frames(
                str(self._target),
                self.size,
                fps=self.fps,
                codec=self.encoding.ffmpeg_codec,
                pix_fmt_out=self.encoding.pix_fmt,
                quality=None,
                macro_block_size=1,
                ffmpeg_log_level="error",
                output_params=[*self.encoding.params, *params],
            )
            self._sink.send(None)
        except OSError as exc:
            self._stack.close()
            if isinstance(exc, IsADirectoryError):
                raise EncodeError(f"{self.path}: {exc.strerror}") from exc
            raise EncodeError(f"{self.path}: cannot write ({exc.strerror or exc}); choose a writable folder") from exc
        return self

    def write(self, frames: np.ndarray) -> None:
        """Append frames ``(n, height, width, 3)`` uint8."""
        width, height = self.size
        if frames.ndim != 4 or frames.shape[1:] != (height, width, 3) or frames.dtype != np.uint8:
            raise EncodeError(f"{self.path}: frames {frames.shape} {frames.dtype} are not ({height}, {width}, 3) uint8")
        if self._sink is None:
            raise EncodeError(f"{self.path}: write() outside the with block")
        for frame in frames:
            try:
                self._sink.send(np.ascontiguousarray(frame))
            except OSError as exc:
                raise EncodeError(f"{self.path}: ffmpeg stopped taking frames ({_ffmpeg_reason(self.path)})") from exc
            self.frames_written += 1

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # The exit stack renames the temporary output into place only when it is told of no exception.
        try:
            if self._sink is not None:
                self._sink.close()
            if exc_type is None:
                self._verify()
        except BaseException as failure:
            self._stack.__exit__(type(failure), failure, failure.__traceback__)
            raise
        self._stack.__exit__(exc_type, exc, tb)

    def _verify(self) -> None:
        assert self._target is not None  # set in __enter__, which always precedes __exit__
        if self.encoding.is_sequence:
            folder = self._target.parent
            count = len(list(folder.glob("*.png")))
            size = video_frame_count_and_size(folder / "000000.png")[1] if count else None
            (folder / SEQUENCE_TAGS_FILE).write_text(json.dumps(self.tags, indent=2, sort_keys=True) + "\n")
        else:
            count, size = video_frame_count_and_size(self._target)
        if count != self.frames_written or size != self.size:
            raise EncodeError(
                f"{self.path}: ffmpeg wrote {count} frames of {size} but {self.frames_written} of {self.size} were sent; "
                f"nothing was written under that name ({_ffmpeg_reason(self.path)})"
            )


def free_space(path: Path) -> str:
    """How much space the disk that holds ``path`` has left, as a message says it: a failed write may or may not be a full disk."""
    try:
        free = shutil.disk_usage(path.parent if path.parent != Path("") else Path(".")).free
    except OSError:
        return "the free space there is unknown"
    return f"{free / 2**30:.1f} GiB free there"


def _ffmpeg_reason(path: Path) -> str:
    # ffmpeg writes its reason to this process's error output (imageio-ffmpeg does not capture it).
    return f"ffmpeg's reason is on the error output, a daemon's log; {free_space(path)}"


def _is_regular(path: Path) -> bool:
    try:
        regular_size(path)
    except OSError:
        return False
    return True


def video_frame_count_and_size(path: Path) -> tuple[int, tuple[int, int] | None]:
    """Return ``(frames, (width, height))`` of a video or image by demuxing it with ffmpeg; ``(0, None)`` if unreadable."""
    if not _is_regular(path):
        return 0, None  # a FIFO or device would keep ffmpeg reading for ever
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "null", "-"]
    result = run_program(command, stall_s=_STALL_S, timeout_s=600, text=True)  # its statistics line moves every 0.5 s
    size = _STREAM_SIZE.search(result.stderr)
    frames = _FRAME_COUNT.findall(result.stderr)
    if result.returncode != 0 or size is None or not frames:
        return 0, None
    return int(frames[-1]), (int(size[1]), int(size[2]))


def _unescaped(value: str) -> str:
    out, chars = [], iter(value)
    for char in chars:
        out.append(next(chars, "") if char == "\\" else char)
    return "".join(out)


def container_tags(path: Path) -> dict[str, str]:
    """Return a video's global container tags, keys lower-cased (Matroska stores them upper-case).

    For a PNG sequence folder, the tags are read from its ``latentcut.json``.
    """
    if path.is_dir():
        try:
            return {k.lower(): str(v) for k, v in json.loads((path / SEQUENCE_TAGS_FILE).read_text()).items()}
        except (OSError, ValueError):
            return {}
    if not _is_regular(path):
        raise EncodeError(f"{path}: not a regular file (a FIFO, device or missing); give a video file")
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-f", "ffmetadata", "-"]
    result = run_program(command, stall_s=_STALL_S, text=True)
    if result.returncode != 0:
        raise EncodeError(f"{path}: cannot read its tags: {result.stderr.strip().splitlines()[-1:] or 'ffmpeg failed'}")
    tags: dict[str, str] = {}
    for line in _logical_lines(result.stdout):
        if line.startswith("["):
            break  # stream and chapter sections follow the global tags
        if line.startswith((";", "#")) or "=" not in line:
            continue
        key, _, value = line.partition("=")
        tags[_unescaped(key).lower()] = _unescaped(value)
    return tags


def _logical_lines(text: str) -> Iterator[str]:
    # ffmetadata continues a value on the next line after a backslash-escaped newline.
    pending = ""
    for line in text.splitlines():
        if line.endswith("\\") and not line.endswith("\\\\"):
            pending += line[:-1] + "\n"
            continue
        yield pending + line
        pending = ""
