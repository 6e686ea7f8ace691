from pathlib import Path

import pytest

from latentcut.errors import ProjectError
from latentcut.timeline.mlt_xml import Entry, Playlist, Service, Tractor, read_mlt_document, read_mlt_string

DATA = Path(__file__).parent / "data"
PROFILE = '<profile width="64" height="48" frame_rate_num="25" frame_rate_den="1"/>'


def _read(text: str):
    return read_mlt_string(text.encode(), Path("p.kdenlive"))


def test_reads_every_sample_into_its_services():
    for path in [*sorted(DATA.glob("*/*.kdenlive")), DATA / "kdenlive-22.12/plain_melt.mlt"]:
        document = read_mlt_document(path)
        assert document.fps > 0 and document.top_level and len(document.sha256) == 64
        assert isinstance(document.services[document.top_level[-1]], (Tractor, Playlist))


def test_attributes_and_properties_and_inline_elements():
    document = _read(
        f'<mlt>{PROFILE}<producer id="a" resource="x.mp4"><property name="length">9</property></producer>'
        '<tractor id="t"><multitrack><playlist id="p"><entry producer="a" in="0" out="3"/><blank length="2"/></playlist>'
        '<track><producer resource="y.mp4"/></track></multitrack></tractor></mlt>'
    )
    assert document.services["a"].props == {"resource": "x.mp4", "length": "9"}
    tractor = document.services["t"]
    assert next(t.producer for t in tractor.tracks) == "p" and isinstance(document.services[tractor.tracks[1].producer], Service)
    assert document.services["p"].items[0] == Entry("a", "0", "3")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("<mlt><profile", "not well-formed XML"),
        (f"<mlt>{PROFILE}<tractor id='t'><track producer='x'/></tractor>", "not well-formed XML"),
        ('<?xml version="1.0"?><!DOCTYPE mlt [<!ENTITY e SYSTEM "file:///etc/passwd">]><mlt>&e;</mlt>', "never expands"),
        ('<!DOCTYPE mlt SYSTEM "http://example.invalid/mlt.dtd"><mlt/>', "never expands"),
        ("<kdenlive/>", "not <mlt>"),
        ("<mlt><producer id='a'/></mlt>", "no <profile>"),
        (
            "<mlt><profile frame_rate_num='0' frame_rate_den='1'/><producer id='a'/></mlt>",
            "frame rate 0/1 is not one latentcut renders",
        ),
        (f"<mlt>{PROFILE}</mlt>", "nothing to play"),
        (f"<mlt>{PROFILE}<playlist id='p'><entry/></playlist></mlt>", "names no producer"),
        (
            f'<mlt>{PROFILE}<playlist id="main_bin"><property name="kdenlive:docproperties.version">1.3</property></playlist></mlt>',
            "version 1.3 is newer",
        ),
        (
            f'<mlt>{PROFILE}<playlist id="main_bin"><property name="kdenlive:docproperties.version">nan</property></playlist></mlt>',
            "version 'nan' is not a number",
        ),
    ],
)
def test_bad_projects_give_one_clear_error_naming_the_file(text, message):
    with pytest.raises(ProjectError, match=message) as raised:
        _read(text)
    assert str(raised.value).startswith("p.kdenlive: ")


def test_entities_are_never_expanded_even_if_the_parser_could(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    text = f'<!DOCTYPE mlt [<!ENTITY s SYSTEM "file://{secret}">]><mlt>{PROFILE}<producer id="a" resource="&s;"/></mlt>'
    with pytest.raises(ProjectError) as raised:
        _read(text)
    assert "TOP SECRET" not in str(raised.value)


def test_missing_file_is_a_project_error(tmp_path):
    with pytest.raises(ProjectError, match="cannot read"):
        read_mlt_document(tmp_path / "nope.kdenlive")


def test_a_huge_attribute_is_a_one_line_error():
    # lxml refuses text over 10 MB with a message that spans two lines; latentcut's stays one.
    source = b'<mlt><producer id="a" title="' + b"a" * (11 << 20) + b'"/></mlt>'
    with pytest.raises(ProjectError, match="not well-formed XML") as caught:
        read_mlt_string(source, Path("edit.mlt"))
    assert "\n" not in str(caught.value)
