"""The preview beside a project: its conformed edit rendered by a daemon at proxy size, one FFV1 file replaced atomically.

``latentcut watch --preview`` keeps ``<project stem>.latent-preview.mkv`` (``latentcut.timeline.kdenlive.preview_file``),
which ``latentcut project preview`` puts on Kdenlive's timeline. The frames come back from the daemon over
its socket (``preview`` requests carrying each frame's ``FrameArrays``, at most a few dozen frames each),
so a daemon on another machine works as one on this one, and they are the daemon's pictures of the job
it would render. The file is kept as content-keyed segments (``latentcut.render.segments``, cut finer
than an online render's) under ``<cache>/previews/<project>``: after a save only the frames whose keys
are new are rendered, only the segments that hold them are encoded, and the file is joined from the
segments by stream copy under a temporary name and renamed over the old one. The other frames of a
segment encoded again come from a bounded memory of recent frames, else from the stored segment that
holds them (decoded: FFV1 is lossless), else from the daemon. What each stored segment holds is kept in
``manifest.json`` beside them, so a watcher started again (or ``--once``) goes on where the last stopped.
"""

from __future__ import annotations

import functools
import hashlib
import json
import secrets
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.messages import MAX_PREVIEW_FRAMES, MAX_PREVIEW_PIXELS, Preview
from latentcut.errors import ProtocolError, UsageError
from latentcut.latent.look import Look
from latentcut.latent.sidecar import cache_dir
from latentcut.render.encode import encoding_for
from latentcut.render.range_frames import FrameMemo
from latentcut.render.segments import Segment, SegmentStore, segment_plan

__all__ = ["PREVIEW_SEGMENT_FRAMES", "PreviewFile", "PreviewUpdate", "preview_store_folder"]

# Segments of about 45 frames (at least 12, at most 100): a small change re-encodes little.
PREVIEW_SEGMENT_FRAMES = (12, 32, 100)  # min_frames, divisor, max_frames of segment_plan
STORE_BYTES = 4 << 30  # stored segments beyond the current preview's, least recently used dropped first
MEMO_BYTES = 512 << 20  # recent frames kept in memory: a segment encoded again rarely decodes its old one
PREVIEW_TIMEOUT_S = 600.0  # one request of at most 64 frames, on a slow CPU at a large size
_ENCODING = encoding_for(Path("preview.mkv"), "online", "ffv1")


def preview_store_folder(preview: Path) -> Path:
    """Where the segments of ``preview`` are kept: ``<cache>/previews/<sha256 of its absolute path, 16 digits>``."""
    return cache_dir() / "previews" / hashlib.sha256(str(preview.resolve()).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PreviewUpdate:
    """What one update of the preview did."""

    frames: int  # in the preview
    changed: int  # frames whose picture the last preview did not hold
    rendered: int  # pictures the daemon rendered for it
    encoded: int  # segments encoded
    segments: int  # segments the preview is joined from
    seconds: float


class _ModelChanged(Exception):
    pass


class PreviewFile:
    """``path`` kept as the render of the frames ``update`` is given, by the daemon ``client`` talks to."""

    def __init__(
        self,
        path: Path,
        client: DaemonClient,
        *,
        store: Path | None = None,
        timeout_s: float = PREVIEW_TIMEOUT_S,
    ) -> None:
        self.path = path
        self.client = client
        self.timeout_s = timeout_s
        folder = store or preview_store_folder(path)
        self.segments = SegmentStore(folder / "segments", STORE_BYTES)
        self._manifest_path = folder / "manifest.json"
        self._memo = FrameMemo(MEMO_BYTES)
        self._prefix = secrets.token_hex(4)
        self._asked = 0
        self._model_sha256, self._held, self._shown = self._read_manifest()  # _shown: the frame keys the file holds

    def _read_manifest(self) -> tuple[str, dict[str, tuple[str, ...]], set[str]]:
        """The model hash the stored segments were rendered with, and the frame keys of each one still stored."""
        try:
            data = json.loads(self._manifest_path.read_text())
            sha256, held = str(data["model_sha256"]), data["segments"]
            checked = {str(name): tuple(str(key) for key in keys) for name, keys in held.items()}
            shown = {str(name) for name in data["shown"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return "", {}, set()  # none yet, or damaged: every frame is rendered again, nothing is lost
        held = {name: keys for name, keys in checked.items() if self.segments.path(_stored(name)).exists()}
        return sha256, held, {key for name in shown for key in held.get(name, ())}

    def _write_manifest(self, plan: tuple[Segment, ...]) -> None:
        self._held = {name: keys for name, keys in self._held.items() if self.segments.path(_stored(name)).exists()}
        data = {
            "model_sha256": self._model_sha256,
            "shown": [segment.name for segment in plan],
            "segments": {name: list(keys) for name, keys in self._held.items()},
        }
        with atomic_path(self._manifest_path) as tmp:
            tmp.write_text(json.dumps(data))

    def update(
        self,
        arrays: FrameArrays,
        model: str,
        look: Look,
        size: tuple[int, int],
        fps: Fraction,
        *,
        tags: Mapping[str, str] | None = None,
        superseded: Callable[[], bool] = lambda: False,
    ) -> PreviewUpdate | None:
        """Make ``path`` the render of ``arrays`` (in ``model`` and ``look``, at ``size``); None if ``superseded()`` stopped it.

        ``superseded`` is asked before each request to the daemon: a newer save makes this update
        pointless, and what was rendered and encoded so far is kept for the next one.
        """
        width, height = size
        if width * height > MAX_PREVIEW_PIXELS:
            raise UsageError(
                f"{self.path}: a daemon sends back frames of at most {MAX_PREVIEW_PIXELS} pixels, not {width}x{height}; "
                "give a smaller --size"
            )
        if arrays.frames == 0:
            raise UsageError(f"{self.path}: the edit has no frames to preview; put clips on the timeline")
        started = time.monotonic()
        identity = f"{model}|{look.space}|{json.dumps(look.settings_json(), sort_keys=True)}"
        keys = frame_keys(
            "", identity, size, arrays.latents, arrays.opacity, arrays.blend_latents, arrays.blend_weight, arrays.input_controls()
        )
        changed = sum(key not in self._shown for key in keys)
        for _ in range(2):  # once more from scratch if the daemon's model is not the one the stored frames came from
            try:
                done = self._made(arrays, keys, model, look, size, fps, dict(tags or {}), superseded)
            except _ModelChanged:
                self._forget_frames()
                continue
            if done is None:
                return None
            rendered, encoded, segments = done
            self._shown = set(keys)
            return PreviewUpdate(len(keys), changed, rendered, encoded, segments, time.monotonic() - started)
        raise ProtocolError(f"{self.client.connection.address}: the daemon's model changed twice during one preview")

    def _forget_frames(self) -> None:
        """Drop every stored segment and remembered frame: the daemon now renders with other weights."""
        for path in [*self.segments.folder.glob("*/*")]:
            self.segments.discard(_stored(path.name))
        self._held, self._shown, self._memo = {}, set(), FrameMemo(self._memo.max_bytes)

    def _made(
        self,
        arrays: FrameArrays,
        keys: list[str],
        model: str,
        look: Look,
        size: tuple[int, int],
        fps: Fraction,
        tags: dict[str, str],
        superseded: Callable[[], bool],
    ) -> tuple[int, int, int] | None:
        """Encode the segments of ``keys`` not stored yet, one after another, then join them into the preview."""
        min_frames, divisor, max_frames = PREVIEW_SEGMENT_FRAMES
        plan = segment_plan(keys, _ENCODING, size, fps, ".mkv", min_frames=min_frames, divisor=divisor, max_frames=max_frames)
        todo = [segment for segment in plan if not self.segments.has(segment)]
        where: dict[str, tuple[str, int]] = {}  # a frame key -> a stored segment that holds it, and where in it
        for name, held in self._held.items():
            for offset, key in enumerate(held):
                where.setdefault(key, (name, offset))
        # Kept until written: the segments of the preview, and the stored ones whose frames are read to write them.
        keep = {segment.name for segment in plan}
        keep |= {where[key][0] for segment in todo for key in keys[segment.start : segment.stop] if key in where}
        decoded: dict[str, np.ndarray] = {}  # one stored segment, decoded

        def known(key: str) -> np.ndarray | None:
            picture = self._memo.get(key.encode())
            if picture is None and key in where:
                name, offset = where[key]
                if name not in decoded:
                    decoded.clear()
                    decoded[name] = self.segments.frames(_stored(name), size)
                picture = decoded[name][offset]
            return picture

        # The frames to ask the daemon for, in order and repeats included, in runs. The daemon renders them in batches
        # of its own (a frame its cache holds from a job is that job's picture; a model that is not batch-invariant may
        # differ by a level between two batchings).
        unknown = (i for segment in todo for i in range(segment.start, segment.stop))
        ask = deque(i for i in unknown if keys[i] not in where and self._memo.get(keys[i].encode()) is None)
        rendered = len(ask)
        ready: dict[int, np.ndarray] = {}  # frames the daemon sent, until their segment is written
        for segment in todo:
            while ask and ask[0] < segment.stop:
                rows = [ask.popleft() for _ in range(min(self._per_request(size), len(ask)))]
                made = self._rendered(arrays, keys, rows, model, look, size, superseded)
                if made is None:
                    return None
                ready.update(zip(rows, made, strict=True))
            pictures = {i: ready.pop(i) if i in ready else known(keys[i]) for i in range(segment.start, segment.stop)}
            late = [i for i, picture in pictures.items() if picture is None]  # dropped from the memory of frames meanwhile
            for start in range(0, len(late), self._per_request(size)):
                rows = late[start : start + self._per_request(size)]
                made = self._rendered(arrays, keys, rows, model, look, size, superseded)
                if made is None:
                    return None
                pictures.update(zip(rows, made, strict=True))
                rendered += len(rows)
            self.segments.write(segment, functools.partial(_picture, pictures), size, fps, _ENCODING, keep=keep)
            self._held[segment.name] = tuple(keys[segment.start : segment.stop])
        self.segments.assemble(plan, self.path, size, fps, tags)
        self._write_manifest(plan)
        return rendered, len(todo), len(plan)

    @staticmethod
    def _per_request(size: tuple[int, int]) -> int:
        return max(1, min(MAX_PREVIEW_FRAMES, MAX_PREVIEW_PIXELS // (size[0] * size[1])))

    def _rendered(
        self,
        arrays: FrameArrays,
        keys: list[str],
        rows: list[int],
        model: str,
        look: Look,
        size: tuple[int, int],
        superseded: Callable[[], bool],
    ) -> np.ndarray | None:
        """The daemon's pictures of the frames at ``rows`` (one request; kept in memory too); None if superseded."""
        if superseded():
            return None
        self._asked += 1
        preview = Preview(f"{self._prefix}-{self._asked}", model, size, arrays.rows(np.asarray(rows, np.int64)), look)
        answer = self.client.preview(preview, timeout_s=self.timeout_s)
        if self._model_sha256 and answer.model_sha256 != self._model_sha256:
            self._model_sha256 = answer.model_sha256
            raise _ModelChanged
        self._model_sha256 = answer.model_sha256
        assert answer.frames is not None  # a done preview carries its frames (PreviewFrames.from_wire)
        for index, picture in zip(rows, answer.frames, strict=True):
            self._memo.put(keys[index].encode(), picture)
        return answer.frames


def _picture(pictures: Mapping[int, np.ndarray | None], index: int) -> np.ndarray:
    picture = pictures[index]
    assert picture is not None  # every frame of a segment is found or rendered before it is written
    return picture


def _stored(name: str) -> Segment:
    """A stored segment known by its file name only (its frames' positions do not matter for reading it)."""
    key, _, suffix = name.partition(".")
    return Segment(key, 0, 0, f".{suffix}" if suffix else "")
