"""OpenTimelineIO's ``latentcut`` media linker and hook: EDL, FCP XML and OTIO cuts relinked to their latents, and conformed through them."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import urllib.parse
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import tomllib

from indexclips import write_index_clip
from latentcut.conform.otio_linker import hook_function
from latentcut.conform.project import project_frame_map
from latentcut.errors import SidecarError
from latentcut.latent.sidecar import ZSequence, link_tags, load_sequence, save_sequence
from latentcut.programs import run_program
from latentcut.timeline.interchange import media_file
from test_interchange import EDL, _otio_timeline

DATA = Path(__file__).parent / "data"
PYPROJECT = Path(__file__).parents[1] / "pyproject.toml"


def _installed_entry_points(folder: Path) -> Path:
    """A site folder whose package metadata declares pyproject's opentimelineio.plugins entry points, as pip installs them."""
    table = tomllib.loads(PYPROJECT.read_text())["project"]["entry-points"]["opentimelineio.plugins"]
    dist = folder / "site" / "latentcut_otio_plugins-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: latentcut-otio-plugins\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[opentimelineio.plugins]\n" + "".join(f"{k} = {v}\n" for k, v in table.items()))
    return dist.parent


@pytest.fixture
def registered(tmp_path):
    """The plugin registered in this process through its entry point; OpenTimelineIO's manifest reloaded before and after."""
    site = str(_installed_entry_points(tmp_path / "registration"))
    sys.path.insert(0, site)
    otio.plugins.ActiveManifest(force_reload=True)
    yield
    sys.path.remove(site)
    otio.plugins.ActiveManifest(force_reload=True)


def _tagged_proxy(video: Path, clip_id: int, frames: int) -> ZSequence:
    """An index clip as latentcut render writes a proxy: its sidecar beside it under another name, named by its tags."""
    latents = np.zeros((frames, 4), np.float32)
    latents[:, 0], latents[:, 1] = clip_id, np.arange(frames)
    sidecar = video.with_name(f"latents-{video.stem}.z.npy")
    save_sequence(sidecar, latents, fps=Fraction(25))
    sequence = load_sequence(sidecar)
    write_index_clip(video, clip_id, frames, Fraction(25), sidecar=video.parent / "scratch.z.npy", tags=link_tags(sequence))
    return sequence


def _check_linked(timeline, expected: dict[str, ZSequence]) -> int:
    """Every clip of a known medium carries its latents, the proxy staying active; return how many clips."""
    count = 0
    for clip in timeline.find_clips():
        sequence = expected[media_file(clip, Path("/")).name]
        assert clip.active_media_reference_key == otio.schema.Clip.DEFAULT_MEDIA_KEY
        latent = clip.media_references()["latentcut"]
        assert isinstance(latent, otio.schema.GeneratorReference) and latent.generator_kind == "latentcut.z-sequence"
        params = latent.parameters
        assert params["sidecar"] == str(sequence.path.resolve()) and params["sha256"] == sequence.meta.sha256
        assert (params["frames"], params["fps"], params["model"]) == (sequence.meta.frames, "25/1", "")
        count += 1
    return count


def _fcp_sample(folder: Path) -> tuple[Path, dict[str, ZSequence]]:
    """Kdenlive's FCP 7 XML sample (22 media files, Windows paths from another machine): sidecars by name beside it."""
    project = folder / "sample.xml"
    shutil.copy(DATA / "otio-adapter/kdenlive_example_from_fcp.xml", project)
    urls = re.findall(r"<pathurl>([^<]+)</pathurl>", project.read_text())
    names = sorted({Path(urllib.parse.unquote(u).replace("\\", "/")).name for u in urls})
    expected = {}
    for number, name in enumerate(names, start=1):
        latents = np.full((50, 4), number, np.float32)
        save_sequence(folder / (Path(name).stem + ".z.npy"), latents, fps=Fraction(25))
        expected[name] = load_sequence(folder / (Path(name).stem + ".z.npy"))
    return project, expected


@pytest.mark.parametrize("cut", ["edl", "fcp7-sample", "otio"])
def test_otioconvert_relinks_an_edl_an_fcp_xml_and_an_otio_cut_to_their_latents(tmp_path, cut):
    if cut != "fcp7-sample":
        expected = {name: _tagged_proxy(tmp_path / name, n, 100) for n, name in enumerate(("a.mkv", "b.mkv"), start=1)}
    if cut == "edl":
        source, options = tmp_path / "cut.edl", ["-a", "rate=25"]
        source.write_text(EDL)
    elif cut == "otio":
        source, options = tmp_path / "cut.otio", []
        otio.adapters.write_to_file(_otio_timeline(tmp_path), str(source))
    else:
        (source, expected), options = _fcp_sample(tmp_path), []
    site = _installed_entry_points(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *os.environ.get("PYTHONPATH", "").split(os.pathsep)])}
    otioconvert = str(Path(sys.executable).with_name("otioconvert"))
    linker = ["--media-linker", "latentcut"]
    run_program(
        [otioconvert, "-i", str(source), "-o", "linked.otio", *options, *linker], stall_s=60, cwd=tmp_path, env=env, check=True
    )
    assert _check_linked(otio.adapters.read_from_file(str(tmp_path / "linked.otio")), expected) >= 3  # each clip is checked
    # And only when asked: without the linker the cut has no latents.
    run_program([otioconvert, "-i", str(source), "-o", "plain.otio", *options], stall_s=60, cwd=tmp_path, env=env, check=True)
    plain = otio.adapters.read_from_file(str(tmp_path / "plain.otio"))
    assert all("latentcut" not in clip.media_references() for clip in plain.find_clips())


def test_a_held_out_otio_cut_read_with_the_latentcut_linker_carries_each_clips_sidecar(tmp_path, registered):
    expected = {name: _tagged_proxy(tmp_path / name, number, 100) for number, name in enumerate(("a.mkv", "b.mkv"), start=1)}
    otio.adapters.write_to_file(_otio_timeline(tmp_path), str(tmp_path / "cut.otio"))
    assert "latentcut" in otio.media_linker.available_media_linker_names()
    timeline = otio.adapters.read_from_file(str(tmp_path / "cut.otio"), media_linker_name="latentcut")
    assert _check_linked(timeline, expected) == 5


def test_the_same_code_as_a_hook_script(tmp_path, registered, monkeypatch):
    _, expected = _fcp_sample(tmp_path)
    attach = tmp_path / "attach.plugin_manifest.json"
    attach.write_text(json.dumps({"OTIO_SCHEMA": "PluginManifest.1", "hooks": {"post_adapter_read": ["latentcut"]}}))
    monkeypatch.setenv("OTIO_PLUGIN_MANIFEST_PATH", str(attach))
    otio.plugins.ActiveManifest(force_reload=True)
    try:
        assert "latentcut" in otio.hooks.available_hookscript_names()
        timeline = otio.adapters.read_from_file(
            str(tmp_path / "sample.xml"), hook_function_argument_map={"folder": str(tmp_path)}, media_linker_name=None
        )
    finally:
        monkeypatch.delenv("OTIO_PLUGIN_MANIFEST_PATH")
        otio.plugins.ActiveManifest(force_reload=True)
    assert _check_linked(timeline, expected) > 20


def test_the_conform_of_a_cut_whose_media_cannot_be_read_follows_its_latentcut_references(tmp_path):
    media = tmp_path / "media"
    for number, name in enumerate(("a.mkv", "b.mkv"), start=1):
        _tagged_proxy(media / name, number, 100)
    linked = hook_function(_otio_timeline(media), {"folder": str(media)})
    otio.adapters.write_to_file(linked, str(media / "cut.otio"))
    before, _, _ = project_frame_map(media / "cut.otio")
    # The cut on another machine: the media paths lead nowhere, the sidecars are where the references say.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for clip in linked.find_clips():
        clip.media_reference.target_url = "file:///nowhere/" + Path(clip.media_reference.target_url).name
    otio.adapters.write_to_file(linked, str(elsewhere / "cut.otio"))
    for video in media.glob("*.mkv"):
        video.unlink()
    after, _, _ = project_frame_map(elsewhere / "cut.otio")
    np.testing.assert_array_equal(after.frame, before.frame)
    assert [info.found.path for info in after.infos] == [info.found.path for info in before.infos]
    # Without the references nothing leads to the latents; with a wrong sha256 the sidecar is refused.
    for clip in linked.find_clips():
        clip.set_media_references({"DEFAULT_MEDIA": clip.media_reference}, "DEFAULT_MEDIA")
    otio.adapters.write_to_file(linked, str(elsewhere / "bare.otio"))
    assert not project_frame_map(elsewhere / "bare.otio")[0].sources
    text = (elsewhere / "cut.otio").read_text()
    sha = before.infos[0].found.meta.sha256
    (elsewhere / "tampered.otio").write_text(text.replace(sha, "0" * 64))
    with pytest.raises(SidecarError, match="rendered from another version"):
        project_frame_map(elsewhere / "tampered.otio")
