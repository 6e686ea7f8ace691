"""What one output frame is: the conform's FrameArrays, rendered the same by `latentcut render` and the daemon, gaps black, fades faded."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexclips import MELT_TIMEOUT_S, profile_file
from latentcut.conform.frame_arrays import FrameArrays, sequence_frames
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence
from latentcut.programs import run_melt
from latentcut.render.range_frames import FrameMemo, render_range

SIZE = (32, 32)
# Clip a with a fade from black over its first 8 frames, then a gap (frames 25-29), then a again; clip b on the upper
# track dissolves in over a's frames 15-19 (a luma transition: a pixel blend, as MLT mixes the two pictures).
EDIT = """<mlt><profile width="32" height="32" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="1"
 display_aspect_den="1" frame_rate_num="25" frame_rate_den="1" colorspace="709"/>
<producer id="black_track" out="499"><property name="length">500</property><property name="resource">black</property>
<property name="mlt_service">color</property></producer>
<producer id="a"><property name="resource">a.mkv</property></producer><producer id="b"><property name="resource">b.mkv</property></producer>
<playlist id="l0"><entry producer="a" in="0" out="19"><filter in="0" out="7"><property name="mlt_service">brightness</property>
<property name="kdenlive_id">fade_from_black</property><property name="level">0=0;7=1</property></filter></entry>
<blank length="10"/><entry producer="a" in="30" out="39"/></playlist>
<playlist id="l1"><blank length="15"/><entry producer="b" in="0" out="9"/></playlist>
<tractor id="t"><track producer="l0"/><track producer="l1"/><transition in="15" out="19"><property name="a_track">0</property>
<property name="b_track">1</property><property name="mlt_service">luma</property></transition></tractor>
<tractor id="main"><track producer="black_track"/><track producer="t"/></tractor></mlt>"""


def _clips(tmp_path: Path, cli) -> Path:
    for name, seed, frames in (("a", 1, 40), ("b", 2, 10)):
        save_sequence(tmp_path / f"{name}.z.npy", gaussian_latents(frames, 512, seed), fps=Fraction(25))
        result = cli("render", f"{name}.z.npy", "-o", f"{name}.mkv", "--no-progress", "--size", "32x32")
        assert result.returncode == 0, result.stderr
    (tmp_path / "edit.mlt").write_text(EDIT)
    return tmp_path / "edit.mlt"


def _melt(project: Path, frames: int, output: Path) -> None:
    run_melt(
        ["melt", "-profile", str(profile_file(project)), str(project), "in=0", f"out={frames - 1}", "-consumer",
         f"avformat:{output}", "vcodec=ffv1", "pix_fmt=bgr0", "an=1", "real_time=-1", "terminate_on_pause=1"],
        output=output, timeout_s=MELT_TIMEOUT_S, cwd=project.parent, check=True,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.melt
def test_render_of_a_conformed_edit_equals_the_daemons_frame_for_frame(tmp_path, cli, decode_video, cppn):
    from daemons import daemon_thread

    project = _clips(tmp_path, cli)
    conformed = cli("conform", "edit.mlt", "-o", "cut.z.npy", "--blend", "pixel")
    assert conformed.returncode == 0, conformed.stderr
    frames = sequence_frames(load_sequence(tmp_path / "cut.z.npy"))
    assert frames.frames == 40 and (frames.opacity[25:30] == 0).all() and 0 < frames.opacity[3] < 1
    assert frames.blend_weight is not None and (frames.blend_weight[15:20] > 0).sum() >= 4
    rendered = cli("render", "cut.z.npy", "-o", "cut.mkv", "--preset", "online", "--codec", "ffv1", "--size", "32x32")
    assert rendered.returncode == 0, rendered.stderr
    with daemon_thread(tmp_path, "--cache", str(tmp_path / "cache")) as address:
        watched = cli(
            "watch", "edit.mlt", "--daemon", address, "--once", "--blend", "pixel", "--preset", "online", "--codec", "ffv1",
            "--output", "edit.mkv",
        )  # fmt: skip
        assert watched.returncode == 0, watched.stderr
    ours, daemons = decode_video(tmp_path / "cut.mkv", SIZE), decode_video(tmp_path / "renders/edit.mkv", SIZE)
    assert ours.shape == daemons.shape == (40, 32, 32, 3)
    np.testing.assert_array_equal(ours, daemons)  # the same frames through the one path
    assert ours[25:30].max() == 0 and ours[20:25].mean() > 20  # the gap is black, the frames around it are not
    # The fade from black: each picture at the conform's opacity (0, 1/7, ... 1), toward black in pixels.
    pictures = cppn.render(np.asarray(load_sequence(tmp_path / "cut.z.npy").latents[:8]), SIZE).astype(float)
    faded = (pictures * frames.opacity[:8, None, None, None] + 0.5).astype(np.uint8)
    assert np.abs(ours[:8].astype(int) - faded).max() <= 1 and ours[0].max() == 0
    # melt plays the same project over the proxies: black where we are black, and the fade starts from black.
    _melt(project, 40, tmp_path / "melt.mkv")
    melted = decode_video(tmp_path / "melt.mkv", SIZE)
    assert melted[25:30].max() <= 16 and melted[0].max() <= 16 and melted[20:25].mean() > 20


def test_each_distinct_latent_is_rendered_once_however_often_it_shows(cppn):
    class Counting:
        def __init__(self) -> None:
            self.spec, self.sha256, self.latent_dim, self.native_size, self.device = "count", "0" * 64, 512, (8, 8), "cpu"
            self.rows = 0

        def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
            self.rows += len(latents)
            return cppn.render(latents, size)

    counting = Counting()
    pool = gaussian_latents(3, 512, 4)
    held = np.repeat(pool, 8, axis=0)  # each latent held 8 frames, then the whole pool again
    latents = np.concatenate([held, held])
    memo = FrameMemo()
    pictures = np.concatenate([render_range(counting, (8, 8), FrameArrays.plain(part), memo) for part in np.split(latents, 6)])
    assert counting.rows == 3  # 48 frames, 3 latents: each made once, the repeats from the memo
    alone = np.concatenate([cppn.render(pool[i : i + 1], (8, 8)) for i in range(3)])
    np.testing.assert_array_equal(pictures, np.repeat(alone, 8, axis=0)[np.tile(np.arange(24), 2)])
