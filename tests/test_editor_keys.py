"""Keyframes from the editor: a project's guides and a clip's markers become pool frames, through curation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentcut.conform.project import conform_project
from latentcut.conform.sidecars import StalePropertyWarning
from latentcut.editor.keys import guide_frames, pool_frames_from_project
from latentcut.errors import ProjectError
from latentcut.latent.sidecar import load_sequence
from latentcut.timeline.mlt_xml import read_mlt_document


def _with_property(project: Path, element: str, name: str, value: str) -> None:
    text = project.read_text()
    anchor = f'<{element}">' if element.startswith("playlist id=") else f"<{element}>"
    assert anchor in text, anchor
    project.write_text(text.replace(anchor, f'{anchor}<property name="{name}">{value}</property>', 1))


@pytest.fixture
def edit(cli, tmp_path):
    cli("sample", "pool.z.npy", "--count", "10", "--seed", "2")
    cli("pick", "pool.z.npy", "--frames", "8,3,5,6", "-o", "picked.z.npy")
    assert cli("render", "picked.z.npy", "-o", "picked.mp4", "--size", "64x48").returncode == 0
    assert cli("project", "new", "edit.kdenlive", "picked.mp4", "--timeline").returncode == 0
    return tmp_path


def test_guides_on_the_timeline_name_the_pool_frames_under_them(cli, edit):
    project = edit / "edit.kdenlive"
    guides = '[{"comment": "b", "pos": 3, "type": 0}, {"comment": "a", "pos": 1, "type": 0}]'
    _with_property(project, 'playlist id="main_bin', "kdenlive:docproperties.guides", guides)
    assert guide_frames(read_mlt_document(project)) == [1, 3]
    pool = load_sequence(edit / "pool.z.npy")
    assert pool_frames_from_project(project, pool) == [3, 6]
    result = cli("journeys", "pool.z.npy", "--count", "2", "-o", "trips", "--from", "edit.kdenlive", "--frames-per-segment", "2")
    assert result.returncode == 0, result.stderr
    assert {line.split(": ")[1] for line in result.stdout.splitlines()[:2]} <= {"3 -> 6", "6 -> 3"}
    one = cli("journey", "pool.z.npy", "--keys", "edit.kdenlive", "--frames-per-segment", "2", "-o", "trip.z.npy")
    assert one.returncode == 0, one.stderr
    pool_latents = np.load(edit / "pool.z.npy")
    np.testing.assert_array_equal(np.load(edit / "trip.z.npy")[[0, -1]], pool_latents[[3, 6]])
    timecodes = cli("journey", "pool.z.npy", "--keys", "00:00:00:03,00:00:00:06", "--frames-per-segment", "2", "-o", "tc.z.npy")
    assert timecodes.returncode == 0, timecodes.stderr
    np.testing.assert_array_equal(np.load(edit / "tc.z.npy"), np.load(edit / "trip.z.npy"))


def _with_markers(project: Path, clip: str, positions: str) -> None:
    text = project.read_text()
    marker = f'<property name="kdenlive:markers">[{positions}]</property>'
    anchor = f'<property name="kdenlive:clipname">{clip}</property>'
    project.write_text(text.replace(anchor, anchor + marker, 1))


def test_a_clips_markers_name_the_pool_frames_of_its_frames(edit):
    project = edit / "edit.kdenlive"
    _with_markers(project, "picked", '{"comment": "x", "pos": 2, "type": 0}, {"comment": "y", "pos": 0, "type": 0}')
    pool = load_sequence(edit / "pool.z.npy")
    assert pool_frames_from_project(project, pool, "picked") == [8, 5]
    assert pool_frames_from_project(project, pool, "picked.mp4") == [8, 5]  # the bin clip by its file's name too
    with pytest.raises(ProjectError, match="no bin clip 'other'; its clips are picked"):
        pool_frames_from_project(project, pool, "other")
    with pytest.raises(ProjectError, match="no guides"):
        pool_frames_from_project(project, pool)


def test_guides_and_markers_name_frames_of_a_curated_set_by_their_pool_numbers(cli, edit):
    project = edit / "edit.kdenlive"
    _with_property(project, 'playlist id="main_bin', "kdenlive:docproperties.guides", '[{"pos": 3}, {"pos": 1}]')
    cli("pick", "picked.z.npy", "--frames", "6,3,8", "-o", "cur.z.npy")  # pool frames 6, 3, 8: positions differ
    pool = np.load(edit / "pool.z.npy")
    one = cli("journey", "cur.z.npy", "--keys", "edit.kdenlive", "--frames-per-segment", "2", "-o", "trip.z.npy")
    assert one.returncode == 0, one.stderr
    np.testing.assert_array_equal(np.load(edit / "trip.z.npy")[[0, -1]], pool[[3, 6]])
    assert load_sequence(edit / "trip.z.npy").meta.made["keys"] == [1, 0]  # their places in cur.z.npy
    # A guide on a pool frame the set does not hold: one line naming the set and what it holds.
    cli("pick", "cur.z.npy", "--frames", "6,8", "-o", "less.z.npy")
    refused = cli("journey", "less.z.npy", "--keys", "edit.kdenlive", "--frames-per-segment", "2", "-o", "x.z.npy")
    assert refused.returncode == 1 and "less.z.npy holds no pool frame 3" in refused.stderr


def test_a_marker_resolves_to_the_sidecar_the_conform_picks_not_the_one_a_stale_property_names(cli, edit):
    # The proxy is re-rendered from another pick; the project still names the first one's sidecar.
    cli("pick", "pool.z.npy", "--frames", "1,2,4,7", "-o", "other.z.npy")
    assert cli("render", "other.z.npy", "-o", "other.mp4", "--size", "64x48").returncode == 0
    (edit / "other.mp4").replace(edit / "picked.mp4")
    project = edit / "edit.kdenlive"
    assert '"latent:sidecar">picked.z.npy<' in project.read_text()
    _with_markers(project, "picked", '{"comment": "x", "pos": 2, "type": 0}, {"comment": "y", "pos": 0, "type": 0}')
    _with_property(project, 'playlist id="main_bin', "kdenlive:docproperties.guides", '[{"pos": 0}, {"pos": 2}]')
    pool = load_sequence(edit / "pool.z.npy")
    with pytest.warns(StalePropertyWarning):
        shown = conform_project(project, None).sequences[0].path.name
    with pytest.warns(StalePropertyWarning):
        markers = pool_frames_from_project(project, pool, "picked")
    with pytest.warns(StalePropertyWarning):
        guides = pool_frames_from_project(project, pool)
    assert shown == "other.z.npy"
    assert markers == [1, 4]  # frames 0 and 2 of other.z.npy, not of picked.z.npy ([8, 5])
    assert guides == [1, 4]  # the same clip frames, through the conform
