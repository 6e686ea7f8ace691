"""Benchmark: from a Kdenlive-style save to the job arriving at the daemon, over 50 saves.

    .venv/bin/python bench/watch.py

Each save writes NAME.kdenlive.XXXXXX and renames it over the project, as Kdenlive 22.12 does, with a
trim changed so that the conformed latents change. The time is from just after the rename to the
daemon's own clock when it took the job (same machine). Prints p50, p95 and max (goal: p95 <= 150 ms).
"""

from __future__ import annotations

import os
import secrets
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import save_sequence
from latentcut.watch.saves import SaveWatcher
from latentcut.watch.session import WatchOptions, WatchSession
from local_daemon import local_daemon

SAVES = 50
ADDRESS = "tcp://127.0.0.1:5591"
PROJECT = """<mlt><profile width="16" height="16" frame_rate_num="25" frame_rate_den="1"/>
<producer id="a" out="249"><property name="length">250</property><property name="resource">a.mp4</property><property name="mlt_service">avformat</property></producer>
<producer id="b" out="249"><property name="length">250</property><property name="resource">b.mp4</property><property name="mlt_service">avformat</property></producer>
<playlist id="v1"><entry producer="a" in="0" out="{a_out}"/><entry producer="b" in="10" out="209"/></playlist>
<tractor id="t"><track producer="v1"/></tractor></mlt>"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, seed in (("a", 1), ("b", 2)):
            save_sequence(folder / f"{name}.z.npy", gaussian_latents(250, 512, seed), fps=Fraction(25))
        project = folder / "edit.kdenlive"
        project.write_text(PROJECT.format(a_out=99))
        stop = threading.Event()
        latencies = []
        with local_daemon(folder, ADDRESS, timeout_ms=1000) as client:
            session = WatchSession(project, client, WatchOptions(), lambda line: None)
            with SaveWatcher(project) as saves:
                worker = threading.Thread(target=session.run, args=(saves, stop))
                worker.start()
                try:
                    time.sleep(1.0)
                    for index in range(SAVES):
                        previous = session.last.job_id if session.last else ""
                        temp = project.with_name(f"{project.name}.{secrets.token_hex(3)}")
                        temp.write_text(PROJECT.format(a_out=100 + index))
                        os.replace(temp, project)
                        saved_at = time.time()
                        deadline = time.monotonic() + 10
                        while (session.last is None or session.last.job_id == previous) and time.monotonic() < deadline:
                            time.sleep(0.001)
                        latencies.append((session.last.received_at - saved_at) * 1000)
                        time.sleep(0.3)  # an editor does not save faster than this
                finally:
                    stop.set()
                    worker.join(30)
    values = np.array(latencies)
    print(f"{SAVES} Kdenlive-style saves of a 2-clip project (450 frames), save -> job received by the daemon")
    print(f"{'measure':<12}{'ms':>10}{'goal':>10}")
    print(f"{'p50':<12}{np.percentile(values, 50):>10.1f}")
    print(f"{'p95':<12}{np.percentile(values, 95):>10.1f}{'<= 150':>10}")
    print(f"{'max':<12}{values.max():>10.1f}")


if __name__ == "__main__":
    main()
