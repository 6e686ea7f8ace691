"""Benchmark: how often melt 7.12's avformat consumer loses its start, and what one costs through ``run_melt`` (goal: at most about 40 s).

    .venv/bin/python bench/melt_start.py [--renders 200] [--seconds 1.0] [--video]

Renders a ``--seconds`` long WAV to a WAV, as ``latentcut beats`` does (``--video``: that many seconds
of a colour to FFV1, as the online render's consumer does), ``--renders`` times through ``run_melt``,
and prints how many runs lost their consumer's start (each seen by ``run_melt`` and run again, see
``latentcut.programs``), how many of those hung rather than ended empty, and the wall time of the
normal runs and of the runs that lost their start. Beside them, judged without ``run_melt``: how many
files it delivered empty (``empty``: 0 when it works), and how many times the same command through a
bare melt (30 s limit) failed to write its file (the race itself). Run it on a loaded machine too: the
lost start is a race that load makes likely.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
import warnings
import wave
from pathlib import Path

import numpy as np

from latentcut.programs import ProgramRetried, run_melt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--video", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="latentcut-bench-melt-") as tmp:
        folder = Path(tmp)
        rate = 44100
        noise = (np.random.default_rng(1).normal(0, 0.1, int(args.seconds * rate)) * 32767).astype("<i2")
        with wave.open(str(folder / "in.wav"), "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(rate)
            writer.writeframes(noise.tobytes())
        normal: list[float] = []
        lost: list[float] = []
        hung = empty = bare_failed = 0
        for number in range(args.renders):
            if args.video:
                out = folder / f"out{number}.mkv"
                command = ["melt", "colour:blue", f"out={round(args.seconds * 25) - 1}", "-consumer", f"avformat:{out.name}"]
                command += ["vcodec=ffv1", "an=1"]
            else:
                out = folder / f"out{number}.wav"
                command = ["melt", "in.wav", "-consumer", f"avformat:{out.name}", "vn=1", "acodec=pcm_s16le", "ar=22050", "ac=1"]
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                run_melt([*command, "real_time=-1", "terminate_on_pause=1"], output=out, cwd=folder, timeout_s=120, check=True)
            elapsed = time.perf_counter() - started
            retried = [w for w in caught if issubclass(w.category, ProgramRetried)]
            (lost if retried else normal).append(elapsed)
            hung += sum("rendered no frame" in str(w.message) for w in retried)
            empty += out.stat().st_size == 0  # what run_melt delivered, judged by the file alone
            out.unlink()
            # The same command through a bare melt, without run_melt's judgement: the race itself.
            try:
                subprocess.run([*command, "real_time=-1", "terminate_on_pause=1"], cwd=folder, capture_output=True, timeout=30)
                bare_failed += not out.exists() or out.stat().st_size == 0
            except subprocess.TimeoutExpired:
                bare_failed += 1
            out.unlink(missing_ok=True)
    print(
        f"{'renders':>8} {'lost':>5} {'hung':>5} {'empty':>6} {'bare melt failed':>17} {'normal median s':>16} {'lost worst s':>13}"
    )
    worst = f"{max(lost):.1f}" if lost else "-"
    median = f"{statistics.median(normal):.2f}" if normal else "-"
    print(f"{args.renders:>8} {len(lost):>5} {hung:>5} {empty:>6} {bare_failed:>17} {median:>16} {worst:>13}")


if __name__ == "__main__":
    main()
