"""The render daemon on loopback: jobs, cache, supersede, faults, security, shared workers.

A daemon served in a thread of this process where a process proves nothing (``daemon_thread``); real
processes for being killed, SIGTERM, limits set on the process, CURVE and its command line, and workers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import resource
import secrets
import shutil
import signal
import socket
import threading
import time
from fractions import Fraction

import numpy as np
import pytest

from daemons import daemon, daemon_thread, finished, free_address, job, job_arrays, process, submit, wait_until_answering
from latentcut.cli.main import main
from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.jobs import MAX_QUEUED_JOBS
from latentcut.daemon.messages import Delivery, Job, JobEvent, Lease, Preview, PreviewFrames, Ready
from latentcut.daemon.previews import MAX_WAITING_PREVIEWS
from latentcut.daemon.protocol import VERSION, decoded, encoded
from latentcut.daemon.transport import MAX_UNREAD_PER_PEER, Connection, Security, write_keys
from latentcut.errors import DaemonUnavailable, InputError, JobRejected
from latentcut.render.encode import video_frame_count_and_size


def test_renders_a_job_then_reuses_the_cache_for_what_did_not_change(tmp_path, decode_video):
    latents, opacity = job_arrays(40)
    opacity[:5] = np.linspace(0, 1, 5)
    with daemon_thread(tmp_path) as address, Connection(address) as connection:
        client = DaemonClient(connection)
        first = finished(client, submit(client, latents, opacity, output="cut.mkv"))
        assert (
            first.kind == "done" and first.summary.generated == 39 and first.summary.cached == 0
        )  # frame 0 is black: no model call
        frames = decode_video(tmp_path / "renders/cut.mkv", (32, 32))
        assert frames.shape == (40, 32, 32, 3) and frames[0].max() == 0 and frames[10].std() > 5
        edited = latents.copy()
        edited[20:23] += 0.5
        second = finished(client, submit(client, edited, opacity, output="cut.mkv"))
        assert second.summary.generated == 3 and second.summary.cached == 37
        again = decode_video(tmp_path / "renders/cut.mkv", (32, 32))
        np.testing.assert_array_equal(again[:20], frames[:20])
        assert not np.array_equal(again[20:23], frames[20:23])
        assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["cut.mkv"]


@pytest.mark.slow
def test_status_shows_the_running_job_and_its_progress(tmp_path):
    latents, opacity = job_arrays(600)
    with daemon_thread(tmp_path) as address, Connection(address) as connection:
        client = DaemonClient(connection)
        job_id = submit(client, latents, opacity, size=(64, 64))
        deadline = time.monotonic() + 30
        while (status := client.status()).running is None or status.running.done == 0:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status.running.job_id == job_id and 0 < status.running.done < 600
        progress = list(client.events(job_id, timeout_s=60))
        assert progress[-1].kind == "done" and any(m.kind == "progress" for m in progress)


def test_a_newer_job_for_the_same_project_supersedes_the_running_one(tmp_path):
    with daemon_thread(tmp_path) as address, Connection(address) as connection:
        client = DaemonClient(connection)
        old = submit(client, *job_arrays(800), size=(64, 64))
        time.sleep(0.5)
        new = submit(client, *job_arrays(10, seed=1))
        other_project = submit(client, *job_arrays(5, seed=2), project="q", output="other.mov")
        assert finished(client, old).summary.state == "superseded"
        assert finished(client, new).kind == "done"
        assert finished(client, other_project).kind == "done"
        assert video_frame_count_and_size(tmp_path / "renders/cut.mov")[0] == 10
        queued = submit(client, *job_arrays(800, seed=3), size=(64, 64), project="r", output="r.mov")
        client.cancel(queued)
        assert finished(client, queued).summary.state == "cancelled"
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
    with daemon_thread(tmp_path) as address, Connection(address) as connection:
        answer = connection.request("submit", header, [latents, opacity])
        assert answer.kind == "error" and message in answer.header["error"]


@pytest.mark.slow
def test_killed_mid_render_leaves_no_file_and_the_restarted_daemon_reuses_the_cache(tmp_path):
    latents, opacity = job_arrays(400)
    address = free_address()
    with daemon(tmp_path, address=address) as (_, child), Connection(address) as connection:
        client = DaemonClient(connection)
        job_id = submit(client, latents, opacity, size=(64, 64))
        for event in client.events(job_id, timeout_s=60):
            if event.kind == "progress" and event.summary.done >= 100:
                break
        child.send_signal(signal.SIGKILL)
        child.wait(20)
    assert not (tmp_path / "renders/cut.mov").exists()
    with daemon(tmp_path, address=address) as (_, child), Connection(address) as connection:
        assert not [p for p in (tmp_path / "renders").iterdir()]  # the leftover temporary file is gone too
        client = DaemonClient(connection)
        done = finished(client, submit(client, latents, opacity, size=(64, 64)))
        assert done.kind == "done" and done.summary.cached >= 100 and done.summary.generated <= 300
        assert video_frame_count_and_size(tmp_path / "renders/cut.mov") == (400, (64, 64))


def test_sigterm_stops_cleanly_without_a_partial_file(tmp_path):
    with daemon(tmp_path) as (address, child), Connection(address) as connection:
        client = DaemonClient(connection)
        next(client.events(submit(client, *job_arrays(800), size=(64, 64)), timeout_s=60))
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0
        assert "stopped" in child.output()
    assert not list((tmp_path / "renders").iterdir())


@pytest.mark.slow
def test_disk_full_fails_the_job_clearly_and_the_daemon_goes_on(tmp_path):
    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    with daemon(tmp_path, preexec=small_disk) as (address, child), Connection(address) as connection:
        client = DaemonClient(connection)
        failed = finished(client, submit(client, *job_arrays(200), size=(128, 128), output="big.mov"))
        assert failed.kind == "failed" and "big.mov" in failed.summary.error
        assert "GiB free there" in failed.summary.error, failed.summary.error  # what the disk has, not a guess
        (tmp_path / "renders/taken.mov").mkdir()
        with pytest.raises(JobRejected, match="output 'taken.mov' is a folder in renders; choose another name"):
            submit(client, *job_arrays(3), output="taken.mov", project="x")
        assert finished(client, submit(client, *job_arrays(3, seed=1), output="small.mov", project="y")).kind == "done"
        assert child.poll() is None
    assert sorted(p.name for p in (tmp_path / "renders").iterdir()) == ["small.mov", "taken.mov"]


def test_other_addresses_need_curve_keys_or_insecure(tmp_path):
    with process("daemon", "--out", "r", "--bind", "tcp://0.0.0.0:0", cwd=tmp_path) as child:
        assert child.wait(60) == 1
        assert "not a loopback address; give CURVE keys" in child.output()


@pytest.mark.slow
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
            assert DaemonClient(connection).ping().models == ("builtin:cppn",)
        with Connection(address) as plain, pytest.raises(DaemonUnavailable):
            DaemonClient(plain, timeout_ms=500).ping()
        stranger = Security(server_public=keys["daemon_public"])  # right server key, unknown client key
        with Connection(address, stranger) as connection, pytest.raises(DaemonUnavailable):
            DaemonClient(connection, timeout_ms=500).ping()


@pytest.mark.slow
def test_two_workers_share_a_job_and_a_killed_worker_loses_only_its_range(tmp_path):
    latents, opacity = job_arrays(240)
    with (
        daemon_thread(tmp_path, "--no-local", "--range-frames", "8", "--range-timeout", "3") as address,
        process("worker", "--connect", address, "--name", "w1", cwd=tmp_path) as first,
        process("worker", "--connect", address, "--name", "w2", cwd=tmp_path),
        Connection(address) as connection,
    ):
        client = DaemonClient(connection)
        # Both workers have loaded the model and asked for work before the job comes, so both take ranges early.
        deadline = time.monotonic() + 120
        while not {"w1", "w2"} <= set(client.status().workers):
            assert time.monotonic() < deadline, f"the workers never asked for work: {client.status().workers}"
            time.sleep(0.1)
        job_id = submit(client, latents, opacity, size=(64, 64))
        for event in client.events(job_id, timeout_s=120):
            if event.kind == "progress" and event.summary.done >= 40:
                first.send_signal(signal.SIGKILL)
            done = event
        assert done.summary.state == "done" and set(done.ranges) == {"w1", "w2"}
        assert done.summary.generated <= 240 + 8  # at most the range the dead worker held is rendered twice
        assert video_frame_count_and_size(tmp_path / "renders/cut.mov") == (240, (64, 64))


@pytest.mark.slow
def test_one_renderer_per_device_share_a_job_in_one_daemon(tmp_path, decode_video, cppn):
    """``--device cpu,cpu`` stands in for cuda:0,cuda:1: two renderers, each with its own model, take ranges of one job."""
    latents, opacity = job_arrays(160)
    with (
        daemon_thread(tmp_path, "--device", "cpu,cpu", "--range-frames", "8") as address,
        Connection(address) as connection,
    ):
        client = DaemonClient(connection)
        done = finished(client, submit(client, latents, opacity, output="cut.mkv", size=(48, 48)))
        assert done.kind == "done" and done.summary.generated == 160
        assert set(done.ranges) == {"local:cpu.1", "local:cpu.2"} and sum(done.ranges.values()) == 20
        assert min(done.ranges.values()) >= 1, f"one renderer did all the ranges: {done.ranges}"
        assert {"local:cpu.1", "local:cpu.2"} <= set(client.status().workers)
    np.testing.assert_array_equal(decode_video(tmp_path / "renders/cut.mkv", (48, 48)), cppn.render(latents, (48, 48)))


def test_a_device_list_is_only_for_the_daemon(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["render", "a.z.npy", "-o", "a.mp4", "--device", "cuda:0,cuda:1"])
    assert exited.value.code == 2 and "a list (cuda:0,cuda:1) is for latentcut daemon" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main(["daemon", "--out", "renders", "--device", "cuda:0,,cuda:1"])
    assert exited.value.code == 2 and "an empty device name" in capsys.readouterr().err


def test_nan_latents_are_refused(tmp_path):
    with daemon_thread(tmp_path) as address, Connection(address) as connection:
        client = DaemonClient(connection)
        with pytest.raises(JobRejected, match="NaN"):
            client.submit(job(np.zeros((2, 512), np.float32), np.full(2, np.nan, np.float32), size=(8, 8)))


# ----- hardening (issue 9): every defect the probe found, over real sockets on loopback

_HOSTILE_HEADERS = [
    (b"ping", b"[" * 1000 + b"]" * 1000),  # the probe's 2 KB daemon killer: RecursionError
    (b"ping", b"[" * 30000 + b"]" * 30000),
    (b"submit", b'{"size":[' + b"9" * 4301 + b",1]}"),  # ValueError from Python's int limit
    (b"submit", b'{"x":1e999}'),
    (b"frames", b'{"arrays":[{"dtype":"uint8","shape":[true]}]}'),  # a bool passed isinstance(n, int)
]


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory):
    """One daemon for the tests that only send it messages (each starts it again only if it died)."""
    folder = tmp_path_factory.mktemp("shared")
    with daemon(folder, "--cache", str(folder / "frames")) as (address, child):
        yield address, child, folder


def _alive_and_serving(address: str, child) -> None:
    assert child.poll() is None, child.output()
    with Connection(address) as connection:
        client = DaemonClient(connection)
        done = finished(client, submit(client, *job_arrays(3, seed=9), project="good", output="good.mov"), timeout_s=60)
        assert done.kind == "done"


@pytest.mark.slow
def test_hostile_headers_are_answered_and_the_daemon_goes_on(shared_daemon):
    address, child, _ = shared_daemon
    with Connection(address) as attacker:
        for kind, header in _HOSTILE_HEADERS:
            attacker.send_raw([VERSION, kind, header, b"x"] if b"arrays" in header else [VERSION, kind, header])
            answer = attacker.receive(5000)
            assert answer is not None and answer.kind == "error", (kind, header[:40])
    _alive_and_serving(address, child)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": [True, True]}, "size"),
        ({"job": "abc\n"}, "job"),
        ({"output": "cut.mov\n"}, "not a plain file name"),
        ({"project": "p\nlatentcut daemon: job forged for x"}, "printable"),
    ],
)
def test_bools_trailing_newlines_and_forged_log_lines_are_refused(shared_daemon, changes, message):
    address, child, _ = shared_daemon
    kind, header, arrays = job(*job_arrays(2), size=(16, 16)).to_wire()
    with Connection(address) as connection:
        answer = connection.request(kind, {**header, **changes}, arrays)
        assert answer.kind == "error" and message in answer.header["error"]
    _alive_and_serving(address, child)


def _json_value(rng: np.random.Generator) -> str:
    """A hostile JSON value: bools, huge integers, deep nesting, floats past their range, wrong types."""
    depth = int(rng.integers(1, 3000))
    choices = [
        "true",
        "false",
        "null",
        "9" * int(rng.integers(19, 5000)),
        "-" + "9" * int(rng.integers(19, 300)),
        "1e999",
        "NaN",
        "[" * depth + "]" * depth,
        '{"a":' * depth + "1" + "}" * depth,
        "[true,true]",
        "[0,0]",
        "[99999,99999]",
        '"x\\n"',
        '"1/0"',
        '"0/0"',
        '"p\\ud800"',
        '"p\\u0085"',
        '"p\\u009b[31m"',
        '"' + "a" * int(rng.integers(0, 3000)) + '"',
        str(int(rng.integers(-(2**40), 2**40))),
        "0.5",
    ]
    return choices[int(rng.integers(len(choices)))]


_TEMPLATES = {
    b"submit": {
        "project": '"p"',
        "output": '"f.mov"',
        "model": '"builtin:cppn"',
        "size": "[16,16]",
        "fps": '"25/1"',
        "blend": "false",
    },
    b"frames": {"worker": '"w"', "job": '"j1"', "range": "0", "token": '"' + "0" * 32 + '"'},
    b"ready": {"worker": '"w"', "model_sha256": '"' + "0" * 64 + '"'},
    b"cancel": {"job": '"j1"'},
    b"preview": {"preview": '"p1"', "model": '"builtin:cppn"', "size": "[16,16]"},
    b"status": {},
    b"ping": {},
    b"ok": {"job": '"j1"'},
    b"range": {"job": '"j1"', "range": "1"},
}


def _fuzzed(rng: np.random.Generator) -> list[bytes]:
    """One generated message: a real kind's header with hostile values in random fields, and random array frames."""
    if rng.random() < 0.1:  # not even a message: random frames, a short one, another version
        frames = [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(1, 5)))]
        return [[b"LCUT9", b"submit", b"{}"], [VERSION, b"submit"], frames][int(rng.integers(3))]
    if rng.random() < 0.2:  # a well-formed job but for one field: its checks are reached, past the arrays'
        kind, header, arrays = job(*job_arrays(2), size=(16, 16), project="fuzz", output="fuzz.mov").to_wire()
        frames = encoded(kind, header, arrays)  # one project: each accepted job supersedes the one before
        fields = {key: json.dumps(value) for key, value in json.loads(bytes(frames[2])).items()}
        fields[str(rng.choice(["project", "output", "model", "fps", "preset", "codec", "job"]))] = _json_value(rng)
        header_text = "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"
        return [VERSION, b"submit", header_text.encode(), *(bytes(frame) for frame in frames[3:])]
    kind = list(_TEMPLATES)[int(rng.integers(len(_TEMPLATES)))]
    fields = dict(_TEMPLATES[kind])
    for key in rng.choice([*fields, "arrays", "size", "range", "extra"], size=int(rng.integers(1, 4))):
        fields[str(key)] = _json_value(rng)
    frames = [rng.bytes(int(rng.integers(0, 64))) for _ in range(int(rng.integers(0, 4)))]
    if "arrays" not in fields or rng.random() < 0.5:
        shapes = [f"[{int(rng.integers(0, 4))},{_json_value(rng) if rng.random() < 0.3 else 2}]" for _ in frames]
        fields["arrays"] = "[" + ",".join(f'{{"dtype":"float32","shape":{shape}}}' for shape in shapes) + "]"
    header = "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"
    return [VERSION, kind, header.encode(), *frames]


def test_ten_thousand_generated_hostile_messages_then_a_good_job(shared_daemon):
    address, child, _ = shared_daemon
    rng = np.random.default_rng(9)
    with Connection(address) as attacker:
        for _ in range(10_000):
            attacker.send_raw(_fuzzed(rng))
        answers, internal = 0, []
        while (answer := attacker.receive(2000)) is not None:
            answers += 1
            if answer.kind == "error" and "internal error" in str(answer.header.get("error")):
                internal.append(answer.header["error"])  # a message the daemon did not expect: a traceback in its log
    assert answers > 1000 and not internal, internal[:3]
    _alive_and_serving(address, child)


class _HostileDaemon:
    """A ROUTER socket on loopback that answers every request with the next hostile message."""

    def __init__(self, answers: list[list[bytes]]) -> None:
        import zmq

        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self.address = free_address()
        self._socket.bind(self.address)
        self.answers = answers
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            if self._socket.poll(50):
                peer, *_ = self._socket.recv_multipart()
                self._socket.send_multipart([peer, *self.answers[self.requests % len(self.answers)]])
                self.requests += 1

    def __enter__(self) -> _HostileDaemon:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        self._socket.close(linger=0)
        self._context.term()


_HOSTILE_ANSWERS = [
    [VERSION, b"ok", b"[" * 1000 + b"]" * 1000],
    [VERSION, b"ok", b'{"running":{"job":"a","project":"p","output":"o.mov","state":"running","frames":true}}'],
    [VERSION, b"range", b'{"job":"j","range":1,"size":[' + b"9" * 4301 + b",1]}"],
    [
        VERSION,
        b"range",
        b'{"job":"j","range":true,"token":"' + b"0" * 32 + b'","model":"m","size":[true,true],"blend":false,'
        b'"arrays":[{"dtype":"float32","shape":[1,2]},{"dtype":"float32","shape":[1]},{"dtype":"int64","shape":[1]}]}',
        b"\0" * 8,
        b"\0" * 4,
        b"\0" * 8,
    ],
    [VERSION, b"error", b'{"error":["x"]}'],
]


@pytest.mark.parametrize("answer", _HOSTILE_ANSWERS[:2], ids=["nested", "bool"])
def test_status_reports_a_hostile_daemon_in_one_line(tmp_path, answer):
    with _HostileDaemon([answer]) as hostile, process("status", "--daemon", hostile.address, cwd=tmp_path) as child:
        assert child.wait(60) == 1
        lines = child.output().strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in lines[0], lines


@pytest.mark.slow
def test_a_worker_survives_a_hostile_daemon(tmp_path):
    with _HostileDaemon(_HOSTILE_ANSWERS) as hostile, process("worker", "--connect", hostile.address, cwd=tmp_path) as worker:
        deadline = time.monotonic() + 60
        while hostile.requests < 2 * len(_HOSTILE_ANSWERS):
            assert time.monotonic() < deadline and worker.poll() is None, worker.output()
            time.sleep(0.1)
        assert worker.poll() is None
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0


@pytest.mark.slow
def test_a_render_that_runs_out_of_memory_fails_its_job_and_the_daemon_goes_on(tmp_path):
    def little_memory():
        resource.setrlimit(resource.RLIMIT_AS, (3000 * 2**20, 3000 * 2**20))

    with daemon(tmp_path, "--max-job-gb", "100", preexec=little_memory) as (address, child), Connection(address) as connection:
        client = DaemonClient(connection)
        failed = finished(client, submit(client, *job_arrays(4), size=(2048, 2048)), timeout_s=60)
        assert failed.kind == "failed" and "allocate" in failed.summary.error and "\n" not in failed.summary.error
        _alive_and_serving(address, child)


def test_absurd_sizes_are_refused_up_front_against_the_memory_limit(shared_daemon):
    address, child, _ = shared_daemon
    with Connection(address) as connection:
        client = DaemonClient(connection)
        with pytest.raises(JobRejected, match="GiB, over this daemon's"):
            client.submit(job(*job_arrays(20), size=(8192, 8192)))
    _alive_and_serving(address, child)


@pytest.mark.slow
def test_a_cache_the_disk_refuses_is_logged_and_rendering_goes_on_uncached(tmp_path, decode_video):
    frames_dir = tmp_path / "frames"
    with daemon(tmp_path, "--cache", str(frames_dir)) as (address, child), Connection(address) as connection:
        shutil.rmtree(frames_dir)
        frames_dir.write_text("not a folder: every frame the cache writes fails, like a full disk")
        client = DaemonClient(connection)
        done = finished(client, submit(client, *job_arrays(20), output="cut.mkv"), timeout_s=60)
        assert done.kind == "done" and done.summary.generated == 20
        assert decode_video(tmp_path / "renders/cut.mkv", (32, 32)).shape == (20, 32, 32, 3)
        _alive_and_serving(address, child)
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0
        assert child.output().count("refused a frame") == 2  # once per job, not once per frame


def test_the_queue_has_a_limit(shared_daemon):
    address, child, _ = shared_daemon
    with Connection(address) as connection:
        client = DaemonClient(connection)
        long_job = submit(client, *job_arrays(2000), size=(64, 64), project="long", output="long.mov")
        long_name = "é" * 990  # 6 bytes each in JSON: a full queue of these is larger than one header
        queued = [
            submit(client, *job_arrays(2, seed=i), project=f"{i}{long_name}", output="q.mov") for i in range(MAX_QUEUED_JOBS)
        ]
        with pytest.raises(JobRejected, match="queue is full"):
            submit(client, *job_arrays(2), project="one-too-many", output="q.mov")
        status = client.status()  # still answered, the last queued jobs left out
        assert status.running.job_id == long_job and 0 < len(status.queue) < MAX_QUEUED_JOBS
        for job_id in [long_job, *queued]:
            client.cancel(job_id)
    _alive_and_serving(address, child)


def _white(frames: np.ndarray) -> np.ndarray:
    return (frames.reshape(len(frames), -1) >= 250).all(axis=1)


def _cached_frames(folder) -> list[np.ndarray]:
    return [np.frombuffer(path.read_bytes(), np.uint8) for path in folder.glob("*/*.rgb")]


def test_a_client_posting_frames_for_range_ids_changes_nothing(shared_daemon, decode_video):
    address, _, folder = shared_daemon
    latents, opacity = job_arrays(160, seed=11)
    with Connection(address) as connection, Connection(address) as attacker:
        client = DaemonClient(connection)
        job_id = submit(client, latents, opacity, output="cut.mkv")
        assert DaemonClient(attacker).status().knows(job_id)  # anyone may read the running job's id
        white = np.full((16, 32, 32, 3), 255, np.uint8)
        answers = []
        for range_id in range(40):
            for token in ("0" * 32, secrets.token_hex(16)):
                answers.append(attacker.request(*Delivery("evil", job_id, range_id, token, white).to_wire()))
        assert finished(client, job_id).kind == "done"
    assert all(answer.kind == "error" for answer in answers)
    assert sum("not leased to this connection" in answer.header["error"] for answer in answers) > 40  # while it ran
    assert not _white(decode_video(folder / "renders/cut.mkv", (32, 32))).any()
    cached = _cached_frames(folder / "frames")
    assert len(cached) >= 160 and not any((frame >= 250).all() for frame in cached)


@pytest.mark.slow
def test_frames_from_a_worker_never_enter_the_persistent_cache(tmp_path, decode_video, cppn):
    """A worker is trusted with the range it leased, for that job only: its frames are not served to later jobs."""
    latents, opacity = job_arrays(24)
    frames_dir = str(tmp_path / "frames")
    with (
        daemon_thread(tmp_path, "--cache", frames_dir, "--no-local", "--range-frames", "8") as address,
        Connection(address) as connection,
        Connection(address) as rogue,
    ):
        client = DaemonClient(connection)
        job_id = submit(client, latents, opacity, output="cut.mkv")
        delivered, deadline = 0, time.monotonic() + 60
        while delivered < 3:  # a "worker" that leases ranges honestly and sends white frames
            assert time.monotonic() < deadline
            answer = rogue.request(*Ready("rogue", cppn.sha256).to_wire(), expect=("range", "idle", "error"))
            if answer.kind == "range":
                lease = Lease.from_wire(answer)
                white = np.full((len(lease.indices), 32, 32, 3), 255, np.uint8)
                assert rogue.request(*Delivery("rogue", job_id, lease.range_id, lease.token, white).to_wire()).kind == "ok"
                delivered += 1
        assert finished(client, job_id).kind == "done"
    assert not _cached_frames(tmp_path / "frames")
    with daemon_thread(tmp_path, "--cache", frames_dir) as address, Connection(address) as connection:
        client = DaemonClient(connection)
        again = finished(client, submit(client, latents, opacity, output="again.mkv"))
        assert again.summary.cached == 0 and again.summary.generated == 24
    assert not _white(decode_video(tmp_path / "renders/again.mkv", (32, 32))).any()


@pytest.mark.slow
def test_curve_without_an_allow_list_is_refused_unless_any_client_is_asked_for_loudly(tmp_path):
    keys = write_keys(tmp_path / "keys")
    secret = str(keys["daemon_secret"])
    with process("daemon", "--out", "r", "--bind", free_address(), "--curve-secret", secret, cwd=tmp_path) as child:
        assert child.wait(60) == 1
        assert "would admit any client key" in child.output()
    address = free_address()
    with process(
        "daemon", "--out", "r", "--bind", address, "--curve-secret", secret, "--curve-any-client", cwd=tmp_path
    ) as child:
        wait_until_answering(address, Security(server_public=keys["daemon_public"]))
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0
        assert "WARNING" in child.output()


def test_keys_are_never_overwritten_without_force(tmp_path):
    first = write_keys(tmp_path / "keys")
    secret = first["daemon_secret"].read_bytes()
    with pytest.raises(InputError, match="keys already exist"):
        write_keys(tmp_path / "keys")
    assert first["daemon_secret"].read_bytes() == secret
    assert write_keys(tmp_path / "keys", force=True)["daemon_secret"].read_bytes() != secret
    assert main(["keys", str(tmp_path / "keys")]) == 1  # the command says so in one line and exits 1
    assert main(["keys", str(tmp_path / "keys"), "--force"]) == 0


@pytest.mark.slow
def test_idle_tcp_connections_do_not_lock_clients_out(tmp_path):
    def few_files():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    with daemon(tmp_path, preexec=few_files) as (address, _):
        host, port = address[len("tcp://") :].rsplit(":", 1)
        idle = []
        try:
            for _ in range(600):  # more than the daemon has file descriptors
                connection = socket.socket()
                connection.setblocking(False)
                connection.connect_ex((host, int(port)))
                idle.append(connection)
            time.sleep(0.5)
            started = time.monotonic()
            with Connection(address) as late:
                DaemonClient(late, timeout_ms=10_000).ping()
            assert time.monotonic() - started < 10  # 30 s and more before the handshake limit
        finally:
            for connection in idle:
                connection.close()


def test_a_job_with_a_pixel_cross_fade_renders_the_mix(shared_daemon, decode_video):
    address, _, folder = shared_daemon
    a, opacity = job_arrays(6)
    b, _ = job_arrays(6, seed=5)
    with Connection(address) as connection:
        client = DaemonClient(connection)
        assert finished(client, submit(client, b, opacity, output="b.mkv", project="b")).kind == "done"
        whole = np.ones(6, np.float32)
        faded = finished(client, submit(client, a, opacity, output="ab.mkv", project="ab", blend_latents=b, blend_weight=whole))
        assert faded.kind == "done" and faded.summary.generated == 6
    videos = [decode_video(folder / "renders" / name, (32, 32)) for name in ("b.mkv", "ab.mkv")]
    np.testing.assert_array_equal(videos[0], videos[1])  # a weight of 1 is all the other picture


# ----- previews: frames sent back to the client that asked (the explorer's), over the same socket


def _preview(preview_id: str, frames: int, size: tuple[int, int], seed: int = 0) -> Preview:
    return Preview(preview_id, "builtin:cppn", size, FrameArrays.plain(job_arrays(frames, seed)[0]))


def _rendered(connection: Connection, preview_id: str, timeout_s: float = 60.0) -> PreviewFrames:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        message = connection.receive(200)
        if message is not None and message.kind == "rendered":
            answer = PreviewFrames.from_wire(message)
            if answer.preview_id == preview_id:
                return answer
    raise TimeoutError(f"no answer to preview {preview_id} within {timeout_s} s")


def test_previews_come_back_only_to_the_client_that_asked_and_read_but_never_fill_the_cache(shared_daemon, cppn):
    address, _, folder = shared_daemon
    cached_before = len(_cached_frames(folder / "frames"))
    latents = job_arrays(6, seed=3)[0]
    with Connection(address) as asking, Connection(address) as other:
        DaemonClient(other).ping()
        answer = DaemonClient(asking).preview(
            Preview("look-1", "builtin:cppn", (40, 24), FrameArrays.plain(latents)), timeout_s=60
        )
        np.testing.assert_array_equal(answer.frames, cppn.render(latents, (40, 24)))
        assert answer.model_sha256 == cppn.sha256
        assert other.receive(300) is None
    assert len(_cached_frames(folder / "frames")) == cached_before

    # A frame a job put in the cache is served from it: doctored on disk, the preview shows the doctored frame.
    latents, opacity = job_arrays(2, seed=4)
    with Connection(address) as connection:
        client = DaemonClient(connection)
        done = finished(client, submit(client, latents, opacity, project="cached", output="cached.mov"), timeout_s=60)
        assert done.kind == "done"
        key = frame_keys(cppn.sha256, "builtin:cppn", (32, 32), latents[:1], opacity[:1])[0]
        (folder / "frames" / key[:2] / f"{key}.rgb").write_bytes(b"\xff" * (32 * 32 * 3))
        answer = client.preview(Preview("look-2", "builtin:cppn", (32, 32), FrameArrays.plain(latents)), timeout_s=60)
        assert _white(answer.frames).tolist() == [True, False]
        np.testing.assert_array_equal(answer.frames[1], cppn.render(latents[1:], (32, 32))[0])


def test_hostile_previews_are_refused_in_one_line_and_the_daemon_goes_on(shared_daemon):
    address, child, _ = shared_daemon
    kind, header, _ = _preview("p1", 1, (16, 16)).to_wire()
    hostile = [
        ({}, np.zeros((65, 512), np.float32), "ask 1-64 frames"),  # too many frames
        ({"size": [8192, 8192]}, np.zeros((2, 512), np.float32), "pixels"),  # huge
        ({"size": [10**6, 8]}, np.zeros((1, 512), np.float32), "size"),
        ({}, np.full((2, 512), np.nan, np.float32), "NaN"),
        ({}, np.zeros((2, 512), np.int32), "float32"),  # wrong dtype (float64 cannot even travel)
        ({}, np.zeros((2, 512, 1), np.float32), "float32"),  # wrong shape
        ({"model": "/etc/passwd"}, np.zeros((2, 512), np.float32), "not served here"),
    ]
    with Connection(address) as connection:
        for changes, latents, message in hostile:
            answer = connection.request(kind, {**header, **changes}, (latents, np.ones(len(latents), np.float32)), retries=0)
            error = answer.header.get("error", "")
            assert answer.kind == "error" and message in error and "\n" not in error, (changes, error)
        # Latents the model cannot take are found while rendering: the preview fails, in one line, to its client.
        with pytest.raises(JobRejected, match="failed: preview bad-dim: latents have dim 16"):
            DaemonClient(connection).preview(
                Preview("bad-dim", "builtin:cppn", (16, 16), FrameArrays.plain(np.zeros((2, 16), np.float32))), timeout_s=60
            )
    _alive_and_serving(address, child)


def test_a_newer_preview_supersedes_the_older_and_a_full_queue_answers_busy(shared_daemon):
    address, child, _ = shared_daemon
    with contextlib.ExitStack() as stack:
        first = stack.enter_context(Connection(address))
        # Rendering takes seconds; every request below is answered meanwhile (no retries, 2 s each).
        assert first.request(*_preview("heavy", 64, (256, 256)).to_wire(), retries=0).kind == "ok"
        others = [stack.enter_context(Connection(address)) for _ in range(MAX_WAITING_PREVIEWS + 1)]
        answers = [
            c.request(*_preview(f"tiny-{i}", 1, (8, 8), seed=i).to_wire(), timeout_ms=2000, retries=0)
            for i, c in enumerate(others)
        ]
        # The queue is full after MAX_WAITING_PREVIEWS, or one fewer while "heavy" still waits for the render thread
        # (a loaded machine): then the rest are refused as busy.
        kinds = [a.kind for a in answers]
        taken = kinds.count("ok")
        assert taken in (MAX_WAITING_PREVIEWS - 1, MAX_WAITING_PREVIEWS) and kinds == ["ok"] * taken + ["error"] * (
            len(kinds) - taken
        )
        assert all(a.header["error"].startswith("busy: ") for a in answers[taken:])
        assert first.request(*_preview("newer", 2, (16, 16)).to_wire(), timeout_ms=2000, retries=0).kind == "ok"
        assert _rendered(first, "heavy").state == "superseded"
        assert _rendered(first, "newer").frames.shape == (2, 16, 16, 3)
        for i, connection in enumerate(others[:taken]):
            assert _rendered(connection, f"tiny-{i}").state == "done"
    _alive_and_serving(address, child)


def _rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.mark.slow
def test_a_client_that_never_reads_its_previews_gets_few_held_and_a_good_client_is_served(shared_daemon):
    import zmq

    address, child, _ = shared_daemon
    latents, opacity = job_arrays(64, seed=21)
    size = (128, 128)  # 64 frames: 3 MiB an answer, read from the frame cache (filled by a job first) so they come fast
    with Connection(address) as connection:
        client = DaemonClient(connection)
        done = finished(client, submit(client, latents, opacity, size=size, project="unread", output="unread.mov"))
        assert done.kind == "done"
    context = zmq.Context()
    hostile = context.socket(zmq.DEALER)
    try:
        # ZeroMQ on the client's side holds one message, the kernel a little: the daemon holds the rest, if it keeps them.
        for option, value in ((zmq.LINGER, 0), (zmq.RCVHWM, 1), (zmq.RCVBUF, 4096)):
            hostile.setsockopt(option, value)
        hostile.connect(address)
        rss_before = _rss_bytes(child.pid)
        asked = 40
        for i in range(asked):
            hostile.send_multipart(encoded(*Preview(f"unread-{i}", "builtin:cppn", size, FrameArrays.plain(latents)).to_wire()))
            time.sleep(0.15)
        held = _rss_bytes(child.pid) - rss_before
        with Connection(address) as good:  # a client that reads is served at once, frames and all
            answer = DaemonClient(good).preview(
                Preview("good", "builtin:cppn", size, FrameArrays.plain(latents[:4])), timeout_s=30
            )
            assert answer.frames.shape == (4, 128, 128, 3)
        answers = []
        while hostile.poll(2000):
            answers.append(decoded(hostile.recv_multipart()))
    finally:
        hostile.close(linger=0)
        context.term()
    rendered = [PreviewFrames.from_wire(a) for a in answers if a.kind == "rendered"]
    refused = [a.header["error"] for a in answers if a.kind == "error"]
    delivered = sum(r.state == "done" for r in rendered)
    # Without a bound, nearly every one of the 40 (3 MiB each, 120 MiB) would be held for the client.
    assert delivered <= MAX_UNREAD_PER_PEER + 4, delivered
    assert refused and all("not read" in error for error in refused), refused[:3]
    assert held < 40 * 2**20, f"the daemon grew by {held / 2**20:.0f} MiB"
    _alive_and_serving(address, child)


@pytest.mark.slow
def test_a_job_with_input_controls_renders_them_here_and_on_a_worker_and_keys_its_frames_apart(tmp_path, decode_video):
    """A tracked performance's StyleGAN controls: frames as ``render_controlled`` gives them, cached apart from plain ones."""
    from latentcut.conform.frame_arrays import FrameArrays
    from latentcut.daemon.messages import Job
    from latentcut.latent.controls import InputControls
    from latentcut.models.stylegan.generator import load_stylegan
    from tinystylegan import tiny_stylegan3_snapshot

    snapshot = tiny_stylegan3_snapshot(tmp_path / "sg3.pkl")
    model = load_stylegan(snapshot)
    latents = np.random.default_rng(8).standard_normal((12, 16)).astype(np.float32)
    opacity = np.ones(12, np.float32)
    controls = np.zeros((12, 4), np.float32)
    controls[:, 0], controls[:, 2] = np.linspace(-0.3, 0.3, 12), np.linspace(0, 60, 12)
    expected = model.render_controlled(latents, (16, 16), InputControls.from_array(controls))
    assert np.abs(expected.astype(float) - model.render(latents, (16, 16))).mean() > 1  # the controls move the pictures

    def render(
        client: DaemonClient, output: str, steering: np.ndarray | None = controls, model: str = str(snapshot), project="p"
    ):
        width = 16 if model != "builtin:cppn" else 512
        arrays = FrameArrays(latents.repeat(width // 16, 1), opacity, controls=steering)
        sent = Job(project, output, model, (16, 16), Fraction(25), arrays)
        return finished(client, client.submit(sent).job_id)

    with (
        daemon_thread(
            tmp_path, "--model", str(snapshot), "--model", "builtin:cppn", "--cache", str(tmp_path / "cache")
        ) as address,
        Connection(address) as connection,
    ):
        client = DaemonClient(connection)
        done = render(client, "steered.mkv")
        assert done.kind == "done" and done.summary.generated == 12, done
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/steered.mkv", (16, 16)), expected)
        again = render(client, "again.mkv", project="q")
        assert again.kind == "done" and again.summary.cached == 12  # the same frames, the same keys
        plain = render(client, "plain.mkv", None)
        assert plain.kind == "done" and plain.summary.cached == 0 and plain.summary.generated == 12  # never the steered ones
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/plain.mkv", (16, 16)), model.render(latents, (16, 16)))
        refused = render(client, "c.mkv", model="builtin:cppn")
        assert refused.summary.state == "failed" and "\n" not in refused.summary.error
        assert "builtin:cppn cannot apply rotate or translate" in refused.summary.error, refused.summary.error
    # A remote worker gets the controls with its lease.
    with (
        daemon_thread(tmp_path, "--model", str(snapshot), "--no-local", "--range-frames", "4") as address,
        process("worker", "--connect", address, "--model", str(snapshot), "--name", "w1", cwd=tmp_path),
        Connection(address) as connection,
    ):
        client = DaemonClient(connection)
        done = render(client, "remote.mkv")
        assert done.kind == "done" and done.ranges == {"w1": 3}, done
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/remote.mkv", (16, 16)), expected)


# ----- hardening, round two (issue 21)


def test_a_relative_cache_folder_joins_mov_and_mkv_segments(tmp_path, decode_video):
    # ffmpeg's concat list resolves relative names against the list's own (temporary) folder.
    with daemon(tmp_path, "--cache", "frames") as (address, _), Connection(address) as connection:
        client = DaemonClient(connection)
        for name in ("cut.mov", "cut.mkv"):
            done = finished(client, submit(client, *job_arrays(30), output=name, project=name))
            assert done.kind == "done", done.summary.error
            assert decode_video(tmp_path / "renders" / name, (32, 32)).shape == (30, 32, 32, 3)
    assert list((tmp_path / "frames/segments").glob("*/*.mov")) and list((tmp_path / "frames/segments").glob("*/*.mkv"))


_HOSTILE_TEXTS = [
    ({"fps": "1/0"}, "fps '1/0' is not a frame rate"),
    ({"fps": "0/0"}, "fps '0/0' is not a frame rate"),
    ({"fps": "1/999999999"}, "fps '1/999999999' is not a frame rate"),  # ffmpeg failed, blamed on disk space
    ({"project": "p\ud800"}, "project 'p\\ud800' is not a text of 1-1000 printable characters"),  # lone surrogate
    ({"project": "p\x85forged"}, "project 'p\\x85forged' is not a text"),  # C1 NEL: a new line to some logs
    ({"project": "p\x9b31m"}, "project 'p\\x9b31m' is not a text"),  # C1 CSI: a terminal's escape
    ({"model": "builtin:cppn\u0085"}, "model 'builtin:cppn\\x85' is not a text"),
]


@pytest.mark.slow
def test_zero_rates_surrogates_and_c1_controls_are_refused_and_never_reach_the_log(tmp_path):
    with daemon(tmp_path) as (address, child), Connection(address) as connection:
        kind, header, arrays = job(*job_arrays(2), size=(16, 16)).to_wire()
        for changes, message in _HOSTILE_TEXTS:
            answer = connection.request(kind, {**header, **changes}, arrays)
            assert answer.kind == "error" and message in answer.header["error"], (changes, answer.header)
        client = DaemonClient(connection)
        late = submit(client, *job_arrays(400), size=(64, 64), output="late.mov", project="late")
        (tmp_path / "renders/late.mov").mkdir()  # a folder appears under the name while the job renders
        failed = finished(client, late)
        assert failed.kind == "failed" and failed.summary.error.endswith(
            "late.mov: is a folder; choose another output name, or remove the folder"
        ), failed.summary.error
        _alive_and_serving(address, child)
        child.send_signal(signal.SIGTERM)
        assert child.wait(20) == 0
        log = child.output()
    assert "Traceback" not in log and "internal error" not in log
    assert not any(char in log for char in "\x85\x9b\u2028"), log


def test_queued_jobs_hold_at_most_one_jobs_budget_of_latents(tmp_path):
    budget = 48 * 2**20
    with (
        daemon(tmp_path, "--max-job-gb", str(budget / 2**30)) as (address, child),
        Connection(address) as connection,
    ):
        client = DaemonClient(connection)
        running = submit(client, *job_arrays(4000), size=(64, 64), project="long", output="long.mov")
        big = [np.zeros((9000, 512), np.float32), np.ones(9000, np.float32)]  # 17.6 MiB of latents each
        queued = [submit(client, *big, size=(8, 8), project=f"q{i}", output="q.mov") for i in range(2)]
        with pytest.raises(
            JobRejected, match=r"the queue is full \(2 jobs holding 0.03 GiB of latents; this daemon queues at most 0.05 GiB"
        ):
            submit(client, *big, size=(8, 8), project="q2", output="q.mov")
        small = submit(client, *job_arrays(3), project="small", output="small.mov")  # what fits is still taken
        for job_id in [running, *queued, small]:
            client.cancel(job_id)
        _alive_and_serving(address, child)


def test_keys_force_replaces_a_planted_link_not_its_target_and_no_secret_is_ever_readable_by_others(tmp_path, monkeypatch):
    import os
    import stat

    from latentcut.daemon import transport

    victim = tmp_path / "victim.txt"
    victim.write_text("the user's own file")
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "daemon.key").symlink_to(victim)
    (keys / "daemon.key_secret").symlink_to(victim)
    modes: dict[str, int] = {}
    real_replace = os.replace

    def replace(source, target):  # the moment the written key takes its name: its mode then
        modes[os.path.basename(target)] = stat.S_IMODE(os.stat(source).st_mode)
        real_replace(source, target)

    monkeypatch.setattr(transport.os, "replace", replace)
    paths = write_keys(keys, force=True)
    assert victim.read_text() == "the user's own file"
    assert not (keys / "daemon.key").is_symlink() and not (keys / "daemon.key_secret").is_symlink()
    assert modes == {"daemon.key": 0o644, "daemon.key_secret": 0o600, "client.key": 0o644, "client.key_secret": 0o600}
    assert sorted(p.name for p in keys.iterdir()) == ["client.key", "client.key_secret", "daemon.key", "daemon.key_secret"]
    server = transport._load(paths["daemon_secret"], "daemon")
    assert server[1] is not None and transport._load(paths["daemon_public"], "daemon")[0] == server[0]


def test_a_job_whose_latents_record_other_weights_than_the_served_file_is_refused_in_one_line(tmp_path, decode_video):
    # A spec names a file, and a file can change: the daemon renders a job only with the weights its latents were made with.
    from latentcut.latent.look import Look
    from latentcut.models.generator import model_ref_of
    from latentcut.models.stylegan.generator import load_stylegan
    from tinystylegan import tiny_snapshot

    made_with = load_stylegan(tiny_snapshot(tmp_path / "made.pkl", "sg3t-z16-32px", seed=3))
    served = tiny_snapshot(tmp_path / "model.pkl", "sg3t-z16-32px", seed=4)  # same kind, same spec a job may name, other weights
    latents = np.random.default_rng(2).standard_normal((6, 16)).astype(np.float32)
    arrays = FrameArrays(latents, np.ones(6, np.float32))
    with daemon_thread(tmp_path, "--model", str(served)) as address, Connection(address) as connection:
        client = DaemonClient(connection)

        def render(output: str, look: Look) -> JobEvent:
            return finished(
                client, client.submit(Job(output, output, str(served), (32, 32), Fraction(25), arrays, look=look)).job_id
            )

        refused = render("other.mkv", Look(model=model_ref_of(made_with)))
        assert refused.summary.state == "failed" and "\n" not in refused.summary.error, refused.summary.error
        assert f"made with weights of sha256 {made_with.weights_sha256[:12]}, and {served} here has other weights" in (
            refused.summary.error
        )
        assert not (tmp_path / "renders/other.mkv").exists()
        own = load_stylegan(served)
        done = render("own.mkv", Look(model=model_ref_of(own)))
        assert done.kind == "done", done.summary.error
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/own.mkv", (32, 32)), own.render(latents, (32, 32)))
        unrecorded = render("none.mkv", Look())  # latents that record no model (or a model named where the job was sent)
        assert unrecorded.kind == "done", unrecorded.summary.error
        # A job naming the file as its sidecars' folder sees it ("../models/model.pkl") gets the served file of those weights.
        elsewhere = Job(
            "far.mkv", "far.mkv", "../models/model.pkl", (32, 32), Fraction(25), arrays, look=Look(model=model_ref_of(own))
        )
        far = finished(client, client.submit(elsewhere).job_id)
        assert far.kind == "done", far.summary.error
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/far.mkv", (32, 32)), own.render(latents, (32, 32)))
        stranger = dataclasses.replace(elsewhere, output="x.mkv", look=Look(model=model_ref_of(made_with)))
        with pytest.raises(JobRejected, match=r"model '../models/model.pkl' is not served here"):
            client.submit(stranger)
