"""The conform's frame map against what the real melt renders, frame by frame, on real and hand-built projects."""

from __future__ import annotations

import re
import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from indexclips import blend_shares, block_centres, melt_frames, mismatches, swap_media, write_index_clip
from latentcut.conform.explain import explanation
from latentcut.conform.project import conform_project, project_frame_map
from latentcut.errors import ProjectError
from latentcut.latent.sidecar import BareSequenceWarning
from latentcut.timeline.mlt_xml import Tractor, read_mlt_document
from latentcut.timeline.model import MAX_TIMELINE_FRAMES, NoteKind
from mutations import mutated

pytestmark = pytest.mark.melt  # what MLT renders is the truth: most tests here render with melt

DATA = Path(__file__).parent / "data"
REAL_PROJECTS = [
    "kdenlive-22.12/handmade.kdenlive",
    "kdenlive-22.12/handmade_resaved.kdenlive",
    "kdenlive-22.12/ui_proxy.kdenlive",
    "kdenlive-22.12/ui_compositions.kdenlive",
    "kdenlive-22.12/ui_mixes.kdenlive",
    "kdenlive-22.12/proxy_props_resaved.kdenlive",
    "kdenlive-22.12/missing_media_resaved.kdenlive",
    "kdenlive-22.12/plain_melt.mlt",
    "kdenlive-tests/test-mix.kdenlive",
    "kdenlive-tests/test-nesting.kdenlive",
    "kdenlive-tests/clip-ids.kdenlive",
    "kdenlive-tests/missing-proxy.kdenlive",
    "otio-adapter/kdenlive_example_v191180.kdenlive",
    "otio-adapter/kdenlive_example_v221170.kdenlive",
    "otio-adapter/kdenlive_example_v240770.kdenlive",
    "otio-adapter/kdenlive_mixes_markers.kdenlive",
]


def _agrees_with_melt(project: Path, pixels: dict[str, np.ndarray], *, qt: bool = False) -> object:
    frame_map, _, _ = project_frame_map(project)
    rendered = melt_frames(project, frame_map.length, qt=qt)
    problems = mismatches(frame_map, pixels, rendered)
    assert not problems, f"{project.name}: conform and melt disagree:\n" + "\n".join(problems)
    compared = int((~frame_map.pixel_only).sum())
    assert compared >= 0.75 * frame_map.length, f"only {compared} of {frame_map.length} frames could be compared"
    return frame_map


@pytest.mark.parametrize("name", REAL_PROJECTS, ids=lambda n: Path(n).stem)
def test_real_projects_agree_with_melt_on_every_frame(name, tmp_path):
    project, pixels = swap_media(DATA / name, tmp_path)
    frame_map = _agrees_with_melt(project, pixels)
    assert frame_map.sources, "the project played no latent clip: nothing was tested"


def test_handmade_project_covers_its_rules(tmp_path):
    project, pixels = swap_media(DATA / "kdenlive-22.12/handmade.kdenlive", tmp_path)
    frame_map = _agrees_with_melt(project, pixels)
    speeds = {p.speed for p in frame_map.placements}
    assert {0.5, 2.0, -1.0} <= speeds
    assert frame_map.source.shape[1] == 2 and (frame_map.weight[:, 1] > 0).sum() >= 30  # mix and dissolve frames blend
    assert (frame_map.source[:, 0] == -2).any()  # gaps show the black track
    hidden_track_clip = [p for p in frame_map.placements if p.producer_id == "v3A"]
    assert not hidden_track_clip


PROFILE = '<profile width="64" height="48" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="4" display_aspect_den="3" frame_rate_num="{num}" frame_rate_den="{den}" colorspace="709"/>'


def _project(tmp_path: Path, body: str, fps: Fraction = Fraction(25)) -> Path:
    path = tmp_path / "case.mlt"
    path.write_text(
        f'<?xml version="1.0"?>\n<mlt LC_NUMERIC="C">\n{PROFILE.format(num=fps.numerator, den=fps.denominator)}\n{body}\n</mlt>\n'
    )
    return path


def _clips(tmp_path: Path, specs: dict[str, tuple[int, Fraction]]) -> dict[str, np.ndarray]:
    pixels = {}
    for clip_id, (name, (frames, fps)) in enumerate(specs.items(), start=1):
        pixels[str(tmp_path / name)] = write_index_clip(tmp_path / name, clip_id, frames, fps)
    return pixels


def _producer(pid: str, resource: str, length: int, extra: str = "", service: str = "avformat") -> str:
    return (
        f'<producer id="{pid}" in="0" out="{length - 1}"><property name="length">{length}</property>'
        f'<property name="resource">{resource}</property><property name="mlt_service">{service}</property>{extra}</producer>'
    )


@pytest.mark.parametrize("speed", [0.3, 0.75, 1.5, -0.5, -2.0])
@pytest.mark.parametrize("source_fps", [25, 30])
def test_timewarp_speeds_and_reverse(tmp_path, speed, source_fps):
    pixels = _clips(tmp_path, {"a.mkv": (120, Fraction(source_fps))})
    length = int(120 * 25 / source_fps / abs(speed))
    warp = _producer(
        "w",
        f"{speed}:a.mkv",
        length,
        f'<property name="warp_speed">{speed}</property><property name="warp_resource">a.mkv</property>',
        "timewarp",
    )
    body = f'{warp}<playlist id="v1"><blank length="3"/><entry producer="w" in="2" out="{length - 3}"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    _agrees_with_melt(_project(tmp_path, body), pixels)


@pytest.mark.parametrize(
    ("profile_fps", "source_fps"),
    [
        (Fraction(30000, 1001), Fraction(25)),
        (Fraction(30000, 1001), Fraction(24)),
        (Fraction(25), Fraction(30000, 1001)),
        (Fraction(24), Fraction(50)),
        (Fraction(60), Fraction(25)),
    ],
)
def test_clip_fps_differs_from_the_project(tmp_path, profile_fps, source_fps):
    pixels = _clips(tmp_path, {"a.mkv": (200, source_fps)})
    body = (
        _producer("p", "a.mkv", 100) + '<playlist id="v1"><entry producer="p" in="00:00:00.400" out="00:00:03.000"/>'
        '<entry producer="p" in="7" out="60"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    _agrees_with_melt(_project(tmp_path, body, profile_fps), pixels)


def test_same_track_mix_reversed_and_track_dissolve_reversed(tmp_path):
    pixels = _clips(tmp_path, {"a.mkv": (100, Fraction(25)), "b.mkv": (100, Fraction(25))})
    body = (
        _producer("a", "a.mkv", 100)
        + _producer("b", "b.mkv", 100)
        + '<playlist id="l0"><blank length="30"/><entry producer="a" in="10" out="70"/></playlist>'
        '<playlist id="l1"><entry producer="b" in="0" out="44"/></playlist>'
        '<tractor id="track1"><track producer="l0"/><track producer="l1"/>'
        '<transition in="30" out="44"><property name="a_track">0</property><property name="b_track">1</property>'
        '<property name="mlt_service">luma</property><property name="reverse">1</property></transition></tractor>'
        '<playlist id="v2"><blank length="60"/><entry producer="b" in="50" out="89"/></playlist>'
        '<tractor id="main"><track producer="track1"/><track producer="v2"/>'
        '<transition in="60" out="72"><property name="a_track">0</property><property name="b_track">1</property>'
        '<property name="mlt_service">luma</property><property name="reverse">1</property></transition></tractor>'
    )
    frame_map = _agrees_with_melt(_project(tmp_path, body), pixels)
    assert (frame_map.weight[:, 1] > 0).sum() >= 20


@pytest.mark.parametrize("mode", ["level", "alpha"])
def test_fades_to_and_from_black(tmp_path, mode):
    pixels = _clips(tmp_path, {"a.mkv": (100, Fraction(25))})
    ramp_in = "00:00:00.000=0;00:00:00.360=1"
    ramp_out = "00:00:00.000=1;00:00:00.480=0"
    fade_in = (
        f'<filter in="10" out="19"><property name="mlt_service">brightness</property><property name="kdenlive_id">fade_from_black</property>'
        f'<property name="{mode}">{ramp_in}</property></filter>'
    )
    fade_out = (
        f'<filter in="48" out="60"><property name="mlt_service">brightness</property><property name="kdenlive_id">fade_to_black</property>'
        f'<property name="{mode}">{ramp_out}</property></filter>'
    )
    body = (
        _producer("black_track", "black", 500, service="color")
        + _producer("a", "a.mkv", 100)
        + f'<playlist id="v1"><entry producer="a" in="10" out="60">{fade_in}{fade_out}</entry></playlist>'
        '<tractor id="t"><track producer="black_track"/><track producer="v1"/>'
        '<transition><property name="a_track">0</property><property name="b_track">1</property>'
        '<property name="mlt_service">composite</property><property name="always_active">1</property>'
        '<property name="internal_added">237</property></transition></tractor>'
    )
    frame_map = _agrees_with_melt(_project(tmp_path, body), pixels)
    faded = (frame_map.source == -2) & (frame_map.weight > 0)
    assert faded.any(axis=1).sum() >= 18


def test_time_remap_chain(tmp_path):
    pixels = _clips(tmp_path, {"a.mkv": (150, Fraction(30))})
    remap = (
        '<chain id="c" out="59"><property name="length">60</property><property name="resource">a.mkv</property>'
        '<property name="mlt_service">avformat-novalidate</property>'
        '<link><property name="mlt_service">timeremap</property><property name="image_mode">nearest</property>'
        '<property name="map">00:00:00.000=0;00:00:01.000=3;00:00:02.400=1.2</property></link></chain>'
        '<chain id="bare" out="39"><property name="length">40</property><property name="resource">a.mkv</property>'
        '<property name="mlt_service">avformat-novalidate</property><link><property name="mlt_service">timeremap</property></link></chain>'
    )
    body = (
        remap
        + '<playlist id="v1"><entry producer="c" in="0" out="59"/><entry producer="bare" in="5" out="39"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    _agrees_with_melt(_project(tmp_path, body), pixels)


def test_shotcut_style_multitrack_and_plain_playlists(tmp_path):
    pixels = _clips(tmp_path, {"a.mkv": (80, Fraction(25)), "b.mkv": (80, Fraction(25))})
    body = (
        _producer("a", "a.mkv", 80)
        + _producer("b", "b.mkv", 80)
        + '<playlist id="p0"><entry producer="a" in="0" out="49"/></playlist>'
        '<playlist id="p1"><blank length="20"/><entry producer="b" in="3" out="22"/><blank length="5"/><entry producer="b" in="40" out="49"/></playlist>'
        '<playlist id="p2"><entry producer="a" in="60" out="79"/></playlist>'
        '<tractor id="t"><multitrack><track producer="p0"/><track producer="p1"/><track producer="p2" hide="video"/></multitrack></tractor>'
    )
    _agrees_with_melt(_project(tmp_path, body), pixels)


@pytest.mark.parametrize("name", ["Sequence 1", "Sequence 2", "Sequence 3"])
def test_kdenlive_11_sequence_chosen_by_name_agrees_with_melt_playing_it(tmp_path, name):
    project, pixels = swap_media(DATA / "kdenlive-tests/test-nesting.kdenlive", tmp_path)
    chosen, _, _ = project_frame_map(project, sequence=name)
    assert chosen.sources and chosen.length > 0
    uuid = next(
        s.props["kdenlive:uuid"]
        for s in read_mlt_document(project).services.values()
        if isinstance(s, Tractor) and s.props.get("kdenlive:clipname") == name
    )
    # melt plays the last element: a copy that ends with a tractor playing the chosen sequence.
    text = project.read_text()
    copy = project.with_name("chosen.kdenlive")
    copy.write_text(text.replace("</mlt>", f'<tractor id="chosen"><track producer="{uuid}"/></tractor></mlt>'))
    rendered = melt_frames(copy, chosen.length)
    assert not mismatches(chosen, pixels, rendered)
    with pytest.raises(ProjectError, match="no sequence 'nope'; sequences here: Sequence 1, Sequence 2, Sequence 3"):
        project_frame_map(project, sequence="nope")


@pytest.mark.parametrize(
    "mode", ["", '<property name="freeze_after">1</property>', '<property name="freeze_before">1</property>']
)
def test_freeze_filter(tmp_path, mode):
    pixels = _clips(tmp_path, {"a.mkv": (100, Fraction(30))})
    freeze = f'<filter><property name="mlt_service">freeze</property><property name="frame">7</property>{mode}</filter>'
    body = (
        _producer("a", "a.mkv", 100) + f'<playlist id="v1"><entry producer="a" in="10" out="40">{freeze}</entry>'
        '<entry producer="a" in="50" out="60"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    frame_map = _agrees_with_melt(_project(tmp_path, body), pixels)
    assert len(set(frame_map.frame[:31, 0].tolist())) < 31  # something was frozen


def test_time_map_of_newer_mlt_reads_like_map(tmp_path):
    # melt 7.12 here only knows "map"; MLT >= 7.14 writes "time_map". Same keys, same frames.
    _clips(tmp_path, {"a.mkv": (150, Fraction(30))})
    chain = (
        '<chain id="c" out="59"><property name="length">60</property><property name="resource">a.mkv</property>'
        '<property name="mlt_service">avformat-novalidate</property><link><property name="mlt_service">timeremap</property>'
        '<property name="{key}">00:00:00.000=0;00:00:01.000=3;00:00:02.400=1.2</property></link></chain>'
    )
    body = '<playlist id="v1"><entry producer="c" in="0" out="59"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    maps = []
    for key in ("map", "time_map"):
        (tmp_path / key).mkdir()
        for name in ("a.mkv", "a.z.npy", "a.z.json"):
            shutil.copy(tmp_path / name, tmp_path / key / name)
        frame_map, _, _ = project_frame_map(_project(tmp_path / key, chain.format(key=key) + body))
        maps.append(frame_map.frame[:, 0])
    np.testing.assert_array_equal(maps[0], maps[1])
    assert maps[0].max() >= 85  # the map really remapped: 3 s of a 30 fps source within 1 s


def test_hand_written_mlt_without_lengths_or_frame_rates_and_bare_npy_sidecars(tmp_path):
    # 24, 25 and 29.97 fps clips with bare .npy sidecars (no .z.json) in a 29.97 project that records
    # neither a producer's length nor a clip's frame rate: both come from the media, as MLT reads them.
    specs = {"a.mkv": (40, Fraction(24)), "b.mkv": (50, Fraction(25)), "c.mkv": (45, Fraction(30000, 1001))}
    pixels = _clips(tmp_path, specs)
    for name in specs:
        (tmp_path / name).with_suffix(".z.json").unlink()
    body = "".join(f'<producer id="{n[0]}"><property name="resource">{n}</property></producer>' for n in specs) + (
        '<playlist id="v1"><entry producer="a"/><entry producer="b" in="5"/><blank length="4"/><entry producer="c" in="3" out="20"/></playlist>'
        '<tractor id="t"><track producer="v1"/></tractor>'
    )
    project = _project(tmp_path, body, Fraction(30000, 1001))
    with pytest.warns(BareSequenceWarning, match="taken from"):
        frame_map = _agrees_with_melt(project, pixels)
    assert len(frame_map.sources) == 3 and {i.fps for i in frame_map.infos} == {f for _, f in specs.values()}
    assert frame_map.length > 100


def test_reverse_counts_back_from_the_real_last_frame_of_a_longer_file(tmp_path):
    # The project's length says 60 warped frames, the re-rendered proxy has 120: MLT reverses from frame 119.
    pixels = _clips(tmp_path, {"a.mkv": (120, Fraction(25))})
    warp = (
        '<producer id="w"><property name="length">60</property><property name="resource">-1:a.mkv</property>'
        '<property name="mlt_service">timewarp</property><property name="warp_speed">-1</property>'
        '<property name="warp_resource">a.mkv</property></producer>'
    )
    body = (
        warp
        + '<playlist id="v1"><entry producer="w" in="0" out="39"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    frame_map = _agrees_with_melt(_project(tmp_path, body), pixels)
    assert frame_map.frame[0, 0] == 119 and frame_map.frame[39, 0] == 80


_TWO_TRACKS = (
    '<playlist id="v1"><entry producer="a" in="0" out="59"/></playlist>'
    '<playlist id="v2"><blank length="10"/><entry producer="b" in="0" out="39"/></playlist>'
)


@pytest.mark.parametrize(
    ("service", "prop", "animation"),
    [
        ("composite", "geometry", "0=0% 0% 100% 100% 100%;-1=0% 0% 100% 100% 0%"),  # Kdenlive's Wipe without a luma file
        ("qtblend", "rect", "0=0 0 64 48 0;10=0 0 64 48 1;15|=0 0 64 48 0.5;24=0 0 64 48 0.25"),
    ],
    ids=["wipe-composite", "qtblend-fade"],
)
def test_opacity_compositions_between_tracks_are_dissolves(tmp_path, service, prop, animation):
    pixels = _clips(tmp_path, {"a.mkv": (80, Fraction(25)), "b.mkv": (80, Fraction(25))})
    body = (
        _producer("a", "a.mkv", 80)
        + _producer("b", "b.mkv", 80)
        + _TWO_TRACKS
        + '<tractor id="t"><track producer="v1"/><track producer="v2"/>'
        f'<transition in="15" out="39"><property name="a_track">0</property><property name="b_track">1</property>'
        f'<property name="mlt_service">{service}</property><property name="{prop}">{animation}</property></transition></tractor>'
    )
    frame_map = _agrees_with_melt(_project(tmp_path, body), pixels, qt=service == "qtblend")
    blended = (frame_map.source[:, 1] >= 0) & (frame_map.weight[:, 1] > 0.02) & (frame_map.weight[:, 0] > 0.02)
    assert blended.sum() >= 15 and not frame_map.pixel_only[15:40].any()
    assert any(note.kind == NoteKind.DISSOLVE for note in frame_map.notes)


def test_a_slide_mix_names_both_sources_and_is_declared_pixel_only(tmp_path):
    pixels = _clips(tmp_path, {"a.mkv": (100, Fraction(25)), "b.mkv": (100, Fraction(25))})
    slide = "0=-100% 0% 100% 100% 100%;-1=0% 0% 100% 100% 100%"
    body = (
        _producer("a", "a.mkv", 100)
        + _producer("b", "b.mkv", 100)
        + '<playlist id="l0"><entry producer="a" in="0" out="44"/></playlist>'
        '<playlist id="l1"><blank length="30"/><entry producer="b" in="0" out="39"/></playlist>'
        '<tractor id="track1"><track producer="l0"/><track producer="l1"/>'
        '<transition in="30" out="45"><property name="a_track">0</property><property name="b_track">1</property>'
        f'<property name="mlt_service">composite</property><property name="kdenlive_id">slide</property><property name="geometry">{slide}</property>'
        "</transition></tractor>"
    )
    project = _project(tmp_path, body)
    frame_map = _agrees_with_melt(project, pixels)  # outside the slide, and at its first frame, melt agrees
    mix = slice(31, 45)
    assert (frame_map.source[mix, :2] >= 0).all() and frame_map.pixel_only[mix].all()  # both named where MLT shows both
    assert frame_map.source[30, 0] == 0 and frame_map.weight[30, 0] == 1  # the outgoing clip at the first frame
    assert [(c.kdenlive_id, c.first, c.end_exclusive, c.geometry) for c in frame_map.composites] == [("slide", 30, 45, slide)]
    np.testing.assert_allclose(frame_map.progress[31:45], (np.arange(31, 45) - 30) / 16, atol=1e-6)
    rendered = block_centres(melt_frames(project, frame_map.length))
    # melt really shows both pictures inside the slide: the left half from b, the right half from a.
    assert np.abs(rendered[38] - block_centres(pixels[str(tmp_path / "b.mkv")])[8]).max() > 100
    explained = "\n".join(explanation(conform_project(project, None)))
    assert "frames 30-44: slide tracks 0/1" in explained and "`latentcut online` renders them exactly" in explained


def test_entry_with_in_after_out_plays_as_melt_swaps_it(tmp_path):
    pixels = _clips(tmp_path, {"a.mkv": (60, Fraction(25))})
    body = (
        _producer("a", "a.mkv", 60)
        + '<playlist id="v1"><entry producer="a" in="30" out="10"/><entry producer="a" in="55" out="90"/></playlist>'
        '<tractor id="t"><track producer="v1"/></tractor>'
    )
    frame_map = _agrees_with_melt(_project(tmp_path, body), pixels)
    assert frame_map.length == 21 + 5


@pytest.mark.parametrize("blank", ["100000000000", "20000000", "99999999:00:00.000"])
def test_absurd_lengths_are_refused_before_anything_is_allocated(tmp_path, blank):
    _clips(tmp_path, {"a.mkv": (10, Fraction(25))})
    body = (
        _producer("a", "a.mkv", 10)
        + f'<playlist id="v1"><entry producer="a"/><blank length="{blank}"/><entry producer="a"/></playlist>'
        '<tractor id="t"><track producer="v1"/></tractor>'
    )
    with pytest.raises(ProjectError, match=f"frames; latentcut reads timelines up to {MAX_TIMELINE_FRAMES} frames"):
        project_frame_map(_project(tmp_path, body))


def test_slow_motion_interpolate_places_latents_between_source_frames(tmp_path):
    _clips(tmp_path, {"a.mkv": (60, Fraction(25))})
    warp = _producer(
        "w",
        "0.25:a.mkv",
        200,
        '<property name="warp_speed">0.25</property><property name="warp_resource">a.mkv</property>',
        "timewarp",
    )
    body = (
        warp
        + '<playlist id="v1"><entry producer="w" in="0" out="39"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    project = _project(tmp_path, body)
    repeat, _, _ = project_frame_map(project)
    between, _, _ = project_frame_map(project, slow_motion="interpolate")
    assert repeat.frame_fraction is None and len(set(repeat.frame[:, 0].tolist())) == 11  # MLT repeats each frame 4 times
    positions = between.frame[:, 0] + between.frame_fraction[:, 0]
    np.testing.assert_allclose(positions, np.arange(40) * 0.25, atol=1e-6)


# What Kdenlive's documentvalidator.cpp writes for a wipe of an old document: keys without "=" (MLT reads the first
# one as a held, discrete key), forward and reversed.
_OLD_WIPES = {
    "0=0% 0% 100% 100% 0%;-1=0% 0% 100% 100% 100%": "0%/0%:100%x100%:0;-1=0%/0%:100%x100%:100",
    "0=0% 0% 100% 100% 100%;-1=0% 0% 100% 100% 0%": "0%/0%:100%x100%:100;-1=0%/0%:100%x100%:0",
}


def _edited_transitions(project: Path, service: str, edit) -> int:
    """Apply ``edit(properties)`` to every user transition of ``service`` in ``project`` (in place); return how many."""
    tree = etree.parse(str(project), etree.XMLParser(resolve_entities=False, no_network=True))
    count = 0
    for transition in tree.getroot().iter("transition"):
        props = {p.get("name"): p for p in transition.findall("property")}
        if props.get("mlt_service") is None or props["mlt_service"].text != service or "internal_added" in props:
            continue
        edit(transition, props)
        count += 1
    tree.write(str(project), encoding="utf-8", xml_declaration=True)
    return count


def _old_syntax(transition, props) -> None:
    props["geometry"].text = _OLD_WIPES.get(props["geometry"].text or "", props["geometry"].text)


def _inverted(transition, props) -> None:
    invert = props.get("invert")
    if invert is None:
        invert = etree.SubElement(transition, "property", name="invert")
    invert.text = "1"  # the Invert box of Kdenlive's Luma panel


@pytest.mark.parametrize(
    ("name", "service", "edit", "blends"),
    [
        ("ui_compositions", None, None, 80),
        ("ui_compositions", "composite", _old_syntax, 40),  # the old wipes hold their first key: cuts, not dissolves
        ("ui_compositions", "composite", _inverted, 80),
        ("ui_mixes", None, None, 90),
        ("ui_mixes", "luma", _inverted, 90),
    ],
    ids=["compositions", "compositions-old-keyframes", "compositions-inverted", "mixes", "mixes-inverted"],
)
def test_kdenlive_ui_dissolves_blend_with_mlts_own_weights(tmp_path, name, service, edit, blends):
    # Made in Kdenlive 22.12's timeline (tests/data/kdenlive-22.12/README.md): between tracks the Wipe, Dissolve,
    # Composite, Slide and Composite-and-transform compositions, each added at a clip's start and at its end
    # (Kdenlive reverses the second); on one track, mixes of type Luma, Wipe and Slide, forward and reversed.
    project, pixels = swap_media(DATA / f"kdenlive-22.12/{name}.kdenlive", tmp_path)
    if edit is not None:
        assert _edited_transitions(project, service, edit) >= 2
    frame_map, _, _ = project_frame_map(project)
    # Without a display melt drops the qtblend transitions (Kdenlive's track compositing, and the two opaque
    # Composite-and-transform covers), which changes no frame here: opaque pictures over black.
    rendered = melt_frames(project, frame_map.length)
    assert not mismatches(frame_map, pixels, rendered)
    shares = blend_shares(frame_map, pixels, rendered)
    assert len(shares) >= blends, f"only {len(shares)} blended frames"
    off = [(t, round(conform, 4), round(melt, 4)) for t, conform, melt in shares if abs(conform - melt) > 0.01]
    assert not off, f"the conform's weight differs from the share melt shows (frame, conform, melt): {off[:8]}"


@pytest.mark.parametrize(
    ("speed", "shown"),
    [
        ("1e30", "1e+30"),
        ("9" * 4400, "inf"),
        ("-1e30", "-1e+30"),
        ("1001", "1001"),
        ("inf", "inf"),
        ("-Infinity", "-inf"),
        ("nan", "nan"),
    ],
    ids=["1e30", "4400-digits", "-1e30", "1001", "inf", "-Infinity", "nan"],  # C's atof reads the last three as MLT does
)
def test_timewarp_speeds_past_what_mlt_plays_are_one_line_and_exit_1(tmp_path, run_cli, speed, shown):
    _clips(tmp_path, {"a.mkv": (60, Fraction(25))})
    warp = _producer("w", f"{speed}:a.mkv", 20, '<property name="warp_resource">a.mkv</property>', "timewarp")
    body = (
        warp
        + '<playlist id="v1"><entry producer="w" in="0" out="19"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    _project(tmp_path, body)
    result = run_cli("conform", "case.mlt", "-o", "out.z.npy", timeout_s=120)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"latentcut: error: case.mlt: producer 'w' plays at speed {shown}; latentcut reads speeds up to 1000x either way: "
        "change the clip's speed in the editor"
    ], result.stderr


@pytest.mark.parametrize("fps", [Fraction(10**18), Fraction(1, 10**9), Fraction(1, 3601), Fraction(1001)])
def test_project_rates_no_command_renders_are_refused_before_any_sidecar_is_written(tmp_path, run_cli, fps):
    _clips(tmp_path, {"a.mkv": (10, Fraction(25))})
    body = (
        _producer("a", "a.mkv", 10)
        + '<playlist id="v1"><entry producer="a"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    _project(tmp_path, body, fps)
    result = run_cli("conform", "case.mlt", "-o", "out.z.npy", timeout_s=120)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        f"latentcut: error: case.mlt: <profile> frame rate {fps.numerator}/{fps.denominator} is not one latentcut renders "
        "(from 1/3600 (one frame an hour) to 1000 fps, a ratio of whole numbers below 2^31)"
    ], result.stderr
    assert not (tmp_path / "out.z.npy").exists() and not (tmp_path / "out.z.json").exists()


def test_the_slowest_rate_latentcut_takes_still_agrees_with_melt(tmp_path):
    pixels = _clips(tmp_path, {"a.mkv": (30, Fraction(1, 3600))})
    body = (
        _producer("p", "a.mkv", 30)
        + '<playlist id="v1"><entry producer="p" in="2" out="20"/></playlist><tractor id="t"><track producer="v1"/></tractor>'
    )
    _agrees_with_melt(_project(tmp_path, body, Fraction(1, 3600)), pixels)


_HOSTILE_NUMBERS = ["0", "-1", "1e30", "-1e30", "nan", "inf", "9" * 5000, "", "x", "1/0", "00:00:00.000", "99999999:00:00.000"]


def test_mutated_projects_give_a_frame_map_or_one_line(tmp_path):
    """400 projects with hostile numbers in every attribute and property the evaluator reads: a map or a LatentcutError."""
    from latentcut.errors import LatentcutError

    _clips(tmp_path, {"a.mkv": (60, Fraction(25)), "b.mkv": (60, Fraction(25))})
    warp = _producer(
        "w",
        "0.5:b.mkv",
        120,
        '<property name="warp_speed">0.5</property><property name="warp_resource">b.mkv</property>',
        "timewarp",
    )
    body = (
        _producer("a", "a.mkv", 60)
        + warp
        + '<playlist id="v1"><entry producer="a" in="2" out="30"/><blank length="4"/><entry producer="w" in="0" out="40"/></playlist>'
        '<playlist id="v2"><blank length="10"/><entry producer="a" in="40" out="50"/></playlist>'
        '<tractor id="t"><track producer="v1"/><track producer="v2"/>'
        '<transition id="x"><property name="mlt_service">luma</property><property name="a_track">0</property>'
        '<property name="b_track">1</property><property name="in">10</property><property name="out">20</property></transition>'
        "</tractor>"
    )
    template = _project(tmp_path, body).read_text()
    slots = [m.span(1) for m in re.finditer(r'(?:in|out|length|frame_rate_num|frame_rate_den)="([^"]*)"', template)]
    slots += [m.span(1) for m in re.finditer(r'name="(?:length|warp_speed|in|out|a_track|b_track)">([^<]*)<', template)]
    refused = 0
    for text in mutated(template, slots, _HOSTILE_NUMBERS, 400, seed=21):
        (tmp_path / "case.mlt").write_text(text)
        try:
            project_frame_map(tmp_path / "case.mlt")
        except LatentcutError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 1000, str(exc)
            refused += 1
    assert refused > 100
