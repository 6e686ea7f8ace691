"""The wire protocol shared by the daemon, its workers and clients: multipart messages of a JSON header plus raw arrays.

    frame 0   b"LCUT1"                      protocol name and version
    frame 1   kind, ASCII                   submit, status, cancel, ping, ready, frames, preview (requests);
                                            ok, error, progress, done, failed, range, idle, rendered
                                            (answers and events)
    frame 2   JSON object                   the header; its "arrays" lists {"dtype", "shape"} per array frame
    frame 3…  raw C-order array bytes       one frame per array, exactly dtype x shape bytes

No pickle, ever: arrays travel as bytes described by the header, and only a few dtypes are accepted.
Every size is checked against its limit before anything is allocated for it, and decoding raises
nothing but ``ProtocolError``, whatever arrives (deep nesting, huge integers, bools for sizes).
What the header's fields mean is ``latentcut.daemon.messages``'s business.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentcut.errors import ProtocolError
from latentcut.untrusted_json import JsonRefused, parsed_json

__all__ = [
    "ANSWERS",
    "MAX_HEADER_BYTES",
    "MAX_MESSAGE_BYTES",
    "REQUESTS",
    "VERSION",
    "Message",
    "ProtocolError",
    "decoded",
    "encoded",
]

VERSION = b"LCUT1"
REQUESTS = frozenset({"submit", "status", "cancel", "ping", "ready", "frames", "preview"})
ANSWERS = frozenset({"ok", "error", "progress", "done", "failed", "range", "idle", "rendered"})
MAX_HEADER_BYTES = 64 * 1024
MAX_MESSAGE_BYTES = 4 * 1024**3  # the whole message, arrays included
_DTYPES = {"float32", "uint8", "int32", "int64"}
_MAX_DIMS = 4
MAX_HEADER_DEPTH = 8  # nesting of lists and objects in a header; real ones use 3
_MAX_INT_DIGITS = 20  # no header field needs more than 64 bits


@dataclass(frozen=True)
class Message:
    """A decoded message. Arrays are read-only views of the received bytes: copy before changing them."""

    kind: str
    header: Mapping[str, Any] = field(default_factory=dict)
    arrays: tuple[np.ndarray, ...] = ()


def encoded(kind: str, header: Mapping[str, Any] | None = None, arrays: Sequence[np.ndarray] = ()) -> list[bytes | memoryview]:
    """Return the frames of a message, ready for ``send_multipart`` (arrays go as zero-copy buffers)."""
    if kind not in REQUESTS | ANSWERS:
        raise ProtocolError(f"unknown message kind {kind!r}")
    contiguous = [np.ascontiguousarray(a) for a in arrays]
    for array in contiguous:
        if array.dtype.name not in _DTYPES:
            raise ProtocolError(f"dtype {array.dtype} cannot travel; use one of {', '.join(sorted(_DTYPES))}")
    body = dict(header or {})
    body["arrays"] = [{"dtype": a.dtype.name, "shape": list(a.shape)} for a in contiguous]
    try:
        text = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ProtocolError(f"{kind} header cannot travel as JSON ({exc})") from None
    if len(text) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {len(text)} bytes exceeds {MAX_HEADER_BYTES}")
    # An empty array travels as an empty frame (a memoryview with a zero in its shape cannot be cast).
    return [VERSION, kind.encode(), text, *(a.data.cast("B") if a.size else b"" for a in contiguous)]


def _declared_bytes(spec: Any) -> tuple[np.dtype, tuple[int, ...], int]:
    if not isinstance(spec, Mapping) or not isinstance(spec.get("dtype"), str) or spec["dtype"] not in _DTYPES:
        raise ProtocolError("array description has no accepted dtype")
    shape = spec.get("shape")
    # type() rather than isinstance(): a bool is an int to Python, never a size on the wire.
    if not isinstance(shape, list) or len(shape) > _MAX_DIMS or not all(type(n) is int and 0 <= n < 2**40 for n in shape):
        raise ProtocolError(f"array shape is not a list of at most {_MAX_DIMS} sizes")
    dtype = np.dtype(spec["dtype"])
    return dtype, tuple(shape), math.prod(shape) * dtype.itemsize


def _header(text: bytes) -> dict[str, Any]:
    try:
        header = parsed_json(text, max_depth=MAX_HEADER_DEPTH, max_int_digits=_MAX_INT_DIGITS)
    except JsonRefused as exc:
        raise ProtocolError(f"header {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("header is not a JSON object")
    return header


def decoded(frames: Sequence[bytes | memoryview], *, max_message_bytes: int = MAX_MESSAGE_BYTES) -> Message:
    """Check and decode received frames; raise ``ProtocolError`` (and nothing else) saying what is wrong with them."""
    if len(frames) < 3:
        raise ProtocolError(f"{len(frames)} frames; a message has at least 3")
    if bytes(frames[0]) != VERSION:
        raise ProtocolError(f"protocol {bytes(frames[0])[:16]!r} is not {VERSION!r}; update latentcut on both sides")
    kind = bytes(frames[1]).decode("ascii", errors="replace")
    if kind not in REQUESTS | ANSWERS:
        raise ProtocolError(f"unknown message kind {kind[:32]!r}")
    if len(frames[2]) > MAX_HEADER_BYTES:
        raise ProtocolError(f"header of {len(frames[2])} bytes exceeds {MAX_HEADER_BYTES}")
    header = _header(bytes(frames[2]))
    specs = header.get("arrays", [])
    if not isinstance(specs, list) or len(specs) != len(frames) - 3:
        raise ProtocolError(f"header describes {len(specs) if isinstance(specs, list) else '?'} arrays, {len(frames) - 3} came")
    declared = [_declared_bytes(spec) for spec in specs]
    if sum(size for _, _, size in declared) > max_message_bytes:
        raise ProtocolError(f"declared arrays exceed the {max_message_bytes}-byte limit")
    arrays = []
    for (dtype, shape, size), frame in zip(declared, frames[3:], strict=True):
        if len(frame) != size:
            raise ProtocolError(f"array declared as {size} bytes ({dtype} {list(shape)}) arrived as {len(frame)}")
        arrays.append(np.frombuffer(frame, dtype=dtype).reshape(shape))
    return Message(kind, header, tuple(arrays))
