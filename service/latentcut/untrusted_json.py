"""JSON from outside latentcut (a sidecar, a wire header, a web request, an ``.otio`` file), read within stated limits.

Python's parser recurses once per level of nesting (and a C++ parser can crash the process), turns a
5,000-digit number into a ``ValueError`` from the int limit, and accepts ``NaN`` and ``1e999`` as
floats. So the nesting depth is measured before anything is parsed, integers longer than a stated
number of digits and floats beyond a double's range are refused as they are read, and the result is
a plain value or a ``JsonRefused`` whose text is one short reason (the caller names the file).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

__all__ = ["JsonRefused", "json_depth", "parsed_json"]

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1


class JsonRefused(ValueError):
    """JSON text that is malformed or past a limit; the message is one short line."""


def json_depth(text: bytes) -> int:
    """The deepest nesting of lists and objects in ``text``, counted without parsing (brackets in strings do not count)."""
    steps = _STEP[np.frombuffer(_STRING.sub(b'""', text), np.uint8)]
    return int(np.cumsum(steps, dtype=np.int64).max(initial=0))


def parsed_json(text: bytes | str, *, max_depth: int, max_int_digits: int = 20) -> Any:
    """Return the value of the JSON ``text``; raise ``JsonRefused`` if it is malformed, nests deeper than ``max_depth``,
    or holds an integer of more than ``max_int_digits`` digits, ``NaN``, ``Infinity`` or a float past a double's range.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if json_depth(raw) > max_depth:
        raise JsonRefused(f"nests deeper than {max_depth} levels")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > max_int_digits:
            raise JsonRefused(f"holds an integer of {len(digits.lstrip('-'))} digits, more than {max_int_digits}")
        return int(digits)

    def real(digits: str) -> float:
        value = float(digits)
        if not math.isfinite(value):
            raise JsonRefused(f"holds {digits[:40]}, which overflows a float")
        return value

    def constant(name: str) -> float:
        raise JsonRefused(f"holds {name}, which is not JSON")

    try:
        return json.loads(raw.decode("utf-8"), parse_int=integer, parse_float=real, parse_constant=constant)
    except JsonRefused:
        raise
    except UnicodeDecodeError as exc:
        raise JsonRefused(f"is not JSON (not UTF-8 text at byte {exc.start})") from None
    except ValueError as exc:  # JSONDecodeError: the parser's own one-line reason and position
        raise JsonRefused(f"is not JSON ({str(exc)[:120]})") from None
    except RecursionError:  # only where max_depth is above what the interpreter's stack allows
        raise JsonRefused(f"nests deeper than {max_depth} levels") from None
