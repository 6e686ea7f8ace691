"""MLT keyframe animations: parsing as both MLT generations read type characters, and values equal to MLT's own C code.

The installed melt (7.12) proves linear, discrete and smooth keys through pixels (tests/test_lanes.py);
the easing and centripetal types of MLT >= 7.22 are checked against values that MLT's own framework,
built from a source checkout, computed (tests/tools/mlt-animation-reference wrote the file).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from latentcut.timeline.animation import animation_keys, keyframes_from_anim, mlt_version_tuple, values_at

REFERENCE = Path(__file__).parent / "data" / "mlt-animation" / "reference.json"
FPS = Fraction(25)


def test_keyframes_linear_discrete_smooth_and_relative_to_end():
    keys = keyframes_from_anim("00:00:00.000=0;00:00:00.360=1", FPS)
    np.testing.assert_allclose(values_at(keys, np.arange(11)), [k / 9 for k in range(10)] + [1.0])
    held = keyframes_from_anim("0|=2;10!=5;20=1", FPS)
    assert values_at(held, np.array([0, 9, 10, 19, 25])).tolist() == [2, 2, 5, 5, 1]
    smooth = keyframes_from_anim("0~=0;10~=1;20~=0", FPS)
    assert values_at(smooth, np.array([10]))[0] == pytest.approx(1.0) and 0 < values_at(smooth, np.array([5]))[0] < 1
    tail = keyframes_from_anim("0=1;-1=0", FPS, length=11)
    assert tail[-1].frame == 10
    assert values_at(keyframes_from_anim("0.5", FPS), np.array([3]))[0] == 0.5


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
    held = keyframes_from_anim("0;-1=1", FPS, length=11)
    np.testing.assert_array_equal(values_at(held, np.array([0, 5, 9, 10])), [0, 0, 0, 1])


def test_type_characters_mean_what_the_documents_mlt_reads():
    text = "0a=0;10=1"
    assert keyframes_from_anim(text, FPS, mlt_version=(7, 12))[0].mode == "linear"
    assert keyframes_from_anim(text, FPS, mlt_version=(7, 22))[0].mode == "sinusoidal_in"
    assert keyframes_from_anim(text, FPS)[0].mode == "sinusoidal_in"
    assert keyframes_from_anim("0$=0;00:00:01.000-=1;2D=3", FPS)[0].mode == "smooth_natural"
    assert [k.mode for k in keyframes_from_anim("0$=0;00:00:01.000-=1;-2D=3", FPS, 40)] == [
        "smooth_natural",
        "smooth_tight",
        "bounce_in_out",
    ]
    assert mlt_version_tuple("7.12.0") == (7, 12) and mlt_version_tuple("") is None


def test_negative_keys_without_a_length_count_from_the_last_key_so_far_and_later_keys_win():
    keys = keyframes_from_anim('0=1;30=2;-10=3;30="4"', FPS)
    assert [(k.frame, k.value) for k in keys] == [(0, 1.0), (20, 3.0), (30, 4.0)]
    with pytest.raises(ValueError, match="not a number"):
        keyframes_from_anim("0=bright", FPS)


@pytest.mark.parametrize("case", json.loads(REFERENCE.read_text())["cases"], ids=lambda case: case["animation"][:24])
def test_values_equal_mlts_own_for_every_keyframe_type(case):
    keys = keyframes_from_anim(case["animation"], FPS, case["length"])
    positions = np.arange(case["first"], case["first"] + len(case["values"]))
    np.testing.assert_allclose(values_at(keys, positions), case["values"], rtol=0, atol=1e-9)
