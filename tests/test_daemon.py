"""The render daemon as a real process on loopback: jobs, cache, supersede, faults, security, shared workers."""

from __future__ import annotations

import resource
import signal
import time
from fractions import Fraction

import numpy as np
import pytest

from daemons import daemon, finished, free_address, job_arrays, process, submit, wait_until_answering
from latentcut.daemon.client import DaemonClient, JobRejected
from latentcut.daemon.protocol import VERSION
from latentcut.daemon.transport import Connection, DaemonUnavailable, Security, write_keys
from latentcut.render.encode import video_frame_count_and_size


def test_renders_a_job_then_reuses_the_cache_for_what_did_not_change(tmp_path, decode_video):
    latents, opacity = job_arrays(40)
    opacity[:5] = np.linspace(0, 1, 5)
    with daemon(tmp_path) as (address, _), Connection(address) as connection:
        client = DaemonClient(connection)
        first = finished(client, submit(client, latents, opacity, output="cut.mkv"))
        assert first["kind"] == "done" and first["generated"] == 39 and first["cached"] == 0  # frame 0 is black: no model call
        frames = decode_video(tmp_path / "renders/cut.mkv", (32, 32))
        assert frames.shape == (40, 32, 32, 3) and frames[0].max() == 0 and frames[10].std() > 5
        edited = latents.copy()
        edited[20:23] += 0.5
        second = finished(client, submit(client, edited, opacity, output="cut.mkv"))
        assert second["generated"] == 3 and second["cached"] == 37
        again = decode_video(tmp_path / "renders/cut.mkv", (32, 32))
        np.testing.assert_array_equal(again[:20], frames[:20])
        assert not np.array_equal(again[20:23], frames[20:23])
        assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["cut.mkv"]


def test_status_shows_the_running_job_and_its_progress(tmp_path):
    latents, opacity = job_arrays(600)
    with daemon(tmp_path) as (address, _), Connection(address) as connection:
        client = DaemonClient(connection)
        job = submit(client, latents, opacity, size=(64, 64))
        deadline = time.monotonic() + 30
        while (status := client.status())["running"] is None or status["running"]["done"] == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status["running"]["job"] == job and 0 < status["running"]["done"] < 600
        progress = [m for m in client.events(job, timeout_s=60)]
        assert progress[-1].kind == "done" and any(m.kind == "progress" for m in progress)


def test_a_newer_job_for_the_same_project_supersedes_the_running_one(tmp_path):
    with daemon(tmp_path) as (address, _), Connection(address) as connection:
        client = DaemonClient(connection)
        old = submit(client, *job_arrays(800), size=(64, 64))
        time.sleep(0.5)
        new = submit(client, *job_arrays(10, seed=1))
        other_project = submit(client, *job_arrays(5, seed=2), project="q", output="other.mov")
        assert finished(client, old)["state"] == "superseded"
        assert finished(client, new)["kind"] == "done"
        assert finished(client, other_project)["kind"] == "done"
        assert video_frame_count_and_size(tmp_path / "renders/cut.mov")[0] == 10
        queued = submit(client, *job_arrays(800, seed=3), size=(64, 64), project="r", output="r.mov")
        client.cancel(queued)
        assert finished(client, queued)["state"] == "cancelled"
        assert not (tmp_path / "renders/r.mov").exists()
        with pytest.raises(JobRejected, match="no queued or running job"):
            client.cancel("nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"output": "../escape.mov"}, "not a plain file name"),
        ({"output": "/tmp/x.mov"}, "not a plain file name"),
        ({"model": "os:system"}, "is not served here"),
        ({"size": [0, 10]}, "is not [width, height]"),
    ],
)
def test_bad_jobs_are_refused_with_a_reason(tmp_path, change, message):
    latents, opacity = job_arrays(3)
    header = {
        "project": "p",
        "output": "ok.mov",
        "model": "builtin:cppn",
        "size": [16, 16],
        "fps": "25/1",
        "preset": "online",
        **change,
    }
    with daemon(tmp_path) as (address, _), Connection(address) as connection:
        answer = connection.request("submit", header, [latents, opacity])
        assert answer.kind == "error" and message in answer.header["error"]


def _garbage(rng: np.random.Generator, i: int) -> list[bytes]:
    kind = i % 6
    if kind == 0:
        return [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(1, 5)))]
    if kind == 1:
        return [b"LCUT9", b"submit", b"{}"]
    if kind == 2:
        return [
            VERSION,
            b"submit",
            b'{"arrays":[{"dtype":"float32","shape":[1000000000,512]},{"dtype":"float32","shape":[3]}]}',
            b"x",
            b"y",
        ]
    if kind == 3:
        return [VERSION, b"submit", b'{"arrays":[{"dtype":"object","shape":[2]}]}', b"xx"]
    if kind == 4:
        return [VERSION, b"submit"]
    return [VERSION, b"frames", b'{"job":"nope","range":1,"arrays":[{"dtype":"uint8","shape":[2]}]}', b"ab"]


def test_ten_thousand_malformed_messages_then_a_good_job(tmp_path):
    rng = np.random.default_rng(7)
    with daemon(tmp_path) as (address, child):
        with Connection(address) as attacker:
            for i in range(10_000):
                attacker.send_raw(_garbage(rng, i))
            answers = 0
            while attacker.receive(2000) is not None:
                answers += 1
        assert answers > 0 and child.poll() is None
        with Connection(address) as connection:
            client = DaemonClient(connection)
            assert finished(client, submit(client, *job_arrays(8)))["kind"] == "done"


def test_killed_mid_render_leaves_no_file_and_the_restarted_daemon_reuses_the_cache(tmp_path):
    latents, opacity = job_arrays(400)
    address = free_address()
    with daemon(tmp_path, address=address) as (_, child), Connection(address) as connection:
        client = DaemonClient(connection)
        job = submit(client, latents, opacity, size=(64, 64))
        for message in client.events(job, timeout_s=60):
            if message.kind == "progress" and message.header["done"] >= 100:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(20)
    assert not (tmp_path / "renders/cut.mov").exists()
    with daemon(tmp_path, address=address) as (_, child), Connection(address) as connection:
        assert not [p for p in (tmp_path / "renders").iterdir()]  # the leftover temporary file is gone too
        client = DaemonClient(connection)
        done = finished(client, submit(client, latents, opacity, size=(64, 64)))
        assert done["kind"] == "done" and done["cached"] >= 100 and done["generated"] <= 300
        assert video_frame_count_and_size(tmp_path / "renders/cut.mov") == (400, (64, 64))


def test_sigterm_stops_cleanly_without_a_partial_file(tmp_path):
    with daemon(tmp_path) as (address, child), Connection(address) as connection:
        client = DaemonClient(connection)
        job = submit(client, *job_arrays(800), size=(64, 64))
        next(client.events(job, timeout_s=60))
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0
        assert "stopped" in child.stdout.read()
    assert not list((tmp_path / "renders").iterdir())


def test_disk_full_fails_the_job_clearly_and_the_daemon_goes_on(tmp_path):
    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    with daemon(tmp_path, preexec=small_disk) as (address, child), Connection(address) as connection:
        client = DaemonClient(connection)
        failed = finished(client, submit(client, *job_arrays(200), size=(128, 128), output="big.mov"))
        assert failed["kind"] == "failed" and "big.mov" in failed["error"]
        (tmp_path / "renders/taken.mov").mkdir()
        blocked = finished(client, submit(client, *job_arrays(3), output="taken.mov", project="x"))
        assert blocked["kind"] == "failed" and "taken.mov" in blocked["error"]
        assert finished(client, submit(client, *job_arrays(3, seed=1), output="small.mov", project="y"))["kind"] == "done"
        assert child.poll() is None
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["small.mov", "taken.mov"]


def test_other_addresses_need_curve_keys_or_insecure(tmp_path):
    with process("daemon", "--out", "r", "--bind", "tcp://0.0.0.0:0", cwd=tmp_path) as child:
        assert child.wait(60) == 1
        assert "not a loopback address; give CURVE keys" in child.stdout.read()


def test_curve_keys_let_in_only_clients_that_know_them(tmp_path):
    keys = write_keys(tmp_path / "keys")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "client.key").write_bytes(keys["client_public"].read_bytes())
    good = Security(server_public=keys["daemon_public"], client_secret=keys["client_secret"])
    address = free_address()
    with process(
        "daemon",
        "--out",
        "r",
        "--bind",
        address,
        "--curve-secret",
        str(keys["daemon_secret"]),
        "--curve-clients",
        str(allowed),
        cwd=tmp_path,
    ):
        wait_until_answering(address, good)
        with Connection(address, good) as connection:
            assert DaemonClient(connection).ping()["models"] == ["builtin:cppn"]
        with Connection(address) as plain, pytest.raises(DaemonUnavailable):
            DaemonClient(plain, timeout_ms=500).ping()
        stranger = Security(server_public=keys["daemon_public"])  # right server key, unknown client key
        with Connection(address, stranger) as connection, pytest.raises(DaemonUnavailable):
            DaemonClient(connection, timeout_ms=500).ping()


def test_two_workers_share_a_job_and_a_killed_worker_loses_only_its_range(tmp_path):
    latents, opacity = job_arrays(240)
    with (
        daemon(tmp_path, "--no-local", "--range-frames", "8", "--range-timeout", "3") as (address, _),
        process("worker", "--connect", address, "--name", "w1", cwd=tmp_path) as first,
        process("worker", "--connect", address, "--name", "w2", cwd=tmp_path),
        Connection(address) as connection,
    ):
        client = DaemonClient(connection)
        job = submit(client, latents, opacity, size=(64, 64))
        for message in client.events(job, timeout_s=120):
            if message.kind == "progress" and message.header["done"] >= 40:
                first.send_signal(signal.SIGKILL)
            if message.kind in ("done", "failed"):
                done = message.header
        assert done["state"] == "done" and set(done["ranges"]) == {"w1", "w2"}
        assert done["generated"] <= 240 + 8  # at most the range the dead worker held is rendered twice
        assert video_frame_count_and_size(tmp_path / "renders/cut.mov") == (240, (64, 64))


def test_nan_latents_are_refused(tmp_path):
    with daemon(tmp_path) as (address, _), Connection(address) as connection:
        client = DaemonClient(connection)
        with pytest.raises(JobRejected, match="NaN"):
            client.submit(
                project="p",
                output="a.mov",
                model="builtin:cppn",
                size=(8, 8),
                fps=Fraction(25),
                latents=np.zeros((2, 512), np.float32),
                opacity=np.full(2, np.nan, np.float32),
            )
