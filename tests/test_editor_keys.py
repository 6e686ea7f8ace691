"""Keyframes from the editor: a project's guides and a clip's markers become pool frames, through curation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentcut.editor.keys import guide_frames, pool_frames_from_project
from latentcut.errors import ProjectError
from latentcut.latent.sidecar import load_sequence


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
    assert guide_frames(project) == [1, 3]
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


def test_a_clips_markers_name_the_pool_frames_of_its_frames(edit):
    project = edit / "edit.kdenlive"
    text = project.read_text()
    marker = '<property name="kdenlive:markers">[{"comment": "x", "pos": 2, "type": 0}, {"comment": "y", "pos": 0, "type": 0}]</property>'
    project.write_text(
        text.replace(
            '<property name="kdenlive:clipname">picked</property>',
            '<property name="kdenlive:clipname">picked</property>' + marker,
            1,
        )
    )
    pool = load_sequence(edit / "pool.z.npy")
    assert pool_frames_from_project(project, pool, "picked") == [8, 5]
    with pytest.raises(ProjectError, match="no clip named 'other'"):
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
