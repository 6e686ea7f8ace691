"""Media facts from one ffprobe run: what MLT reads from a file where the project is silent, cached per file version."""

from __future__ import annotations

import os
import re
from fractions import Fraction

import pytest

from indexclips import write_index_clip
from latentcut.errors import InputError
from latentcut.media import media_facts, mlt_media_length
from latentcut.programs import run_melt


@pytest.mark.parametrize(
    ("clip_fps", "profile_fps"), [(Fraction(24), Fraction(30000, 1001)), (Fraction(30000, 1001), Fraction(25))]
)
@pytest.mark.melt
def test_facts_and_the_length_melt_gives_the_file(tmp_path, clip_fps, profile_fps):
    write_index_clip(tmp_path / "a.mkv", 1, 37, clip_fps, tags={"latent_sidecar": "a.z.npy"})
    facts = media_facts(tmp_path / "a.mkv")
    assert (facts.fps, facts.frames, facts.size) == (clip_fps, 37, (64, 48))
    assert facts.tags["latent_sidecar"] == "a.z.npy"  # Matroska's upper-case key, lower-cased
    profile = tmp_path / "profile"
    profile.write_text(
        f"description=test\nframe_rate_num={profile_fps.numerator}\nframe_rate_den={profile_fps.denominator}\nwidth=64\nheight=48\n"
        "progressive=1\nsample_aspect_num=1\nsample_aspect_den=1\ndisplay_aspect_num=4\ndisplay_aspect_den=3\ncolorspace=709\n"
    )
    xml = run_melt(["melt", "-profile", str(profile), "a.mkv", "-consumer", "xml"], cwd=tmp_path, timeout_s=60, check=True).stdout
    assert mlt_media_length(facts, profile_fps) == int(re.search(r'<property name="length">(\d+)</property>', xml)[1])


def test_a_file_is_probed_once_per_version(tmp_path):
    write_index_clip(tmp_path / "a.mkv", 1, 10, Fraction(25))
    first = media_facts(tmp_path / "a.mkv")
    assert media_facts(tmp_path / "a.mkv") is first
    write_index_clip(tmp_path / "a.mkv", 1, 12, Fraction(25))
    os.utime(tmp_path / "a.mkv", ns=(1, 1))
    assert media_facts(tmp_path / "a.mkv").frames == 12


def test_what_is_not_media_is_one_line_naming_the_file(tmp_path):
    (tmp_path / "junk.mkv").write_text("not a video")
    with pytest.raises(InputError, match=r"junk.mkv: not a readable video \(.*\); replace the file") as raised:
        media_facts(tmp_path / "junk.mkv")
    assert "\n" not in str(raised.value)
    with pytest.raises(InputError, match="gone.mkv: media file not found"):
        media_facts(tmp_path / "gone.mkv")
    with pytest.raises(InputError, match="not a regular file"):
        media_facts(tmp_path)
