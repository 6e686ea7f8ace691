import json
from fractions import Fraction

import numpy as np
import pytest

from latentcut.errors import EncodeError
from latentcut.programs import run_program
from latentcut.render.encode import VideoWriter, container_tags, encoding_for, video_frame_count_and_size

SIZE = (64, 48)


def _frames(count=12, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (count, 6, 8, 3), dtype=np.uint8)
    return np.ascontiguousarray(base.repeat(8, axis=1).repeat(8, axis=2))  # blocky: survives compression


def _probe(path, entries):
    command = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", entries, "-of", "json", str(path)]
    out = run_program(command, stall_s=60, text=True, check=True)
    return json.loads(out.stdout)


def _write(path, frames, preset="online", fps=Fraction(25), tags=None, codec=None):
    with VideoWriter(path, SIZE, fps, encoding_for(path, preset, codec), tags=tags) as video:
        video.write(frames)


@pytest.mark.parametrize(
    ("name", "preset", "codec", "expected"),
    [
        ("a.mp4", "proxy", None, "h264"),
        ("a.mov", "online", None, "prores"),
        ("a.mkv", "online", None, "ffv1"),
        ("a.mp4", "online", None, "h264"),
        ("a.mp4", "online", "h265", "h265"),
        ("frames", "online", None, "png"),
    ],
)
def test_encoding_is_chosen_by_preset_and_extension(tmp_path, name, preset, codec, expected):
    assert encoding_for(tmp_path / name, preset, codec).codec == expected


@pytest.mark.parametrize(
    ("name", "preset", "codec"),
    [
        ("a.avi", "online", None),
        ("a.png", "proxy", None),
        ("x", "proxy", None),
        ("a.mov", "online", "png"),
        ("a.mp4", "draft", None),
    ],
)
def test_impossible_encodings_are_refused(tmp_path, name, preset, codec):
    with pytest.raises(EncodeError):
        encoding_for(tmp_path / name, preset, codec)


def test_proxy_is_intra_only_at_an_exact_rational_rate_with_tags(tmp_path):
    path = tmp_path / "p.mp4"
    tags = {"latent_sidecar_id": "abc123", "latent_frames": "12", "latent_note": "a=b;c"}
    _write(path, _frames(), preset="proxy", fps=Fraction(30000, 1001), tags=tags)
    frames = _probe(path, "frame=key_frame,pict_type")["frames"]
    assert len(frames) == 12 and all(f["key_frame"] == 1 and f["pict_type"] == "I" for f in frames)
    assert _probe(path, "stream=r_frame_rate")["streams"][0]["r_frame_rate"] == "30000/1001"
    read = container_tags(path)
    assert {k: read[k] for k in tags} == tags


def test_ffv1_online_is_lossless(tmp_path, decode_video):
    path = tmp_path / "o.mkv"
    frames = np.random.default_rng(1).integers(0, 256, (5, SIZE[1], SIZE[0], 3), dtype=np.uint8)
    _write(path, frames, tags={"latent_sidecar_id": "x"})
    np.testing.assert_array_equal(decode_video(path, SIZE), frames)
    assert container_tags(path)["latent_sidecar_id"] == "x"  # Matroska upper-cases keys; we read them back lower


def test_prores_is_4444_ten_bit_or_more(tmp_path):
    path = tmp_path / "o.mov"
    _write(path, _frames(4), fps=Fraction(24000, 1001))
    stream = _probe(path, "stream=codec_name,profile,pix_fmt,r_frame_rate")["streams"][0]
    assert stream["codec_name"] == "prores" and "4444" in stream["profile"]
    assert stream["pix_fmt"].startswith("yuv444p1") and stream["r_frame_rate"] == "24000/1001"


def test_png_sequence_folder(tmp_path):
    path = tmp_path / "shots"
    _write(path, _frames(7), tags={"latent_sidecar_id": "q"})
    assert sorted(p.name for p in path.glob("*.png"))[:2] == ["000000.png", "000001.png"]
    assert len(list(path.glob("*.png"))) == 7
    assert container_tags(path) == {"latent_sidecar_id": "q"}
    assert video_frame_count_and_size(path / "000003.png") == (1, SIZE)


def test_failure_mid_write_leaves_nothing_under_the_name(tmp_path):
    path = tmp_path / "v.mov"
    with pytest.raises(RuntimeError), VideoWriter(path, SIZE, Fraction(25), encoding_for(path, "online")) as video:
        video.write(_frames(3))
        raise RuntimeError("generator crashed")
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_an_earlier_good_file(tmp_path):
    path = tmp_path / "v.mp4"
    _write(path, _frames(3), preset="proxy")
    before = path.read_bytes()
    with pytest.raises(EncodeError, match="are not"):
        _write(path, np.zeros((2, 10, 10, 3), np.uint8), preset="proxy")
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_output_folder_that_cannot_exist_is_an_encode_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(EncodeError, match="cannot write"):
        _write(tmp_path / "file" / "v.mp4", _frames(2), preset="proxy")


@pytest.mark.parametrize(
    ("preset", "codec", "name", "size", "fps", "message"),
    [
        ("proxy", None, "odd.mp4", (33, 32), Fraction(25), "needs an even width and height, not 33x32"),
        ("online", "h265", "small.mp4", (34, 34), Fraction(25), "H.265 needs frames at least 64 pixels a side"),
        ("online", None, "wide.mkv", (16385, 2), Fraction(25), "outside 1..16384 pixels a side"),
        ("online", None, "fast.mkv", (16, 16), Fraction(10**20), "frame rate 100000000000000000000/1 is not one"),
        ("online", None, "faster.mkv", (16, 16), Fraction(1e308), r"frame rate \d{37}\.\.\. is not one"),
        ("online", None, "fine.mkv", (16, 16), Fraction(1, 2**31), "a ratio of whole numbers below 2\\^31"),
        ("online", None, "slow.mov", (16, 16), Fraction(1, 999_999_999), "1/999999999 is not one latentcut renders"),
    ],
)
def test_sizes_and_rates_no_codec_takes_are_refused_before_ffmpeg_starts(tmp_path, preset, codec, name, size, fps, message):
    encoding = encoding_for(tmp_path / name, preset, codec)
    with pytest.raises(EncodeError, match=message) as caught:
        VideoWriter(tmp_path / name, size, fps, encoding)
    assert "\n" not in str(caught.value) and list(tmp_path.iterdir()) == []


def test_sizes_at_the_limits_encode(tmp_path):
    for name, preset, codec, size in [("a.mp4", "online", "h265", (64, 64)), ("b.mkv", "online", None, (33, 1))]:
        with VideoWriter(tmp_path / name, size, Fraction(1000), encoding_for(tmp_path / name, preset, codec)) as video:
            video.write(np.zeros((2, size[1], size[0], 3), np.uint8))
        assert video_frame_count_and_size(tmp_path / name) == (2, size)


def test_a_fifo_named_as_a_video_is_not_handed_to_ffmpeg(tmp_path):
    import os

    fifo = tmp_path / "video.mp4"
    os.mkfifo(fifo)
    assert video_frame_count_and_size(fifo) == (0, None)
    with pytest.raises(EncodeError, match="video.mp4: not a regular file"):
        container_tags(fifo)
