import math
from fractions import Fraction

import numpy as np
import pytest

from latentcut.timeline.clock import animation_keys, frame_range, frames_from_mlt_time, keyframes_from_anim, values_at

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


def test_keyframes_linear_discrete_smooth_and_relative_to_end():
    keys = keyframes_from_anim("00:00:00.000=0;00:00:00.360=1", Fraction(25))
    np.testing.assert_allclose(values_at(keys, np.arange(11)), [k / 9 for k in range(10)] + [1.0])
    held = keyframes_from_anim("0|=2;10|=5", Fraction(25))
    assert values_at(held, np.array([0, 9, 10, 20])).tolist() == [2, 2, 5, 5]
    smooth = keyframes_from_anim("0~=0;10~=1;20~=0", Fraction(25))
    assert values_at(smooth, np.array([10]))[0] == pytest.approx(1.0) and 0 < values_at(smooth, np.array([5]))[0] < 1
    tail = keyframes_from_anim("0=1;-1=0", Fraction(25), length=11)
    assert tail[-1].frame == 10
    assert values_at(keyframes_from_anim("0.5", Fraction(25)), np.array([3]))[0] == 0.5


def test_animation_items_are_split_as_mlt_animation_parse_splits_them():
    # MLT never resets the mode between items: a key without "=" is at frame 0 and keeps the mode before it,
    # discrete for the first, so Kdenlive's old "0%/0%:100%x100%:0;-1=..." wipe holds 0 until its last frame.
    old = animation_keys("0%/0%:100%x100%:0;-1=0%/0%:100%x100%:100")
    assert [(k.time, k.value, k.mode) for k in old] == [
        ("", "0%/0%:100%x100%:0", "discrete"),
        ("-1", "0%/0%:100%x100%:100", "linear"),
    ]
    modes = animation_keys("0=1;5|=2;00:00:00.400!=3;12~=4;20=5 6=7")
    assert [(k.time, k.mode) for k in modes] == [
        ("0", "linear"),
        ("5", "discrete"),
        ("00:00:00.400", "discrete"),
        ("12", "smooth"),
        ("20", "linear"),
    ]
    assert modes[-1].value == "5 6=7"  # the first "=" splits, as strchr does
    held = keyframes_from_anim("0;-1=1", Fraction(25), length=11)
    np.testing.assert_array_equal(values_at(held, np.array([0, 5, 9, 10])), [0, 0, 0, 1])
