"""Shared fixtures and hooks: the tiers, a last-resort time limit, leak guards, the embedded model, and a CLI runner."""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from latentcut.programs import run_program

# Three test workers share two cores: torch's and BLAS's OpenMP threads spinning in one worker starve the
# others (the whole suite 302 s with them, 244-266 s with one thread each). Set before numpy or torch is
# imported; the commands the tests start inherit it. One process (no -n) keeps the defaults.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent
LEAK_GRACE_S = 5.0
TIERS = ("melt", "kdenlive", "browser", "ray", "valgrind", "slow")  # what `-m quick` leaves out
BACKSTOP_S = 60.0  # after a test's own limit, for a hang the limit's signal cannot interrupt (a C call that never returns)
_stderr_copy: list[int] = []


def pytest_configure(config: pytest.Config) -> None:
    # Output capture is off while plugins configure: this is the terminal's stderr, kept for faulthandler.
    _stderr_copy.append(os.dup(2))


def pytest_unconfigure(config: pytest.Config) -> None:
    while _stderr_copy:
        os.close(_stderr_copy.pop())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``quick`` every test that needs none of the slow tiers' tools and is not slow itself."""
    for item in items:
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.quick)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Dump every thread's stack and end the run if a test outlives its time limit by ``BACKSTOP_S``.

    pytest-timeout's signal fails a test at its limit, but only once the main thread runs Python again;
    this is for a test blocked in C for good (libzmq's context termination once hung a whole run).
    """
    marker = item.get_closest_marker("timeout")
    limit = float(marker.args[0]) if marker and marker.args else float(item.config.getini("timeout") or 0)
    if limit > 0 and _stderr_copy:
        faulthandler.dump_traceback_later(limit + BACKSTOP_S, exit=True, file=_stderr_copy[0])
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _children() -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            found.update(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def private_cache(tmp_path_factory, monkeypatch) -> None:
    """Each test gets its own cache folder (verified sidecars, frames), inherited by the CLI subprocesses it runs."""
    monkeypatch.setenv("LATENTCUT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail a test that leaves a thread running or a child process alive."""
    threads_before = set(threading.enumerate())
    children_before = _children()
    yield
    deadline = time.monotonic() + LEAK_GRACE_S
    while time.monotonic() < deadline:
        # pyzmq starts one process-wide garbage-collector thread for zero-copy sends, on first use, for good.
        threads = [
            t
            for t in threading.enumerate()
            if t not in threads_before and t.is_alive() and type(t).__name__ != "GarbageCollectorThread"
        ]
        children = _children() - children_before
        if not threads and not children:
            return
        time.sleep(0.05)
    assert not threads, f"test leaked threads: {threads}"
    assert not children, f"test leaked child processes: {children}"


@pytest.fixture(scope="session")
def cppn():
    from latentcut.models.cppn import CppnGenerator

    return CppnGenerator(device="cpu")


@pytest.fixture(scope="session")
def decode_video():
    """Decode every frame of a video to RGB ``(n, height, width, 3)`` uint8 with the system ffmpeg."""
    from indexclips import rgb_frames

    return rgb_frames


@dataclass(frozen=True)
class CliResult:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(tmp_path: Path):
    """Run the real ``latentcut`` command in a subprocess, in ``tmp_path``, with a timeout."""

    def run(*args: str, timeout_s: float = 300, cwd: Path | None = None) -> CliResult:
        result = run_program(
            [sys.executable, "-m", "latentcut", *args],
            stall_s=None,  # a command prints nothing while it works when its output is not a terminal
            timeout_s=timeout_s,
            text=True,
            cwd=cwd or tmp_path,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")},
        )
        return CliResult(result.returncode, result.stdout, result.stderr)

    return run


@pytest.fixture
def cli(tmp_path: Path, monkeypatch, capsys):
    """Run ``latentcut.cli.main.main(argv)`` in this process, in ``tmp_path`` (or ``cwd``); for what needs no process of its own.

    It costs no interpreter and torch start (1-2 s a command). A command that stops on signals (watch,
    daemon) sets this process's handlers: they are put back afterwards. Environment changes go through
    ``monkeypatch.setenv`` as for a child process.
    """
    from latentcut.cli.main import main

    def run(*args: str, cwd: Path | None = None) -> CliResult:
        monkeypatch.chdir(cwd or tmp_path)
        handlers = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code if isinstance(exc.code, int) else 2
        finally:
            for number, handler in handlers.items():
                if signal.getsignal(number) is not handler:  # only the main thread may set one, and only it can have
                    signal.signal(number, handler)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
