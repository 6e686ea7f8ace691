"""Projects written by ``latentcut project new``: melt plays them as the proxies, the conform follows them, Kdenlive opens them."""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from indexclips import block_centres, melt_frames, track_hidden, write_index_clip
from latentcut.conform.project import conform_project
from latentcut.conform.sidecars import StalePropertyWarning
from latentcut.editor.kdenlive_project import plain_clip, project_clips, write_kdenlive_project
from latentcut.editor.mlt_module import mlt_environment
from latentcut.errors import ProjectError
from latentcut.latent.sidecar import ZSequence, link_tags, save_sequence
from resave import kdenlive_resave, needs_kdenlive


def _clips(folder: Path) -> tuple[Path, dict[str, np.ndarray]]:
    pixels = {
        "a": write_index_clip(folder / "clips/a.mkv", 1, 30, Fraction(25)),
        "b": write_index_clip(folder / "clips/b.mkv", 2, 45, Fraction(25)),
    }
    return folder, pixels


@pytest.fixture
def clips(tmp_path):
    return _clips(tmp_path)


def _write(folder: Path, *, timeline: bool = True) -> Path:
    project = folder / "edit.kdenlive"
    write_kdenlive_project(project, project_clips([folder / "clips/a.mkv", folder / "clips/b.mkv"], project), timeline=timeline)
    return project


@pytest.mark.melt
def test_melt_plays_the_timeline_exactly_as_the_proxies(clips):
    folder, pixels = clips
    project = _write(folder)
    rendered = melt_frames(project, 75, env=mlt_environment())
    np.testing.assert_allclose(block_centres(rendered), block_centres(np.concatenate([pixels["a"], pixels["b"]])), atol=10)


def test_the_conform_is_the_clips_end_to_end_and_survives_moving_the_folder(clips):
    folder, _ = clips
    project = _write(folder)
    conform_project(project, folder / "cut.z.npy")
    expected = np.concatenate([np.load(folder / "clips/a.z.npy"), np.load(folder / "clips/b.z.npy")])
    np.testing.assert_array_equal(np.load(folder / "cut.z.npy"), expected)
    moved = folder.parent / "moved-project"
    shutil.move(folder, moved)
    conform_project(moved / "edit.kdenlive", moved / "cut2.z.npy")
    np.testing.assert_array_equal(np.load(moved / "cut2.z.npy"), expected)


def test_a_bin_only_project_has_an_empty_timeline(clips):
    folder, _ = clips
    text = _write(folder, timeline=False).read_text()
    assert text.count('<property name="mlt_service">latent</property>') == 2 and '<entry producer="v1c' not in text


def test_videos_without_sidecars_are_refused(tmp_path):
    write_index_clip(tmp_path / "x.mkv", 1, 5, Fraction(25), sidecar=tmp_path / "elsewhere.z.npy")
    with pytest.raises(ProjectError, match="x.mkv: no sidecar found"):
        project_clips([tmp_path / "x.mkv"], tmp_path / "p.kdenlive")
    (tmp_path / "junk.mp4").write_text("not a video")
    with pytest.raises(ProjectError, match="junk.mp4: not a readable video"):
        project_clips([tmp_path / "junk.mp4"], tmp_path / "p.kdenlive")


@pytest.fixture
def stacked(tmp_path):
    """A latent clip on V2 over a plain clip (no sidecar) on V1 that starts 3 frames into its file, both 20 frames long."""
    latent = write_index_clip(tmp_path / "clips/perf.mkv", 1, 20, Fraction(25))
    plain = write_index_clip(tmp_path / "clips/source.mkv", 2, 25, Fraction(25), sidecar=tmp_path / "scratch.z.npy")
    (tmp_path / "scratch.z.npy").unlink()
    project = tmp_path / "stacked.kdenlive"
    clips = [*project_clips([tmp_path / "clips/perf.mkv"], project), plain_clip(tmp_path / "clips/source.mkv")]
    write_kdenlive_project(project, clips, tracks=[[(1, 3, 22)], [(0, 0, 19)]], track_names=("source", "latents"))
    return project, latent, plain[3:23]


def _assert_tracks_play(project: Path, latent: np.ndarray, plain: np.ndarray, *, qt: bool = False) -> None:
    """melt shows the latent track, and with it hidden the plain track, frame for frame."""
    env = mlt_environment()
    for shown, expected in ((project, latent), (track_hidden(project, "latents"), plain)):
        rendered = melt_frames(shown, 20, env=env, qt=qt)
        np.testing.assert_allclose(block_centres(rendered), block_centres(expected), atol=10, err_msg=str(shown))


@pytest.mark.melt
def test_a_plain_clip_under_a_latent_clip_plays_aligned_and_the_conform_takes_the_latent_one(stacked):
    project, latent, plain = stacked
    text = project.read_text()
    assert text.count('<property name="mlt_service">avformat</property>') == 2  # the plain clip in the bin and on V1
    assert text.count("latent:sidecar") == 2  # the latent clip's, in the bin and on V2; the plain clip has none
    _assert_tracks_play(project, latent, plain)
    conform_project(project, project.with_name("cut.z.npy"))
    np.testing.assert_array_equal(np.load(project.with_name("cut.z.npy")), np.load(project.parent / "clips/perf.z.npy"))
    with pytest.raises(ProjectError, match="nothing.mkv"):
        plain_clip(project.parent / "nothing.mkv")


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_real_kdenlive_keeps_stacked_tracks_aligned_and_conforming_the_same(stacked):
    project, latent, plain = stacked
    resaved = _resaved(project, mlt_environment())
    _assert_tracks_play(resaved, latent, plain, qt=True)  # Kdenlive composites its tracks with qtblend
    assert (
        conform_project(resaved, project.with_name("two.z.npy")).meta.sha256
        == conform_project(project, project.with_name("one.z.npy")).meta.sha256
    )


@pytest.fixture(scope="module")
def resaved_edit(tmp_path_factory) -> tuple[Path, Path, str]:
    """The project ``_write`` makes, and the real Kdenlive's save of it (one Kdenlive run for the tests that only read it)."""
    folder, _ = _clips(tmp_path_factory.mktemp("resaved"))
    project = _write(folder)
    resaved = folder / "resaved.kdenlive"
    result = kdenlive_resave(project, resaved, mlt_environment())
    assert result.returncode == 0, result.stderr
    return project, resaved, result.stderr


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_real_kdenlive_opens_it_without_a_word_and_its_save_conforms_the_same(resaved_edit):
    project, resaved, said = resaved_edit
    folder = project.parent
    assert "answered" not in said.lower()
    text = resaved.read_text()
    assert '<property name="mlt_service">latent</property>' in text and "latent:sidecar" in text
    first = conform_project(project, folder / "one.z.npy")
    second = conform_project(resaved, folder / "two.z.npy")
    assert first.meta.sha256 == second.meta.sha256


@pytest.mark.kdenlive
@needs_kdenlive
def test_real_kdenlive_takes_a_latent_clip_for_the_video_clip_it_is_and_saves_it_latent(resaved_edit):
    """Kdenlive 22.12 types clips by their exact mlt_service; it must see a video clip (thumbnails, codec, size, rate)."""
    root = etree.parse(str(resaved_edit[1])).getroot()
    in_bin = {entry.get("producer") for entry in root.xpath("//playlist[@id='main_bin']/entry")}
    bin_clips = [p for p in root.iter("producer") if p.get("id") in in_bin]
    assert len(bin_clips) == 2
    for producer in bin_clips:
        props = {p.get("name"): p.text for p in producer.iter("property")}
        assert props["mlt_service"] == "latent"
        # Kdenlive writes clip_type only for what it loaded as a media file (avformat): 2 is a video clip without audio.
        assert props.get("kdenlive:clip_type") == "2", props
        assert not [name for name in props if name.startswith(("_", "latent.", "online"))]  # nothing derived is saved


def _resaved(project: Path, env: dict[str, str]) -> Path:
    resaved = project.with_name("resaved.kdenlive")
    result = kdenlive_resave(project, resaved, env)
    assert result.returncode == 0, result.stderr
    return resaved


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_a_speed_changed_latent_clip_survives_kdenlive_and_conforms_the_same(clips):
    folder, _ = clips
    project = _write(folder)
    # A 2x copy of clip a after the others, as Kdenlive 22.12 writes a speed change: a timewarp over the proxy file.
    tree = etree.parse(str(project))
    v1 = tree.getroot().xpath("//playlist[@id='trV1a']")[0]
    warp = etree.Element("producer", {"id": "warp0", "in": "0", "out": "14"})
    for name, value in (
        ("length", "15"),
        ("mlt_service", "timewarp"),
        ("resource", "2.000000:clips/a.mkv"),
        ("warp_speed", "2"),
        ("warp_resource", "clips/a.mkv"),
        ("warp_pitch", "0"),
        ("kdenlive:id", "2"),
        ("set.test_audio", "1"),
    ):
        etree.SubElement(warp, "property", name=name).text = value
    v1.addprevious(warp)
    assert [entry.get("producer") for entry in v1.iter("entry")] == ["v1c0", "v1c1"]
    etree.SubElement(v1, "entry", {"producer": "warp0", "in": "0", "out": "14"})
    tree.write(str(project), encoding="utf-8", xml_declaration=True)
    before = conform_project(project, folder / "before.z.npy")
    assert before.frame_map.length == 90 and any(p.speed == 2.0 for p in before.frame_map.placements)
    after = conform_project(_resaved(project, mlt_environment()), folder / "after.z.npy")
    assert after.meta.sha256 == before.meta.sha256


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_without_the_module_kdenlive_plays_plain_video_and_the_link_holds(clips, tmp_path):
    from latentcut.editor.mlt_module import MODULE_NAME, _pkg

    folder, _ = clips
    project = _write(folder)
    modules = tmp_path / "modules-without-latent"
    modules.mkdir()
    for module in _pkg("moduledir").glob("*.so"):
        if module.name != MODULE_NAME:
            (modules / module.name).symlink_to(module)
    env = {**mlt_environment(), "MLT_REPOSITORY": str(modules)}
    resaved = _resaved(project, env)
    text = resaved.read_text()
    assert '<property name="mlt_service">latent</property>' not in text and "latent:sidecar" in text
    assert (
        conform_project(resaved, folder / "after.z.npy").meta.sha256
        == conform_project(project, folder / "before.z.npy").meta.sha256
    )


def _repointed(folder: Path) -> tuple[Path, np.ndarray]:
    """The project with clip a re-pointed to a2.mkv, a proxy rendered from another sidecar that its tags name."""
    project = _write(folder)
    latents = np.full((30, 4), 7.0, np.float32)
    meta = save_sequence(folder / "clips/a2.z.npy", latents, fps=Fraction(25))
    tags = link_tags(ZSequence(latents, meta, folder / "clips/a2.z.npy"))
    write_index_clip(folder / "clips/a2.mkv", 3, 30, Fraction(25), sidecar=folder / "scratch.z.npy", tags=tags)
    # The resource changes; the project's latent:sidecar still names a.z.npy, as after "Replace clip" in the editor.
    project.write_text(project.read_text().replace(">clips/a.mkv<", ">clips/a2.mkv<"))
    assert "clips/a.z.npy" in project.read_text()
    return project, latents


def test_a_clip_re_pointed_to_another_proxy_conforms_to_the_new_proxy_latents(clips):
    folder, _ = clips
    project, latents = _repointed(folder)
    with pytest.warns(StalePropertyWarning, match="names sidecar clips/a.z.npy but a2.mkv was rendered from a2.z.npy"):
        conform_project(project, folder / "cut.z.npy")
    np.testing.assert_array_equal(np.load(folder / "cut.z.npy")[:30], latents)


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_a_clip_re_pointed_in_kdenlive_conforms_to_the_new_proxy_latents(clips):
    folder, _ = clips
    project, latents = _repointed(folder)
    resaved = _resaved(project, mlt_environment())
    with pytest.warns(StalePropertyWarning):
        conform_project(resaved, folder / "cut.z.npy")
    np.testing.assert_array_equal(np.load(folder / "cut.z.npy")[:30], latents)


# ----- the preview track (latentcut project preview): the render on top, never read by the conform


@pytest.fixture
def previewed(clips):
    """The clips' project and a preview beside it: an index clip (id 9) with a sidecar of its own, which must not count."""
    folder, pixels = clips
    project = _write(folder)
    preview = write_index_clip(folder / "edit.latent-preview.mkv", 9, 75, Fraction(25))
    return project, pixels, preview


def _meaning(project: Path) -> bytes:
    """The project without what ``project preview`` adds, whitespace between elements left out: what it means to MLT."""
    root = etree.parse(str(project)).getroot()
    added = "//*[starts-with(@id, 'latent_preview')] | //entry[starts-with(@producer, 'latent_preview')]"
    for element in root.xpath(f"{added} | //track[starts-with(@producer, 'latent_preview')]"):
        element.getparent().remove(element)
    for element in root.iter():
        element.tail = None if element.tail is None or not element.tail.strip() else element.tail
        element.text = None if element.text is None or (not element.text.strip() and len(element)) else element.text
    return etree.tostring(root, method="c14n")


def _conformed(project: Path, name: str) -> tuple[ZSequence, dict[str, np.ndarray]]:
    sequence = conform_project(project, project.with_name(f"{name}.z.npy"))
    with np.load(project.with_name(f"{name}.provenance.npz")) as provenance:
        return sequence, {key: provenance[key] for key in provenance.files}


def _preview_tracks(project: Path) -> int:
    return len(etree.parse(str(project)).getroot().xpath("//tractor[property[@name='kdenlive:track_name']='latent preview']"))


def test_project_preview_adds_a_top_track_the_conform_never_reads(previewed, cli):
    project, _, _ = previewed
    before_text = _meaning(project)
    before, before_provenance = _conformed(project, "before")
    result = cli("project", "preview", "edit.kdenlive")
    assert result.returncode == 0, result.stderr
    assert "added the top track 'latent preview', edit.latent-preview.mkv over 75 frames" in result.stdout
    after, after_provenance = _conformed(project, "after")
    assert after.meta.sha256 == before.meta.sha256 and after.meta.frames == 75  # the same latents, byte for byte
    assert after_provenance.keys() == before_provenance.keys()
    for key, value in before_provenance.items():
        np.testing.assert_array_equal(after_provenance[key], value, err_msg=key)  # which clip and frame, opacity, blends
    assert _meaning(project) == before_text  # everything else as it was
    root = etree.parse(str(project)).getroot()
    top = root.xpath("//tractor[@id='maintractor']/track")[-1].get("producer")
    assert root.xpath(f"string(//tractor[@id='{top}']/property[@name='kdenlive:track_name'])") == "latent preview"
    clips = root.xpath("//producer[property[@name='latent:preview']='1']")
    assert len(clips) == 2 and all(c.xpath("string(property[@name='refresh'])") == "1" for c in clips)  # bin and track
    again = cli("project", "preview", "edit.kdenlive")
    assert again.returncode == 0 and "now spans the timeline" in again.stdout
    assert _preview_tracks(project) == 1


def test_project_preview_needs_the_preview_made_first(clips, cli):
    folder, _ = clips
    _write(folder)
    result = cli("project", "preview", "edit.kdenlive")
    assert result.returncode == 2
    assert result.stderr.strip().endswith("edit.latent-preview.mkv: not made yet; make it first with latentcut watch "
                                          "edit.kdenlive --preview --once (a daemon running)")  # fmt: skip
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.melt
def test_melt_shows_the_preview_on_top_the_clips_with_its_track_hidden_and_the_clips_past_its_end(previewed, cli):
    project, pixels, preview = previewed
    assert cli("project", "preview", "edit.kdenlive").returncode == 0
    env = mlt_environment()
    np.testing.assert_allclose(block_centres(melt_frames(project, 75, env=env)), block_centres(preview), atol=10)
    clips = np.concatenate([pixels["a"], pixels["b"]])
    hidden = track_hidden(project, "latent preview")  # Kdenlive's eye button on the track
    np.testing.assert_allclose(block_centres(melt_frames(hidden, 75, env=env)), block_centres(clips), atol=10)
    shorter = write_index_clip(project.with_name("edit.latent-preview.mkv"), 9, 60, Fraction(25))  # the edit got shorter
    rendered = block_centres(melt_frames(project, 75, env=env))
    np.testing.assert_allclose(rendered[:60], block_centres(shorter), atol=10)
    np.testing.assert_allclose(rendered[60:], block_centres(clips[60:]), atol=10)  # past the file's end: the track below


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_real_kdenlive_keeps_the_preview_track_and_its_save_conforms_the_same(previewed, cli):
    """Added to a project Kdenlive saved (with its compositing of tracks), kept through another Kdenlive save, never conformed."""
    project, _, preview = previewed
    env = mlt_environment()
    saved = _resaved(project, env)
    saved.replace(project)
    before, _ = _conformed(project, "before")
    assert cli("project", "preview", "edit.kdenlive").returncode == 0
    root = etree.parse(str(project)).getroot()
    timeline = root.xpath("tractor")[-1]
    tracks = [track.get("producer") for track in timeline.findall("track")]
    ours = root.xpath("string(tractor[property[@name='kdenlive:track_name']='latent preview']/@id)")
    assert tracks[-1] == ours  # the top track
    composite = timeline.xpath("transition[starts-with(@id, 'latent_preview')]")  # Kdenlive's compositing, for it too
    assert len(composite) == 1 and composite[0].xpath("string(property[@name='b_track'])") == str(len(tracks) - 1)
    again = _resaved(project, env)
    assert _preview_tracks(again) == 1
    clips = etree.parse(str(again)).getroot().xpath("//producer[property[@name='latent:preview']='1']")
    assert clips and all(c.xpath("string(property[@name='refresh'])") == "1" for c in clips)
    after, _ = _conformed(again, "after")
    assert after.meta.sha256 == before.meta.sha256
    np.testing.assert_allclose(block_centres(melt_frames(again, 75, env=env, qt=True)), block_centres(preview), atol=10)
