"""Projects written by ``latentcut project new``: melt plays them as the proxies, the conform follows them, Kdenlive opens them."""

from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexclips import block_centres, melt_frames, write_index_clip
from latentcut.conform.project import conform_project
from latentcut.errors import ProjectError
from latentcut.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.mlt_module import mlt_environment

RESAVE = Path(__file__).parent / "tools" / "kdenlive-resave"
needs_kdenlive = pytest.mark.skipif(
    shutil.which("kdenlive") is None or shutil.which("Xvfb") is None,
    reason="Kdenlive 22.12 and Xvfb are not installed (LATENTCUT_KDENLIVE=1 ./install.sh installs them)",
)


@pytest.fixture
def clips(tmp_path):
    pixels = {
        "a": write_index_clip(tmp_path / "clips/a.mkv", 1, 30, Fraction(25)),
        "b": write_index_clip(tmp_path / "clips/b.mkv", 2, 45, Fraction(25)),
    }
    return tmp_path, pixels


def _write(folder: Path, *, timeline: bool = True) -> Path:
    project = folder / "edit.kdenlive"
    write_kdenlive_project(project, project_clips([folder / "clips/a.mkv", folder / "clips/b.mkv"], project), timeline=timeline)
    return project


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


@pytest.mark.kdenlive
@needs_kdenlive
def test_real_kdenlive_opens_it_without_a_word_and_its_save_conforms_the_same(clips):
    folder, _ = clips
    project = _write(folder)
    resaved = folder / "resaved.kdenlive"
    result = subprocess.run(
        [str(RESAVE), "--strict", str(project), str(resaved)], capture_output=True, text=True, timeout=300, env=mlt_environment()
    )
    assert result.returncode == 0, result.stderr
    assert "answered" not in result.stderr.lower()
    text = resaved.read_text()
    assert '<property name="mlt_service">latent</property>' in text and "latent:sidecar" in text
    first = conform_project(project, folder / "one.z.npy")
    second = conform_project(resaved, folder / "two.z.npy")
    assert first.meta.sha256 == second.meta.sha256
