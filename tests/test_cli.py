import json
import resource
import sys

import numpy as np
import pytest

from latentcut.programs import Program, run_program


def _one_error_line(result, *fragments):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentcut: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_every_command_with_examples(cli):
    result = cli("--help")
    assert result.returncode == 0
    for command in ("sample", "journey", "neighbours", "render", "info", "demo"):
        assert f"latentcut {command} " in result.stdout
    assert "--interp spring" in cli("journey", "--help").stdout


def test_sample_journey_neighbours_render_and_info_work_together(cli, tmp_path):
    assert cli("sample", "s.z.npy", "--count", "12", "--dim", "512", "--seed", "3", "--fps", "30000/1001").returncode == 0
    meta = json.loads((tmp_path / "s.z.json").read_text())
    assert meta["frames"] == 12 and meta["fps"] == "30000/1001" and meta["seed"] == 3

    result = cli("journey", "s.z.npy", "--keys", "0,5,9", "--frames-per-segment", "4", "--interp", "spring", "-o", "j.z.npy")
    assert result.returncode == 0, result.stderr
    journey = np.load(tmp_path / "j.z.npy")
    assert journey.shape == (9, 512)
    np.testing.assert_allclose(journey[4], np.load(tmp_path / "s.z.npy")[5], atol=1e-5)
    made = json.loads((tmp_path / "j.z.json").read_text())["made"]
    assert made["how"] == "journey" and made["keys"] == [0, 5, 9] and made["interpolation"] == "spring"

    result = cli("neighbours", "s.z.npy", "--frames", "3,7", "--radius", "10", "--count", "4", "-o", "n.z.npy")
    assert result.returncode == 0, result.stderr
    assert np.load(tmp_path / "n.z.npy").shape == (8, 512)

    result = cli("render", "j.z.npy", "-o", "j.mp4", "--model", "builtin:cppn", "--preset", "proxy", "--size", "64x64")
    assert result.returncode == 0, result.stderr
    assert "9 frames 64x64 h264 at 30000/1001 fps" in result.stdout

    info = cli("info", "j.z.npy", "--video", "j.mp4")
    assert info.returncode == 0 and "link      ok" in info.stdout
    mismatch = cli("info", "s.z.npy", "--video", "j.mp4")
    _one_error_line(mismatch, "j.mp4: not linked to", "it has 9 frames, the sequence 12")


def test_chained_journey_starts_where_the_previous_one_ends(cli, tmp_path):
    cli("sample", "s.z.npy", "--count", "6", "--seed", "1")
    cli("journey", "s.z.npy", "--keys", "0,1", "--frames-per-segment", "3", "-o", "a.z.npy")
    result = cli("journey", "s.z.npy", "--keys", "4", "--seconds", "0.2", "--chain-from", "a.z.npy", "-o", "b.z.npy")
    assert result.returncode == 0, result.stderr
    a, b = np.load(tmp_path / "a.z.npy"), np.load(tmp_path / "b.z.npy")
    np.testing.assert_allclose(b[0], a[-1], atol=1e-6)
    assert len(b) == 5 + 1  # 0.2 s at the default 25 fps


def test_snapshot_grid_from_the_command_line(cli, tmp_path):
    cli("sample", "s.z.npy", "--count", "3", "--seed", "2")
    result = cli("render", "s.z.npy", "-o", "g.mp4", "--snapshots", "0-3", "--grid", "2x2", "--size", "32x32")
    assert result.returncode == 0, result.stderr
    assert "3 frames 64x64" in result.stdout


def test_wrong_dim_for_the_model(cli, tmp_path):
    cli("sample", "small.z.npy", "--count", "3", "--dim", "16", "--seed", "1")
    result = cli("render", "small.z.npy", "-o", "x.mp4", "--size", "32x32")
    _one_error_line(result, "small.z.npy", "dim 16", "takes 512")
    assert not (tmp_path / "x.mp4").exists()


def test_nan_in_a_sidecar(cli, tmp_path):
    cli("sample", "s.z.npy", "--count", "4", "--seed", "1")
    latents = np.load(tmp_path / "s.z.npy")
    latents[2, 5] = np.nan
    np.save(tmp_path / "s.z.npy", latents)
    _one_error_line(cli("render", "s.z.npy", "-o", "x.mp4"), "s.z.npy: frame 2 holds NaN")
    assert not (tmp_path / "x.mp4").exists()


def test_sidecar_whose_hash_does_not_match(cli, tmp_path):
    cli("sample", "s.z.npy", "--count", "4", "--seed", "1")
    np.save(tmp_path / "s.z.npy", np.load(tmp_path / "s.z.npy") * 2)
    _one_error_line(
        cli("journey", "s.z.npy", "--keys", "0,1", "--frames-per-segment", "2", "-o", "j.z.npy"), "sha256", "s.z.json"
    )
    assert not (tmp_path / "j.z.npy").exists()


def test_unwritable_output_folder(cli, tmp_path):
    cli("sample", "s.z.npy", "--count", "2", "--seed", "1")
    (tmp_path / "blocker").write_text("a file, not a folder")
    _one_error_line(cli("render", "s.z.npy", "-o", "blocker/x.mp4"), "blocker/x.mp4", "cannot write")
    _one_error_line(cli("sample", "blocker/t.z.npy", "--count", "2", "--seed", "1"), "blocker/t.z.npy", "cannot write")


def test_unknown_model_and_untrusted_pickle(cli, tmp_path):
    cli("sample", "s.z.npy", "--count", "2", "--seed", "1")
    _one_error_line(cli("render", "s.z.npy", "-o", "x.mp4", "--model", "builtin:stylegan"), "builtin:stylegan", "builtin:cppn")
    (tmp_path / "net.pkl").write_bytes(b"\x80\x04N.")
    _one_error_line(cli("render", "s.z.npy", "-o", "x.mp4", "--model", "net.pkl"), "net.pkl", "--trust-pickle")
    assert not (tmp_path / "x.mp4").exists()


def test_bad_option_value_is_a_usage_error(cli):
    result = cli("render", "s.z.npy", "-o", "x.mp4", "--size", "big")
    assert result.returncode == 2 and "is not a size like 512x512" in result.stderr


_HUGE = "9" * 5000  # past Python's 4,300-digit limit on int("...")


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("sample", "x.z.npy", "--seeds", _HUGE), "(5000 characters) is not a list of numbers"),
        (("sample", "x.z.npy", "--seed", _HUGE, "--count", "3"), "argument --seed: invalid int value"),
        (("sample", "x.z.npy", "--seeds", "0-99999999"), "names more than 100,000 numbers; list fewer"),
        (("sample", "x.z.npy", "--count", "1000000000000", "--seed", "1"), "over the 4 GiB latentcut draws at once"),
        (("pick", "pool.z.npy", "--frames", _HUGE, "-o", "p.z.npy"), "has 5000 digits; no sequence has that many frames"),
        (("journey", "pool.z.npy", "--keys", f"0,{_HUGE}", "--frames-per-segment", "4", "-o", "j.z.npy"), "has 5000 digits"),
    ],
)
def test_a_hostile_number_typed_on_the_command_line_is_one_line(cli, tmp_path, args, said):
    assert cli("sample", "pool.z.npy", "--count", "4", "--seed", "1").returncode == 0
    done = cli(*args)
    assert done.returncode in (1, 2) and done.stderr.count("\n") == 1 and len(done.stderr) < 400, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr
    assert not any(tmp_path.glob("[xpj].z.npy"))


def test_bare_npy_is_accepted_with_a_warning(run_cli, tmp_path):
    np.save(tmp_path / "plain.npy", np.random.default_rng(0).standard_normal((3, 512)).astype(np.float32))
    result = run_cli("render", "plain.npy", "-o", "p.mp4", "--fps", "24", "--size", "32x32", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "latentcut: warning: " in result.stderr and "no plain.z.json" in result.stderr
    assert "at 24/1 fps" in result.stdout


def test_disk_full_while_encoding_leaves_nothing_under_the_name(tmp_path):
    run_program(
        [sys.executable, "-m", "latentcut", "sample", "s.z.npy", "--count", "40", "--seed", "1"],
        stall_s=None,
        timeout_s=120,
        cwd=tmp_path,
        check=True,
    )

    def small_disk():
        # Files may not grow past 20 KB: ffmpeg's writes fail as they do on a full disk.
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    render = [
        sys.executable,
        "-m",
        "latentcut",
        "render",
        "s.z.npy",
        "-o",
        "big.mov",
        "--preset",
        "online",
        "--size",
        "128x128",
        "--no-progress",
    ]
    with Program(render, cwd=tmp_path, preexec_fn=small_disk) as child:
        assert child.finished(stall_s=None, timeout_s=300) == 1
        assert "latentcut: error: " in child.errors() and "big.mov" in child.errors()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.z.json", "s.z.npy"]


@pytest.mark.parametrize("args", [("journey", "s.z.npy", "--keys", "0,1", "--frames-per-segment", "2", "-o", "s.z.npy")])
def test_output_may_not_overwrite_the_input(cli, args):
    cli("sample", "s.z.npy", "--count", "3", "--seed", "1")
    _one_error_line(cli(*args), "would overwrite the input")


CONFORM_PROJECT = """<mlt><profile width="64" height="48" frame_rate_num="25" frame_rate_den="1"/>
<producer id="a" out="49"><property name="length">50</property><property name="resource">a.mkv</property>
<property name="mlt_service">avformat</property>{extra}</producer>
<playlist id="v1"><entry producer="a" in="5" out="24"/><blank length="3"/><entry producer="a" in="30" out="34"/></playlist>
<tractor id="t"><track producer="v1"/></tractor></mlt>"""


def _conform_setup(tmp_path, extra=""):
    from fractions import Fraction

    from indexclips import write_index_clip

    write_index_clip(tmp_path / "a.mkv", 1, 50, Fraction(25))
    (tmp_path / "edit.kdenlive").write_text(CONFORM_PROJECT.format(extra=extra))


def test_conform_writes_sequence_json_and_provenance_and_explains(cli, tmp_path):
    _conform_setup(tmp_path)
    result = cli("conform", "edit.kdenlive", "-o", "cut.z.npy", "--explain")
    assert result.returncode == 0, result.stderr
    assert "timeline: 28 frames at 25/1 fps" in result.stdout
    assert "a.mkv" in result.stdout and "5-24" in result.stdout
    assert "frames with no latent source: 3" in result.stdout
    assert "wrote cut.z.npy: 28 frames x 4 dims" in result.stdout
    assert {"cut.z.npy", "cut.z.json", "cut.provenance.npz"} <= {p.name for p in tmp_path.iterdir()}
    assert np.load(tmp_path / "cut.z.npy")[0, 1] == 5
    assert cli("info", "cut.z.npy").returncode == 0


def test_conform_errors_are_one_line_and_write_nothing(cli, tmp_path):
    _conform_setup(tmp_path, extra='<property name="latent:sidecar">gone.z.npy</property>')
    _one_error_line(cli("conform", "edit.kdenlive", "-o", "cut.z.npy"), "edit.kdenlive: clip", "gone.z.npy", "is missing")
    (tmp_path / "broken.kdenlive").write_text("<mlt><profile frame_rate_num='25'")
    _one_error_line(cli("conform", "broken.kdenlive", "-o", "cut.z.npy"), "broken.kdenlive: not well-formed XML")
    (tmp_path / "edit.kdenlive").write_text(CONFORM_PROJECT.format(extra=""))
    _one_error_line(cli("conform", "edit.kdenlive", "--gaps", "error", "-o", "cut.z.npy"), "frames 20-22 have no latent source")
    result = cli("conform", "edit.kdenlive")
    assert result.returncode == 2 and "give -o OUT.z.npy" in result.stderr
    assert not list(tmp_path.glob("cut*"))


def test_watch_once_status_and_keys_from_the_command_line(run_cli, cli, tmp_path):
    from daemons import daemon_thread

    # watch and status as processes of their own, as a user runs them; the rest in this one.
    assert cli("sample", "a.z.npy", "--count", "30", "--seed", "1").returncode == 0
    (tmp_path / "edit.kdenlive").write_text(
        '<mlt><profile width="16" height="16" frame_rate_num="25" frame_rate_den="1"/>'
        '<producer id="a" out="29"><property name="length">30</property><property name="resource">a.mp4</property></producer>'
        '<playlist id="v"><entry producer="a" in="0" out="19"/></playlist><tractor id="t"><track producer="v"/></tractor></mlt>'
    )
    with daemon_thread(tmp_path) as address:
        result = run_cli("watch", "edit.kdenlive", "--daemon", address, "--once", "--timeout", "120")
        assert result.returncode == 0, result.stderr
        assert "rendered edit.mov: 20 frames changed, 20 generated" in result.stdout
        status = run_cli("status", "--daemon", address)
        assert status.returncode == 0 and "done" in status.stdout and "edit.mov" in status.stdout
        # A job the daemon does not take, or a project that does not conform, fails the command: a script must not go on.
        refused = run_cli("watch", "edit.kdenlive", "--daemon", address, "--once", "--model", "other.pkl", "--output", "o.mov")
        assert refused.returncode == 1 and "did not take the job" in refused.stderr, refused.stderr
        assert "model 'other.pkl' is not served here" in refused.stderr
        (tmp_path / "broken.kdenlive").write_text("<mlt>")
        broken = run_cli("watch", "broken.kdenlive", "--daemon", address, "--once", "--output", "b.mov")
        assert broken.returncode != 0 and broken.stderr.count("\n") == 1 and "broken.kdenlive" in broken.stderr, broken.stderr
    _one_error_line(run_cli("status", "--daemon", address, "--timeout-ms", "300"), "no answer to status")
    keys = cli("keys", "keys")
    assert keys.returncode == 0 and (tmp_path / "keys/daemon.key_secret").exists() and "--curve-secret" in keys.stdout
    assert (tmp_path / "keys/daemon.key_secret").stat().st_mode & 0o077 == 0
