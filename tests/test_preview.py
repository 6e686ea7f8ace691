"""The preview beside a project: the daemon's frames of the conformed edit, kept up to date by saves, changed frames only."""

from __future__ import annotations

import os
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from daemons import daemon, process
from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.transport import Connection
from latentcut.latent.look import Look
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import save_sequence
from latentcut.render.encode import container_tags
from latentcut.watch.preview import PreviewFile

SIZE = (32, 32)
# Clip a faded in from black over its first 8 frames, a gap (frames 25-29), a again; b on the upper track dissolving in
# over a's frames 15-19. Producers give their lengths: the conform needs the sidecars only, never the proxies.
EDIT = """<mlt><profile width="32" height="32" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="1"
 display_aspect_den="1" frame_rate_num="25" frame_rate_den="1" colorspace="709"/>
<producer id="a" in="0" out="59"><property name="length">60</property><property name="resource">a.mkv</property></producer>
<producer id="b" in="0" out="59"><property name="length">60</property><property name="resource">b.mkv</property></producer>
<playlist id="l0"><entry producer="a" in="0" out="19"><filter in="0" out="7"><property name="mlt_service">brightness</property>
<property name="kdenlive_id">fade_from_black</property><property name="level">0=0;7=1</property></filter></entry>
<blank length="10"/><entry producer="a" in="30" out="{a_out}"/></playlist>
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
def test_the_preview_is_the_daemons_render_of_the_conformed_edit_at_proxy_size(tmp_path, run_cli, decode_video):
    _edit(tmp_path)
    with daemon(tmp_path) as (address, _):
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
    assert container_tags(tmp_path / "edit.latent-preview.mkv")["latentcut_preview_of"] == "edit.mlt"


def _frames(seed: int, count: int) -> np.ndarray:
    return gaussian_latents(count, 512, seed)


@pytest.mark.slow
def test_after_a_change_only_its_frames_are_rendered_and_only_their_segments_encoded(tmp_path, decode_video, cppn):
    size = (16, 16)
    latents = _frames(1, 300)
    with daemon(tmp_path) as (address, _), Connection(address) as connection:
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
    with daemon(tmp_path) as (address, _), process("watch", "edit.mlt", "--daemon", address, "--preview", cwd=tmp_path) as watch:
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
