"""The preview beside a project: the daemon's frames of the conformed edit, kept up to date by saves, changed frames only."""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import shutil
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from daemons import daemon_thread, process
from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.transport import Connection
from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.editor.mlt_module import mlt_environment
from latentcut.latent.look import Look
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence
from latentcut.programs import run_program
from latentcut.render.encode import VideoWriter, container_tags, encoding_for
from latentcut.watch.preview import PreviewFile
from resave import RESAVE, needs_kdenlive

SIZE = (32, 32)
SCREENSHOT_ENV = "LATENTCUT_KDENLIVE_SCREENSHOT"  # set it to a path to keep the screenshot for a person to look at
# Clip a faded in from black over its first 8 frames, a gap (frames 25-29), a again with a lane (a noise walk around its
# path); b on the upper track dissolving in over a's frames 15-19. Producers give their lengths: the conform needs the
# sidecars only, never the proxies.
EDIT = """<mlt><profile width="32" height="32" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="1"
 display_aspect_den="1" frame_rate_num="25" frame_rate_den="1" colorspace="709"/>
<producer id="a" in="0" out="59"><property name="length">60</property><property name="resource">a.mkv</property></producer>
<producer id="b" in="0" out="59"><property name="length">60</property><property name="resource">b.mkv</property></producer>
<playlist id="l0"><entry producer="a" in="0" out="19"><filter in="0" out="7"><property name="mlt_service">brightness</property>
<property name="kdenlive_id">fade_from_black</property><property name="level">0=0;7=1</property></filter></entry>
<blank length="10"/><entry producer="a" in="30" out="{a_out}"><filter><property name="mlt_service">latent_controls</property>
<property name="noise_angle">0=0;9=25</property><property name="noise_seed">3</property><property name="noise_smooth">4</property></filter></entry></playlist>
<playlist id="l1"><blank length="15"/><entry producer="b" in="0" out="9"/></playlist>
<tractor id="t"><track producer="l0"/><track producer="l1"/><transition in="15" out="19"><property name="a_track">0</property>
<property name="b_track">1</property><property name="mlt_service">luma</property></transition></tractor></mlt>"""


def _edit(folder: Path, a_out: int = 39) -> Path:
    for name, seed in (("a", 1), ("b", 2)):
        if not (folder / f"{name}.z.npy").exists():
            save_sequence(folder / f"{name}.z.npy", gaussian_latents(60, 512, seed), fps=Fraction(25))
    project = folder / "edit.mlt"
    project.write_text(EDIT.format(a_out=a_out))
    return project


@pytest.mark.slow
def test_the_preview_is_the_daemons_render_of_the_conformed_edit_at_proxy_size(tmp_path, run_cli, decode_video, cppn):
    _edit(tmp_path)
    with daemon_thread(tmp_path) as address:
        previewed = run_cli("watch", "edit.mlt", "--daemon", address, "--preview", "--once", "--blend", "pixel")
        assert previewed.returncode == 0, previewed.stderr
        assert "preview edit.latent-preview.mkv: 40 frames, 40 changed, 40 rendered" in previewed.stdout
        rendered = run_cli(
            "watch", "edit.mlt", "--daemon", address, "--once", "--blend", "pixel", "--codec", "ffv1", "--output", "edit.mkv"
        )
        assert rendered.returncode == 0, rendered.stderr
    preview, job = decode_video(tmp_path / "edit.latent-preview.mkv", SIZE), decode_video(tmp_path / "renders/edit.mkv", SIZE)
    assert preview.shape == (40, *SIZE, 3)  # the project's size: what Kdenlive shows it at
    np.testing.assert_array_equal(preview, job)  # the daemon's job of the same conformed edit, frame for frame
    assert preview[25:30].max() == 0 and preview[0].max() == 0 and preview[20:25].mean() > 20  # the gap and the fade
    conformed = run_cli("conform", "edit.mlt", "-o", "plain.z.npy")  # the lane moves the latents the render shows
    assert conformed.returncode == 0, conformed.stderr
    plain = cppn.render(np.asarray(load_sequence(tmp_path / "plain.z.npy").latents[30:40]), SIZE)
    assert np.abs(plain.astype(int) - preview[30:40]).mean() > 10  # the preview shows the walk, as the job does
    assert container_tags(tmp_path / "edit.latent-preview.mkv")["latentcut_preview_of"] == "edit.mlt"


def _frames(seed: int, count: int) -> np.ndarray:
    return gaussian_latents(count, 512, seed)


@pytest.mark.slow
def test_after_a_change_only_its_frames_are_rendered_and_only_their_segments_encoded(tmp_path, decode_video, cppn):
    size = (16, 16)
    latents = _frames(1, 300)
    with daemon_thread(tmp_path) as address, Connection(address) as connection:
        client = DaemonClient(connection)
        store = tmp_path / "store"

        def update(preview: PreviewFile, rows: np.ndarray, **extra):
            return preview.update(FrameArrays.plain(rows), "builtin:cppn", Look(), size, Fraction(25), **extra)

        preview = PreviewFile(tmp_path / "edit.latent-preview.mkv", client, store=store)
        first = update(preview, latents)
        assert (first.frames, first.changed, first.rendered, first.encoded) == (300, 300, 300, first.segments)
        assert first.segments >= 3  # cut by content, so that a change re-encodes little
        shown = os.stat(preview.path).st_ino

        changed = latents.copy()
        changed[150:160] = _frames(2, 10)  # ten frames in the middle changed
        second = update(preview, changed)
        assert (second.changed, second.rendered) == (10, 10)
        assert 1 <= second.encoded <= 2 and second.encoded < second.segments
        assert os.stat(preview.path).st_ino != shown  # a new file renamed over the old: a player never sees half of one
        np.testing.assert_array_equal(decode_video(preview.path, size), cppn.render(changed, size))

        grown = np.concatenate([_frames(3, 25), changed])  # a whole new clip at the start; the rest only moved
        third = update(preview, grown)
        assert (third.frames, third.changed, third.rendered) == (325, 25, 25)
        assert third.encoded < third.segments  # the segments after the new clip are the same content, stored already
        np.testing.assert_array_equal(decode_video(preview.path, size), cppn.render(grown, size))

        again = PreviewFile(preview.path, client, store=store)  # a watcher started again goes on where the last stopped
        same = update(again, grown)
        assert (same.changed, same.rendered, same.encoded) == (0, 0, 0)

        asked = iter([False, True])  # a newer save comes while the first of the new frames are rendered
        newer = np.concatenate([grown, _frames(4, 150)])
        assert update(again, newer, superseded=lambda: next(asked, True)) is None
        np.testing.assert_array_equal(decode_video(preview.path, size), cppn.render(grown, size))  # left as it was
        resumed = update(again, newer)
        assert resumed.changed == 150 and resumed.rendered < 150  # what was rendered before the save is not asked again
        np.testing.assert_array_equal(decode_video(preview.path, size), cppn.render(newer, size))


def _kdenlive_save(project: Path, text: str) -> None:
    temp = project.with_name(f"{project.name}.Ab12Cd")
    temp.write_text(text)
    os.replace(temp, project)


def _wait_for(child, text: str, count: int = 1, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = [line for line in child.output().splitlines() if text in line]
        if len(lines) >= count:
            return lines[count - 1]
        assert child.poll() is None, child.output()
        time.sleep(0.05)
    raise AssertionError(f"no {text!r} (x{count}) in {child.output()}")


@pytest.mark.slow
def test_watch_preview_updates_the_preview_on_every_save_that_changes_the_edit(tmp_path, decode_video):
    project = _edit(tmp_path)
    with (
        daemon_thread(tmp_path) as address,
        process("watch", "edit.mlt", "--daemon", address, "--preview", cwd=tmp_path) as watch,
    ):
        assert "40 frames, 40 changed, 40 rendered" in _wait_for(watch, "preview edit.latent-preview.mkv")
        _kdenlive_save(project, EDIT.format(a_out=41))  # the last clip plays two frames longer
        line = _wait_for(watch, "preview edit.latent-preview.mkv", 2)
        assert "42 frames, 2 changed, 2 rendered" in line, line
        _kdenlive_save(project, EDIT.format(a_out=41).replace("<mlt>", "<mlt >"))
        _wait_for(watch, "did not change")
        _kdenlive_save(project, EDIT.format(a_out=43)[:300])  # half written
        _wait_for(watch, "not sent: ")  # one line, and the watcher goes on
        _kdenlive_save(project, EDIT.format(a_out=43))
        assert "44 frames, 2 changed, 2 rendered" in _wait_for(watch, "preview edit.latent-preview.mkv", 3)
    frames = decode_video(tmp_path / "edit.latent-preview.mkv", SIZE)
    assert len(frames) == 44 and frames[43].mean() > 20 and frames[25:30].max() == 0


# ----- Kdenlive's own monitor, with the preview on its timeline, while the preview file is replaced


def _solid(path: Path, colour: tuple[int, int, int], frames: int) -> None:
    pictures = np.zeros((frames, 128, 128, 3), np.uint8)
    pictures[:] = colour
    with VideoWriter(path, (128, 128), Fraction(25), encoding_for(path, "online")) as writer:
        writer.write(pictures)


def _x11grab() -> bool:
    if shutil.which("ffmpeg") is None:
        return False
    devices = run_program(["ffmpeg", "-hide_banner", "-devices"], stall_s=30, text=True).stdout
    return "x11grab" in devices


class _Kdenlive:
    """Kdenlive in the re-save tool's sandbox (its own Xvfb, D-Bus and HOME), driven through its actions over D-Bus."""

    def __init__(self, project: Path) -> None:
        loader = importlib.machinery.SourceFileLoader("kdenlive_resave", str(RESAVE))
        tool = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
        loader.exec_module(tool)
        options = argparse.Namespace(
            verbose=False, screen="1600x1000", kdenlive="kdenlive", data_dir=[], debug_dir=None, keep_tmp=False,
            strict=True, missing="fail", settle=3.0,
        )  # fmt: skip
        self.sandbox = tool.Sandbox(options)
        self.project = project

    def __enter__(self) -> _Kdenlive:
        try:
            self.sandbox.start(str(self.project))
            self.sandbox.wait_loaded(self.project.stem, time.time() + 180)
        except BaseException:
            self.sandbox.close()
            raise
        self.act("raise_project_monitor")
        return self

    def __exit__(self, *exc: object) -> None:
        self.sandbox.close()

    def act(self, action: str) -> None:
        self.sandbox.gdbus("org.kde.KMainWindow.activateAction", action)
        time.sleep(0.3)

    def _grab(self, *output: str) -> bytes:
        command = ["ffmpeg", "-v", "error", "-y", "-f", "x11grab", "-video_size", "1600x1000", "-i", self.sandbox.env["DISPLAY"]]
        return run_program([*command, "-frames:v", "1", *output], stall_s=30, check=True).stdout

    def screen(self) -> np.ndarray:
        return np.frombuffer(self._grab("-f", "rawvideo", "-pix_fmt", "rgb24", "-"), np.uint8).reshape(1000, 1600, 3)

    def screenshot(self, path: Path) -> None:
        self._grab(str(path))

    def shows(self, colour: tuple[int, int, int]) -> bool:
        """Whether the monitor shows ``colour``: a picture-sized area of it (thumbnails in the bin and timeline are small)."""
        near = np.abs(self.screen().astype(int) - colour).max(axis=2) <= 24
        return int(near.sum()) >= 8000

    def seek_until(self, colour: tuple[int, int, int], timeout_s: float = 20.0) -> float:
        """Step a frame forward and back until the monitor shows ``colour``; the seconds it took."""
        started = time.monotonic()
        step = 0
        while not self.shows(colour):
            if time.monotonic() - started > timeout_s:
                self.screenshot(self.project.with_name("kdenlive-failed.png"))
                raise AssertionError(f"the monitor never showed {colour}; see {self.project.with_name('kdenlive-failed.png')}")
            self.act("monitor_seek_forward-one-frame" if step % 2 == 0 else "monitor_seek_backward-one-frame")
            step += 1
        return time.monotonic() - started


RED, GREEN, CYAN, YELLOW, BLUE = (200, 0, 0), (0, 200, 0), (0, 200, 200), (200, 200, 0), (0, 0, 200)


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.skipif(not _x11grab(), reason="ffmpeg cannot grab the X screen (x11grab)")
def test_kdenlive_shows_the_newest_preview_at_the_next_seek_after_the_file_is_replaced(tmp_path, monkeypatch, cli):
    """Kdenlive 22.12 reloads a clip whose file was replaced, but misses a replacement that comes while it reloads; the
    latent producer (refresh=1) opens the newest file itself. The monitor shows the newest frames at the next seek, and
    past the end of a shorter file the track below."""
    _solid(tmp_path / "base.mkv", BLUE, 60)
    save_sequence(tmp_path / "base.z.npy", gaussian_latents(60, 512, 1), fps=Fraction(25))
    project = tmp_path / "edit.kdenlive"
    write_kdenlive_project(project, project_clips([tmp_path / "base.mkv"], project), timeline=True)
    preview = tmp_path / "edit.latent-preview.mkv"
    _solid(preview, RED, 60)
    assert cli("project", "preview", "edit.kdenlive").returncode == 0
    for key, value in mlt_environment().items():
        monkeypatch.setenv(key, value)
    for name, colour, frames in (("green", GREEN, 60), ("cyan", CYAN, 60), ("short", YELLOW, 20)):
        _solid(tmp_path / f"{name}.mkv", colour, frames)
    with _Kdenlive(project) as kdenlive:
        kdenlive.act("monitor_seek_forward-one-second")
        kdenlive.seek_until(RED)
        (tmp_path / "green.mkv").replace(preview)  # as the watcher replaces it: a new file renamed over the old
        (tmp_path / "cyan.mkv").replace(preview)  # and again at once: two saves in quick succession
        seconds = kdenlive.seek_until(CYAN)
        (tmp_path / "short.mkv").replace(preview)  # the edit got shorter: frames 20-59 are past the file's end
        kdenlive.act("monitor_seek_forward-one-second")  # frame 50 or so
        kdenlive.seek_until(BLUE)
        kdenlive.act("seek_start")
        kdenlive.seek_until(YELLOW)
        kdenlive.screenshot(Path(os.environ.get(SCREENSHOT_ENV) or tmp_path / "kdenlive-preview.png"))
        kdenlive.sandbox.save_as(str(tmp_path / "saved.kdenlive"), time.time() + 60)
    assert seconds < 10, seconds
    # Kdenlive loaded the clip again as its file changed, and kept it as long on the timeline as the edit, not as the file.
    saved = etree.parse(str(tmp_path / "saved.kdenlive")).getroot()
    ours = {p.get("id") for p in saved.xpath("producer[property[@name='latent:preview']='1']")}
    entries = [e for e in saved.xpath("playlist[@id!='main_bin']/entry") if e.get("producer") in ours]
    assert len(entries) == 1 and (entries[0].get("in"), entries[0].get("out")) in (("0", "59"), ("00:00:00.000", "00:00:02.360"))
