"""A cut of tracked performances keeps their StyleGAN input controls: the conform, the watcher's job, and what they refuse."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from indexclips import write_index_clip
from latentcut.conform.project import conform_project
from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.errors import ConformError
from latentcut.latent.controls import InputControls, load_controls, save_controls
from latentcut.latent.sidecar import ModelRef, load_sequence, save_sequence

FPS = Fraction(25)
SG3 = ModelRef("tiny-sg3.pkl", "3" * 64)


def _clip(folder: Path, name: str, clip_id: int, frames: int, controls: np.ndarray | None, model: ModelRef = SG3) -> Path:
    """A clip's video (an index clip) and its sidecar ``name.z.npy``, with ``controls`` recorded as ``latentcut react`` does."""
    video = folder / f"{name}.mkv"
    write_index_clip(video, clip_id, frames, FPS, sidecar=folder / "scratch" / f"{name}.z.npy")
    latents = np.random.default_rng(clip_id).standard_normal((frames, 16)).astype(np.float32)
    made: dict[str, object] = {"how": "performed" if controls is not None else "journey"}
    if controls is not None:
        made["controls"] = save_controls(folder / f"{name}.z.npy", InputControls.from_array(controls))
    save_sequence(folder / f"{name}.z.npy", latents, fps=FPS, model=model, made=made)
    return video


def _translation(frames: int, seed: int) -> np.ndarray:
    """StyleGAN3 controls that differ on every frame: translate and rotate, no const_noise."""
    table = np.zeros((frames, 4), np.float32)
    table[:, :3] = np.random.default_rng(seed).uniform(-0.5, 0.5, (frames, 3)) * [1, 1, 90]
    return table


def _edit(folder: Path, videos: list[Path]) -> Path:
    """V1: performance frames 5-14 and 20-29, then journey frames 0-3; V2 from frame 14: performance two, 0-4, dissolving in over 14-18.

    Timeline frame 14 + k (k = 0..4) mixes performance frame 24 + k toward performance two's frame k with MLT's weight k / 5.
    """
    project = folder / "cut.kdenlive"
    write_kdenlive_project(project, project_clips(videos, project), tracks=[[(0, 5, 14), (0, 20, 29), (2, 0, 3)], [(1, 0, 4)]])
    tree = etree.parse(str(project))
    upper = tree.find(".//playlist[@id='trV2a']")
    assert upper is not None
    upper.insert(0, etree.Element("blank", length="14"))
    dissolve = etree.SubElement(tree.find(".//tractor[@id='maintractor']"), "transition", {"in": "14", "out": "18"})
    for name, value in (("a_track", "2"), ("b_track", "3"), ("mlt_service", "luma")):
        etree.SubElement(dissolve, "property", name=name).text = value
    tree.write(str(project))
    return project


@pytest.fixture
def performances(tmp_path: Path) -> dict[str, np.ndarray]:
    controls = {"perf": _translation(30, 1), "perf2": _translation(10, 2)}
    videos = [
        _clip(tmp_path, "perf", 1, 30, controls["perf"]),
        _clip(tmp_path, "perf2", 2, 10, controls["perf2"]),
        _clip(tmp_path, "journey", 3, 8, None),
    ]
    _edit(tmp_path, videos)
    return controls


def test_the_conform_of_a_cut_carries_the_performances_controls_and_dissolves_them(tmp_path, performances):
    result = conform_project(tmp_path / "cut.kdenlive", tmp_path / "out.z.npy")
    perf, perf2 = performances["perf"], performances["perf2"]
    cut = load_sequence(tmp_path / "out.z.npy")
    assert cut.meta.frames == 24 and cut.meta.made["controls"]["file"] == "out.controls.npy"
    controls = load_controls(cut)  # what `latentcut render out.z.npy` applies: checked against the sidecar's hash
    assert controls is not None and result.controls is not None
    table = controls.table()
    np.testing.assert_array_equal(table, result.controls.table())
    np.testing.assert_array_equal(table[:10], perf[5:15])  # the cut's frames are the source rows
    np.testing.assert_array_equal(table[10:14], perf[20:24])
    weights = np.arange(5, dtype=np.float32)[:, None] / 5  # the dissolve: MLT's weight, as the latents have it
    np.testing.assert_allclose(table[14:19], (1 - weights) * perf[24:29] + weights * perf2[0:5], atol=1e-6)
    np.testing.assert_array_equal(table[19], perf[29])  # V2 ends: V1 shows again
    np.testing.assert_array_equal(table[20:24], 0)  # a journey with no controls: no change to the model's input
    np.testing.assert_array_equal(np.load(tmp_path / "out.z.npy")[:10], np.load(tmp_path / "perf.z.npy")[5:15])
    # Conformed again: the same files, byte for byte; a performance tracked again: another sequence id.
    first = (tmp_path / "out.controls.npy").read_bytes(), (tmp_path / "out.z.json").read_bytes()
    conform_project(tmp_path / "cut.kdenlive", tmp_path / "out.z.npy")
    assert ((tmp_path / "out.controls.npy").read_bytes(), (tmp_path / "out.z.json").read_bytes()) == first
    record = save_controls(tmp_path / "perf.z.npy", InputControls.from_array(perf * 2))
    save_sequence(tmp_path / "perf.z.npy", np.load(tmp_path / "perf.z.npy"), fps=FPS, model=SG3, made={"controls": record})
    again = conform_project(tmp_path / "cut.kdenlive", tmp_path / "out.z.npy")
    assert again.meta is not None and result.meta is not None and again.meta.id != result.meta.id
    np.testing.assert_array_equal(load_controls(load_sequence(tmp_path / "out.z.npy")).table()[:10], perf[5:15] * 2)


def test_the_watcher_sends_the_controls_with_its_job(tmp_path, performances):
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection
    from latentcut.latent.look import LookOptions
    from latentcut.watch.session import WatchOptions, WatchSession

    connection = Connection("tcp://127.0.0.1:9")  # never asked: conforming a save needs no daemon
    try:
        lines: list[str] = []
        session = WatchSession(
            tmp_path / "cut.kdenlive",
            DaemonClient(connection),
            WatchOptions(look=LookOptions(model="tiny-sg3.pkl")),
            lines.append,
        )
        session.conform()
    finally:
        connection.close()
    assert session.pending is not None and session.pending.arrays.controls is not None, lines
    np.testing.assert_array_equal(session.pending.arrays.controls[:10], performances["perf"][5:15])
    assert session.pending.arrays.controls.shape == (24, 4) and session.pending.arrays.controls.dtype == np.float32


def test_a_pixel_blend_another_model_or_other_controls_are_refused_in_one_line(tmp_path, performances):
    project = tmp_path / "cut.kdenlive"
    with pytest.raises(ConformError, match="perf.z.npy carries StyleGAN input controls .* --blend pixel keeps two; conform with"):
        conform_project(project, tmp_path / "out.z.npy", blend="pixel")
    assert not (tmp_path / "out.z.npy").exists() and not (tmp_path / "out.controls.npy").exists()
    # The journey made with another model: its latents would be rendered with the performance's, under its controls.
    save_sequence(tmp_path / "journey.z.npy", np.load(tmp_path / "journey.z.npy"), fps=FPS, model=ModelRef("other.pkl", "4" * 64))
    with pytest.raises(ConformError, match="carries input controls for tiny-sg3.pkl, but journey.z.npy was made with other.pkl"):
        conform_project(project, None)
    # A StyleGAN2 performance (const_noise) cut with StyleGAN3 ones (translate, rotate): no one model takes both.
    save_sequence(tmp_path / "journey.z.npy", np.load(tmp_path / "journey.z.npy"), fps=FPS, model=SG3)
    noise = np.zeros((10, 4), np.float32)
    noise[:, 3] = 0.5
    record = save_controls(tmp_path / "perf2.z.npy", InputControls.from_array(noise))
    save_sequence(tmp_path / "perf2.z.npy", np.load(tmp_path / "perf2.z.npy"), fps=FPS, model=SG3, made={"controls": record})
    with pytest.raises(ConformError, match="perf.z.npy carries StyleGAN3 input controls but perf2.z.npy StyleGAN2 ones"):
        conform_project(project, None)


def test_conform_on_the_command_line_names_the_controls_or_refuses_in_one_line(cli, performances):
    done = cli("conform", "cut.kdenlive", "-o", "out.z.npy", "--explain")
    assert done.returncode == 0, done.stderr
    assert "wrote out.controls.npy: the input controls of its tracked performances, one row per frame" in done.stdout
    # --explain names each sidecar's controls and counts the frames they steer: 20 of the performances', not the journey's 4
    sidecars = {line.split(" -> ")[0].strip(): line for line in done.stdout.splitlines() if " -> " in line}
    assert sidecars["perf.mkv"].endswith(", input controls perf.controls.npy)") and "controls" not in sidecars["journey.mkv"]
    assert "input controls (20 frames steered)" in done.stdout and "written to out.controls.npy" in done.stdout
    refused = cli("conform", "cut.kdenlive", "-o", "pixel.z.npy", "--blend", "pixel")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1 and "--blend pixel keeps two" in refused.stderr
    held = cli("render", "out.z.npy", "-o", "held.mp4", "--hold", "2")  # a held copy would lose the controls: refused
    assert held.returncode == 2 and "out.z.npy: its input controls are one row per frame as it is" in held.stderr


def test_slow_motion_between_source_frames_moves_the_controls_on_linearly(tmp_path, performances):
    import dataclasses

    from latentcut.conform.controls import conformed_controls

    conform = conform_project(tmp_path / "cut.kdenlive", None)
    fraction = np.zeros(conform.result.source.shape)
    fraction[:10, 0] = 0.25  # frames 0-9 show performance frames 5-14, a quarter of the way on to the next
    controls = conformed_controls(dataclasses.replace(conform.result, fraction=fraction), conform.sequences)
    perf = performances["perf"]
    assert controls is not None
    np.testing.assert_allclose(controls.table()[:10], 0.75 * perf[5:15] + 0.25 * perf[6:16], atol=1e-6)
    np.testing.assert_array_equal(controls.table()[10:], conform.controls.table()[10:])
