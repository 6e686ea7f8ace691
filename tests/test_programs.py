"""External programs watched for progress: a stalled one is stopped with its whole process group, a stalled melt runs once more."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from latentcut import programs
from latentcut.errors import ProgramHung, ProgramLost
from latentcut.programs import MELT_LOST_RETRIES, MELT_STALL_S, STOP_GRACE_S, Program, ProgramRetried, run_melt, run_program

# A melt that hangs its first STALLS runs (writing nothing, with a child of its own, deaf to SIGTERM if asked),
# then renders: it logs each run's pid and its child's pid, so a test can see both are gone.
FAKE_MELT = """#!/bin/sh
echo $$ >> "$FAKE_MELT_RUNS"
runs=$(wc -l < "$FAKE_MELT_RUNS")
if [ "$runs" -le "$FAKE_MELT_STALLS" ]; then
    [ -n "$FAKE_MELT_DEAF" ] && trap '' TERM
    sleep 1000 &
    echo $! >> "$FAKE_MELT_CHILDREN"
    wait
fi
echo "Current Frame: 1, percentage: 100" >&2
echo rendered > "$FAKE_MELT_OUTPUT"
"""


def _fake_melt(folder: Path, stalls: int, *, deaf: bool = False) -> dict[str, str]:
    bin_folder = folder / "bin"
    bin_folder.mkdir()
    melt = bin_folder / "melt"
    melt.write_text(FAKE_MELT)
    melt.chmod(0o755)
    return {
        **os.environ,
        "PATH": f"{bin_folder}:{os.environ['PATH']}",
        "FAKE_MELT_RUNS": str(folder / "runs"),
        "FAKE_MELT_CHILDREN": str(folder / "children"),
        "FAKE_MELT_OUTPUT": str(folder / "out.mkv"),
        "FAKE_MELT_STALLS": str(stalls),
        "FAKE_MELT_DEAF": "1" if deaf else "",
    }


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs 2 s from now (SIGKILL takes effect asynchronously; a zombie does not run)."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):
            return False
        if state in ("Z", "X"):
            return False
        time.sleep(0.02)
    return True


def test_a_melt_that_hangs_once_is_stopped_after_its_stall_limit_and_renders_on_its_second_run(tmp_path, monkeypatch):
    # The rule with a 3 s limit, so the suite does not wait; a hung melt costs MELT_STALL_S (20 s) and the same again at most.
    assert MELT_STALL_S == 20.0
    monkeypatch.setattr(programs, "MELT_STALL_S", 3.0)
    env = _fake_melt(tmp_path, stalls=1)
    start = time.monotonic()
    with pytest.warns(ProgramRetried, match=r"melt -consumer avformat:out.mkv wrote nothing for 3 s and was stopped"):
        result = run_melt(["melt", "-consumer", "avformat:out.mkv"], output=tmp_path / "out.mkv", env=env, cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert result.returncode == 0 and (tmp_path / "out.mkv").read_text() == "rendered\n"
    assert 3.0 <= elapsed < 3.0 + STOP_GRACE_S + 10, elapsed
    runs, children = _pids(tmp_path / "runs"), _pids(tmp_path / "children")
    assert len(runs) == 2 and len(children) == 1
    assert not any(_alive(pid) for pid in runs + children)


# A melt as MLT 7.12's lost consumer start leaves it (see latentcut.programs): its first LOST runs load
# for a moment (as melt does: the output's new time stamp is then a later one), open the output and render
# nothing, waiting forever or, with FAKE_MELT_ENDS, ending at once; later runs load for FAKE_MELT_LOAD_S,
# open the output, report a frame and take FAKE_MELT_RENDER_S to render.
LOST_MELT = """#!/bin/sh
echo $$ >> "$FAKE_MELT_RUNS"
runs=$(wc -l < "$FAKE_MELT_RUNS")
sleep 0.1
if [ "$runs" -le "$FAKE_MELT_LOST" ]; then
    : > "$FAKE_MELT_OUTPUT"
    [ -n "$FAKE_MELT_ENDS" ] && exit 0
    exec sleep 1000
fi
sleep "$FAKE_MELT_LOAD_S"
: > "$FAKE_MELT_OUTPUT"
echo "Current Frame:          1, percentage:          4" >&2
sleep "$FAKE_MELT_RENDER_S"
echo rendered > "$FAKE_MELT_OUTPUT"
"""


def _lost_melt(folder: Path, lost: int, *, ends: bool = False, load_s: float = 0, render_s: float = 0) -> dict[str, str]:
    env = _fake_melt(folder, stalls=0)
    (folder / "bin" / "melt").write_text(LOST_MELT)
    return {
        **env,
        "FAKE_MELT_LOST": str(lost),
        "FAKE_MELT_ENDS": "1" if ends else "",
        "FAKE_MELT_LOAD_S": str(load_s),
        "FAKE_MELT_RENDER_S": str(render_s),
    }


def test_a_melt_whose_consumer_lost_its_start_is_run_again_once_the_first_frame_is_overdue(tmp_path, monkeypatch):
    monkeypatch.setattr(programs, "MELT_FIRST_FRAME_S", 1.0)
    env = _lost_melt(tmp_path, lost=1)
    out = tmp_path / "out.mkv"
    out.touch()  # as atomic_path leaves it: the consumer truncates an empty file
    start = time.monotonic()
    with pytest.warns(ProgramRetried, match=r"avformat:out.mkv opened its output but rendered no frame in 1 s and was stopped"):
        result = run_melt(["melt", "-consumer", "avformat:out.mkv"], output=out, env=env, cwd=tmp_path)
    elapsed = time.monotonic() - start
    assert result.returncode == 0 and out.read_text() == "rendered\n"
    assert 1 <= elapsed < 1 + STOP_GRACE_S + 5, elapsed
    assert not any(_alive(pid) for pid in _pids(tmp_path / "runs"))


def test_a_melt_that_ends_leaving_its_output_empty_is_run_again_up_to_its_lost_retries(tmp_path):
    env = _lost_melt(tmp_path, lost=MELT_LOST_RETRIES, ends=True)  # lost starts come in a row under load: each costs seconds
    out = tmp_path / "out.mkv"
    with pytest.warns(ProgramRetried, match=r"avformat:out.mkv ended leaving its output empty; starting it once more") as retried:
        result = run_melt(["melt", "-consumer", "avformat:out.mkv"], output=out, env=env, cwd=tmp_path)
    assert result.returncode == 0 and out.read_text() == "rendered\n" and len(retried) == MELT_LOST_RETRIES
    again = tmp_path / "again"
    again.mkdir()
    env = _lost_melt(again, lost=MELT_LOST_RETRIES + 1, ends=True)
    with pytest.warns(ProgramRetried), pytest.raises(ProgramLost, match="ended leaving its output empty"):
        run_melt(["melt", "-consumer", "avformat:out.mkv"], output=again / "out.mkv", env=env, cwd=again)
    assert len(_pids(again / "runs")) == MELT_LOST_RETRIES + 1


def test_a_melt_slow_to_load_or_silent_after_its_first_frame_has_not_lost_its_start(tmp_path, monkeypatch, recwarn):
    monkeypatch.setattr(programs, "MELT_FIRST_FRAME_S", 1.0)
    env = _lost_melt(tmp_path, lost=0, load_s=2, render_s=2)
    out = tmp_path / "out.mkv"
    result = run_melt(["melt", "-consumer", "avformat:out.mkv"], output=out, env=env, cwd=tmp_path)
    assert result.returncode == 0 and out.read_text() == "rendered\n"
    assert len(_pids(tmp_path / "runs")) == 1 and not [w for w in recwarn if issubclass(w.category, ProgramRetried)]


def test_a_program_that_stalls_twice_is_one_clear_error_and_leaves_no_process(tmp_path, monkeypatch):
    env = _fake_melt(tmp_path, stalls=2, deaf=True)  # deaf to SIGTERM: only the SIGKILL after the grace ends it
    start = time.monotonic()
    with pytest.warns(ProgramRetried) as retried, pytest.raises(ProgramHung) as hung:
        run_program(["melt", "edit.mlt"], stall_s=1, retries=1, env=env, text=True)
    elapsed = time.monotonic() - start
    assert len(retried) == 1 and "melt edit.mlt wrote nothing for 1 s" in str(retried[0].message)
    assert str(hung.value) == "melt edit.mlt wrote nothing for 1 s and was stopped"
    assert 2 * (1 + STOP_GRACE_S) - 1 < elapsed < 2 * (1 + STOP_GRACE_S) + 10, elapsed
    runs, children = _pids(tmp_path / "runs"), _pids(tmp_path / "children")
    assert len(runs) == 2 and len(children) == 2
    assert not any(_alive(pid) for pid in runs + children)
    assert not (tmp_path / "out.mkv").exists()


def test_a_growing_output_file_is_progress(tmp_path):
    # Silent on stdout and stderr for 3 s, but its output grows every 0.2 s: not a stall at stall_s=1.
    script = "import sys, time\nwith open(sys.argv[1], 'a') as out:\n    for _ in range(15):\n        out.write('x'); out.flush(); time.sleep(0.2)\n"
    result = run_program([sys.executable, "-c", script, str(tmp_path / "out")], stall_s=1, watch=(tmp_path / "out",))
    assert result.returncode == 0 and (tmp_path / "out").read_text() == "x" * 15
    # The same program watched without its output file stalls.
    with pytest.raises(ProgramHung, match="wrote nothing for 1 s"):
        run_program([sys.executable, "-c", script, str(tmp_path / "other")], stall_s=1)


def test_a_program_that_keeps_talking_still_has_a_time_limit():
    talker = [sys.executable, "-c", "import time\nwhile True:\n    print('working', flush=True); time.sleep(0.1)"]
    with pytest.raises(ProgramHung, match=r"ran for more than 1 s and was stopped \(its last line: working\)"):
        run_program(talker, stall_s=1, timeout_s=1)


def test_what_a_finished_program_left_in_its_group_is_killed(tmp_path):
    result = run_program(["sh", "-c", "sleep 1000 & echo $!; echo done >&2"], stall_s=10, text=True)
    assert (result.returncode, result.stderr) == (0, "done\n")
    assert not _alive(int(result.stdout))


def test_a_long_running_program_is_read_while_it_runs_and_stopped_with_its_group(tmp_path):
    script = "sleep 1000 & echo child $!; echo listening on port 1234; wait"
    with Program(["sh", "-c", script], merged=True) as server:
        assert server.wait_for_output(r"^listening on port (\d+)$", timeout_s=30)[1] == "1234"
        child = int(server.wait_for_output(r"^child (\d+)$", timeout_s=5)[1])
        assert server.poll() is None and _alive(child)
    assert server.returncode is not None and not _alive(child)


def test_waiting_for_output_that_never_comes_names_the_command():
    with Program(["sh", "-c", "echo starting; exit 3"]) as early, pytest.raises(ProgramHung) as ended:
        early.wait_for_output("listening", timeout_s=30)
    assert (
        str(ended.value)
        == "sh -c 'echo starting; exit 3' was to write 'listening' but ended (status 3) (its last line: starting)"
    )
    with (
        Program(["sleep", "1000"]) as silent,
        pytest.raises(ProgramHung, match=r"^sleep 1000 was to write 'x' but did not within 0.5 s"),
    ):
        silent.wait_for_output("x", timeout_s=0.5)


def test_a_wait_that_runs_out_stops_the_program_and_says_so():
    with (
        Program(["sleep", "1000"]) as sleeper,
        pytest.raises(ProgramHung, match=r"^sleep 1000 did not end within 0.2 s and was stopped$"),
    ):
        sleeper.wait(0.2)
    assert sleeper.returncode is not None
