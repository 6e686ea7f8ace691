from fractions import Fraction

import pytest

from latentcut.errors import UsageError
from latentcut.timebase import MAX_FPS, MIN_FPS, fps_from_text, fps_text, frames_from_seconds


@pytest.mark.parametrize(
    ("text", "fps"),
    [
        ("25", Fraction(25)),
        ("30000/1001", Fraction(30000, 1001)),
        ("29.97", Fraction(30000, 1001)),
        ("23.976", Fraction(24000, 1001)),
        ("12.5", Fraction(25, 2)),
        (60, Fraction(60)),
    ],
)
def test_fps_parses_ratios_integers_and_ntsc_decimals(text, fps):
    assert fps_from_text(text) == fps


@pytest.mark.parametrize("text", ["0", "-25", "abc", "1/0", "0/0"])
def test_bad_fps_is_a_value_error(text):
    with pytest.raises(ValueError):
        fps_from_text(text)


@pytest.mark.parametrize("text", ["1e18", "1000000000000000000", "1/1e9", "1/999999999", "1e300", "1e999999999", "2001/2"])
def test_rates_no_command_renders_are_refused_in_one_line(text):
    # An exponent is refused as text: Fraction("1e999999999") would compute 10**999999999 first.
    with pytest.raises(UsageError, match="is not a number|is outside what latentcut renders") as caught:
        fps_from_text(text)
    assert "\n" not in str(caught.value)


def test_the_rates_at_the_limits_are_taken():
    assert fps_from_text("1/3600") == MIN_FPS and fps_from_text("1000") == MAX_FPS


def test_fps_text_and_seconds():
    assert fps_text(Fraction(25)) == "25/1"
    assert fps_text(Fraction(30000, 1001)) == "30000/1001"
    assert frames_from_seconds(2.0, Fraction(30000, 1001)) == 60
    assert frames_from_seconds(0.001, Fraction(25)) == 1
