"""Beats and onsets: the beat finder on synthetic audio, and ``latentcut beats`` on a project's audio as melt mixes it."""

from __future__ import annotations

import json
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from indexclips import write_index_clip
from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.editor.mlt_module import mlt_environment
from latentcut.editor.soundtrack import Soundtrack, beat_times, frame_features, frames_at, onset_times
from resave import kdenlive_resave, needs_kdenlive

RATE = 22050
FPS = Fraction(25)


def clicks(times: np.ndarray, seconds: float, *, rate: int = RATE, noise: float = 0.0, pitch_hz: float = 2000.0) -> np.ndarray:
    """Mono float32 audio with a short decaying tone burst starting at each time, over optional white noise."""
    audio = np.random.default_rng(7).normal(0, noise, int(seconds * rate)).astype(np.float32)
    t = np.arange(int(0.012 * rate)) / rate
    burst = (0.8 * np.sin(2 * np.pi * pitch_hz * t) * np.exp(-t * 350)).astype(np.float32)
    for time in times:
        start = round(time * rate)
        audio[start : start + len(burst)] += burst[: len(audio) - start]
    return audio


def write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


def assert_marks_on_clicks(marks: np.ndarray, click_frames: np.ndarray) -> None:
    """A mark within one frame of every click, and at most two marks that are near no click."""
    missed = [int(f) for f in click_frames if np.abs(marks - f).min() > 1]
    stray = [int(m) for m in marks if np.abs(click_frames - m).min() > 1]
    assert not missed, f"clicks at frames {missed} have no mark within one frame; marks {marks.tolist()}"
    assert len(stray) <= 2, f"marks {stray} are on no click"


# ----- the beat finder, on synthetic audio


@pytest.mark.parametrize(
    ("bpm", "first_s", "noise"), [(120, 1.0, 0.0), (120, 0.37, 0.02), (90, 2.1, 0.0), (150, 0.6, 0.01)], ids=str
)
def test_beats_of_a_steady_click_track_fall_on_the_clicks(bpm, first_s, noise):
    truth = np.arange(first_s, 14.0, 60.0 / bpm)
    track = Soundtrack(clicks(truth, 15.0, noise=noise), RATE, Path("synthetic"))
    assert_marks_on_clicks(frames_at(beat_times(track), FPS), frames_at(truth, FPS))


def test_onsets_follow_an_irregular_rhythm_that_has_no_beat():
    gaps = np.random.default_rng(3).uniform(0.18, 0.9, 30)
    truth = 0.5 + np.cumsum(gaps)
    track = Soundtrack(clicks(truth, float(truth[-1]) + 1.0, noise=0.005), RATE, Path("synthetic"))
    found = onset_times(track)
    assert np.abs(found[:, None] - truth[None, :]).min(axis=0).max() < 0.02  # every click, within 20 ms
    assert len(found) <= len(truth) + 2


def test_what_a_lane_hears_per_frame_onsets_loudness_and_a_band_on_synthetic_audio():
    truth = np.arange(0.5, 5.5, 0.5)  # a click every 12.5 frames
    audio = clicks(truth, 6.0, pitch_hz=3000.0)
    audio[RATE * 2 : RATE * 3] += 0.3 * np.sin(2 * np.pi * 100 * np.arange(RATE) / RATE)  # a 100 Hz hum in second 2
    track = Soundtrack(audio.astype(np.float32), RATE, Path("synthetic"))
    onsets = frame_features(track, "onsets", FPS, 150)
    peaks = np.nonzero(onsets > 0.5)[0]
    assert_marks_on_clicks(peaks, frames_at(truth, FPS))
    assert onsets.max() == 1.0 and len(peaks) <= 2 * len(truth)
    loud = frame_features(track, "loudness", FPS, 150)
    assert loud[50:75].min() > 0.5 and loud[80:85].max() < 0.05 and loud.max() == 1.0
    hum = frame_features(track, "band", FPS, 150, (50.0, 200.0))
    assert hum[51:74].min() > 0.9 and hum[:48].max() < 0.05 and hum[77:].max() < 0.05  # the hum alone, not the clicks
    assert not frame_features(track, "loudness", FPS, 200)[151:].any()  # past the audio's end: 0


def test_frames_are_the_nearest_frame_each_once():
    assert frames_at(np.array([0.0, 0.019, 0.021, 0.5, 0.51]), FPS).tolist() == [0, 1, 12, 13]


# ----- latentcut beats, on a project's own audio


def _project_with_music(folder: Path, *, blank_frames: int) -> tuple[Path, np.ndarray]:
    """A Kdenlive 22.12 project: a latent clip on V1, a 120 BPM click track on A1 after ``blank_frames``; the click times."""
    truth = np.arange(1.0, 12.0, 0.5)
    write_wav(folder / "click.wav", clicks(truth, 13.0, rate=44100), 44100)
    write_index_clip(folder / "v.mkv", 1, 400, FPS)
    project = folder / "edit.kdenlive"
    write_kdenlive_project(project, project_clips([folder / "v.mkv"], project), timeline=True)
    tree = etree.parse(str(project))
    root = tree.getroot()
    main_bin = root.xpath("//playlist[@id='main_bin']")[0]
    music = etree.Element("producer", {"id": "music", "in": "0", "out": "324"})
    for name, value in (
        ("length", "325"),
        ("resource", "click.wav"),
        ("mlt_service", "avformat"),
        ("kdenlive:clipname", "click"),
        ("kdenlive:id", "9"),
    ):
        etree.SubElement(music, "property", name=name).text = value
    main_bin.addprevious(music)
    etree.SubElement(main_bin, "entry", {"producer": "music", "in": "0", "out": "324"})
    lane = root.xpath("//playlist[@id='trA1a']")[0]
    etree.SubElement(lane, "blank", length=str(blank_frames))
    etree.SubElement(lane, "entry", {"producer": "music", "in": "0", "out": "324"})
    tree.write(str(project))
    return project, truth


def _marks(project: Path, xpath: str) -> np.ndarray:
    text = etree.parse(str(project)).getroot().xpath(f"string({xpath})")
    return np.array([m["pos"] for m in json.loads(text)])


def test_guides_land_on_the_clicks_of_a_120_bpm_track_where_melt_plays_it(tmp_path, cli):
    _, truth = _project_with_music(tmp_path, blank_frames=10)
    done = cli("beats", "edit.kdenlive", "-o", "guides.kdenlive")
    assert done.returncode == 0, done.stderr
    assert "22 guides at beats (120" in done.stdout
    guides = _marks(tmp_path / "guides.kdenlive", "//playlist[@id='main_bin']/property[@name='kdenlive:docproperties.guides']")
    assert_marks_on_clicks(guides, frames_at(truth + 10 / 25, FPS))  # the blank before the music moves every guide
    every = cli("beats", "guides.kdenlive", "-o", "bars.kdenlive", "--onsets", "--every", "4")
    assert every.returncode == 0, every.stderr
    bars = _marks(tmp_path / "bars.kdenlive", "//playlist[@id='main_bin']/property[@name='kdenlive:docproperties.guides']")
    assert_marks_on_clicks(bars, frames_at(truth[::4] + 10 / 25, FPS))  # the earlier run's guides are replaced, not added


def test_markers_go_on_one_clip_at_its_own_beats_and_on_its_timeline_copies(tmp_path, cli):
    _, truth = _project_with_music(tmp_path, blank_frames=40)
    done = cli("beats", "edit.kdenlive", "-o", "marked.kdenlive", "--markers", "click")
    assert done.returncode == 0, done.stderr
    markers = _marks(tmp_path / "marked.kdenlive", "//producer[@id='music']/property[@name='kdenlive:markers']")
    assert_marks_on_clicks(markers, frames_at(truth, FPS))  # in the clip's own frames, wherever it sits
    missing = cli("beats", "edit.kdenlive", "-o", "x.kdenlive", "--markers", "nosuch")
    assert missing.returncode == 1 and "no bin clip 'nosuch'" in missing.stderr and len(missing.stderr.splitlines()) == 1


def test_a_project_without_sound_is_one_line(tmp_path, cli):
    write_index_clip(tmp_path / "v.mkv", 1, 50, FPS)
    write_kdenlive_project(
        tmp_path / "quiet.kdenlive", project_clips([tmp_path / "v.mkv"], tmp_path / "quiet.kdenlive"), timeline=True
    )
    done = cli("beats", "quiet.kdenlive", "-o", "out.kdenlive")
    assert done.returncode == 1 and "plays no sound" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "out.kdenlive").exists()


@pytest.mark.kdenlive
@needs_kdenlive
def test_kdenlive_keeps_the_guides(tmp_path, cli):
    _project_with_music(tmp_path, blank_frames=10)
    assert cli("beats", "edit.kdenlive", "-o", "guides.kdenlive").returncode == 0
    resaved = tmp_path / "resaved.kdenlive"
    result = kdenlive_resave(tmp_path / "guides.kdenlive", resaved, mlt_environment())
    assert result.returncode == 0, result.stderr
    xpath = "//playlist[@id='main_bin']/property[@name='kdenlive:docproperties.guides']"
    ours, theirs = (
        json.loads(etree.parse(str(p)).getroot().xpath(f"string({xpath})")) for p in (tmp_path / "guides.kdenlive", resaved)
    )
    assert [(g["pos"], g["comment"]) for g in theirs] == [(g["pos"], g["comment"]) for g in ours] and len(ours) == 22
