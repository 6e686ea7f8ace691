"""Frame rates as exact rationals: parsing, formatting and frame/second conversion."""

from __future__ import annotations

import re
from fractions import Fraction

from latentcut.errors import UsageError, one_line

__all__ = ["FPS_RANGE", "MAX_FPS", "MIN_FPS", "fps_from_text", "fps_in_range", "fps_text", "frames_from_seconds"]

# The frame rates every latentcut command renders and melt plays as the conform predicts: at 1/10000 melt
# spent two minutes on one frame of a 64x48 clip, and ffmpeg's MOV and MP4 muxers refuse 1/1000000 (at
# 1/3600, one frame an hour, melt and the conform agree frame for frame); above 1000 fps is no video anyone edits.
MIN_FPS = Fraction(1, 3600)
MAX_FPS = Fraction(1000)
_FPS_TEXT = re.compile(r"[0-9]{1,10}(\.[0-9]{1,10})?(/[0-9]{1,10})?")  # no exponent: Fraction("1e999999999") takes minutes
_MAX_TERM = 2**31 - 1  # MLT and ffmpeg keep a frame rate as a ratio of two 32-bit ints
FPS_RANGE = "from 1/3600 (one frame an hour) to 1000 fps, a ratio of whole numbers below 2^31"

# Decimal rates that mean an NTSC rational in practice; 23.976 is never 23976/1000 in video files.
_NTSC_DECIMALS = {
    "23.976": Fraction(24000, 1001),
    "29.97": Fraction(30000, 1001),
    "47.952": Fraction(48000, 1001),
    "59.94": Fraction(60000, 1001),
    "119.88": Fraction(120000, 1001),
}


def fps_from_text(text: str | int | Fraction) -> Fraction:
    """Return the frame rate written as ``"30000/1001"``, ``"25"``, ``"29.97"`` or a number.

    >>> fps_from_text("30000/1001")
    Fraction(30000, 1001)
    """
    if isinstance(text, Fraction):
        fps = text
    elif isinstance(text, int):
        fps = Fraction(text)
    else:
        cleaned = str(text).strip()
        if cleaned in _NTSC_DECIMALS:
            return _NTSC_DECIMALS[cleaned]
        if not _FPS_TEXT.fullmatch(cleaned) or not int(cleaned.partition("/")[2] or 1):
            raise UsageError(f"frame rate {one_line(cleaned, 40)!r} is not a number or a ratio like 30000/1001")
        fps = Fraction(cleaned)
    if not fps_in_range(fps):
        raise UsageError(f"frame rate {one_line(text, 40)!r} is outside what latentcut renders ({FPS_RANGE})")
    return fps


def fps_in_range(fps: Fraction) -> bool:
    """Whether ``fps`` is a rate latentcut renders and melt plays (``FPS_RANGE``)."""
    return MIN_FPS <= fps <= MAX_FPS and max(fps.numerator, fps.denominator) <= _MAX_TERM


def fps_text(fps: Fraction) -> str:
    """Return the frame rate as ``"num/den"`` (``"25/1"`` for whole rates), the form sidecars store."""
    return f"{fps.numerator}/{fps.denominator}"


def frames_from_seconds(seconds: float, fps: Fraction) -> int:
    """Return the whole number of frames closest to ``seconds`` at ``fps`` (at least 1)."""
    return max(1, round(Fraction(seconds).limit_denominator(1_000_000) * fps))
