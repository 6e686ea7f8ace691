"""External programs (melt, ffmpeg, ffprobe, Kdenlive, a browser, a daemon) run in a process group of their own and watched for progress.

A program's output goes to files, never to pipes (a pipe nobody reads fills and blocks the program),
and what it writes there, or to the files named as its output, is its progress. One that writes
nothing for ``stall_s`` seconds, or runs past ``timeout_s``, is stopped, its whole group with it
(SIGTERM, then SIGKILL after a grace), and ``ProgramHung`` names the command; a melt that stalls is
started once more first, with a ``ProgramRetried`` warning. Whatever a finished program left running
in its group is killed, so no melt, Xvfb or worker outlives the call.

Why melt hangs (MLT 7.12, still so upstream): the avformat consumer starts its thread and only then
sets its ``running`` flag. A thread that reaches its render loop first (a loaded machine: 1 to 4 in
100 short renders here) renders nothing, closes its empty output and clears the flag; melt then
sets it, and waits forever for it to clear (or, a moment later, ends at once with an empty file).
No consumer option orders the two, so ``run_melt`` sees it from outside: the consumer has opened
its output, yet melt reports no first frame within ``MELT_FIRST_FRAME_S`` (a working melt reports
it at once); or melt ends leaving the output empty. Either is run again (up to ``MELT_LOST_RETRIES``
times: a lost run costs seconds); a melt that stalls
later, or loading its project, is stopped after ``MELT_STALL_S``.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from latentcut.errors import ProgramHung, ProgramLost

__all__ = [
    "MELT_FIRST_FRAME_S",
    "MELT_LOST_RETRIES",
    "MELT_STALL_S",
    "STOP_GRACE_S",
    "Program",
    "ProgramRetried",
    "command_line",
    "on_a_display",
    "run_melt",
    "run_program",
]

MELT_STALL_S = 20.0  # a melt writes its position to stderr several times a second while it renders
MELT_LOST_RETRIES = 3  # a lost start costs seconds, and under load two in a row were seen
MELT_FIRST_FRAME_S = 5.0  # from its consumer opening the output to melt's first "Current Frame": at once when it works
STOP_GRACE_S = 3.0  # between SIGTERM and SIGKILL: time for xvfb-run, the Kdenlive re-saver or a daemon to clean up
_POLL_S = 0.25  # how often progress is looked at while the program runs (its exit is seen at once)
_QUOTED_LIMIT = 300


class ProgramRetried(UserWarning):
    """A stalled program was stopped and started once more."""


def command_line(command: Sequence[str | os.PathLike[str]]) -> str:
    """``command`` as a shell would show it, shortened to one readable line for a message."""
    text = shlex.join(str(part) for part in command)
    return text if len(text) <= _QUOTED_LIMIT else text[: _QUOTED_LIMIT - 3] + "..."


def _size_and_time(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except OSError:
        return -1, 0
    return info.st_size, info.st_mtime_ns


class Program:
    """One external program, started at once in a new session (its own process group), stopped with its group on exit.

    Its standard output goes to one file, its standard error to another (or to the same one with
    ``merged``); ``output()`` reads what it has written so far, at any time.
    """

    def __init__(
        self,
        command: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | str | None = None,
        env: Mapping[str, str] | None = None,
        merged: bool = False,
        preexec_fn: Callable[[], Any] | None = None,
    ) -> None:
        self.command = tuple(str(part) for part in command)
        # Plain files, not pipes: a program can never block on output nobody reads. Closed by close().
        self._stdout: IO[bytes] = tempfile.TemporaryFile(prefix="latentcut-out-")  # noqa: SIM115
        self._stderr: IO[bytes] = self._stdout if merged else tempfile.TemporaryFile(prefix="latentcut-err-")  # noqa: SIM115
        try:
            self._popen = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=self._stderr,
                start_new_session=True,
                preexec_fn=preexec_fn,
            )
        except BaseException:
            self._close_files()
            raise
        self._exit_fd = os.pidfd_open(self._popen.pid)
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        return self._popen.pid

    def __enter__(self) -> Program:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _exited(self, timeout_s: float) -> bool:
        """Whether the program has exited, waiting up to ``timeout_s`` to see it (it is not reaped: its group stays addressable)."""
        if self.returncode is not None:
            return True
        ready, _, _ = select.select([self._exit_fd], [], [], max(0.0, timeout_s))
        return bool(ready)

    def _reap(self) -> int:
        # Whatever the program left in its group (a melt under xvfb-run, a worker's helper) goes with it.
        self._signal_group(signal.SIGKILL)
        self.returncode = self._popen.wait()
        os.close(self._exit_fd)
        return self.returncode

    def _signal_group(self, number: int) -> None:
        try:
            os.killpg(self._popen.pid, number)
        except (ProcessLookupError, PermissionError):
            return

    def poll(self) -> int | None:
        """The exit status if the program has ended, else None."""
        return self._reap() if self._exited(0) and self.returncode is None else self.returncode

    def send_signal(self, number: int) -> None:
        """Send ``number`` to the program itself (not its group), as a user's ``kill`` would."""
        if self.returncode is None:
            self._popen.send_signal(number)

    def progress(self, watch: Sequence[Path] = ()) -> tuple[object, ...]:
        """What changes while the program works: the size of what it wrote, and of each of the ``watch`` files."""
        written = (os.fstat(self._stdout.fileno()).st_size, os.fstat(self._stderr.fileno()).st_size)
        return (*written, *(_size_and_time(path) for path in watch))

    def wait(self, timeout_s: float) -> int:
        """The exit status, once the program ends; ``ProgramHung`` (the program stopped) if that takes over ``timeout_s``."""
        if self._exited(timeout_s):
            return self.returncode if self.returncode is not None else self._reap()
        self.stop()
        raise ProgramHung(f"{command_line(self.command)} did not end within {timeout_s:g} s and was stopped{self._last_words()}")

    def finished(
        self,
        *,
        stall_s: float | None,
        timeout_s: float | None = None,
        watch: Sequence[Path] = (),
        lost: Callable[[Program], str | None] | None = None,
    ) -> int:
        """Wait for the exit status while the program makes progress.

        The program is stopped, and ``ProgramHung`` raised, when it writes nothing (nor grows any of
        ``watch``) for ``stall_s`` seconds, or runs for more than ``timeout_s`` in all, or when
        ``lost``, asked while it runs and once when it has ended, says why it never will do its work.
        """
        start = last_change = time.monotonic()
        seen = self.progress(watch)
        while not self._exited(_POLL_S):
            now = time.monotonic()
            if (current := self.progress(watch)) != seen:
                seen, last_change = current, now
            if lost is not None and (why := lost(self)):
                self.stop()
                raise ProgramLost(f"{command_line(self.command)} {why} and was stopped{self._last_words()}")
            if stall_s is not None and now - last_change > stall_s:
                self.stop()
                raise ProgramHung(
                    f"{command_line(self.command)} wrote nothing for {stall_s:g} s and was stopped{self._last_words()}"
                )
            if timeout_s is not None and now - start > timeout_s:
                self.stop()
                raise ProgramHung(
                    f"{command_line(self.command)} ran for more than {timeout_s:g} s and was stopped{self._last_words()}"
                )
        code = self.returncode if self.returncode is not None else self._reap()
        if lost is not None and (why := lost(self)):
            raise ProgramLost(f"{command_line(self.command)} {why}{self._last_words()}")
        return code

    def wait_for_output(self, pattern: str, timeout_s: float) -> re.Match[str]:
        """The first match of ``pattern`` (``^`` and ``$`` match at lines) in what the program writes (stdout, then stderr), once it appears.

        ``ProgramHung`` if it has not appeared within ``timeout_s``, or the program ended without writing it.
        """
        deadline = time.monotonic() + timeout_s
        compiled = re.compile(pattern, re.MULTILINE)
        while True:
            ended = self._exited(0.05)
            found = compiled.search(self.output()) or compiled.search(self.errors())
            if found:
                return found
            if ended or time.monotonic() > deadline:
                self.stop()
                how = f"ended (status {self.returncode})" if ended else f"did not within {timeout_s:g} s and was stopped"
                raise ProgramHung(f"{command_line(self.command)} was to write {pattern!r} but {how}{self._last_words()}")

    def _read(self, file: IO[bytes]) -> bytes:
        return os.pread(file.fileno(), os.fstat(file.fileno()).st_size, 0)

    def output(self) -> str:
        """What the program has written to its standard output (and error, when merged) so far."""
        return self._read(self._stdout).decode(errors="replace")

    def errors(self) -> str:
        """What the program has written to its standard error so far ("" when merged into the output)."""
        return "" if self._stderr is self._stdout else self._read(self._stderr).decode(errors="replace")

    def output_bytes(self) -> tuple[bytes, bytes]:
        """Standard output and standard error as written, for a program whose output is data."""
        return self._read(self._stdout), (b"" if self._stderr is self._stdout else self._read(self._stderr))

    def _last_words(self) -> str:
        lines = (self.errors().strip() or self.output().strip()).splitlines()
        return f" (its last line: {lines[-1][-200:]})" if lines else ""

    def stop(self, grace_s: float = STOP_GRACE_S) -> int:
        """End the program and everything in its group: SIGTERM, then SIGKILL after ``grace_s``; return its exit status."""
        if self.returncode is None:
            if not self._exited(0):
                self._signal_group(signal.SIGTERM)
                self._exited(grace_s)
            self._reap()
        assert self.returncode is not None
        return self.returncode

    def close(self) -> None:
        """Stop the program (if it still runs) and drop its output files."""
        self.stop()
        self._close_files()

    def _close_files(self) -> None:
        self._stdout.close()
        self._stderr.close()


def run_program(
    command: Sequence[str | os.PathLike[str]],
    *,
    stall_s: float | None,
    timeout_s: float | None = None,
    watch: Sequence[Path] = (),
    lost: Callable[[], Callable[[Program], str | None]] | None = None,
    retries: int = 0,
    lost_retries: int = 0,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
    text: bool = False,
) -> subprocess.CompletedProcess[Any]:
    """Run ``command`` to its end while it makes progress, as ``subprocess.run`` with captured output would.

    See ``Program.finished`` for ``stall_s``, ``timeout_s``, ``watch`` and ``lost`` (here made afresh
    for each run). A run that stalls (or overruns) is started again up to ``retries`` times, one that
    is lost (seen within seconds) up to ``lost_retries`` times, each with a ``ProgramRetried`` warning
    naming the command; the last one raises ``ProgramHung`` (``ProgramLost``). ``check``: a non-zero
    exit raises ``subprocess.CalledProcessError``.
    """
    left = {ProgramHung: retries, ProgramLost: lost_retries}
    while True:
        program = Program(command, cwd=cwd, env=env)
        try:
            code = program.finished(stall_s=stall_s, timeout_s=timeout_s, watch=watch, lost=lost() if lost else None)
            out, err = program.output_bytes()
        except ProgramHung as exc:
            kind = type(exc) if type(exc) in left else ProgramHung
            if left[kind] == 0:
                raise
            left[kind] -= 1
            warnings.warn(f"{exc}; starting it once more", ProgramRetried, stacklevel=2)
            continue
        finally:
            program.close()
        stdout: Any = out.decode(errors="replace") if text else out
        stderr: Any = err.decode(errors="replace") if text else err
        if check and code != 0:
            raise subprocess.CalledProcessError(code, program.command, stdout, stderr)
        return subprocess.CompletedProcess(program.command, code, stdout, stderr)


def on_a_display(command: Sequence[str]) -> list[str]:
    """``command`` under a private virtual display (``xvfb-run``) where there is no display, for Qt (Kdenlive titles, qtblend).

    ``xvfb-run -a`` takes the first display number whose lock file is free, so two started at once can
    take the same one and one melt renders nothing; each process starts its search at a number of its own.
    """
    if os.environ.get("DISPLAY") or not shutil.which("xvfb-run"):
        return list(command)
    return ["xvfb-run", "-a", "-n", str(100 + os.getpid() % 20000), *command]


def run_melt(
    command: Sequence[str | os.PathLike[str]],
    *,
    output: Path | None = None,
    timeout_s: float | None = None,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run a melt command line (``melt`` itself, or under ``xvfb-run``): one that writes nothing for ``MELT_STALL_S`` runs once more.

    ``output``: the file its consumer writes, watched for growth as well as melt's own messages, and
    for the lost start of its consumer (see the module docstring), run again up to ``MELT_LOST_RETRIES`` times.
    """
    return run_program(
        command,
        stall_s=MELT_STALL_S,
        timeout_s=timeout_s,
        watch=() if output is None else (output,),
        lost=None if output is None or "-silent" in map(str, command) else lambda: _LostStart(output),
        retries=1,
        lost_retries=MELT_LOST_RETRIES,
        cwd=cwd,
        env=env,
        check=check,
        text=True,
    )


class _LostStart:
    """Whether a melt's avformat consumer lost its start (see the module docstring), judged from its output file and messages."""

    def __init__(self, output: Path) -> None:
        self.output = output
        self.before = _size_and_time(output)  # an atomic output's empty temporary exists already
        self.opened_s: float | None = None
        self.judged = False

    def __call__(self, program: Program) -> str | None:
        now, state = time.monotonic(), _size_and_time(self.output)
        if self.opened_s is None and state != self.before:
            self.opened_s = now
        if program.returncode is not None:
            # A consumer that rendered anything wrote its header; one that opened its output and ended did not.
            empty = state != self.before and state[0] == 0
            return "ended leaving its output empty" if program.returncode == 0 and empty else None
        if self.opened_s is None or self.judged or now - self.opened_s < MELT_FIRST_FRAME_S:
            return None
        self.judged = True  # once: a working melt reports its first frame long before, and writes its header after it
        if state[0] > 0 or "Current Frame" in program.errors():
            return None
        return f"opened its output but rendered no frame in {MELT_FIRST_FRAME_S:g} s"
