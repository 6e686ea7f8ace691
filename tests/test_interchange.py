"""EDL, FCP 7 XML and .otio timelines conform to the same frames as their MLT equivalents and as the files say."""

from __future__ import annotations

import json
import re
import shutil
import urllib.parse
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
from lxml import etree

from indexclips import melt_frames, mismatches, write_index_clip
from latentcut.conform.project import conform_project, project_frame_map
from latentcut.errors import ProjectError
from latentcut.latent.sidecar import save_sequence

DATA = Path(__file__).parent / "data"

EDL = """TITLE: latent cut
FCM: NON-DROP FRAME

001  AX       V     C        00:00:00:10 00:00:01:10 00:00:00:00 00:00:01:00
* FROM CLIP NAME: a.mkv

002  AX       V     C        00:00:01:10 00:00:01:10 00:00:01:00 00:00:01:00
* FROM CLIP NAME: a.mkv
002  AX       V     D    010 00:00:00:05 00:00:01:05 00:00:01:00 00:00:02:00
* FROM CLIP NAME: b.mkv
* TO CLIP NAME: b.mkv

003  AX       V     C        00:00:01:00 00:00:02:00 00:00:02:00 00:00:02:12
M2   AX       050.0                      00:00:01:00
* FROM CLIP NAME: a.mkv
"""


def _index_sidecar(path: Path, clip_id: int, frames: int, fps: Fraction) -> None:
    latents = np.zeros((frames, 4), np.float32)
    latents[:, 0], latents[:, 1] = clip_id, np.arange(frames)
    save_sequence(path, latents, fps=fps)


def _named_terms(frame_map) -> list[tuple]:
    names = [ref.resource.name for ref in frame_map.sources]
    rows = []
    for i in range(frame_map.length):
        rows.append(
            tuple(
                (names[s] if s >= 0 else int(s), int(f), round(float(w), 4))
                for s, f, w in zip(frame_map.source[i], frame_map.frame[i], frame_map.weight[i], strict=True)
                if s != -1
            )
        )
    return rows


def test_edl_cuts_dissolve_and_speed(tmp_path):
    (tmp_path / "cut.edl").write_text(EDL)
    _index_sidecar(tmp_path / "a.z.npy", 1, 100, Fraction(25))
    _index_sidecar(tmp_path / "b.z.npy", 2, 100, Fraction(25))
    result = conform_project(tmp_path / "cut.edl", tmp_path / "cut.z.npy", fps=Fraction(25), blend="lerp")
    terms = _named_terms(result.frame_map)
    assert len(terms) == 62
    assert terms[:25] == [(("a.mkv", 10 + t, 1.0),) for t in range(25)]
    for k in range(10):  # the dissolve: a plays on past its cut while b fades in over 10 frames
        assert terms[25 + k] == (("a.mkv", 35 + k, round(1 - k / 10, 4)), ("b.mkv", 5 + k, round(k / 10, 4)))
    assert terms[35:50] == [(("b.mkv", 15 + k, 1.0),) for k in range(15)]
    assert terms[50:] == [(("a.mkv", 25 + 2 * k, 1.0),) for k in range(12)]  # M2 50 fps at 25: twice the speed
    cut = np.load(tmp_path / "cut.z.npy")
    np.testing.assert_allclose(cut[27, :2], 0.8 * np.array([1, 37]) + 0.2 * np.array([2, 7]), rtol=1e-6)


def _otio_timeline(folder: Path) -> otio.schema.Timeline:
    rate = 25

    def clip(name: str, first: int, count: int, *, enabled: bool = True, speed: float = 1.0) -> otio.schema.Clip:
        item = otio.schema.Clip(
            name=name,
            media_reference=otio.schema.ExternalReference(target_url=(folder / name).as_uri()),
            source_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(first, rate), otio.opentime.RationalTime(count, rate)
            ),
        )
        item.enabled = enabled
        if speed != 1.0:
            item.effects.append(otio.schema.LinearTimeWarp(time_scalar=speed))
        return item

    gap = lambda count: otio.schema.Gap(source_range=otio.opentime.TimeRange(duration=otio.opentime.RationalTime(count, rate)))  # noqa: E731
    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    v1.extend([clip("a.mkv", 10, 40), gap(8), clip("b.mkv", 3, 30), clip("a.mkv", 0, 20, speed=2.0)])
    v2 = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
    v2.extend([gap(20), clip("b.mkv", 60, 15), clip("a.mkv", 50, 10, enabled=False)])
    timeline = otio.schema.Timeline(name="t", global_start_time=otio.opentime.RationalTime(0, rate))
    timeline.tracks.extend([v1, v2])
    return timeline


TWIN = """<mlt><profile width="64" height="48" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="4" display_aspect_den="3" frame_rate_num="25" frame_rate_den="1"/>
<producer id="black_track" out="999"><property name="length">1000</property><property name="resource">black</property><property name="mlt_service">color</property></producer>
<producer id="a" out="99"><property name="length">100</property><property name="resource">a.mkv</property><property name="mlt_service">avformat</property></producer>
<producer id="b" out="99"><property name="length">100</property><property name="resource">b.mkv</property><property name="mlt_service">avformat</property></producer>
<producer id="a2" out="49"><property name="length">50</property><property name="resource">2:a.mkv</property><property name="warp_speed">2</property><property name="warp_resource">a.mkv</property><property name="mlt_service">timewarp</property></producer>
<producer id="aoff" out="99"><property name="length">100</property><property name="resource">a.mkv</property><property name="mlt_service">avformat</property><property name="set.test_image">1</property></producer>
<playlist id="v1"><entry producer="a" in="10" out="49"/><blank length="8"/><entry producer="b" in="3" out="32"/><entry producer="a2" in="0" out="19"/></playlist>
<playlist id="v2"><blank length="20"/><entry producer="b" in="60" out="74"/><entry producer="aoff" in="50" out="59"/></playlist>
<tractor id="main"><track producer="black_track"/><track producer="v1"/><track producer="v2"/></tractor></mlt>"""


@pytest.mark.melt
def test_otio_timeline_conforms_like_its_mlt_twin_and_melt(tmp_path):
    pixels = {
        str(tmp_path / "a.mkv"): write_index_clip(tmp_path / "a.mkv", 1, 100, Fraction(25)),
        str(tmp_path / "b.mkv"): write_index_clip(tmp_path / "b.mkv", 2, 100, Fraction(25)),
    }
    otio.adapters.write_to_file(_otio_timeline(tmp_path), str(tmp_path / "edit.otio"))
    (tmp_path / "twin.mlt").write_text(TWIN)
    from_otio, _, _ = project_frame_map(tmp_path / "edit.otio")
    from_mlt, _, _ = project_frame_map(tmp_path / "twin.mlt")
    assert _named_terms(from_otio) == _named_terms(from_mlt)[: from_otio.length]
    assert from_otio.length == 98
    assert not mismatches(from_otio, pixels, melt_frames(tmp_path / "twin.mlt", from_otio.length))


def _fcp_expectation(xml: Path) -> dict[int, tuple[str, int]]:
    """What the FCP XML's first video track shows at each frame, read straight from the XML (not through OTIO)."""
    root = etree.parse(str(xml)).getroot()
    files = {f.get("id"): f.findtext("pathurl") for f in root.iter("file") if f.findtext("pathurl")}
    track = root.find(".//sequence/media/video/track")
    expected = {}
    for item in track.findall("clipitem"):
        if (item.findtext("enabled") or "TRUE").upper() == "FALSE":
            continue
        start, end, first = int(item.findtext("start")), int(item.findtext("end")), int(item.findtext("in"))
        url = files[item.find("file").get("id")]
        name = Path(urllib.parse.unquote(url).replace("\\", "/")).name
        speed = 1.0
        for effect in item.iter("effect"):
            if effect.findtext("effectid") == "timeremap":
                speed = (
                    float(next(p.findtext("value") for p in effect.iter("parameter") if p.findtext("parameterid") == "speed"))
                    / 100
                )
        for t in range(start, end):
            expected[t] = (name, int(np.floor((first + t - start) * speed + 0.5)))
    return expected


def test_fcp7_xml_sample_every_frame_as_the_xml_says(tmp_path):
    source = DATA / "otio-adapter/kdenlive_example_from_fcp.xml"
    project = tmp_path / source.name
    shutil.copy(source, project)
    names = {
        Path(urllib.parse.unquote(u).replace("\\", "/")).name
        for u in re.findall(r"<pathurl>([^<]+)</pathurl>", source.read_text())
    }
    for number, name in enumerate(sorted(names), start=1):
        _index_sidecar(tmp_path / (Path(name).stem + ".z.npy"), number, 200_000, Fraction(30000, 1001))
    frame_map, _, _ = project_frame_map(project)
    assert frame_map.fps == Fraction(30000, 1001) and frame_map.length == 28982
    expected = _fcp_expectation(project)
    names_by_index = [ref.resource.name for ref in frame_map.sources]
    seen = {
        t: (names_by_index[frame_map.source[t, 0]], int(frame_map.frame[t, 0]))
        for t in range(frame_map.length)
        if frame_map.source[t, 0] >= 0
    }
    assert seen == expected
    fast = next(p for p in frame_map.placements if p.speed != 1.0)
    after = next(p for p in frame_map.placements if p.timeline_start == fast.timeline_end_exclusive)
    assert fast.speed == pytest.approx(5.00012) and after.source_first == fast.source_last + 1  # the edit runs on seamlessly


def test_unreadable_interchange_files_are_project_errors(tmp_path):
    (tmp_path / "bad.otio").write_text("{ not json")
    with pytest.raises(ProjectError, match="bad.otio: cannot read it as otio_json"):
        project_frame_map(tmp_path / "bad.otio")
    (tmp_path / "x.aaf").write_text("")
    with pytest.raises(ProjectError, match="unknown project type"):
        project_frame_map(tmp_path / "x.aaf")


@pytest.mark.parametrize(("name", "adapter"), [("edit.fcpxml", "fcpx_xml"), ("edit.xml", "fcp_xml")])
def test_fcpx_and_fcp7_written_by_otio_conform_like_the_otio_file(tmp_path, name, adapter):
    _index_sidecar(tmp_path / "a.z.npy", 1, 100, Fraction(25))
    _index_sidecar(tmp_path / "b.z.npy", 2, 100, Fraction(25))
    timeline = _otio_timeline(tmp_path)
    for track in timeline.video_tracks():
        for item in [i for i in track if isinstance(i, otio.schema.Clip) and not i.enabled]:
            track.remove(item)  # the FCP writers drop "enabled": a disabled clip would come back enabled
        for item in track:
            if isinstance(item, otio.schema.Clip):
                item.effects[:] = []  # nor do they write speed (the FCP 7 sample test covers speed)
    for clip in timeline.find_clips():
        clip.media_reference.available_range = otio.opentime.TimeRange(
            otio.opentime.RationalTime(0, 25), otio.opentime.RationalTime(100, 25)
        )
    otio.adapters.write_to_file(timeline, str(tmp_path / "edit.otio"))
    otio.adapters.write_to_file(timeline, str(tmp_path / name), adapter_name=adapter)
    reference, _, _ = project_frame_map(tmp_path / "edit.otio")
    other, _, _ = project_frame_map(tmp_path / name)
    assert _named_terms(other) == _named_terms(reference) and reference.length == 98


# ----- hostile timelines (issue 21): one line, exit 1, before anything is parsed or allocated


@pytest.mark.parametrize("depth", [100_000, 401])
def test_an_otio_nested_past_any_editor_is_refused_before_it_is_parsed(tmp_path, run_cli, depth):
    timeline = json.loads(otio.adapters.write_to_string(_otio_timeline(tmp_path), "otio_json"))
    timeline["metadata"] = {"x": "PLACE"}
    nested = json.dumps(timeline).replace('"PLACE"', "[" * depth + "]" * depth)
    (tmp_path / "deep.otio").write_text(nested)  # 200 KB at 100,000 levels: OpenTimelineIO crashed with SIGSEGV
    result = run_cli("conform", "deep.otio", "-o", "out.z.npy", timeout_s=60)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "latentcut: error: deep.otio: nests deeper than 400 levels, past any timeline an editor writes; export it again"
    ], result.stderr
    assert not (tmp_path / "out.z.npy").exists()


def _hostile_otio(folder: Path, change: str) -> Path:
    for number, name in enumerate(("a", "b"), start=1):
        _index_sidecar(folder / f"{name}.z.npy", number, 100, Fraction(25))
    timeline = _otio_timeline(folder)
    v1 = timeline.tracks[0]
    if change == "rate 0":
        v1[0].source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(10, 0), otio.opentime.RationalTime(40, 0))
    elif change.startswith("speed"):
        v1[0].effects.append(otio.schema.LinearTimeWarp(time_scalar=float(change.split()[1])))
    elif change == "dissolve past any timeline":
        v1.insert(
            1,
            otio.schema.Transition(in_offset=otio.opentime.RationalTime(0, 25), out_offset=otio.opentime.RationalTime(1e12, 25)),
        )
    else:
        timeline.global_start_time = otio.opentime.RationalTime(0, float(change.split()[1]))
    path = folder / "edit.otio"
    otio.adapters.write_to_file(timeline, str(path))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("rate 0", r"clip 'a.mkv' in track 'V1' has the time 10 at rate 0; a rate must be above 0"),
        ("speed 1e30", r"clip 'a.mkv' plays at speed 1e\+30; latentcut reads speeds up to 1000x"),
        ("speed -1001", r"clip 'a.mkv' plays at speed -1001; latentcut reads speeds up to 1000x"),
        ("dissolve past any timeline", r"transition '' in track 'V1' has the time 1e\+12 at rate 25"),
        ("timeline 1e18", r"the timeline's frame rate 1e\+18 is not one latentcut renders"),
        ("timeline 1e-09", r"the timeline's frame rate 1e-09 is not one latentcut renders"),
    ],
)
def test_otio_times_and_speeds_no_timeline_has_are_one_line(tmp_path, change, message):
    project = _hostile_otio(tmp_path, change)
    with pytest.raises(ProjectError, match=f"^{re.escape(str(project))}: {message}") as caught:
        project_frame_map(project)
    assert "\n" not in str(caught.value)
