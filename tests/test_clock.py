import math
from fractions import Fraction

import pytest

from latentcut.timeline.clock import frame_range, frames_from_mlt_time

NTSC = Fraction(30000, 1001)


@pytest.mark.parametrize(
    ("text", "fps", "frames"),
    # Values measured with MLT's own bindings (mlt7) at 29.97 fps, and Kdenlive 22.12 files at 25 fps.
    [
        ("00:00:00.967", NTSC, 29),
        ("00:01:00.000", NTSC, 1798),
        ("00:01:00.033", NTSC, 1799),
        ("01:00:00.000", NTSC, 107892),
        ("00:00:00:15", NTSC, 15),
        ("00:01:00:02", NTSC, 1800),
        ("00:00:01.480", Fraction(25), 37),
        ("00:00:00.120", Fraction(25), 3),
        ("00:60:00.000", Fraction(25), 90000),
        ("42", Fraction(25), 42),
        ("12.7", Fraction(25), 12),
        ("-3", Fraction(25), -3),
        ("00:00:02,000", Fraction(25), 50),
    ],
)
def test_mlt_times_parse_as_mlt_does(text, fps, frames):
    assert frames_from_mlt_time(text, fps) == frames


def _mlt_clock(frames: int, fps: Fraction) -> str:
    """MLT's writer (mlt_property.c time_clock_from_frames), as the XML consumer saves times."""
    rate = fps.numerator / fps.denominator
    hours = int(frames / (rate * 3600))
    frames -= math.floor(hours * 3600 * rate)
    minutes = int(frames / (rate * 60))
    frames -= math.floor(minutes * 60 * rate)
    return f"{hours:02d}:{minutes:02d}:{frames / rate:06.3f}"


def test_clock_round_trip_for_every_frame_at_common_rates():
    for fps in (Fraction(24000, 1001), Fraction(25), NTSC, Fraction(50), Fraction(60000, 1001), Fraction(60)):
        for frame in range(0, 120_000, 3):
            assert frames_from_mlt_time(_mlt_clock(frame, fps), fps) == frame, (fps, frame, _mlt_clock(frame, fps))


def test_out_is_inclusive_in_exactly_one_place():
    assert frame_range("10", "14", Fraction(25)).length == 5
    assert frame_range("00:00:00.400", "00:00:02.360", Fraction(25)) == frame_range(10, 59, Fraction(25))


def test_bad_time_is_a_value_error():
    with pytest.raises(ValueError, match="neither a frame count"):
        frames_from_mlt_time("soon", Fraction(25))
