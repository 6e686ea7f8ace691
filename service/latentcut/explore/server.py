"""The explorer's web server: a Starlette app on uvicorn serving the page, its JSON API, frames as PNG and progress as events.

Safe on a shared machine: it binds to loopback unless told otherwise (another address only with
``insecure``), every request must name one of its own addresses in its Host header (so a rebinding
DNS name is refused), every ``/api/`` request carries the per-run token (changes only in the
``X-Latentcut-Token`` header of a JSON POST, so no other site can make a browser send one), and
every name the page sends is resolved inside the output folder by ``SavedFolder``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import ipaddress
import json
import logging
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from latentcut.errors import InputError, LatentcutError, UsageError
from latentcut.explore.generation import FrameRenderer, Generation, Generations
from latentcut.explore.saved import SavedFolder
from latentcut.explore.transitions import (
    MAX_STEPS,
    MIN_STEPS,
    TransitionSpec,
    checked_psi,
    key_vector,
    silhouette,
    transition_latents,
)
from latentcut.latent.journey import INTERPOLATIONS
from latentcut.latent.look import Look
from latentcut.latent.sampling import gaussian_latents
from latentcut.models.generator import model_ref_of
from latentcut.render.labels import label_height_px
from latentcut.render.sheet import GAP_PX, PAGE_TILES, sheet_image
from latentcut.untrusted_json import JsonRefused, parsed_json

if TYPE_CHECKING:
    from latentcut.daemon.transport import Security

__all__ = [
    "BODY_TIMEOUT_S",
    "DEFAULT_PORT",
    "HEADER_TIMEOUT_S",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "TOKEN_HEADER",
    "ExploreServer",
    "Explorer",
    "ExplorerSettings",
    "allowed_hosts",
    "daemon_explorer",
    "is_loopback_host",
    "local_explorer",
]

log = logging.getLogger("latentcut.explore")
DEFAULT_PORT = 8765
TOKEN_HEADER = "x-latentcut-token"  # noqa: S105 - the header name, not a secret
_STATIC = Path(__file__).parent / "static"
_DEFAULT_POOL_FRAMES = 48
_DEFAULT_POOL_SEED = 0
_SHEET_BATCH = 16
_EVENT_POLL_S = 0.03
_EVENT_LIFETIME_S = 1800.0
_SAVE_WAIT_S = 600.0
_START_TIMEOUT_S = 30.0
HEADER_TIMEOUT_S = 10.0  # a request's headers, all of them, from the connection (or the last answer) on
BODY_TIMEOUT_S = 30.0
MAX_BODY_BYTES = 1 << 20  # the page sends a few hundred bytes of JSON
MAX_CONNECTIONS = 256  # open at once; more are answered 503 at once
_BODY_MAX_DEPTH = 16  # the page's bodies nest 3 levels
_STOP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class ExplorerSettings:
    """What ``latentcut explore`` was asked for."""

    out: Path
    snapshots: tuple[str, ...]  # model specs the page can choose from; the first is the default
    pool: np.ndarray | None = None  # the pool's latents; None: a seeded random pool
    pool_name: str = ""
    pool_numbers: tuple[int, ...] = ()  # the number each pool frame shows (latent.curation's numbering); empty: positions
    size: tuple[int, int] = (256, 256)  # (width, height) of the page's frames and the saved proxies
    fps: Fraction = Fraction(25)  # frame rate of saved sidecars and proxies
    tile_size: tuple[int, int] = (64, 64)  # contact sheet tiles
    columns: int = 8  # contact sheet columns
    daemon: str = ""  # the render daemon's address when frames come from one
    look: Look = field(default_factory=Look)  # the look the command line chose, or the pool records (its psi is the page's first)


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def allowed_hosts(host: str, port: int, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The Host header values a request may carry: the bound address, loopback names when bound to loopback, and ``extra``.

    Bound to every interface (``0.0.0.0``, ``::``), the machine's own names count as its address too.
    """
    names = {f"[{name}]" if ":" in name else name for name in (host, *extra)}
    if is_loopback_host(host):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::"):  # noqa: S104 - recognising the wildcard, not binding to it
        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    return frozenset({f"{name}:{port}" for name in names} | (names if port == 80 else set()))


class _Guard:
    """ASGI middleware: Host header check on every request, the token on every ``/api/`` request."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], token: str) -> None:
        self.app, self.hosts, self.token = app, hosts, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, text = refusal
            await JSONResponse({"error": text}, status_code=status)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "").lower()
        if host not in self.hosts:
            return 421, f"Host {host[:80]!r} is not this explorer's address; open {sorted(self.hosts)[0]}"
        if not scope["path"].startswith("/api/"):
            return None
        method = scope["method"]
        changes = method not in ("GET", "HEAD")
        given = headers.get(TOKEN_HEADER, "")
        if not given and not changes:
            query = dict(part.partition("=")[::2] for part in scope.get("query_string", b"").decode("latin-1").split("&"))
            given = query.get("token", "")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return 403, "missing or wrong token; open the address latentcut explore printed (it ends with #token=...)"
        if changes:
            if method != "POST" or not headers.get("content-type", "").startswith("application/json"):
                return 415, "changes are JSON POSTs"
            origin = headers.get("origin")
            if origin is not None and origin.lower().removeprefix("http://") not in self.hosts:
                return 403, f"requests from {origin[:80]!r} are refused"
        return None


def _png(frame: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class Explorer:
    """The explorer's state and its Starlette app: pool, models, background generations, saved folder, token."""

    def __init__(
        self,
        settings: ExplorerSettings,
        load_renderer: Callable[[str], FrameRenderer],
        latent_dim: int,
        *,
        loaded: tuple[FrameRenderer, ...] = (),
    ) -> None:
        if not settings.snapshots:
            raise UsageError("the explorer needs at least one model")
        self.settings = settings
        self.token = secrets.token_urlsafe(24)
        self.folder = SavedFolder(settings.out)
        self.latent_dim = latent_dim
        self.pool = (
            np.asarray(settings.pool, np.float32)
            if settings.pool is not None
            else gaussian_latents(_DEFAULT_POOL_FRAMES, latent_dim, _DEFAULT_POOL_SEED)
        )
        if self.pool.ndim != 2 or self.pool.shape[1] != latent_dim:
            raise InputError(
                f"{settings.pool_name or 'pool'}: latents of dim {self.pool.shape[-1]} do not fit the model's {latent_dim}; "
                "give a pool made for this model"
            )
        self._load_renderer = load_renderer
        self._renderers: dict[str, FrameRenderer] = {renderer.spec: renderer for renderer in loaded}
        self._views: dict[tuple[str, Look], FrameRenderer] = {}
        self._renderers_lock = threading.Lock()
        self._sheets: dict[tuple[int, str, Look], bytes] = {}
        self._sheets_lock = threading.Lock()
        self.generations = Generations()
        self.closing = threading.Event()

    # ----- library side (called in worker threads)

    def look(self, truncation_psi: float | None) -> Look:
        """The look the page asks for: the explorer's, with the page's psi (None: the explorer's)."""
        return (
            self.settings.look
            if truncation_psi is None
            else dataclasses.replace(self.settings.look, truncation_psi=truncation_psi)
        )

    def renderer(self, spec: str, look: Look | None = None) -> FrameRenderer:
        """The snapshot ``spec`` set to ``look`` (default: the explorer's): loaded once, a view of it per look."""
        look = look or self.settings.look
        with self._renderers_lock:
            if spec not in self._renderers:
                self._renderers[spec] = self._load_renderer(spec)
            if (spec, look) not in self._views:
                self._views[(spec, look)] = _looking(self._renderers[spec], look)
            return self._views[(spec, look)]

    @property
    def sheet_layout(self) -> dict[str, Any]:
        width, height = self.settings.tile_size
        columns = self.settings.columns
        per_page = max(1, PAGE_TILES // columns) * columns
        return {
            "frames": len(self.pool),
            "columns": columns,
            "tile": [width, height],
            "label_px": label_height_px(height),
            "gap_px": GAP_PX,
            "per_page": per_page,
            "pages": -(-len(self.pool) // per_page),
            "name": self.settings.pool_name,
            "numbers": list(self._pool_numbers),
        }

    @property
    def _pool_numbers(self) -> tuple[int, ...]:
        return self.settings.pool_numbers or tuple(range(len(self.pool)))

    def sheet_png(self, page: int, snapshot: str | None = None, look: Look | None = None) -> bytes:
        """Page ``page`` of the pool's contact sheet, drawn with ``snapshot`` (default: the first) in ``look``."""
        layout = self.sheet_layout
        if not 0 <= page < layout["pages"]:
            raise UsageError(f"sheet page {page} does not exist; the pool has {layout['pages']}")
        snapshot = snapshot if snapshot is not None else self.settings.snapshots[0]
        if snapshot not in self.settings.snapshots:
            raise UsageError(f"snapshot {snapshot[:60]!r} is not served here; choose one of {', '.join(self.settings.snapshots)}")
        look = look or self.settings.look
        with self._sheets_lock:
            if (page, snapshot, look) not in self._sheets:
                first = page * layout["per_page"]
                indices = range(first, min(first + layout["per_page"], len(self.pool)))
                renderer = self.renderer(snapshot, look)
                tiles = [
                    renderer.render(self.pool[start : min(start + _SHEET_BATCH, indices.stop)], self.settings.tile_size)
                    for start in range(first, indices.stop, _SHEET_BATCH)
                ]
                image = sheet_image(list(np.concatenate(tiles)), [str(self._pool_numbers[i]) for i in indices], layout["columns"])
                self._sheets[(page, snapshot, look)] = _png(image)
            return self._sheets[(page, snapshot, look)]

    def generate(self, spec: TransitionSpec) -> Generation:
        def saved_last(name: str) -> np.ndarray:
            return self.folder.latents(name)[-1]

        source = key_vector(spec.source, self.pool, self.latent_dim, saved_last)
        destination = key_vector(spec.destination, self.pool, self.latent_dim, saved_last)
        latents = transition_latents(source, destination, spec.steps, spec.interp)
        look = self.look(spec.truncation_psi)
        about = {
            **spec.to_json(),
            "truncation_psi": look.truncation_psi,
            "continues": spec.source.value if spec.source.kind == "saved" else None,
        }
        return self.generations.submit(latents, self.settings.size, self.renderer(spec.snapshot, look), about)

    def load(self, name: Any) -> Generation:
        latents = self.folder.latents(name)
        made = next((t.made for t in self.folder.transitions() if t.name == name), {})
        snapshot = made.get("snapshot") if made.get("snapshot") in self.settings.snapshots else self.settings.snapshots[0]
        try:
            psi = checked_psi(made.get("truncation_psi"))
        except UsageError:
            psi = None
        look = self.look(psi)
        about = {key: made.get(key) for key in ("source", "destination", "steps", "interp", "continues")}
        about.update(snapshot=snapshot, truncation_psi=look.truncation_psi)
        return self.generations.submit(latents, self.settings.size, self.renderer(str(snapshot), look), about)

    def save(self, generation: Generation, name: Any) -> dict[str, Any]:
        self.folder.path(name, ".z.npy")  # refuse a bad name before waiting for anything
        if not generation.finished.wait(_SAVE_WAIT_S) or generation.state() != "done":
            raise UsageError(f"transition {generation.id} was {generation.state()}, not finished; generate it again")
        renderer = generation.renderer
        psi = generation.about.get("truncation_psi")
        model = model_ref_of(renderer)
        look = dataclasses.replace(self.look(psi if isinstance(psi, float) else None), model=model)
        saved = self.folder.save(
            name, generation.latents, np.stack(generation.frames), fps=self.settings.fps, look=look, made=generation.about
        )
        return saved.to_json()

    # ----- the web side

    def app(self, hosts: frozenset[str]) -> ASGIApp:
        routes = [
            Route("/", self._index),
            Route("/api/config", self._config),
            Route("/api/sheet/{page:int}.png", self._sheet),
            Route("/api/generate", self._generate, methods=["POST"]),
            Route("/api/load", self._load, methods=["POST"]),
            Route("/api/events/{id:int}", self._events),
            Route("/api/frames/{id:int}/{index:int}.png", self._frame),
            Route("/api/save", self._save, methods=["POST"]),
            Route("/api/saved", self._saved),
            Route("/api/delete", self._delete, methods=["POST"]),
            Route("/api/chain", self._chain, methods=["POST"]),
            Mount("/static", StaticFiles(directory=_STATIC), name="static"),
        ]
        app = Starlette(routes=routes, exception_handlers={LatentcutError: self._error})
        return _Guard(app, hosts, self.token)

    @staticmethod
    async def _error(request: Request, exc: Exception) -> Response:
        status = 400 if isinstance(exc, UsageError | InputError) else 500
        return JSONResponse({"error": str(exc)}, status_code=status)

    @staticmethod
    async def _body(request: Request) -> dict[str, Any]:
        """The request's JSON object, read up to ``MAX_BODY_BYTES`` within ``BODY_TIMEOUT_S`` and parsed within limits."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            raise UsageError(f"the request body of {int(declared):,} bytes is over the {MAX_BODY_BYTES:,} this explorer reads")

        async def read() -> bytes:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise UsageError(f"the request body is over the {MAX_BODY_BYTES:,} bytes this explorer reads")
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            raw = await asyncio.wait_for(read(), BODY_TIMEOUT_S)
        except TimeoutError:
            raise UsageError(f"the request body did not arrive within {BODY_TIMEOUT_S:.0f} s") from None
        try:
            body = parsed_json(raw, max_depth=_BODY_MAX_DEPTH)
        except JsonRefused as exc:
            raise UsageError(f"the request body {exc}") from None
        if not isinstance(body, dict):
            raise UsageError("the request body is not a JSON object")
        return body

    def _generation(self, generation_id: Any) -> Generation:
        generation = self.generations.get(generation_id) if type(generation_id) is int else None  # not True, not 1.0
        if generation is None:
            raise UsageError(f"transition {str(generation_id)[:20]!r} is gone; generate it again")
        return generation

    async def _index(self, request: Request) -> Response:
        return FileResponse(_STATIC / "index.html", headers={"Cache-Control": "no-store"})

    async def _config(self, request: Request) -> Response:
        width, height = self.settings.size
        return JSONResponse(
            {
                "snapshots": list(self.settings.snapshots),
                "interps": list(INTERPOLATIONS),
                "steps": {"min": MIN_STEPS, "max": MAX_STEPS, "default": 24},
                "size": [width, height],
                "fps": float(self.settings.fps),
                "sheet": self.sheet_layout,
                "truncation_psi": 1.0 if self.settings.look.truncation_psi is None else self.settings.look.truncation_psi,
                "pool_given": self.settings.pool is not None,
                "out": str(self.folder.folder),
                "daemon": self.settings.daemon,
            }
        )

    async def _sheet(self, request: Request) -> Response:
        query = request.query_params
        try:
            psi = checked_psi(float(query["psi"])) if "psi" in query else None
        except ValueError as exc:
            raise UsageError(f"psi {query['psi'][:20]!r} is not a number") from exc
        png = await run_in_threadpool(self.sheet_png, request.path_params["page"], query.get("snapshot"), self.look(psi))
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def _generate(self, request: Request) -> Response:
        spec = TransitionSpec.from_json(await self._body(request), self.settings.snapshots)
        generation = await run_in_threadpool(self.generate, spec)
        return JSONResponse({"id": generation.id, "total": generation.total, "about": dict(generation.about)})

    async def _load(self, request: Request) -> Response:
        body = await self._body(request)
        generation = await run_in_threadpool(self.load, body.get("name"))
        return JSONResponse({"id": generation.id, "total": generation.total, "about": dict(generation.about)})

    async def _events(self, request: Request) -> Response:
        generation = self._generation(request.path_params["id"])

        async def events() -> AsyncIterator[str]:
            sent, deadline = -1, time.monotonic() + _EVENT_LIFETIME_S
            while not self.closing.is_set() and time.monotonic() < deadline:
                state, done = generation.state(), len(generation.frames)
                if done != sent or state != "running":
                    sent = done
                    event = {
                        "id": generation.id,
                        "done": done,
                        "total": generation.total,
                        "state": state,
                        "error": generation.error,
                    }
                    yield f"data: {json.dumps(event)}\n\n"
                    if state != "running" and (state != "done" or done == generation.total):
                        return
                await asyncio.sleep(_EVENT_POLL_S)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def _frame(self, request: Request) -> Response:
        generation = self._generation(request.path_params["id"])
        index = request.path_params["index"]
        frame = generation.frame(index)
        if frame is None:
            return JSONResponse({"error": f"frame {index} of transition {generation.id} is not rendered (yet)"}, status_code=404)
        shadow = request.query_params.get("shadow") == "1"
        png = await run_in_threadpool(_png, silhouette(frame) if shadow else frame)
        return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})

    async def _save(self, request: Request) -> Response:
        body = await self._body(request)
        generation = self._generation(body.get("generation"))
        return JSONResponse(await run_in_threadpool(self.save, generation, body.get("name")))

    async def _saved(self, request: Request) -> Response:
        transitions = await run_in_threadpool(self.folder.transitions)
        return JSONResponse(
            {
                "saved": [t.to_json() for t in transitions],
                "project": self.folder.project.name if self.folder.project.exists() else None,
            }
        )

    async def _delete(self, request: Request) -> Response:
        body = await self._body(request)
        await run_in_threadpool(self.folder.delete, body.get("name"))
        return JSONResponse({"deleted": body.get("name")})

    async def _chain(self, request: Request) -> Response:
        body = await self._body(request)
        path, names = await run_in_threadpool(self.folder.export_chain, body.get("name"), body.get("output"))
        return JSONResponse({"path": path.name, "transitions": names})

    def close(self) -> None:
        self.closing.set()
        self.generations.close()
        with self._renderers_lock:
            for renderer in self._renderers.values():
                close = getattr(renderer, "close", None)
                if close is not None:
                    close()
            self._renderers.clear()
            self._views.clear()


def _looking(renderer: FrameRenderer, look: Look) -> FrameRenderer:
    """``renderer`` set to ``look``: a view of a local model, or a daemon renderer that asks its previews in that look."""
    looking = getattr(renderer, "looking", None)
    if callable(looking):
        return looking(look)
    from latentcut.models.generator import Generator
    from latentcut.models.latent_space import generator_for, look_changes

    if not isinstance(renderer, Generator):
        if look_changes(look) or look.space != "z":
            raise UsageError(f"{renderer.spec}: renders one look only; leave its psi at 1")
        return renderer
    return generator_for(renderer, look)


class _HeadersInTime(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers have not all come within ``HEADER_TIMEOUT_S``.

    uvicorn waits for headers for ever: a client trickling a byte a second held a connection, and
    1,500 such clients held 1,500, for as long as they liked (slowloris).
    """

    _headers_due: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_headers()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_headers()  # kept alive: the next request's headers are due in time too

    def handle_events(self) -> None:
        super().handle_events()
        if self._waiting_for_headers():
            return
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
        super().connection_lost(exc)

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _await_headers(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
        self._headers_due = self.loop.call_later(HEADER_TIMEOUT_S, self._headers_late)

    def _headers_late(self) -> None:
        if self._waiting_for_headers() and not self.transport.is_closing():
            self.transport.close()


def _bound_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port") from exc
    sock.listen(64)
    return sock


class ExploreServer:
    """The explorer on a socket, served by uvicorn in a thread of its own between ``start()`` and ``stop()``."""

    def __init__(
        self,
        explorer: Explorer,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        insecure: bool = False,
        allow_hosts: tuple[str, ...] = (),
    ) -> None:
        if not is_loopback_host(host) and not insecure:
            raise UsageError(
                f"{host}: not a loopback address; anyone who can reach it could see the page (its token travels in clear): "
                "pass --insecure to serve it there anyway"
            )
        self.explorer = explorer
        self._socket = _bound_socket(host, port)
        self.host = host
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(
            explorer.app(allowed_hosts(host, self.port, tuple(name.lower() for name in allow_hosts))),
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
            server_header=False,
            http=_HeadersInTime,
            limit_concurrency=MAX_CONNECTIONS,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The page's address, with the token in the fragment (never sent to the server, never in a log)."""
        name = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{name}:{self.port}/#token={self.explorer.token}"

    def start(self) -> None:
        """Serve in a background thread; return once it accepts connections."""
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="latentcut-explore-http"
        )
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                self.stop()
                raise RuntimeError("the explorer's server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop serving, end the event streams, and stop the background renderer."""
        self.explorer.closing.set()
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(_STOP_TIMEOUT_S)
        self._closed()

    def _closed(self) -> None:
        self.explorer.close()
        self._socket.close()


def local_explorer(
    settings: ExplorerSettings, *, device: str | None = None, trust_pickle: bool = False, warm: bool = True
) -> Explorer:
    """Return an explorer whose frames come from its own models (loaded on first use; the first one now, warmed up)."""
    from latentcut.models.loading import load_generator

    def load(spec: str) -> FrameRenderer:
        return load_generator(spec, device=device, trust_pickle=trust_pickle)

    first = load_generator(settings.snapshots[0], device=device, trust_pickle=trust_pickle)
    if warm:
        # The first call builds the coordinate grid and wakes the threads; the page's first frame should not pay for it.
        first.render(np.zeros((1, first.latent_dim), np.float32), settings.size)
    return Explorer(settings, load, first.latent_dim, loaded=(first,))


def daemon_explorer(settings: ExplorerSettings, security: Security | None = None) -> Explorer:
    """Return an explorer whose frames the render daemon at ``settings.daemon`` renders (see ``latentcut.explore.daemon_frames``)."""
    from latentcut.daemon.transport import Security
    from latentcut.explore.daemon_frames import DaemonRenderer, daemon_model_sha256
    from latentcut.models.cppn import CPPN_LATENT_DIM

    if settings.pool is not None:
        latent_dim = int(np.shape(settings.pool)[1])
    elif all(spec.startswith("builtin:cppn") for spec in settings.snapshots):
        latent_dim = CPPN_LATENT_DIM
    else:
        raise UsageError(f"{settings.snapshots[0]}: with --daemon, give --pool so the explorer knows the model's latent size")

    def load(spec: str) -> FrameRenderer:
        return DaemonRenderer(settings.daemon, spec, security=security or Security(), sha256=daemon_model_sha256(spec))

    first = load(settings.snapshots[0])
    return Explorer(settings, load, latent_dim, loaded=(first,))
