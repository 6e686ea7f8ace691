import json
from fractions import Fraction

import numpy as np
import pytest

from latentcut.errors import SidecarError
from latentcut.latent.sidecar import (
    BareSequenceWarning,
    ModelRef,
    array_sha256,
    load_sequence,
    save_sequence,
    sidecar_paths,
)


def _latents(frames=12, dim=16, seed=0):
    return np.random.default_rng(seed).standard_normal((frames, dim)).astype(np.float32)


def test_round_trip_keeps_array_and_metadata(tmp_path):
    latents = _latents()
    model = ModelRef("builtin:cppn", "ab" * 32)
    meta = save_sequence(
        tmp_path / "clip.z.npy", latents, fps=Fraction(30000, 1001), model=model, seed=5, made={"how": "sampled"}
    )
    loaded = load_sequence(tmp_path / "clip.z.npy")
    np.testing.assert_array_equal(loaded.latents, latents)
    assert loaded.meta == meta
    assert loaded.meta.fps == Fraction(30000, 1001) and loaded.meta.model == model
    data = json.loads((tmp_path / "clip.z.json").read_text())
    assert data["fps"] == "30000/1001" and data["frames"] == 12 and data["dim"] == 16
    assert data["sha256"] == array_sha256(latents) and len(data["id"]) == 32
    # The array opens with plain numpy, as other tools expect.
    assert np.load(tmp_path / "clip.z.npy").shape == (12, 16)


def test_streamed_chunks_equal_a_whole_save_and_content_ids_are_deterministic(tmp_path):
    from latentcut.latent.sidecar import save_sequence_chunks

    latents = _latents(100, 8)
    whole = save_sequence(tmp_path / "w.z.npy", latents, fps=Fraction(25), sequence_id="x")
    first = save_sequence_chunks(
        tmp_path / "a.z.npy", [latents[:30], latents[30:]], frames=100, dim=8, fps=Fraction(25), id_from_content="project v1"
    )
    second = save_sequence_chunks(
        tmp_path / "b.z.npy", [latents[:70], latents[70:]], frames=100, dim=8, fps=Fraction(25), id_from_content="project v1"
    )
    assert first.sha256 == second.sha256 == whole.sha256 and first.id == second.id != "x"
    assert (tmp_path / "a.z.npy").read_bytes() == (tmp_path / "b.z.npy").read_bytes()
    assert (tmp_path / "a.z.json").read_bytes() == (tmp_path / "b.z.json").read_bytes()
    with pytest.raises(SidecarError, match="4 frames were produced for 5"):
        save_sequence_chunks(tmp_path / "c.z.npy", [latents[:4]], frames=5, dim=8, fps=Fraction(25))
    assert not (tmp_path / "c.z.npy").exists()


def test_memory_mapped_load_is_read_only_and_equal(tmp_path):
    latents = _latents(5000, 8)
    save_sequence(tmp_path / "big.z.npy", latents, fps=Fraction(25))
    loaded = load_sequence(tmp_path / "big.z.npy", mmap=True)
    assert isinstance(loaded.latents, np.memmap) and not loaded.latents.flags.writeable
    np.testing.assert_array_equal(loaded.latents, latents)


def test_sidecar_paths_accept_each_spelling():
    assert sidecar_paths("a/x.z.json")[0].name == "x.z.npy"
    assert sidecar_paths("x.npy")[1].name == "x.z.json"
    with pytest.raises(SidecarError, match="z-sequence name"):
        sidecar_paths("x.mp4")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda a: a.__setitem__((3, 2), np.nan), "frame 3 holds NaN"),
        (lambda a: a.__setitem__((7, 0), np.inf), "frame 7 holds NaN or infinity"),
    ],
)
def test_non_finite_values_are_refused_on_save_naming_the_frame(tmp_path, damage, message):
    latents = _latents()
    damage(latents)
    with pytest.raises(SidecarError, match=message):
        save_sequence(tmp_path / "bad.z.npy", latents, fps=Fraction(25))
    assert list(tmp_path.iterdir()) == []


def test_nan_written_by_another_tool_is_refused_on_load(tmp_path):
    save_sequence(tmp_path / "c.z.npy", _latents(), fps=Fraction(25))
    latents = _latents()
    latents[4, 1] = np.nan
    np.save(tmp_path / "c.z.npy", latents)
    with pytest.raises(SidecarError, match=r"c\.z\.npy: frame 4 holds NaN"):
        load_sequence(tmp_path / "c.z.npy")


def test_changed_array_does_not_match_its_json(tmp_path):
    save_sequence(tmp_path / "c.z.npy", _latents(), fps=Fraction(25))
    changed = _latents()
    changed[0, 0] += 1
    np.save(tmp_path / "c.z.npy", changed)
    with pytest.raises(SidecarError, match="do not match the sha256 in c.z.json"):
        load_sequence(tmp_path / "c.z.npy")


def test_array_of_other_shape_than_json_says_so(tmp_path):
    save_sequence(tmp_path / "c.z.npy", _latents(12), fps=Fraction(25))
    np.save(tmp_path / "c.z.npy", _latents(10))
    with pytest.raises(SidecarError, match="10x16 but c.z.json says 12x16"):
        load_sequence(tmp_path / "c.z.npy")


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((4,), np.float32), "not \\(frames, dim\\)"),
        (np.zeros((4, 3), np.float64), "dtype float64 is not float32"),
        (np.zeros((0, 3), np.float32), "not \\(frames, dim\\)"),
    ],
)
def test_wrong_shape_or_dtype_is_refused(tmp_path, array, message):
    np.save(tmp_path / "w.npy", array)
    with pytest.raises(SidecarError, match=message):
        load_sequence(tmp_path / "w.npy")


def test_bare_npy_is_accepted_with_a_warning_and_given_fps(tmp_path):
    np.save(tmp_path / "plain.npy", _latents())
    with pytest.warns(BareSequenceWarning, match="no plain.z.json"):
        loaded = load_sequence(tmp_path / "plain.npy", fps=Fraction(24))
    assert loaded.meta.fps == Fraction(24) and loaded.meta.frames == 12 and loaded.meta.id == ""


def test_missing_or_foreign_files_give_one_clear_error(tmp_path):
    with pytest.raises(SidecarError, match="not found"):
        load_sequence(tmp_path / "none.z.npy")
    (tmp_path / "junk.z.npy").write_bytes(b"not an array")
    (tmp_path / "junk.z.json").write_text("{}")
    with pytest.raises(SidecarError, match="not a readable .npy"):
        load_sequence(tmp_path / "junk.z.npy")
    save_sequence(tmp_path / "v.z.npy", _latents(), fps=Fraction(25))
    data = json.loads((tmp_path / "v.z.json").read_text())
    data["version"] = 99
    (tmp_path / "v.z.json").write_text(json.dumps(data))
    with pytest.raises(SidecarError, match="newer than this latentcut"):
        load_sequence(tmp_path / "v.z.npy")
    (tmp_path / "v.z.json").write_text("{ truncated")
    with pytest.raises(SidecarError, match="is not JSON"):
        load_sequence(tmp_path / "v.z.npy")


def test_a_crash_while_writing_leaves_the_old_files_intact(tmp_path, monkeypatch):
    old = _latents(seed=1)
    save_sequence(tmp_path / "s.z.npy", old, fps=Fraction(25))

    def crash(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np.lib.format, "write_array_header_1_0", crash)
    with pytest.raises(SidecarError, match="cannot write"):
        save_sequence(tmp_path / "s.z.npy", _latents(seed=2), fps=Fraction(25))
    monkeypatch.undo()
    np.testing.assert_array_equal(load_sequence(tmp_path / "s.z.npy").latents, old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.z.json", "s.z.npy"]


def test_an_unchanged_verified_sidecar_is_not_read_again_but_a_changed_one_is(tmp_path, monkeypatch):
    from latentcut.latent import sidecar

    save_sequence(tmp_path / "s.z.npy", _latents(), fps=Fraction(25))
    hashed = []
    real = sidecar.array_sha256
    monkeypatch.setattr(sidecar, "array_sha256", lambda a: hashed.append(1) or real(a))
    load_sequence(tmp_path / "s.z.npy")
    load_sequence(tmp_path / "s.z.npy")
    assert len(hashed) == 1
    changed = _latents()
    changed[2, 2] = 7.0
    np.save(tmp_path / "s.z.npy", changed)  # same size, new mtime and inode
    with pytest.raises(SidecarError, match="do not match the sha256"):
        load_sequence(tmp_path / "s.z.npy")
    assert len(hashed) == 2


def _finishes(call, fifos, timeout_s=5.0):
    """Run ``call`` in a thread; if it is still blocked after ``timeout_s``, unblock it by writing to each FIFO, then fail."""
    import os
    import threading

    outcome = {}

    def run():
        try:
            outcome["value"] = call()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout_s)
    blocked = thread.is_alive()
    if blocked:
        for fifo in fifos:
            # A writer that opens and closes gives the blocked reader EOF, so the thread ends and nothing leaks.
            os.close(os.open(fifo, os.O_WRONLY))
        thread.join(timeout_s)
    assert not blocked, "reading a FIFO blocked"
    return outcome


@pytest.mark.parametrize("which", ["z.npy", "z.json"])
def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path, which):
    import os

    save_sequence(tmp_path / "f.z.npy", _latents(), fps=Fraction(25))
    fifo = tmp_path / f"f.{which}"
    fifo.unlink()
    os.mkfifo(fifo)
    outcome = _finishes(lambda: load_sequence(tmp_path / "f.z.npy"), [fifo])
    assert isinstance(outcome.get("error"), SidecarError), outcome
    assert str(outcome["error"]) == f"{fifo}: is a FIFO (named pipe), not a regular file; give a file"


def test_a_folder_under_the_sidecar_name_is_refused_in_one_line(tmp_path):
    save_sequence(tmp_path / "d.z.npy", _latents(), fps=Fraction(25))
    (tmp_path / "d.z.json").unlink()
    (tmp_path / "d.z.json").mkdir()
    with pytest.raises(SidecarError, match=r"d\.z\.json: is a folder, not a regular file"):
        load_sequence(tmp_path / "d.z.npy")


def test_a_header_claiming_more_rows_than_the_file_holds_is_refused_before_allocating(tmp_path):
    path = tmp_path / "forged.z.npy"
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 512)})
        handle.write(b"\0" * 4096)
    for mmap in (False, True):
        with pytest.raises(SidecarError, match=r"header says 1000000000x512 float32 .* but the file has \d[\d,]* bytes"):
            load_sequence(path, mmap=mmap)


def test_a_json_nested_100k_deep_is_one_line(tmp_path):
    save_sequence(tmp_path / "n.z.npy", _latents(), fps=Fraction(25))
    (tmp_path / "n.z.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(SidecarError, match="nests deeper than 32 levels") as caught:
        load_sequence(tmp_path / "n.z.npy")
    assert "\n" not in str(caught.value)


def test_huge_or_multi_line_values_give_a_short_one_line_error(tmp_path):
    save_sequence(tmp_path / "h.z.npy", _latents(), fps=Fraction(25))
    data = json.loads((tmp_path / "h.z.json").read_text())
    (tmp_path / "h.z.json").write_text(json.dumps({**data, "made": {"x": "a" * (50 << 20)}}))
    with pytest.raises(SidecarError, match="over the 16,777,216 this reads") as caught:
        load_sequence(tmp_path / "h.z.npy")
    assert "\n" not in str(caught.value)
    for field, value in [("frames", "1\n2" + "9" * 100_000), ("fps", "x\ny" * 100_000), ("frames", float("inf"))]:
        (tmp_path / "h.z.json").write_text(json.dumps({**data, field: value}))
        with pytest.raises(SidecarError, match="is missing or malformed|which is not JSON") as caught:
            load_sequence(tmp_path / "h.z.npy")
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9" * 5000, "holds an integer of 5000 digits, more than 40"),  # past Python's int-from-text limit
        ("NaN", "holds NaN, which is not JSON"),
        ("-Infinity", "holds -Infinity, which is not JSON"),
        ("1e999", "holds 1e999, which overflows a float"),
    ],
    ids=["5000-digits", "nan", "infinity", "1e999"],
)
def test_numbers_past_json_or_a_double_are_one_line_in_info_and_render(tmp_path, run_cli, value, message):
    save_sequence(tmp_path / "s.z.npy", _latents(), fps=Fraction(25), seed=3)
    text = (tmp_path / "s.z.json").read_text()
    (tmp_path / "s.z.json").write_text(text.replace('"seed": 3', f'"seed": {value}'))
    expected = f"latentcut: error: s.z.json: {message}; re-create the sidecar"
    commands = [("info", "s.z.npy")] + ([("render", "s.z.npy", "-o", "s.mp4", "--size", "16x16")] if value == "NaN" else [])
    for command in commands:
        result = run_cli(*command, timeout_s=120)
        assert (result.returncode, result.stderr.strip().splitlines()) == (1, [expected]), result.stderr
    assert not (tmp_path / "s.mp4").exists()


def test_an_in_place_edit_that_restores_the_mtime_is_verified_again(tmp_path):
    import os

    path = tmp_path / "t.z.npy"
    save_sequence(path, _latents(), fps=Fraction(25))
    load_sequence(path)  # verified and remembered
    before = path.stat()
    with path.open("r+b") as handle:  # same inode, same size
        handle.seek(-4, os.SEEK_END)
        handle.write(np.float32(np.nan).tobytes())
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_mtime_ns == before.st_mtime_ns and path.stat().st_ino == before.st_ino
    with pytest.raises(SidecarError, match="holds NaN"):
        load_sequence(path)


def test_mutated_sidecars_give_only_one_line_sidecar_errors(tmp_path):
    """500 sidecars with hostile json values and damaged or cut .npy headers: a SidecarError or a good load, nothing else."""
    import random

    save_sequence(tmp_path / "g.z.npy", _latents(4, 3), fps=Fraction(25))
    good_json = json.loads((tmp_path / "g.z.json").read_text())
    good_npy = (tmp_path / "g.z.npy").read_bytes()
    values = [None, True, 0, -1, 10**300, 1e308, float("nan"), float("inf"), "\n\n", [], {}, [[[]]], "25/0", "1e20", {"spec": 1}]
    rng = random.Random(9)
    for _ in range(500):
        data = dict(good_json)
        for _ in range(rng.randint(0, 3)):
            data[rng.choice([*good_json, "extra"])] = rng.choice(values)
        raw = bytearray(good_npy)
        for _ in range(rng.choice([0, 0, 1, 3])):
            raw[rng.randrange(128)] = rng.randrange(256)  # the header
        if rng.random() < 0.1:
            raw = raw[: rng.randrange(len(raw))]
        (tmp_path / "g.z.json").write_text(json.dumps(data))
        (tmp_path / "g.z.npy").write_bytes(bytes(raw))
        try:
            load_sequence(tmp_path / "g.z.npy", mmap=rng.random() < 0.5)
        except SidecarError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)


def test_the_conform_refuses_a_fifo_sidecar_json_at_once(tmp_path, cli):
    import os

    save_sequence(tmp_path / "a.z.npy", _latents(60, 8), fps=Fraction(25))
    (tmp_path / "a.z.json").unlink()
    os.mkfifo(tmp_path / "a.z.json")
    (tmp_path / "edit.mlt").write_text(
        '<mlt><profile width="16" height="16" frame_rate_num="25" frame_rate_den="1"/>'
        '<producer id="a" out="59"><property name="length">60</property><property name="resource">a.mp4</property>'
        '<property name="mlt_service">avformat</property></producer>'
        '<playlist id="v1"><entry producer="a" in="0" out="29"/></playlist><tractor id="t"><track producer="v1"/></tractor></mlt>'
    )
    outcome = _finishes(lambda: cli("conform", "edit.mlt", "-o", "out.z.npy"), [tmp_path / "a.z.json"])
    result = outcome["value"]
    assert result.returncode == 1 and "a.z.json: is a FIFO (named pipe), not a regular file" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "out.z.npy").exists()
