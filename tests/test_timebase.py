from fractions import Fraction

import pytest

from latentcut.timebase import fps_from_text, fps_text, frames_from_seconds


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


@pytest.mark.parametrize("text", ["0", "-25", "abc", "1/0"])
def test_bad_fps_is_a_value_error(text):
    with pytest.raises(ValueError):
        fps_from_text(text)


def test_fps_text_and_seconds():
    assert fps_text(Fraction(25)) == "25/1"
    assert fps_text(Fraction(30000, 1001)) == "30000/1001"
    assert frames_from_seconds(2.0, Fraction(30000, 1001)) == 60
    assert frames_from_seconds(0.001, Fraction(25)) == 1
