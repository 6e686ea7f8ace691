"""Frame rates as exact rationals: parsing, formatting and frame/second conversion."""

from __future__ import annotations

from fractions import Fraction

from latentcut.errors import UsageError

__all__ = ["fps_from_text", "fps_text", "frames_from_seconds"]

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
        try:
            fps = Fraction(cleaned)
        except (ValueError, ZeroDivisionError) as exc:
            raise UsageError(f"frame rate {text!r} is not a number or a ratio like 30000/1001") from exc
    if fps <= 0:
        raise UsageError(f"frame rate {text!r} must be positive")
    return fps


def fps_text(fps: Fraction) -> str:
    """Return the frame rate as ``"num/den"`` (``"25/1"`` for whole rates), the form sidecars store."""
    return f"{fps.numerator}/{fps.denominator}"


def frames_from_seconds(seconds: float, fps: Fraction) -> int:
    """Return the whole number of frames closest to ``seconds`` at ``fps`` (at least 1)."""
    return max(1, round(Fraction(seconds).limit_denominator(1_000_000) * fps))
