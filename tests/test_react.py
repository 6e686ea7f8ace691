"""Visual-reactive control on generated videos: one latent per frame, still stays still, a cut is the biggest jump."""

import json
from fractions import Fraction

import numpy as np
import pytest

from indexclips import block_centres, clip_frames, melt_frames, track_hidden, write_index_clip
from latentcut.conform.project import conform_project
from latentcut.editor.mlt_module import mlt_environment
from latentcut.errors import InputError, UsageError
from latentcut.programs import run_program
from latentcut.react.performance import ReactSettings, perform
from latentcut.react.steering import ema_alpha
from latentcut.react.tracker import tracker
from resave import kdenlive_resave, needs_kdenlive

SIZE = (64, 64)
FFMPEG_TIMEOUT_S = 60


def _ffmpeg(command: list[str]) -> None:
    run_program(command, stall_s=None, timeout_s=FFMPEG_TIMEOUT_S, check=True)


def _lavfi(path, graph, seconds, *inputs):
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{graph}:s=96x72:r=25:d={seconds}"]
    for extra in inputs:
        command += ["-f", "lavfi", "-i", extra]
    _ffmpeg([*command, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", str(path)])
    return path


def _moving_square(path, seconds=2):
    command = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=black:s=96x72:r=25:d={seconds}",
        "-f", "lavfi", "-i", f"color=c=white:s=12x12:r=25:d={seconds}",
        "-filter_complex", "[0][1]overlay=x='4+t*36':y=30",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", str(path),
    ]  # fmt: skip
    _ffmpeg(command)
    return path


def _steps(path):
    latents = np.load(path)
    return latents, np.linalg.norm(np.diff(latents, axis=0), axis=1)


@pytest.mark.slow
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
    _ffmpeg(
        [
            "ffmpeg", "-v", "error", "-y",
            "-f", "lavfi", "-i", "testsrc=s=96x72:r=25:d=1",
            "-f", "lavfi", "-i", "color=c=red:s=96x72:r=25:d=1,hue=h=t*60",
            "-filter_complex", "[0][1]concat=n=2:v=1", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", str(source),
        ]
    )  # fmt: skip
    result = perform(str(source), cppn, tmp_path / "cut.z.npy", ReactSettings(smooth_s=0.08), proxy_size=SIZE)
    _, steps = _steps(result.sequence)
    assert int(np.argmax(steps[2:])) + 2 + 1 == 25  # latent 25 is the first after the cut (step 0 is the flow's onset)


@pytest.mark.slow
def test_more_gain_moves_further_and_more_smoothing_moves_less(tmp_path, cppn):
    source = _lavfi(tmp_path / "sweep.mp4", "color=c=red", 1)
    _ffmpeg(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-vf", "hue=h=t*300", "-g", "1", str(tmp_path / "s.mp4")])
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


def _corrupt(path, clean, step=211):
    """``clean`` with one byte in every ``step`` of its coded frames replaced: decode errors on every frame."""
    data = bytearray(clean.read_bytes())
    rng = np.random.default_rng(1)
    start, end = data.index(b"mdat") + 2004, data.index(b"moov")
    assert start < end, "the coded frames come before the index"
    data[start : end - 100 : step] = rng.integers(0, 256, len(data[start : end - 100 : step]), dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    return path


def test_a_corrupt_stream_whose_errors_fill_ffmpegs_pipe_ends(tmp_path, run_cli):
    clean = tmp_path / "clean.mp4"
    command = ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=640x480:r=25:d=2", "-c:v", "libx264"]
    _ffmpeg([*command, "-x264-params", "slices=30", "-pix_fmt", "yuv420p", "-g", "1", "-movflags", "-faststart", str(clean)])
    corrupt = _corrupt(tmp_path / "corrupt.mp4", clean)
    decode = ["ffmpeg", "-v", "error", "-i", str(corrupt), "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "16x16", "-"]
    errors = run_program(decode, stall_s=None, timeout_s=FFMPEG_TIMEOUT_S).stderr
    assert len(errors) > 64 * 1024, "the stream must flood ffmpeg's error output past a pipe's 64 KiB"
    # Before the fix ffmpeg blocked on its full error pipe and react waited for frames for ever.
    result = run_cli("react", "corrupt.mp4", "-o", "p.z.npy", "--size", "16x16", "--no-project", "--no-image-stats", timeout_s=45)
    assert result.returncode == 0, result.stderr
    assert len(np.load(tmp_path / "p.z.npy")) >= 40


def test_a_source_at_a_rate_no_video_can_have_is_one_line_before_anything_is_written(tmp_path, run_cli):
    _ffmpeg(
        [
            "ffmpeg",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=s=32x32:r=25:d=0.2",
            "-pix_fmt",
            "yuv420p",
            str(tmp_path / "s.y4m"),
        ]
    )
    y4m = (tmp_path / "s.y4m").read_bytes().replace(b" F25:1", b" F1:1000000", 1)  # one frame in 11.6 days
    (tmp_path / "slow.y4m").write_bytes(y4m)
    result = run_cli("react", "slow.y4m", "-o", "p.z.npy", "--size", "16x16", "--no-project", timeout_s=60)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "latentcut: error: slow.y4m: its frame rate 1/1000000 is not one latentcut renders "
        "(from 1/3600 (one frame an hour) to 1000 fps, a ratio of whole numbers below 2^31); give it another with ffmpeg -r"
    ], result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.y4m", "slow.y4m"]


@pytest.mark.slow
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


# ---------------------------------------------------------------------------------------------------
# StyleGAN controls from a tracked point, and style mixing (small generators built here, no snapshot)


def _tiny_stylegan(kind):
    import torch

    from latentcut.models.stylegan import stylegan2, stylegan3
    from latentcut.models.stylegan.generator import StyleGanGenerator

    torch.manual_seed(0)
    common = dict(z_dim=16, c_dim=0, w_dim=16, img_channels=3, mapping_kwargs={"num_layers": 2})
    if kind == "sg3":
        network = stylegan3.Generator(**common, img_resolution=32, channel_base=256, channel_max=8, num_layers=6)
    else:
        network = stylegan2.Generator(**common, img_resolution=32, channel_base=128, channel_max=8)
    return StyleGanGenerator(network, spec=f"tiny-{kind}", sha256=kind * 32, device="cpu")


def _square_path(path, x_expr, seconds=2):
    command = [
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=black:s=96x72:r=25:d={seconds}",
        "-f", "lavfi", "-i", f"color=c=white:s=12x12:r=25:d={seconds}",
        "-filter_complex", f"[0][1]overlay=x='{x_expr}':y=30",
        "-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "1", str(path),
    ]  # fmt: skip
    _ffmpeg(command)
    return path


def _horizontal_shift_px(before, after, most=10):
    """The shift (pixels, + to the right) that best maps ``before`` onto ``after``."""
    width = before.shape[1]
    errors = {
        shift: np.mean((after[:, max(shift, 0) : width + min(shift, 0)] - before[:, max(-shift, 0) : width - max(shift, 0)]) ** 2)
        for shift in range(-most, most + 1)
    }
    return min(errors, key=errors.get)


@pytest.mark.slow
def test_the_squares_position_drives_the_stylegan3_translation_in_the_right_direction(tmp_path, decode_video):
    from latentcut.latent.controls import load_controls
    from latentcut.latent.sidecar import load_sequence

    model = _tiny_stylegan("sg3")
    source = _square_path(tmp_path / "right.mp4", "52+t*14")  # right of the centre, moving further right
    settings = ReactSettings(tracker="brightest", gain=0.0, smooth_s=0.05)  # still latents: only the controls move
    result = perform(str(source), model, tmp_path / "p.z.npy", settings, proxy_size=(32, 32))
    controls = load_controls(load_sequence(result.sequence))
    assert controls is not None and len(controls) == result.frames == 50
    shift = controls.translate[:, 0]
    assert shift[0] > 0.05 and shift[-1] > shift[0] + 0.1 and np.all(np.diff(shift) > -1e-3)  # the square goes right
    np.testing.assert_allclose(controls.translate[:, 1], controls.translate[0, 1], atol=0.02)  # and neither up nor down
    assert np.abs(controls.rotate_deg).max() < 10 and not controls.const_noise.any()  # its angle stays near 0 (right)
    # The proxy went through the controls: its picture moves right with the square, by the recorded amount.
    proxy = decode_video(result.proxy, (32, 32)).astype(np.float64)
    moved = _horizontal_shift_px(proxy[5], proxy[45])
    assert moved > 0 and abs(moved - (shift[45] - shift[5]) * 32) <= 2
    again = model.render_controlled(np.load(result.sequence)[:8], (32, 32), controls.between(0, 8))
    assert np.abs(again.astype(np.float64) - proxy[:8]).mean() < 4  # the recorded controls re-render the performance


@pytest.mark.slow
def test_stylegan2s_constant_is_corrupted_more_the_further_the_point_is_from_the_centre(tmp_path):
    from latentcut.latent.controls import InputControls, load_controls
    from latentcut.latent.sidecar import load_sequence

    model = _tiny_stylegan("sg2")
    source = _square_path(tmp_path / "across.mp4", "4+t*36")  # from the left edge through the centre to the right
    settings = ReactSettings(tracker="brightest", smooth_s=0.05)
    result = perform(str(source), model, tmp_path / "p.z.npy", settings, proxy_size=(32, 32))
    noise = load_controls(load_sequence(result.sequence)).const_noise
    middle = int(np.argmin(noise))
    assert 15 < middle < 35 and noise[middle] < 0.1 and noise[0] > 0.6 and noise[-1] > 0.5
    assert np.all(np.diff(noise[:middle]) < 1e-3) and np.all(np.diff(noise[middle + 1 :]) > -1e-3)
    # The same latent, more corruption: further from the uncorrupted picture, step by step.
    strengths = np.array([0.0, 0.25, 0.5, 1.0], np.float32)
    latent = np.repeat(np.load(result.sequence)[:1], 4, axis=0)
    controls = InputControls.performance(np.zeros((4, 2), np.float32), np.zeros(4, np.float32), strengths)
    frames = model.render_controlled(latent, (32, 32), controls).astype(np.float64)
    plain = model.render(latent[:1], (32, 32))[0].astype(np.float64)
    distances = [np.abs(frame - plain).mean() for frame in frames]
    assert distances[0] == 0 and distances[1] < distances[2] < distances[3]
    with pytest.raises(UsageError, match="no rotate or translate input control"):
        model.render_controlled(latent, (32, 32), InputControls.performance(np.ones((4, 2), np.float32), strengths, strengths))


def test_style_mixing_changes_only_the_chosen_layers(tmp_path):
    from latentcut.latent.sidecar import load_sequence, save_sequence

    model = _tiny_stylegan("sg3")
    pool = np.random.default_rng(3).standard_normal((4, 16)).astype(np.float32)
    save_sequence(tmp_path / "pool.z.npy", pool, fps=Fraction(25))
    source = _square_path(tmp_path / "sq.mp4", "4+t*36", seconds=1)
    settings = ReactSettings(layers=(2, 3), gain=2.0, smooth_s=0.05)
    result = perform(str(source), model, tmp_path / "mix.z.npy", settings, base=(tmp_path / "pool.z.npy", 1), proxy_size=(32, 32))
    sequence = load_sequence(result.sequence)
    assert sequence.meta.space == "w+" and sequence.meta.made["base"]["layers"] == [2, 3]
    ws = sequence.latents.reshape(25, model.num_ws, model.w_dim)
    base_w = model.configured(truncation_psi=1.0).mapped(pool[1:2])[0]
    kept = [layer for layer in range(model.num_ws) if layer not in (2, 3)]
    np.testing.assert_allclose(ws[:, kept], np.broadcast_to(base_w, (25, len(kept), 16)), atol=1e-6)
    assert np.abs(ws[:, [2, 3]] - base_w).min(axis=(1, 2)).max() > 0  # the chosen layers are the camera's
    assert np.linalg.norm(np.diff(ws[:, 2], axis=0), axis=1)[3:].min() > 0  # and move with the square
    np.testing.assert_array_equal(ws[:, 2], ws[:, 3])  # one mapped w for all chosen layers
    with pytest.raises(UsageError, match="--layers 9: tiny-sg3 has W\\+ layers 0-"):
        perform(str(source), model, tmp_path / "bad.z.npy", ReactSettings(layers=(9,)))


def test_layers_and_tracker_without_stylegan_are_one_line(cli, cppn, tmp_path):
    with pytest.raises(UsageError, match="--layers: builtin:cppn has no mapping network"):
        perform("any.mp4", cppn, tmp_path / "p.z.npy", ReactSettings(layers=(0, 1)))
    with pytest.raises(UsageError, match="--tracker: builtin:cppn has no input to steer"):
        perform("any.mp4", cppn, tmp_path / "p.z.npy", ReactSettings(tracker="brightest"))
    result = cli("react", "any.mp4", "-o", "p.z.npy", "--layers", "0-3")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "no mapping network" in result.stderr


@pytest.mark.slow
def test_render_repeats_a_performance_with_its_recorded_controls(cli, tmp_path, decode_video):
    from latentcut.models.stylegan.generator import load_stylegan
    from latentcut.models.stylegan.pickle_reader import SG3_MODULE
    from latentcut.models.stylegan.snapshot_writer import write_snapshot

    tiny = _tiny_stylegan("sg3")
    kwargs = dict(z_dim=16, c_dim=0, w_dim=16, img_channels=3, mapping_kwargs={"num_layers": 2}, img_resolution=32)
    kwargs.update(channel_base=256, channel_max=8, num_layers=6)
    snapshot = write_snapshot(tmp_path / "g.pkl", tiny.network, SG3_MODULE, kwargs)
    source = _square_path(tmp_path / "sq.mp4", "4+t*72", seconds=1)
    settings = ReactSettings(tracker="brightest", smooth_s=0.05, max_frames=8)
    shown = []
    model = load_stylegan(snapshot)
    result = perform(str(source), model, tmp_path / "p.z.npy", settings, proxy_size=(32, 32), preview=shown.append)
    again = cli("render", "p.z.npy", "-o", "again.mp4", "--preset", "proxy", "--size", "32x32", "--no-progress")
    assert again.returncode == 0, again.stderr
    proxy = decode_video(result.proxy, (32, 32))
    np.testing.assert_array_equal(decode_video(tmp_path / "again.mp4", (32, 32)), proxy)
    assert len(shown) == 8 and np.abs(shown[7].astype(np.float64) - proxy[7]).mean() < 4  # the live preview had them too
    (tmp_path / "p.controls.npy").unlink()
    missing = cli("render", "p.z.npy", "-o", "lost.mp4", "--preset", "proxy", "--size", "32x32")
    assert missing.returncode == 1 and "p.controls.npy: the input controls of p.z.npy are missing" in missing.stderr


@pytest.mark.melt
def test_the_editor_project_stacks_the_performance_over_its_input_frame_for_frame(cli, tmp_path, decode_video):
    write_index_clip(tmp_path / "index.mkv", 5, 16, Fraction(25), sidecar=tmp_path / "scratch.z.npy")
    result = cli("react", "index.mkv", "-o", "perf.z.npy", "--size", "64x48", "--smooth", "0.04", "--gain", "3", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "wrote perf.kdenlive: both on two tracks, frame-aligned" in result.stdout
    project, env = tmp_path / "perf.kdenlive", mlt_environment()
    # The project plays the performance (V2) over the input (V1); hiding V2 shows the input, both frame for frame.
    proxy = decode_video(tmp_path / "perf.mp4", (64, 48)).astype(float)
    shown = melt_frames(project, 16, env=env).astype(float)
    distances = np.abs(shown[:, None] - proxy[None]).mean(axis=(2, 3, 4))
    assert distances.diagonal().max() < 3 and (distances.argmin(axis=1) == np.arange(16)).all(), distances.round(1)
    under = block_centres(melt_frames(track_hidden(project, "performance"), 16, env=env))
    np.testing.assert_allclose(under, block_centres(decode_video(tmp_path / "perf.input.mp4", (64, 48))), atol=10)
    np.testing.assert_allclose(under, block_centres(clip_frames(5, 16)), atol=10)  # input frame i is source frame i
    # The conform of the project is the performance, latent for latent, also after a save in the real Kdenlive.
    performance = np.load(tmp_path / "perf.z.npy")
    np.testing.assert_array_equal(np.load(conform_project(project, tmp_path / "cut.z.npy").output), performance)


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_the_editor_project_conforms_to_the_performance_after_a_save_in_kdenlive(tmp_path, cppn):
    source = _moving_square(tmp_path / "sq.mp4", seconds=0.4)
    result = perform(str(source), cppn, tmp_path / "perf.z.npy", ReactSettings(), proxy_size=SIZE, project=True)
    assert result.project == tmp_path / "perf.kdenlive"
    resaved = tmp_path / "resaved.kdenlive"
    done = kdenlive_resave(result.project, resaved, mlt_environment())
    assert done.returncode == 0, done.stderr
    conformed = conform_project(resaved, tmp_path / "cut.z.npy")
    assert conformed.frame_map.length == result.frames == 10
    np.testing.assert_array_equal(np.load(tmp_path / "cut.z.npy"), np.load(result.sequence))
