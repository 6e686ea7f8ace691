"""The daemon's messages as typed values: what each kind carries, checked field by field as it arrives.

``latentcut.daemon.protocol`` turns frames into a header and arrays; this module turns those into frozen
dataclasses and back. Every ``from_wire`` raises ``ProtocolError`` naming the first bad field: types are
exact (a bool is never a number), numbers are finite and within their range, names and ids must match
in full (no trailing newline), texts hold no control characters, and arrays have their dtype and shape.
Client, server, worker, watcher and the ``status`` command read messages only through these classes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import PurePath
from typing import Any

import numpy as np

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.protocol import Message
from latentcut.errors import LatentcutError, ProtocolError, UsageError
from latentcut.latent.controls import PERFORMANCE_COLUMNS, checked_columns
from latentcut.latent.look import MAX_PSI, NOISE_MODES, Look, ModelRef
from latentcut.render.encode import CODECS, PRESETS
from latentcut.timebase import FPS_RANGE, fps_from_text, fps_text

__all__ = [
    "EVENT_KINDS",
    "MAX_FRAME_SIDE",
    "MAX_PREVIEW_FRAMES",
    "MAX_PREVIEW_PIXELS",
    "PREVIEW_STATES",
    "STATES",
    "WORKER_NAME",
    "Accepted",
    "Cancel",
    "Delivery",
    "Hello",
    "Idle",
    "Job",
    "JobEvent",
    "JobSummary",
    "Lease",
    "Preview",
    "PreviewFrames",
    "Ready",
    "Refusal",
    "Status",
    "WireForm",
    "safe_output_name",
]

MAX_FRAME_SIDE = 8192
MAX_TEXT_CHARS = 1000  # a project path, a model spec
MAX_ERROR_CHARS = 2000
MAX_LISTED = 1000  # jobs or workers in one status answer
STATES = ("queued", "running", "done", "failed", "cancelled", "superseded")
EVENT_KINDS = ("progress", "done", "failed")
MAX_PREVIEW_FRAMES = 64  # frames of one preview: the explorer asks a few at a time so they show as they come
# Frames x width x height of one preview: 64 frames of 256x256, or one of 2048x2048 (12 MiB sent back). Small,
# because ZeroMQ queues the answers of a client that does not read (up to its high-water mark of messages).
MAX_PREVIEW_PIXELS = 2**22
MAX_LATENT_VALUES = 2**16  # values in one latent (a StyleGAN w+ of 18 x 512 is 9216)
PREVIEW_STATES = ("done", "failed", "superseded")
LATENT_SPACES = ("z", "w", "w+")
MAX_DIRECTIONS = 4096  # directions one message's lanes may use
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_OUTPUT = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._+-]{0,200}")
WORKER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,63}")  # a worker's name, as shown in status
_TOKEN = re.compile(r"[0-9a-f]{32}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_FPS = re.compile(r"[0-9]{1,9}(/[0-9]{1,9}|\.[0-9]{1,9})?")
# C0 and C1 controls (U+0085 is a line break to some logs, U+009B a terminal's escape), line separators, and
# lone surrogates (no UTF-8 for them: a file name with one fails when ffmpeg starts).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_SUFFIXES = {".mov", ".mkv", ".mp4", ""}
_MAX_RANGE_ID = 2**31
_MAX_FRAMES = 2**31

WireForm = tuple[str, dict[str, Any], tuple[np.ndarray, ...]]  # kind, header, arrays: what Connection.send takes


def safe_output_name(name: object) -> str:
    """Return ``name`` if it is a plain file name for the daemon's output folder; a client never picks a path."""
    if not isinstance(name, str) or not _OUTPUT.fullmatch(name) or ".." in name:
        raise ProtocolError(f"output name {str(name)[:80]!r} is not a plain file name (letters, digits, space, ._+-)")
    if PurePath(name).suffix.lower() not in _SUFFIXES:
        raise ProtocolError(f"output name {name!r}: use .mov, .mkv, .mp4, or no extension for a PNG folder")
    return name


class _Fields:
    """The header of one message of an expected kind, read a field at a time."""

    _MISSING: Any = object()

    def __init__(self, message: Message, *kinds: str) -> None:
        if message.kind not in kinds:
            raise ProtocolError(f"expected {' or '.join(kinds)}, got {message.kind}")
        self.message = message
        self.header = message.header

    def _value(self, key: str, default: Any) -> Any:
        if key in self.header:
            return self.header[key]
        if default is self._MISSING:
            raise ProtocolError(f"{self.message.kind}: {key} is missing")
        return default

    def bad(self, key: str, value: Any, expected: str) -> ProtocolError:
        return ProtocolError(f"{self.message.kind}: {key} {repr(value)[:60]} is not {expected}")

    def text(
        self, key: str, *, pattern: re.Pattern[str] | None = None, max_chars: int = MAX_TEXT_CHARS, default: Any = _MISSING
    ) -> str:
        value = self._value(key, default)
        if type(value) is not str or not value or len(value) > max_chars or _CONTROL.search(value):
            raise self.bad(key, value, f"a text of 1-{max_chars} printable characters")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.bad(key, value, f"of the form {pattern.pattern}")
        return value

    def message_text(self, key: str, default: str = "") -> str:
        """A free text (an error, a reason): any string, shortened, control characters shown escaped."""
        value = self._value(key, default)
        if type(value) is not str:
            raise self.bad(key, value, "a string")
        return _CONTROL.sub(lambda m: repr(m.group())[1:-1], value[:MAX_ERROR_CHARS])

    def integer(self, key: str, low: int, high: int, default: Any = _MISSING) -> int:
        value = self._value(key, default)
        if type(value) is not int or not low <= value <= high:
            raise self.bad(key, value, f"a whole number in {low}..{high}")
        return value

    def number(self, key: str, low: float, high: float, default: Any = _MISSING) -> float:
        value = self._value(key, default)
        if type(value) not in (int, float) or not math.isfinite(value) or not low <= value <= high:
            raise self.bad(key, value, f"a number in {low}..{high}")
        return float(value)

    def flag(self, key: str, default: bool = False) -> bool:
        value = self._value(key, default)
        if type(value) is not bool:
            raise self.bad(key, value, "true or false")
        return value

    def size(self, key: str) -> tuple[int, int]:
        value = self._value(key, self._MISSING)
        if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int and 1 <= v <= MAX_FRAME_SIDE for v in value)):
            raise self.bad(key, value, f"[width, height] within 1..{MAX_FRAME_SIDE}")
        return value[0], value[1]

    def fps(self, key: str) -> Fraction:
        text = self.text(key, pattern=_FPS, max_chars=20)
        try:
            return fps_from_text(text)
        except UsageError:
            raise self.bad(key, text, f"a frame rate {FPS_RANGE}") from None

    def arrays(self, *counts: int) -> tuple[np.ndarray, ...]:
        if len(self.message.arrays) not in counts:
            raise ProtocolError(
                f"{self.message.kind} carries {' or '.join(map(str, counts))} arrays, not {len(self.message.arrays)}"
            )
        return self.message.arrays


_LOOK_KEYS = ("truncation_psi", "class", "noise_mode", "noise_seed", "translate", "rotate_deg")


def _look_header(look: Look, header: dict[str, Any]) -> None:
    """Put ``look`` into ``header``: its latent space and what it chose, the psi as the truncation still to apply."""
    if look.space != "z":
        header["space"] = look.space
    settings = {**look.settings_json(), "truncation_psi": look.psi_to_apply}
    header.update({key: settings[key] for key in _LOOK_KEYS if settings.get(key) is not None})
    if look.model is not None and look.model.sha256:
        header["model_sha256"] = look.model.sha256  # the weights the latents were made with: the daemon checks its own


def _look(fields: _Fields) -> Look:
    """The look of a request: its latent space (z, or StyleGAN's w / w+) and settings (each absent: the daemon's own)."""
    space = fields.text("space", default="z")
    if space not in LATENT_SPACES:
        raise fields.bad("space", space, f"one of {', '.join(LATENT_SPACES)}")
    given = {key: key in fields.header for key in _LOOK_KEYS}
    translate = fields.header.get("translate")
    if given["translate"] and not (
        isinstance(translate, list)
        and len(translate) == 2
        and all(type(v) in (int, float) and math.isfinite(v) for v in translate)
    ):
        raise fields.bad("translate", translate, "[dx, dy], two finite numbers")
    noise_mode = fields.text("noise_mode") if given["noise_mode"] else None
    if noise_mode is not None and noise_mode not in NOISE_MODES:
        raise fields.bad("noise_mode", noise_mode, f"one of {', '.join(NOISE_MODES)}")
    made_with = fields.text("model_sha256", pattern=_SHA256) if "model_sha256" in fields.header else None
    try:
        return Look(
            model=None if made_with is None else ModelRef(fields.text("model"), made_with),
            space=space,
            truncation_psi=fields.number("truncation_psi", -MAX_PSI, MAX_PSI) if given["truncation_psi"] else None,
            class_index=fields.integer("class", 0, 2**31) if given["class"] else None,
            noise_mode=noise_mode,
            noise_seed=fields.integer("noise_seed", 0, 2**63 - 1) if given["noise_seed"] else None,
            translate=None if translate is None else (float(translate[0]), float(translate[1])),
            rotate_deg=fields.number("rotate_deg", -1e6, 1e6) if given["rotate_deg"] else None,
        )
    except LatentcutError as exc:
        raise ProtocolError(f"{fields.message.kind}: {exc}") from exc


def _array(array: np.ndarray, what: str, dtype: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """``array`` if it has ``dtype`` and ``shape`` (None: any length of at least 1)."""
    fits = array.dtype == np.dtype(dtype) and array.ndim == len(shape)
    fits = fits and all((n >= 1) if want is None else n == want for n, want in zip(array.shape, shape, strict=False))
    if not fits:
        wanted = ", ".join("n" if n is None else str(n) for n in shape)
        raise ProtocolError(f"{what} is {array.dtype} {list(array.shape)}, not {dtype} ({wanted})")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ProtocolError(f"{what} holds NaN or infinity")
    return array


def _unit(array: np.ndarray, what: str) -> np.ndarray:
    """Per-frame factors in [0, 1] (float rounding of a thousandth either side is clipped, anything more refused)."""
    if len(array) and (array.min() < -1e-3 or array.max() > 1 + 1e-3):
        raise ProtocolError(f"{what} holds values outside 0..1")
    return np.clip(array, 0.0, 1.0).astype(np.float32)


def _control_columns(fields: _Fields) -> tuple[str, ...] | None:
    """The named control columns a message's ``controls`` lists (``true``: a performance's four); None without controls."""
    value = fields.header.get("controls", False)
    if value is False:
        return None
    if value is True:
        return PERFORMANCE_COLUMNS
    directions = fields.flag("directions")
    try:
        return checked_columns(value if isinstance(value, list) else [value], MAX_DIRECTIONS if directions else 0)
    except ValueError as exc:
        raise fields.bad("controls", value, f"a list of control columns ({exc})") from exc


def _frame_arrays_wire(arrays: FrameArrays, header: dict[str, Any], *after_opacity: np.ndarray) -> tuple[np.ndarray, ...]:
    """A job's or a lease's frames as they travel: latents, opacity, ``after_opacity``, the cross-fade's two, the controls, directions.

    Sets ``header``'s controls (their column names) and directions flag; its blend flag (``arrays.blended``)
    each message sets where it always stood. A message has one look, so frames of several
    (``arrays.look``) cannot travel in one.
    """
    if arrays.look is not None and len(arrays.look) and np.any(arrays.look != arrays.look[0]):
        raise ProtocolError("these frames use several looks, and a job or a range has one; send one per look")
    wire = (np.ascontiguousarray(arrays.latents, np.float32), np.ascontiguousarray(arrays.opacity, np.float32), *after_opacity)
    if arrays.blend_latents is not None:
        weight = arrays.blend_weight if arrays.blend_weight is not None else np.zeros(len(arrays.latents), np.float32)
        wire += (np.ascontiguousarray(arrays.blend_latents, np.float32), np.ascontiguousarray(weight, np.float32))
    if arrays.controls is not None:
        header["controls"] = list(arrays.control_columns)
        wire += (np.ascontiguousarray(arrays.controls, np.float32),)
        if arrays.directions is not None:
            header["directions"] = True
            wire += (np.ascontiguousarray(arrays.directions, np.float32),)
    return wire


def _frame_arrays(fields: _Fields, after_opacity: int = 0) -> tuple[FrameArrays, tuple[np.ndarray, ...]]:
    """A job's or a lease's frame arrays, checked and copied; and its ``after_opacity`` arrays, for the message to check."""
    blended = fields.flag("blend")
    columns = _control_columns(fields)
    with_directions = columns is not None and fields.flag("directions")
    arrays = fields.arrays(2 + after_opacity + 2 * blended + (columns is not None) + with_directions)
    latents = _array(arrays[0], "latents", "float32", (None, None))
    frames = len(latents)
    opacity = _unit(_array(arrays[1], "opacity", "float32", (frames,)), "opacity")
    blend_latents = blend_weight = None
    if blended:
        blend = 2 + after_opacity
        blend_latents = _array(arrays[blend], "blend latents", "float32", latents.shape).copy()
        blend_weight = _unit(_array(arrays[blend + 1], "blend weight", "float32", (frames,)), "blend weight")
    controls = directions = None
    if columns is not None:
        at = 2 + after_opacity + 2 * blended
        controls = _array(arrays[at], "controls", "float32", (frames, len(columns))).copy()
        if with_directions:
            directions = _array(arrays[at + 1], "directions", "float32", (None, None)).copy()
            if len(directions) > MAX_DIRECTIONS or directions.shape[1] > MAX_LATENT_VALUES:
                raise ProtocolError(
                    f"directions are {list(directions.shape)}, more than {MAX_DIRECTIONS} of {MAX_LATENT_VALUES} values"
                )
        try:
            checked_columns(columns, 0 if directions is None else len(directions))
        except ValueError as exc:
            raise ProtocolError(f"{fields.message.kind}: controls: {exc}") from exc
    frame_arrays = FrameArrays(
        latents.copy(),
        opacity,
        blend_latents,
        blend_weight,
        controls,
        control_columns=columns or PERFORMANCE_COLUMNS,
        directions=directions,
    )
    return frame_arrays, arrays[2 : 2 + after_opacity]


@dataclass(frozen=True, eq=False)
class Job:
    """One render asked of the daemon: what each frame is (``arrays``: latents, opacity, pixel cross-fade, controls) and its look.

    ``arrays`` is the ``latentcut.conform.frame_arrays.FrameArrays`` every renderer takes; ``look``: the latent
    space and the StyleGAN settings the frames are rendered with, its psi the truncation still to apply
    to these latents (see ``Look.psi_to_apply``); what it leaves unchosen is the daemon's own setting.
    ``job_id`` empty: the daemon picks one.
    """

    project: str  # what a newer job must match to supersede this one
    output: str  # a file name in the daemon's output folder
    model: str
    size: tuple[int, int]  # width, height
    fps: Fraction
    arrays: FrameArrays
    preset: str = "online"
    codec: str | None = None
    job_id: str = ""
    look: Look = field(default_factory=Look)

    @property
    def frames(self) -> int:
        return len(self.arrays.latents)

    @property
    def blended(self) -> bool:
        return self.arrays.blended

    @property
    def array_bytes(self) -> int:
        return self.arrays.nbytes

    def to_wire(self) -> WireForm:
        header: dict[str, Any] = {
            "project": self.project,
            "output": self.output,
            "model": self.model,
            "size": [int(self.size[0]), int(self.size[1])],
            "fps": fps_text(self.fps),
            "preset": self.preset,
            "codec": self.codec,
            "blend": self.blended,
        }
        if self.job_id:
            header["job"] = self.job_id
        _look_header(self.look, header)
        return "submit", header, _frame_arrays_wire(self.arrays, header)

    @classmethod
    def from_wire(cls, message: Message, *, default_id: str = "") -> Job:
        fields = _Fields(message, "submit")
        arrays, _ = _frame_arrays(fields)
        preset = fields.text("preset", default="online")
        if preset not in PRESETS:
            raise fields.bad("preset", preset, f"one of {', '.join(PRESETS)}")
        codec = fields.header.get("codec")
        if codec is not None and (type(codec) is not str or codec not in CODECS):
            raise fields.bad("codec", codec, f"null or one of {', '.join(CODECS)}")
        return cls(
            project=fields.text("project"),
            output=safe_output_name(fields.header.get("output")),
            model=fields.text("model"),
            size=fields.size("size"),
            fps=fields.fps("fps"),
            arrays=arrays,
            preset=preset,
            codec=codec,
            job_id=fields.text("job", pattern=_JOB_ID, default=default_id) if "job" in fields.header or default_id else "",
            look=_look(fields),
        )


@dataclass(frozen=True)
class JobSummary:
    """Where a job stands, without its arrays: what status answers and events carry."""

    job_id: str
    project: str
    output: str
    state: str  # one of STATES
    frames: int
    done: int = 0  # frames encoded
    generated: int = 0  # frames the model made (frames at opacity 0 are black without it)
    cached: int = 0  # frames taken from the cache
    error: str = ""

    def to_header(self) -> dict[str, Any]:
        return {
            "job": self.job_id,
            "project": self.project,
            "output": self.output,
            "state": self.state,
            "frames": self.frames,
            "done": self.done,
            "generated": self.generated,
            "cached": self.cached,
            "error": self.error,
        }

    @classmethod
    def from_header(cls, header: Mapping[str, Any], kind: str) -> JobSummary:
        if not isinstance(header, Mapping):
            raise ProtocolError(f"{kind}: a job summary is not an object")
        fields = _Fields(Message(kind, header), kind)
        state = fields.text("state")
        if state not in STATES:
            raise fields.bad("state", state, f"one of {', '.join(STATES)}")
        frames = fields.integer("frames", 0, _MAX_FRAMES)
        return cls(
            job_id=fields.text("job", pattern=_JOB_ID),
            project=fields.text("project"),
            output=safe_output_name(fields.header.get("output")),
            state=state,
            frames=frames,
            done=fields.integer("done", 0, frames),
            generated=fields.integer("generated", 0, _MAX_FRAMES),
            cached=fields.integer("cached", 0, frames),
            error=fields.message_text("error"),
        )


@dataclass(frozen=True)
class JobEvent:
    """News of a job sent to its owner: ``progress`` while encoding, then one ``done`` or ``failed``."""

    kind: str  # one of EVENT_KINDS
    summary: JobSummary
    seconds: float = 0.0  # done: the job's wall time
    ranges: Mapping[str, int] = field(default_factory=dict)  # done: ranges rendered per renderer ("local", worker names)
    requeued: int = 0  # done: ranges handed out again after their deadline

    @property
    def job_id(self) -> str:
        return self.summary.job_id

    @property
    def final(self) -> bool:
        return self.kind != "progress"

    def to_wire(self) -> WireForm:
        header = {**self.summary.to_header(), "seconds": self.seconds, "ranges": dict(self.ranges), "requeued": self.requeued}
        return self.kind, header, ()

    @classmethod
    def from_wire(cls, message: Message) -> JobEvent:
        fields = _Fields(message, *EVENT_KINDS)
        ranges = fields.header.get("ranges", {})
        if not isinstance(ranges, dict) or len(ranges) > MAX_LISTED:
            raise fields.bad("ranges", ranges, "an object of renderer: ranges")
        checked = {}
        for name, count in ranges.items():
            if not WORKER_NAME.fullmatch(name) or type(count) is not int or not 0 <= count <= _MAX_RANGE_ID:
                raise fields.bad("ranges", {name: count}, "renderer names with range counts")
            checked[name] = count
        return cls(
            kind=message.kind,
            summary=JobSummary.from_header(fields.header, message.kind),
            seconds=fields.number("seconds", 0.0, 1e9, default=0.0),
            ranges=checked,
            requeued=fields.integer("requeued", 0, _MAX_RANGE_ID, default=0),
        )


@dataclass(frozen=True)
class Status:
    """A daemon's state: the running job, the queue, recent jobs, its frame cache and its remote workers."""

    running: JobSummary | None
    queue: tuple[JobSummary, ...] = ()
    recent: tuple[JobSummary, ...] = ()  # the last jobs to finish, oldest first
    cache_bytes: int = 0
    workers: Mapping[str, float] = field(default_factory=dict)  # worker name: seconds since it last asked for work

    def knows(self, job_id: str) -> bool:
        """True if the daemon has ``job_id`` running, queued or among its recent jobs."""
        jobs = [*([self.running] if self.running else []), *self.queue, *self.recent]
        return any(job.job_id == job_id for job in jobs)

    def to_wire(self) -> WireForm:
        header = {
            "running": self.running.to_header() if self.running else None,
            "queue": [job.to_header() for job in self.queue],
            "recent": [job.to_header() for job in self.recent],
            "cache_bytes": self.cache_bytes,
            "workers": dict(self.workers),
        }
        return "ok", header, ()

    @classmethod
    def from_wire(cls, message: Message) -> Status:
        fields = _Fields(message, "ok")
        lists = {}
        for key in ("queue", "recent"):
            value = fields.header.get(key, [])
            if not isinstance(value, list) or len(value) > MAX_LISTED:
                raise fields.bad(key, value, f"a list of at most {MAX_LISTED} jobs")
            lists[key] = tuple(JobSummary.from_header(entry, "status") for entry in value)
        workers = fields.header.get("workers", {})
        if not isinstance(workers, dict) or len(workers) > MAX_LISTED:
            raise fields.bad("workers", workers, "an object of worker: seconds")
        for name, seen in workers.items():
            if not WORKER_NAME.fullmatch(name) or type(seen) not in (int, float) or not 0 <= seen < 1e9:
                raise fields.bad("workers", {name: seen}, "worker names with seconds since seen")
        running = fields.header.get("running")
        return cls(
            running=None if running is None else JobSummary.from_header(running, "status"),
            queue=lists["queue"],
            recent=lists["recent"],
            cache_bytes=fields.integer("cache_bytes", 0, 2**62, default=0),
            workers={name: float(seen) for name, seen in workers.items()},
        )


@dataclass(frozen=True)
class Hello:
    """The answer to ``ping``: who the daemon is and which models it serves."""

    version: str
    models: tuple[str, ...]
    time: float  # the daemon's clock (seconds since the epoch)

    def to_wire(self) -> WireForm:
        return "ok", {"version": self.version, "models": list(self.models), "time": self.time}, ()

    @classmethod
    def from_wire(cls, message: Message) -> Hello:
        fields = _Fields(message, "ok")
        models = fields.header.get("models")
        if not isinstance(models, list) or not 1 <= len(models) <= MAX_LISTED:
            raise fields.bad("models", models, "a list of model specs")
        checked = tuple(_Fields(Message("ok", {"model": m}), "ok").text("model") for m in models)
        return cls(fields.text("version", max_chars=64), checked, fields.number("time", 0.0, 1e12))


@dataclass(frozen=True)
class Accepted:
    """The answer to ``submit`` and ``cancel``: the job and its state now."""

    job_id: str
    state: str
    received_at: float = 0.0  # the daemon's clock when it took the job

    def to_wire(self) -> WireForm:
        return "ok", {"job": self.job_id, "state": self.state, "received_at": self.received_at}, ()

    @classmethod
    def from_wire(cls, message: Message) -> Accepted:
        fields = _Fields(message, "ok")
        state = fields.text("state")
        if state not in STATES:
            raise fields.bad("state", state, f"one of {', '.join(STATES)}")
        return cls(fields.text("job", pattern=_JOB_ID), state, fields.number("received_at", 0.0, 1e12, default=0.0))


@dataclass(frozen=True)
class Cancel:
    """A request to cancel a queued or running job."""

    job_id: str

    def to_wire(self) -> WireForm:
        return "cancel", {"job": self.job_id}, ()

    @classmethod
    def from_wire(cls, message: Message) -> Cancel:
        return cls(_Fields(message, "cancel").text("job", pattern=_JOB_ID))


@dataclass(frozen=True)
class Refusal:
    """The ``error`` answer: why a request was refused."""

    error: str

    def to_wire(self) -> WireForm:
        return "error", {"error": self.error[:MAX_ERROR_CHARS]}, ()

    @classmethod
    def from_wire(cls, message: Message) -> Refusal:
        return cls(_Fields(message, "error").message_text("error", default="refused"))


@dataclass(frozen=True)
class Ready:
    """A worker asking for a range: its name (shown in status) and the sha256 of the model it holds."""

    worker: str
    model_sha256: str

    def to_wire(self) -> WireForm:
        return "ready", {"worker": self.worker, "model_sha256": self.model_sha256}, ()

    @classmethod
    def from_wire(cls, message: Message) -> Ready:
        fields = _Fields(message, "ready")
        return cls(fields.text("worker", pattern=WORKER_NAME), fields.text("model_sha256", pattern=_SHA256))


@dataclass(frozen=True)
class Idle:
    """The answer to ``ready`` when there is nothing for this worker."""

    reason: str = ""

    def to_wire(self) -> WireForm:
        return "idle", {"reason": self.reason} if self.reason else {}, ()

    @classmethod
    def from_wire(cls, message: Message) -> Idle:
        return cls(_Fields(message, "idle").message_text("reason"))


@dataclass(frozen=True, eq=False)
class Lease:
    """Frames ``indices`` of a job leased to one worker; only that worker, quoting ``token``, may deliver them."""

    job_id: str
    range_id: int
    token: str  # 32 hex digits, secret between the daemon and the worker holding the lease
    model: str
    size: tuple[int, int]
    arrays: FrameArrays  # the job's arrays of these frames (see ``Job``)
    indices: np.ndarray  # (n,) int64: the frames in the job
    look: Look = field(default_factory=Look)  # the look the daemon renders the job with, every setting chosen

    def to_wire(self) -> WireForm:
        header: dict[str, Any] = {
            "job": self.job_id,
            "range": self.range_id,
            "token": self.token,
            "model": self.model,
            "size": list(self.size),
            "blend": self.arrays.blended,
        }
        _look_header(self.look, header)
        return "range", header, _frame_arrays_wire(self.arrays, header, self.indices)

    @classmethod
    def from_wire(cls, message: Message) -> Lease:
        fields = _Fields(message, "range")
        arrays, (indices,) = _frame_arrays(fields, after_opacity=1)
        return cls(
            job_id=fields.text("job", pattern=_JOB_ID),
            range_id=fields.integer("range", 0, _MAX_RANGE_ID),
            token=fields.text("token", pattern=_TOKEN),
            model=fields.text("model"),
            size=fields.size("size"),
            arrays=arrays,
            indices=_array(indices, "indices", "int64", (len(arrays.latents),)),
            look=_look(fields),
        )


@dataclass(frozen=True, eq=False)
class Delivery:
    """A worker's rendered frames of a leased range, ``(n, height, width, 3)`` uint8."""

    worker: str
    job_id: str
    range_id: int
    token: str
    frames: np.ndarray

    def to_wire(self) -> WireForm:
        header = {"worker": self.worker, "job": self.job_id, "range": self.range_id, "token": self.token}
        return "frames", header, (np.ascontiguousarray(self.frames, np.uint8),)

    @classmethod
    def from_wire(cls, message: Message) -> Delivery:
        fields = _Fields(message, "frames")
        (frames,) = fields.arrays(1)
        return cls(
            worker=fields.text("worker", pattern=WORKER_NAME),
            job_id=fields.text("job", pattern=_JOB_ID),
            range_id=fields.integer("range", 0, _MAX_RANGE_ID),
            token=fields.text("token", pattern=_TOKEN),
            frames=_array(frames, "frames", "uint8", (None, None, None, 3)),
        )


@dataclass(frozen=True, eq=False)
class Preview:
    """Frames a client asks to look at (the explorer's, the watcher's preview of an edit): rendered and sent back to that client only, never written.

    ``arrays``: what each frame is, as a ``Job``'s (latents, opacity, pixel cross-fade, input controls).
    At most ``MAX_PREVIEW_FRAMES`` frames and ``MAX_PREVIEW_PIXELS`` pixels in all; a newer preview from
    the same connection supersedes this one. The daemon answers ``ok`` at once, then ``rendered``.
    """

    preview_id: str
    model: str
    size: tuple[int, int]  # width, height
    arrays: FrameArrays
    look: Look = field(default_factory=Look)  # as a ``Job``'s

    @property
    def frames(self) -> int:
        return self.arrays.frames

    def to_wire(self) -> WireForm:
        header: dict[str, Any] = {
            "preview": self.preview_id,
            "model": self.model,
            "size": [int(self.size[0]), int(self.size[1])],
            "blend": self.arrays.blended,
        }
        _look_header(self.look, header)
        return "preview", header, _frame_arrays_wire(self.arrays, header)

    @classmethod
    def from_wire(cls, message: Message) -> Preview:
        fields = _Fields(message, "preview")
        preview_id = fields.text("preview", pattern=_JOB_ID)
        size = fields.size("size")
        latents = message.arrays[0] if message.arrays else None
        if (
            latents is not None
            and latents.ndim == 2
            and not (1 <= latents.shape[0] <= MAX_PREVIEW_FRAMES and latents.shape[1] <= MAX_LATENT_VALUES)
        ):
            raise ProtocolError(
                f"preview {preview_id}: {latents.shape[0]} latents of {latents.shape[1]} values; "
                f"ask 1-{MAX_PREVIEW_FRAMES} frames of at most {MAX_LATENT_VALUES} values at a time"
            )
        arrays, _ = _frame_arrays(fields)
        if arrays.frames * size[0] * size[1] > MAX_PREVIEW_PIXELS:
            raise ProtocolError(
                f"preview {preview_id}: {arrays.frames} frames of {size[0]}x{size[1]} exceed {MAX_PREVIEW_PIXELS} pixels; "
                "ask fewer frames at a time, or a smaller size"
            )
        return cls(preview_id, fields.text("model"), size, arrays, _look(fields))


@dataclass(frozen=True, eq=False)
class PreviewFrames:
    """The ``rendered`` answer to a preview, sent to the connection that asked: its frames, or why there are none."""

    preview_id: str
    state: str  # one of PREVIEW_STATES
    frames: np.ndarray | None = None  # done: (n, height, width, 3) uint8
    model_sha256: str = ""  # done: the weights that made the frames (of the latent space asked for)
    error: str = ""  # failed: why, in one line

    def to_wire(self) -> WireForm:
        header = {"preview": self.preview_id, "state": self.state, "model_sha256": self.model_sha256, "error": self.error}
        arrays = () if self.frames is None else (np.ascontiguousarray(self.frames, np.uint8),)
        return "rendered", header, arrays

    @classmethod
    def from_wire(cls, message: Message) -> PreviewFrames:
        fields = _Fields(message, "rendered")
        state = fields.text("state")
        if state not in PREVIEW_STATES:
            raise fields.bad("state", state, f"one of {', '.join(PREVIEW_STATES)}")
        done = state == "done"
        arrays = fields.arrays(1 if done else 0)
        frames = _array(arrays[0], "frames", "uint8", (None, None, None, 3)) if done else None
        if frames is not None and len(frames) > MAX_PREVIEW_FRAMES:
            raise ProtocolError(f"rendered carries {len(frames)} frames, more than a preview has ({MAX_PREVIEW_FRAMES})")
        return cls(
            preview_id=fields.text("preview", pattern=_JOB_ID),
            state=state,
            frames=frames,
            model_sha256=fields.text("model_sha256", pattern=_SHA256) if done else "",
            error=fields.message_text("error"),
        )
