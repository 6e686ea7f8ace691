"""Ray actors as one of the daemon's renderers: a pool, one actor per GPU, each holding its models loaded, rendering leased ranges.

``latentcut daemon --ray ADDRESS`` joins a Ray cluster (``local``: starts one on this machine) and
starts the pool. Each actor loads the daemon's models from their specs itself (a file named by a
spec must exist on the actor's machine; its weights' sha256 must match the daemon's, or the job fails
in one line) and keeps every snapshot it has been asked for, so a grid's snapshots stay loaded.
While a job runs, one thread leases ranges from the job's board, one in flight per actor, and keeps
the frames that come back like the daemon's own (they enter the frame cache: the actors run the
daemon's code on the cluster its user named). An actor that dies loses only its range: it goes back
to the front of the board at once, and the actor is replaced; a replacement that does not start is
dropped. The ZeroMQ protocol, remote workers, the cache and the encoder do not change.

Ray is imported here only, and only when a pool is made, so the daemon runs without it.
"""

from __future__ import annotations

import importlib
import itertools
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.messages import Job
from latentcut.daemon.ranges import FrameBatch, RangeBoard
from latentcut.errors import LatentcutError, ModelError, RenderError, UsageError, failure_line, one_line
from latentcut.latent.look import Look
from latentcut.models.generator import Generator
from latentcut.models.latent_space import rendered_look
from latentcut.render.range_frames import render_range

__all__ = [
    "DEFAULT_CPU_ACTORS",
    "RANGE_LOSSES",
    "RAY_MISSING",
    "ModelLoading",
    "PoolEmpty",
    "RangeWork",
    "RayPool",
    "ray_installed",
]

log = logging.getLogger("latentcut.daemon")
RAY_MISSING = "--ray needs Ray, which is not installed here: pip install 'latentcut[ray]'"
DEFAULT_CPU_ACTORS = 2  # actors on a cluster without GPUs, unless --ray-actors says otherwise
RANGE_LOSSES = 3  # actors one range may take down with it before its job fails (a range that kills whatever renders it)
NAMESPACE = "latentcut"
_START_TIMEOUT_S = 600.0  # an actor that has not loaded its models by then (no free GPU anywhere, say) is dropped
_WAIT_S = 0.05


def _ray() -> Any:
    try:
        return importlib.import_module("ray")
    except ImportError as exc:
        raise UsageError(RAY_MISSING) from exc


def ray_installed() -> None:
    """Raise UsageError (one line: install latentcut[ray]) unless Ray can be imported."""
    _ray()


class PoolEmpty(RenderError):
    """Every actor of the pool is lost and none could be started again."""


@dataclass(frozen=True)
class ModelLoading:
    """How an actor loads a model spec: as the daemon does, with the daemon's look (its StyleGAN settings) and precision."""

    trust_pickle: bool = False
    look: Look = field(default_factory=Look)
    precision: str | None = None

    def generator(self, spec: str, device: str | None) -> Generator:
        from latentcut.models.latent_space import generator_for
        from latentcut.models.loading import load_generator

        return generator_for(
            load_generator(spec, device=device, trust_pickle=self.trust_pickle), self.look, precision=self.precision
        )


@dataclass(frozen=True)
class _RangeRequest:
    """One range of a job as an actor renders it: the generator the daemon renders with, and the range's arrays."""

    model: str
    look: Look  # the daemon's look for the job, every setting chosen
    sha256: str  # the daemon's generator for the job: the actor's must be the same weights and settings
    size: tuple[int, int]
    arrays: FrameArrays  # the range's rows of the job's arrays


class _RangeActor:
    """Lives in a Ray worker process: holds the models it was asked for, loaded, and renders ranges with them."""

    def __init__(self, loading: ModelLoading, device: str | None) -> None:
        self._loading = loading
        self._device = device
        self._models: dict[str, Generator] = {}
        self._views: dict[tuple[str, Look], Generator] = {}

    def load(self, specs: Sequence[str]) -> str:
        """Load ``specs`` now; return where this actor runs (for the daemon's log)."""
        for spec in specs:
            self._model(spec)
        return f"{socket.gethostname()} pid {os.getpid()}"

    def _model(self, spec: str) -> Generator:
        if spec not in self._models:
            self._models[spec] = self._loading.generator(spec, self._device)
        return self._models[spec]

    def render(self, request: _RangeRequest) -> np.ndarray:
        from latentcut.models.latent_space import generator_for

        view = (request.model, request.look)
        if view not in self._views:
            self._views[view] = generator_for(self._model(request.model), request.look)
        generator = self._views[view]
        if generator.sha256 != request.sha256:
            raise ModelError(
                f"{request.model} on Ray node {socket.gethostname()} is other weights (sha256 {generator.sha256[:12]}) "
                f"than the daemon's ({request.sha256[:12]}); give every machine of the cluster the same model file"
            )
        return render_range(generator, request.size, request.arrays)


@dataclass(frozen=True)
class RangeWork:
    """One running job as the pool renders it: its board, and how the daemon wants ranges taken and frames kept."""

    job: Job
    generator: Generator  # the daemon's generator for the job (its spec and sha256 are what the actors reproduce)
    board: RangeBoard
    deadline_s: float  # a lease not returned by then goes to another renderer
    before: Callable[[], int]  # the first frame not to lease yet (the daemon's memory window)
    keep: Callable[[FrameBatch, np.ndarray], None]  # takes a returned range's frames
    cancelled: threading.Event

    def request(self, batch: FrameBatch, model: str) -> _RangeRequest:
        job, rows = self.job, batch.indices
        return _RangeRequest(
            model=model,
            look=rendered_look(self.generator),
            sha256=self.generator.sha256,
            size=job.size,
            arrays=job.arrays.rows(rows),
        )


@dataclass(frozen=True, eq=False)
class _Actor:
    name: str  # credited in the job's ranges ("ray-0", "ray-1" ...)
    handle: Any


@dataclass(frozen=True, eq=False)
class _Flight:
    actor: _Actor
    batch: FrameBatch
    board: RangeBoard  # the job it was leased for: a result for an older job is dropped


@dataclass(frozen=True, eq=False)
class _Start:
    actor: _Actor
    since: float


class RayPool:
    """Ray actors rendering the ranges of the daemon's jobs; ``close`` ends them (and a local Ray instance)."""

    def __init__(
        self,
        address: str,
        models: Sequence[str],
        loading: ModelLoading,
        *,
        actors: int | None = None,
        local_cpus: int | None = None,
    ) -> None:
        """Join the Ray cluster at ``address`` (``local``: start one here) and start ``actors`` (default: one per GPU)."""
        if actors is not None and actors < 1:
            raise UsageError(f"--ray-actors {actors}: give 1 or more")
        ray = _ray()
        self._ray = ray
        self._actor_class = ray.remote(_RangeActor)
        self._models = tuple(models)
        self._loading = loading
        self._names = itertools.count()
        self._prefix = f"latentcut-{uuid.uuid4().hex[:8]}"  # named actors: another driver (a test, an operator) can find them
        self._idle: list[_Actor] = []
        self._starting: dict[Any, _Start] = {}
        self._flight: dict[Any, _Flight] = {}
        self.lost = 0  # actors lost while the pool held them (for the log and the tests)
        self.gpu = False
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING, "namespace": NAMESPACE}
        try:
            if address == "local":
                cpus = local_cpus or actors or DEFAULT_CPU_ACTORS
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--ray {address}: cannot join the Ray cluster ({' '.join(str(exc).split())[:300]})") from exc
        try:
            gpus = int(ray.cluster_resources().get("GPU", 0))
            self.gpu = gpus > 0
            self.size = actors or gpus or DEFAULT_CPU_ACTORS
            self._top_up()
            self._wait_started()
        except BaseException:
            self.close()
            raise

    # ----- actors

    def _start_one(self) -> None:
        name = f"ray-{next(self._names)}"
        # One actor per GPU; CPU actors take one CPU each (Ray then gives torch one thread per actor).
        resources = {"num_gpus": 1, "num_cpus": 0} if self.gpu else {"num_cpus": 1}
        device = None if self.gpu else "cpu"  # Ray shows a GPU actor its own GPU only: CUDA's default device is it
        handle = self._actor_class.options(name=f"{self._prefix}-{name}", **resources).remote(self._loading, device)
        actor = _Actor(name, handle)
        self._starting[handle.load.remote(self._models)] = _Start(actor, time.monotonic())

    def _top_up(self) -> None:
        missing = self.size - len(self._idle) - len(self._starting) - len({f.actor for f in self._flight.values()})
        for _ in range(missing):
            self._start_one()

    def _end(self, actor: _Actor) -> None:
        try:
            self._ray.kill(actor.handle, no_restart=True)
        except Exception as exc:  # already gone with its node: nothing left to end
            log.debug("Ray actor %s: %s", actor.name, exc)

    def _started(self, ref: Any) -> None:
        """An actor's models are loaded, or it failed to start (then dropped; a model error is raised)."""
        start = self._starting.pop(ref)
        try:
            where = self._ray.get(ref)
        except self._ray.exceptions.RayTaskError as exc:
            self._end(start.actor)
            cause = getattr(exc, "cause", None)
            if isinstance(cause, LatentcutError):
                raise type(cause)(f"Ray actor {start.actor.name}: {cause}") from exc
            raise RenderError(f"Ray actor {start.actor.name} could not load {', '.join(self._models)}: {_cause(exc)}") from exc
        except self._ray.exceptions.RayError as exc:
            self._end(start.actor)
            log.warning("Ray actor %s did not start (%s); dropped", start.actor.name, one_line(exc, 300))
            return
        log.info("Ray actor %s ready on %s", start.actor.name, where)
        self._idle.append(start.actor)

    def _wait_started(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while self._starting and time.monotonic() < deadline:
            done, _ = self._ray.wait(list(self._starting), num_returns=1, timeout=1.0)
            for ref in done:
                self._started(ref)
        self._drop_stalled(deadline)
        if not self._idle:
            raise RenderError(f"no Ray actor started on the cluster (wanted {self.size}); see the cluster's logs")
        log.info("Ray: %d %s actors", len(self._idle), "GPU" if self.gpu else "CPU")

    def _drop_stalled(self, deadline: float | None = None) -> None:
        now = time.monotonic()
        for ref, start in list(self._starting.items()):
            if now >= (deadline if deadline is not None else start.since + _START_TIMEOUT_S):
                del self._starting[ref]
                self._end(start.actor)
                log.warning(
                    "Ray actor %s did not start within %.0f s (no free resources?); dropped", start.actor.name, _START_TIMEOUT_S
                )

    @property
    def actors(self) -> int:
        """Actors ready or working now."""
        return len(self._idle) + len({f.actor for f in self._flight.values()})

    # ----- one job

    def render(self, work: RangeWork) -> None:
        """Render ``work``'s ranges until its board is finished or it is cancelled; RenderError if no actor is left."""
        self._top_up()
        losses: dict[int, int] = {}
        board = work.board
        while not work.cancelled.is_set() and not board.finished:
            self._drop_stalled()
            while self._idle:
                batch = board.take(self._idle[0].name, work.deadline_s, before=work.before())
                if batch is None:
                    break
                actor = self._idle.pop(0)
                self._flight[actor.handle.render.remote(work.request(batch, work.job.model))] = _Flight(actor, batch, board)
            waiting = [*self._flight, *self._starting]
            if not waiting and not self._idle:
                raise PoolEmpty(f"no Ray actor is left of {self.size}; the cluster's logs say why")
            if not waiting:
                board.requeue_overdue()
                work.cancelled.wait(_WAIT_S)
                continue
            done, _ = self._ray.wait(waiting, num_returns=1, timeout=_WAIT_S)
            for ref in done:
                if ref in self._starting:
                    self._started(ref)
                else:
                    self._landed(ref, work, losses)

    def _landed(self, ref: Any, work: RangeWork, losses: dict[int, int]) -> None:
        flight = self._flight.pop(ref)
        exceptions = self._ray.exceptions
        try:
            frames = self._ray.get(ref)
        except exceptions.RayTaskError as exc:  # the render itself failed (out of memory, wrong weights): the job fails
            self._idle.append(flight.actor)
            if flight.board is not work.board:  # a range of a job that is over: nobody waits for it
                log.info("Ray actor %s: a range of an earlier job failed (%s)", flight.actor.name, _cause(exc))
                return
            raise RenderError(f"Ray actor {flight.actor.name}: {_cause(exc)}") from exc
        except exceptions.RayError as exc:  # the actor, its process or its node is gone: the range goes back at once
            self.lost += 1
            self._end(flight.actor)
            if flight.board is work.board and work.board.requeue(flight.batch):
                losses[flight.batch.range_id] = losses.get(flight.batch.range_id, 0) + 1
            log.warning(
                "Ray actor %s lost (%s); range %d goes back to the board, a new actor is started",
                flight.actor.name,
                one_line(exc, 300),
                flight.batch.range_id,
            )
            if losses.get(flight.batch.range_id, 0) >= RANGE_LOSSES:
                raise RenderError(
                    f"range {flight.batch.range_id} of job {work.job.job_id} took down {RANGE_LOSSES} Ray actors; "
                    "see the cluster's logs (out of memory?)"
                ) from exc
            self._start_one()
            return
        self._idle.append(flight.actor)
        if flight.board is work.board:
            work.keep(flight.batch, frames)

    def close(self) -> None:
        """End the actors and leave the cluster (a local Ray instance stops)."""
        for actor in [*self._idle, *(f.actor for f in self._flight.values()), *(s.actor for s in self._starting.values())]:
            self._end(actor)
        self._idle, self._flight, self._starting = [], {}, {}
        self._ray.shutdown()


def _cause(exc: BaseException) -> str:
    """What a failed actor task raised, in one line (Ray's own message carries the remote traceback)."""
    cause = getattr(exc, "cause", None)
    return failure_line(cause) if isinstance(cause, BaseException) else one_line(exc, 300)
