"""The daemon's Ray actors (latentcut daemon --ray) on a local Ray instance with CPU actors: a lost actor costs one range."""

from __future__ import annotations

import signal
import sys
import time

import numpy as np
import pytest

from daemons import daemon, finished, free_address, job_arrays, submit
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.ray_pool import NAMESPACE, RAY_MISSING
from latentcut.daemon.transport import Connection

FRAMES = 2400  # long enough at 32x32 that an actor killed after the first 200 frames dies mid-job
RANGE_FRAMES = 8


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance the daemon joins, and through which the test finds and kills the daemon's actors."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="latentcut-tests")
    try:
        yield ray, ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _actor_names(ray) -> list[str]:
    return sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["namespace"] == NAMESPACE)


@pytest.mark.ray
def test_a_killed_actor_costs_one_range_and_every_frame_is_right(cluster, tmp_path, decode_video, cppn):
    ray, address = cluster
    latents, opacity = job_arrays(FRAMES)
    with (
        daemon(tmp_path, "--no-local", "--ray", address, "--ray-actors", "2", "--range-frames", str(RANGE_FRAMES)) as (
            bound,
            child,
        ),
        Connection(bound) as connection,
    ):
        client = DaemonClient(connection)
        names = _actor_names(ray)
        assert [name.rsplit("-", 2)[-2:] for name in names] == [["ray", "0"], ["ray", "1"]]
        job_id = submit(client, latents, opacity, output="cut.mkv")
        killed_at = None
        for event in client.events(job_id, timeout_s=180):
            if killed_at is None and event.kind == "progress" and event.summary.done >= 200:
                ray.kill(ray.get_actor(names[0], namespace=NAMESPACE))
                killed_at = event.summary.done
            done = event
        assert killed_at is not None and killed_at < FRAMES
        assert done.kind == "done" and done.summary.generated == FRAMES
        # Every range came back once; the one the dead actor held (or was handed) went back to the board at once.
        assert sum(done.ranges.values()) == FRAMES // RANGE_FRAMES and done.requeued == 1
        assert set(done.ranges) <= {"ray-0", "ray-1", "ray-2"} and done.ranges.get("ray-1", 0) > 0
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/cut.mkv", (32, 32)), cppn.render(latents, (32, 32)))

        # The lost actor was replaced: once the new one answers, the next job shares its ranges with it.
        replacement = next(name for name in _actor_names(ray) if name.endswith("-ray-2"))
        assert ray.get(ray.get_actor(replacement, namespace=NAMESPACE).load.remote([]), timeout=120)
        more, _ = job_arrays(80, seed=1)
        again = finished(client, submit(client, more, np.ones(80, np.float32), output="again.mkv", project="q"))
        assert again.kind == "done" and set(again.ranges) == {"ray-1", "ray-2"} and again.requeued == 0
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/again.mkv", (32, 32)), cppn.render(more, (32, 32)))
        child.send_signal(signal.SIGTERM)
        assert child.wait(60) == 0
        log = child.output()
    assert [line.split(" (")[0] for line in log.splitlines() if " lost (" in line] == ["latentcut daemon: Ray actor ray-0 lost"]
    deadline = time.monotonic() + 30
    while _actor_names(ray) and time.monotonic() < deadline:  # the stopped daemon ended its actors
        time.sleep(0.1)
    assert not _actor_names(ray)


def test_ray_missing_is_one_line_naming_the_extra(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed: importing it raises ImportError
    result = cli("daemon", "--out", "renders", "--bind", free_address(), "--ray", "local")
    assert result.returncode == 2 and RAY_MISSING in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_an_actor_renders_a_ranges_input_controls_as_render_controlled_does(tmp_path):
    """The actor itself (no Ray needed): the range it is sent carries the job's StyleGAN controls for its frames."""
    import threading
    from fractions import Fraction

    from latentcut.conform.frame_arrays import FrameArrays
    from latentcut.daemon.messages import Job
    from latentcut.daemon.ranges import FrameBatch, RangeBoard
    from latentcut.daemon.ray_pool import ModelLoading, RangeWork, _RangeActor
    from latentcut.latent.controls import InputControls
    from latentcut.models.stylegan.generator import load_stylegan
    from tinystylegan import tiny_stylegan3_snapshot

    snapshot = str(tiny_stylegan3_snapshot(tmp_path / "sg3.pkl"))
    model = load_stylegan(snapshot)
    latents = np.random.default_rng(9).standard_normal((8, 16)).astype(np.float32)
    controls = np.zeros((8, 4), np.float32)
    controls[:, 1], controls[:, 2] = np.linspace(0.3, -0.3, 8), -30.0
    job = Job("p", "cut.mkv", snapshot, (16, 16), Fraction(25), FrameArrays(latents, np.ones(8, np.float32), controls=controls))
    rows = np.array([2, 3, 4, 5])
    work = RangeWork(job, model, RangeBoard("j", rows, 4), 30.0, lambda: 8, lambda batch, frames: None, threading.Event())
    frames = _RangeActor(ModelLoading(), "cpu").render(work.request(FrameBatch("j", 0, rows), snapshot))
    expected = model.render_controlled(latents[rows], (16, 16), InputControls.from_array(controls[rows]))
    np.testing.assert_array_equal(frames, expected)
    assert not np.array_equal(frames, model.render(latents[rows], (16, 16)))
