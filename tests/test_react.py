"""Visual-reactive control on generated videos: one latent per frame, still stays still, a cut is the biggest jump."""

import json
import subprocess
from fractions import Fraction

import numpy as np
import pytest

from latentcut.errors import InputError, UsageError
from latentcut.react.performance import ReactSettings, perform
from latentcut.react.steering import ema_alpha
from latentcut.react.tracker import tracker

SIZE = (64, 64)


def _lavfi(path, graph, seconds, *inputs):
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{graph}:s=96x72:r=25:d={seconds}"]
    for extra in inputs:
        command += ["-f", "lavfi", "-i", extra]
    subprocess.run([*command, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", str(path)], check=True, timeout=60)
    return path


def _moving_square(path, seconds=2):
    command = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=black:s=96x72:r=25:d={seconds}",
        "-f", "lavfi", "-i", f"color=c=white:s=12x12:r=25:d={seconds}",
        "-filter_complex", "[0][1]overlay=x='4+t*36':y=30",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", str(path),
    ]  # fmt: skip
    subprocess.run(command, check=True, timeout=60)
    return path


def _steps(path):
    latents = np.load(path)
    return latents, np.linalg.norm(np.diff(latents, axis=0), axis=1)


def test_one_latent_per_input_frame_with_its_proxy_and_input(tmp_path, cppn, decode_video):
    source = _moving_square(tmp_path / "square.mp4")
    result = perform(str(source), cppn, tmp_path / "perf.z.npy", ReactSettings(smooth_s=0.1, gain=2.0), proxy_size=SIZE)
    latents, steps = _steps(result.sequence)
    assert result.frames == 50 and latents.shape == (50, 512) and result.fps == Fraction(25)
    np.testing.assert_allclose(np.linalg.norm(latents, axis=1), np.sqrt(512), rtol=1e-5)  # on the prior's shell
    assert steps[5:].min() > 0  # the square never stops moving, so neither do the latents
    made = json.loads((tmp_path / "perf.z.json").read_text())["made"]
    assert made["how"] == "performance" and made["source"] == str(source) and made["smooth_s"] == 0.1 and made["gain"] == 2.0
    assert len(decode_video(result.proxy, SIZE)) == 50
    source_frames = decode_video(result.input_video, SIZE)
    assert len(source_frames) == 50
    # Frame i of the input video is source frame i: the square has moved right by then.
    columns = [np.argwhere(frame[..., 0] > 128)[:, 1].mean() for frame in source_frames[[0, 49]]]
    assert columns[1] > columns[0] + 20


def test_a_still_input_gives_a_still_sequence(tmp_path, cppn):
    source = _lavfi(tmp_path / "still.mp4", "color=c=0x4080c0", 2)
    result = perform(str(source), cppn, tmp_path / "still.z.npy", ReactSettings(), proxy_size=SIZE)
    _, steps = _steps(result.sequence)
    assert steps.max() < 1e-3


def test_a_cut_in_the_input_is_the_largest_jump(tmp_path, cppn):
    source = tmp_path / "cut.mp4"
    subprocess.run(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=s=96x72:r=25:d=1",
            "-f", "lavfi", "-i", "color=c=red:s=96x72:r=25:d=1,hue=h=t*60",
            "-filter_complex", "[0][1]concat=n=2:v=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", str(source),
        ],
        check=True,
        timeout=60,
    )  # fmt: skip
    result = perform(str(source), cppn, tmp_path / "cut.z.npy", ReactSettings(smooth_s=0.08), proxy_size=SIZE)
    _, steps = _steps(result.sequence)
    assert int(np.argmax(steps[2:])) + 2 + 1 == 25  # latent 25 is the first after the cut (step 0 is the flow's onset)


def test_more_gain_moves_further_and_more_smoothing_moves_less(tmp_path, cppn):
    source = _lavfi(tmp_path / "sweep.mp4", "color=c=red", 1)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", "hue=h=t*300", "-g", "1", str(tmp_path / "s.mp4")],
        check=True,
        timeout=60,
    )
    travel = {}
    for gain, smooth in ((1.0, 0.05), (3.0, 0.05), (1.0, 0.5)):
        result = perform(
            str(tmp_path / "s.mp4"),
            cppn,
            tmp_path / f"g{gain}-{smooth}.z.npy",
            ReactSettings(gain=gain, smooth_s=smooth),
            proxy_size=SIZE,
        )
        travel[gain, smooth] = _steps(result.sequence)[1][1:].sum()
    assert travel[3.0, 0.05] > travel[1.0, 0.05] > travel[1.0, 0.5]


def test_smoothing_lag_is_its_time_constant():
    alpha = ema_alpha(0.2, 25.0)
    value, frames = 0.0, 0
    while value < 1 - np.exp(-1):
        value += alpha * (1.0 - value)
        frames += 1
    assert frames == 5  # 63 % of a step after 0.2 s at 25 fps
    with pytest.raises(UsageError):
        ema_alpha(-1, 25)


def test_the_brightest_tracker_follows_the_square(tmp_path):
    from latentcut.react.source import frame_source, frames

    follow = tracker("brightest")
    with frames(frame_source(str(_moving_square(tmp_path / "sq.mp4"))), (96, 72)) as (_, stream):
        xs = [follow(frame)[0] for frame in stream]
    assert xs[0] < -0.5 and xs[-1] > 0.3 and np.all(np.diff(xs) > -0.05)


def test_bad_sources_are_one_line(tmp_path, cppn):
    with pytest.raises(InputError, match="video not found"):
        perform(str(tmp_path / "none.mp4"), cppn, tmp_path / "p.z.npy", ReactSettings())
    (tmp_path / "junk.mp4").write_bytes(b"not a video")
    with pytest.raises(InputError, match="junk.mp4: not a readable video"):
        perform(str(tmp_path / "junk.mp4"), cppn, tmp_path / "p.z.npy", ReactSettings())
    with pytest.raises(InputError, match="v4l2:/dev/video0"):
        perform("v4l2:camera", cppn, tmp_path / "p.z.npy", ReactSettings())
    assert not list(tmp_path.glob("p.*"))


def test_react_from_the_command_line_with_a_preview_and_no_display(cli, tmp_path, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    _moving_square(tmp_path / "sq.mp4", seconds=1)
    result = cli("react", "sq.mp4", "-o", "perf.z.npy", "--size", "64x64", "--preview", "--no-project", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "wrote perf.z.npy: 25 latents at 25 fps" in result.stdout
    assert "no display" in result.stderr and "latency source frame to picture median" in result.stderr
    assert {"perf.z.npy", "perf.z.json", "perf.mp4", "perf.input.mp4"} <= {p.name for p in tmp_path.iterdir()}
    bad = cli("react", "sq.mp4", "-o", "p.z.npy", "--base", "nowhere")
    assert bad.returncode == 2 and "is not POOL.z.npy:FRAME" in bad.stderr
