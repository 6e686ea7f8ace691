"""Lanes: the ``latent_controls`` filter in melt and Kdenlive, and the conform's lanes equal to melt's own evaluation frame by frame.

melt's evaluation is read back from pixels (``lane_probe``): each project is rendered twice over white,
once with every lane filter turned into a ``brightness`` filter whose level is the filter's
``truncation_psi`` and once without; the ratio of the two renders' luma is MLT's value of the lane.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from indexclips import write_index_clip
from lane_probe import TOLERANCE, luma, melt_lane
from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.editor.mlt_module import kdenlive_data_folder, mlt_environment
from latentcut.timeline.mlt_eval import frame_map
from latentcut.timeline.mlt_xml import read_mlt_document
from latentcut.timeline.model import NONE
from resave import kdenlive_resave, needs_kdenlive

EFFECT = kdenlive_data_folder() / "kdenlive" / "effects" / "latent_controls.xml"
TIMEOUT_S = 300
W, H = 32, 16
PROFILE = (
    f'<profile description="lanes" width="{W}" height="{H}" progressive="1" sample_aspect_num="1" sample_aspect_den="1" '
    'display_aspect_num="2" display_aspect_den="1" frame_rate_num="25" frame_rate_den="1" colorspace="709"/>'
)


def _white(producer_id: str, out: int) -> str:
    return (
        f'<producer id="{producer_id}" in="0" out="{out}"><property name="mlt_service">colour</property>'
        '<property name="resource">white</property></producer>'
    )


def _lane(psi: str, attributes: str = "", **others: str) -> str:
    props = "".join(f'<property name="{k}">{v}</property>' for k, v in {"truncation_psi": psi, **others}.items())
    return f'<filter{attributes}><property name="mlt_service">latent_controls</property>{props}</filter>'


def _project(folder: Path, body: str, name: str = "lanes.mlt") -> Path:
    path = folder / name
    path.write_text(f'<mlt LC_NUMERIC="C" version="7.12.0">{PROFILE}{body}</mlt>')
    return path


def conformed(project: Path) -> tuple[np.ndarray, np.ndarray]:
    """The conform's ``truncation_psi`` at every frame, and which frames show a picture."""
    result = frame_map(read_mlt_document(project), lambda ref: None)
    psi = result.lanes.get("truncation_psi", np.ones(result.length))
    return psi, result.source[:, 0] != NONE


def assert_lane_matches_melt(project: Path) -> np.ndarray:
    psi, shown = conformed(project)
    theirs = melt_lane(project, len(psi))
    error = np.where(shown, np.abs(psi - theirs[: len(psi)]), 0.0)
    bad = np.nonzero(error > TOLERANCE)[0]
    assert not len(bad), (
        f"frames {bad[:10].tolist()}: conform {psi[bad[:10]].round(3).tolist()} melt {theirs[bad[:10]].round(3).tolist()}"
    )
    assert shown.sum() >= 10, "the probe compared almost nothing"
    return psi


# ----- the MLT filter itself


def test_melt_lists_the_lane_filter_with_its_animatable_properties(tmp_path):
    query = subprocess.run(
        ["melt", "-query", "filter=latent_controls"], capture_output=True, text=True, timeout=TIMEOUT_S, env=mlt_environment()
    )
    assert "identifier: latent_controls" in query.stdout
    described = etree.parse(str(EFFECT)).getroot()
    for parameter in described.findall("parameter"):
        assert f"identifier: {parameter.get('name')}" in query.stdout, parameter.get("name")
    assert query.stdout.count("animation: yes") == sum(p.get("type") == "animated" for p in described.findall("parameter")) == 7


def test_lane_filters_leave_every_frame_as_it_is(tmp_path):
    write_index_clip(tmp_path / "clip.mkv", 3, 40, Fraction(25))
    clip = '<producer id="c"><property name="mlt_service">avformat</property><property name="resource">clip.mkv</property>{}</producer>'
    lanes = _lane("0=1;30~=0.2", rotate="0=0;20=90") + _lane(
        "0.5", ' in="5" out="20"', amount="0|=1;10=-2", direction="x.attr.npy"
    )
    body = '<playlist id="p"><entry producer="c" in="4" out="33">{}</entry></playlist><tractor id="t"><track producer="p"/>{}</tractor>'
    plain = _project(tmp_path, clip.format("") + body.format("", ""), "plain.mlt")
    laned = _project(tmp_path, clip.format(lanes) + body.format(lanes, lanes), "laned.mlt")
    np.testing.assert_array_equal(luma(laned, 30), luma(plain, 30))


# ----- MLT's animation rules, through melt


def test_a_clip_lane_of_every_key_kind_equals_melts_on_a_trimmed_clip_after_a_blank(tmp_path):
    psi = "0=0.9;00:00:00.480|=0.35;00:00:00.800~=0.8;45~=0.3;55=0.6;-1=0.2"
    body = (
        _white("c", 99)
        + f'<playlist id="p"><blank length="7"/><entry producer="c" in="12" out="81">{_lane(psi)}</entry></playlist>'
    )
    project = _project(tmp_path, body + '<tractor id="t"><track producer="p"/></tractor>')
    values = assert_lane_matches_melt(project)
    assert len(np.unique(values.round(3))) > 30  # the keys move the lane: linear, held, smooth and counted from the end


def test_a_filters_own_in_and_out_limit_it_and_set_where_its_keys_count_from(tmp_path):
    inside = _lane("0=0.3;10=0.9;-1=0.5", ' in="20" out="49"')
    body = (
        _white("c", 99) + f'<playlist id="p"><blank length="3"/><entry producer="c" in="10" out="70">{inside}</entry></playlist>'
    )
    values = assert_lane_matches_melt(_project(tmp_path, body + '<tractor id="t"><track producer="p"/></tractor>'))
    assert values[3] == 1.0 and values[3 + 10] == pytest.approx(0.3) and values[3 + 40] == pytest.approx(1.0)


# Lane filters by where they sit. At most two apply to one frame: each brightness filter of the probe
# floors the luma, so the readback stays within 2/234 of melt's value.
_PLACES = {
    "a chain (a bin clip) and the timeline, counting back from the chain's media": {
        "chain": ["0=0.95;-1=0.6"],
        "timeline": ["0=0.9;-1=1"],
    },
    "two on one clip multiply": {"entry": ["0=1;30|=0.8", "20=0.9;40=1"]},
    "a playlist and a Kdenlive track with its own in and out": {"playlist": ["0~=1;30~=0.7;-1~=0.9"], "track": ["10=1;50=0.6"]},
}


@pytest.mark.parametrize("place", list(_PLACES))
def test_lanes_on_chains_clips_playlists_tracks_and_the_timeline_combine_as_melt_does(tmp_path, place):
    lanes = {
        where: "".join(_lane(text, ' in="5" out="55"' if where == "track" else "") for text in texts)
        for where, texts in _PLACES[place].items()
    }
    chain, entry, playlist, track, timeline = (
        lanes.get(where, "") for where in ("chain", "entry", "playlist", "track", "timeline")
    )
    body = (
        '<chain id="c" in="0" out="79"><property name="mlt_service">colour</property><property name="resource">white</property>'
        f'{chain}</chain><playlist id="p"><blank length="4"/><entry producer="c" in="5" out="64">{entry}</entry>{playlist}</playlist>'
        f'<tractor id="v1"><track producer="p"/>{track}</tractor><tractor id="t"><track producer="v1"/>{timeline}</tractor>'
    )
    values = assert_lane_matches_melt(_project(tmp_path, body))
    assert values.min() < 0.9


def test_a_dissolve_mixes_two_clips_lanes_with_the_pictures_weights(tmp_path):
    clips = _white("a", 99) + _white("b", 99)
    lower = f'<playlist id="l"><entry producer="a" in="0" out="59">{_lane("0=0.4;59=0.5")}</entry></playlist>'
    upper = f'<playlist id="u"><blank length="30"/><entry producer="b" in="10" out="69">{_lane("0=1;-1=0.8")}</entry></playlist>'
    dissolve = (
        '<transition in="30" out="59"><property name="mlt_service">luma</property>'
        '<property name="a_track">0</property><property name="b_track">1</property></transition>'
    )
    project = _project(
        tmp_path, clips + lower + upper + f'<tractor id="t"><track producer="l"/><track producer="u"/>{dissolve}</tractor>'
    )
    values = assert_lane_matches_melt(project)
    assert values[29] == pytest.approx(0.4 + 0.1 * 29 / 59) and values[60] == pytest.approx(1 - 0.2 * 40 / 99)


# ----- Kdenlive


def _kdenlive_project(folder: Path) -> Path:
    """A Kdenlive 22.12 project: a clip trimmed to 12..61 after a 6-frame blank, a lane with keys of all three kinds."""
    write_index_clip(folder / "clip.mkv", 1, 80, Fraction(25))
    project = folder / "edit.kdenlive"
    write_kdenlive_project(project, project_clips([folder / "clip.mkv"], project), tracks=[[(0, 12, 61)]])
    tree = etree.parse(str(project))
    entry = tree.getroot().xpath("//playlist[@id='trV1a']/entry")[0]
    entry.addprevious(etree.Element("blank", length="6"))
    entry.append(
        etree.fromstring(_lane("12=0.95;00:00:01.000|=0.5;00:00:01.400~=0.85;50~=0.4;-10=0.7", kdenlive_id="latent_controls"))
    )
    tree.write(str(project))
    return project


@pytest.mark.kdenlive
@needs_kdenlive
def test_kdenlive_offers_the_effect_keeps_the_lane_and_the_conform_reads_it_as_melt_does(tmp_path):
    project = _kdenlive_project(tmp_path)
    resaved = tmp_path / "resaved.kdenlive"
    result = kdenlive_resave(project, resaved, mlt_environment(), data_dir=kdenlive_data_folder())
    assert result.returncode == 0, result.stderr
    lane = etree.parse(str(resaved)).getroot().xpath("//entry/filter[property[@name='mlt_service']='latent_controls']")
    assert len(lane) == 1
    props = {p.get("name"): p.text or "" for p in lane[0].findall("property")}
    assert props["truncation_psi"] == "12=0.95;00:00:01.000|=0.5;00:00:01.400~=0.85;50~=0.4;-10=0.7"
    # Kdenlive read the description: every lane it was not given is a keyframeable one, keyed at the clip's first frame.
    assert props["rotate"] == props["noise_angle"] == props["amount"] == "12=0" and "direction" in props
    values = assert_lane_matches_melt(resaved)
    np.testing.assert_allclose(values, conformed(project)[0])
