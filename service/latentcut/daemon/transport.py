"""ZeroMQ for latentcut: the daemon's ROUTER socket, client and worker connections, CURVE keys, address rules.

The daemon binds to loopback unless told otherwise; any other address needs CURVE keys (made by
``latentcut keys``) or an explicit ``insecure``, and CURVE needs an allow-list of client keys (or an
explicit ``any_client``: then anyone holding the daemon's public key may submit). ZeroMQ itself drops
messages over the size limit before allocating them (``MAXMSGSIZE``) and connections that do not finish
their handshake within ``HANDSHAKE_MS`` (so idle TCP connections cannot hold the daemon's file
descriptors); everything else is checked by ``latentcut.daemon.protocol``. A peer that does not read gets
at most ``MAX_UNREAD_PER_PEER`` large answers held for it (``LARGE_MESSAGE_BYTES`` or more: previews), and
all peers together at most ``MAX_UNREAD_BYTES``: ZeroMQ alone would hold a thousand per connection.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import tempfile
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from socket import socket as OsSocket
from socket import socketpair
from typing import Any

import numpy as np
import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from latentcut.daemon.protocol import MAX_MESSAGE_BYTES, Message, decoded, encoded
from latentcut.errors import DaemonUnavailable, InputError, ProtocolError, TransportError

__all__ = [
    "DEFAULT_ADDRESS",
    "HANDSHAKE_MS",
    "LARGE_MESSAGE_BYTES",
    "MAX_UNREAD_BYTES",
    "MAX_UNREAD_PER_PEER",
    "Connection",
    "Security",
    "ServerSocket",
    "check_binding",
    "is_loopback",
    "write_keys",
]

DEFAULT_ADDRESS = "tcp://127.0.0.1:5557"
HANDSHAKE_MS = 3000  # a connection that has not finished ZeroMQ's (and CURVE's) handshake by then is closed
_KEY_NAMES = ("daemon", "client")
_KEY_BANNER = "#   ZeroMQ CURVE certificate written by latentcut (zmq.auth.load_certificate reads it)\n\n"
LARGE_MESSAGE_BYTES = 2**14  # a message whose arrays reach this size is counted until ZeroMQ has written it out
MAX_UNREAD_PER_PEER = 2  # large answers held for one connection: a client that reads waits for one at a time
MAX_UNREAD_BYTES = 2**30  # large answers held for all connections together
TERM_TIMEOUT_S = 5.0  # the longest a close waits for ZeroMQ to let go of a context

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Security:
    """CURVE settings: the daemon's secret key (server side), its public key and the client's secret (client side)."""

    server_secret: Path | None = None  # daemon: its .key_secret
    allowed_clients: Path | None = None  # daemon: folder of clients' public .key files
    any_client: bool = False  # daemon: with CURVE but no allowed_clients, admit any client key (said loudly)
    server_public: Path | None = None  # client and worker: the daemon's .key
    client_secret: Path | None = None  # client and worker: their own .key_secret
    insecure: bool = False  # daemon: allow a non-loopback address without CURVE


def is_loopback(address: str) -> bool:
    """True for ipc://, inproc:// and tcp:// addresses on the loopback interface."""
    if address.startswith(("ipc://", "inproc://")):
        return True
    if not address.startswith("tcp://"):
        return False
    host = address[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def write_keys(folder: Path, *, force: bool = False) -> dict[str, Path]:
    """Create the daemon's and a client's CURVE key pairs in ``folder``; return their paths. Existing keys stay unless ``force``."""
    existing = [folder / f"{name}{suffix}" for name in _KEY_NAMES for suffix in (".key", ".key_secret")]
    existing = [path for path in existing if path.exists() or path.is_symlink()]
    if existing and not force:
        raise InputError(f"{existing[0]}: keys already exist in {folder}; keep them, or pass --force to replace them")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name in _KEY_NAMES:
        public, secret = (key.decode("ascii") for key in zmq.curve_keypair())
        keys = f'curve\n    public-key = "{public}"\n'
        paths[f"{name}_public"] = _key_file(folder / f"{name}.key", f"{_KEY_BANNER}metadata\n{keys}", public=True)
        secret_text = f'{_KEY_BANNER}metadata\n{keys}    secret-key = "{secret}"\n'
        paths[f"{name}_secret"] = _key_file(folder / f"{name}.key_secret", secret_text, public=False)
    return paths


def _key_file(path: Path, text: str, *, public: bool) -> Path:
    """Write ``path`` as a new file, readable by its owner only unless ``public``, then rename it into place.

    Written to a fresh file (never opened by name, so a planted symlink is not followed, and a secret is
    never readable by others, not even for a moment); the rename replaces a link, not what it points to.
    """
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # 0600, O_EXCL
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text)
            if public:
                os.fchmod(handle.fileno(), 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return path


def check_binding(address: str, security: Security) -> None:
    """Raise ``TransportError`` unless the daemon may listen on ``address`` with ``security``."""
    if not is_loopback(address) and security.server_secret is None and not security.insecure:
        raise TransportError(
            f"{address}: not a loopback address; give CURVE keys (latentcut keys DIR; --curve-secret DIR/daemon.key_secret) "
            "or --insecure to accept anyone on the network"
        )
    if security.server_secret is not None and security.allowed_clients is None and not security.any_client:
        raise TransportError(
            f"{address}: CURVE without --curve-clients DIR would admit any client key; give the folder of allowed "
            "clients' public keys, or --curve-any-client to let anyone who has the daemon's public key submit"
        )


def _load(path: Path, what: str) -> tuple[bytes, bytes | None]:
    try:
        return zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise TransportError(f"{path}: cannot read the {what} key ({exc}); make keys with `latentcut keys DIR`") from exc


def _terminate(context: zmq.Context) -> None:
    """Terminate ``context``, waiting at most ``TERM_TIMEOUT_S``: every socket is closed with linger 0, yet
    libzmq can block for ever in ``zmq_ctx_term`` after a failed CURVE handshake on a loaded machine
    (zeromq/libzmq#2733), and a close must not hang its process."""
    ending = threading.Thread(target=context.term, name="latentcut-zmq-term", daemon=True)
    ending.start()
    ending.join(TERM_TIMEOUT_S)
    if ending.is_alive():
        log.warning("ZeroMQ did not let go of a context within %.0f s; left to the process's exit", TERM_TIMEOUT_S)


class ServerSocket:
    """The daemon's ROUTER socket: receives ``(peer, message)`` and sends messages to peers."""

    def __init__(
        self,
        address: str,
        security: Security = Security(),
        *,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        max_unread_bytes: int = MAX_UNREAD_BYTES,
    ) -> None:
        check_binding(address, security)
        self._waker: OsSocket | None = None
        self._woken: OsSocket | None = None
        self.max_message_bytes = max_message_bytes
        self._context = zmq.Context()
        self._auth: ThreadAuthenticator | None = None
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, max_message_bytes + 2**20)
        self._socket.setsockopt(zmq.ROUTER_MANDATORY, 0)
        self._socket.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_MS)
        try:
            if security.server_secret is not None:
                public, secret = _load(security.server_secret, "daemon's secret")
                if security.allowed_clients is not None:
                    self._auth = ThreadAuthenticator(self._context)
                    self._auth.start()
                    self._auth.configure_curve(domain="*", location=str(security.allowed_clients))
                self._socket.curve_secretkey = secret
                self._socket.curve_publickey = public
                self._socket.curve_server = True
            self._socket.bind(address)
        except zmq.ZMQError as exc:
            self.close()
            raise TransportError(f"{address}: cannot bind ({exc}); is another daemon running there?") from exc
        self.address = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.max_unread_bytes = max_unread_bytes
        # Large answers not yet taken by the kernel, per peer: ZeroMQ lets go of a message once it is written.
        self._unread: dict[bytes, list[tuple[zmq.MessageTracker, int]]] = {}
        # Other threads wake the socket's thread through a socket pair (a ZeroMQ socket may not be shared between threads).
        self._waker, self._woken = socketpair()
        self._waker.setblocking(False)
        self._woken.setblocking(False)
        self._poller = zmq.Poller()
        self._poller.register(self._socket, zmq.POLLIN)
        self._poller.register(self._woken.fileno(), zmq.POLLIN)  # reported by its number, like any file descriptor

    def receive(self, timeout_ms: int) -> tuple[bytes, Message | ProtocolError] | None:
        """Wait up to ``timeout_ms`` for a message; return the peer and the message, or the reason it is not one.

        None on silence, and at once when another thread calls ``wake``: it has something to send.
        """
        ready = dict(self._poller.poll(timeout_ms))
        if self._woken is not None and self._woken.fileno() in ready:
            # Emptied before the caller sends what was queued: a later wake is never lost, at worst one is spare.
            with contextlib.suppress(BlockingIOError):
                while self._woken.recv(4096):
                    pass
        if self._socket not in ready:
            return None
        frames = self._socket.recv_multipart(copy=False)
        peer = frames[0].bytes
        try:
            return peer, decoded([f.buffer for f in frames[1:]], max_message_bytes=self.max_message_bytes)
        except ProtocolError as exc:
            return peer, exc

    def wake(self) -> None:
        """Make ``receive`` return now (from any thread): something was queued for the socket's thread to send."""
        # Full of wakes already, or closed with the daemon: either way nothing is left to do.
        with contextlib.suppress(OSError):
            if self._waker is not None:
                self._waker.send(b"\0")

    def send(self, peer: bytes, kind: str, header: dict[str, Any] | None = None, arrays: Sequence[np.ndarray] = ()) -> bool:
        """Send a message to ``peer`` if it can take it now; a peer that does not read is dropped, never waited for.

        False if a large message was not sent: ``peer`` has not read ``MAX_UNREAD_PER_PEER`` large ones yet,
        or all peers together have not read ``max_unread_bytes``.
        """
        frames = encoded(kind, header, arrays)
        size = sum(len(frame) for frame in frames[3:])
        large = size >= LARGE_MESSAGE_BYTES
        if large and (len(self._held(peer)) >= MAX_UNREAD_PER_PEER or self.unread_bytes() + size > self.max_unread_bytes):
            return False
        # A large message's arrays go as tracked frames: ZeroMQ lets go of each once it is written to the connection.
        arrays_out = [zmq.Frame(frame, copy=False, track=True) if large and len(frame) else frame for frame in frames[3:]]
        try:
            self._socket.send_multipart([peer, *frames[:3], *arrays_out], flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return True
        if large:
            trackers = [frame.tracker for frame in arrays_out if isinstance(frame, zmq.Frame) and frame.tracker is not None]
            self._unread.setdefault(peer, []).append((zmq.MessageTracker(*trackers), size))
        return True

    def unread(self, peer: bytes) -> int:
        """How many large messages sent to ``peer`` ZeroMQ still holds (not yet written to the connection)."""
        return len(self._held(peer))

    def unread_bytes(self) -> int:
        """The bytes of large messages ZeroMQ still holds for all peers."""
        return sum(size for peer in list(self._unread) for _, size in self._held(peer))

    def _held(self, peer: bytes) -> list[tuple[zmq.MessageTracker, int]]:
        held = [(tracker, size) for tracker, size in self._unread.get(peer, ()) if not tracker.done]
        if held:
            self._unread[peer] = held
        else:
            self._unread.pop(peer, None)
        return held

    def close(self) -> None:
        for end in (self._waker, self._woken):
            if end is not None:
                end.close()
        self._socket.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
        _terminate(self._context)


class Connection:
    """A client's or worker's DEALER connection; its identity stays fixed so that events find it again after a reconnect."""

    def __init__(self, address: str, security: Security = Security(), *, identity: bytes | None = None) -> None:
        self.address = address
        self.security = security
        self.identity = identity or uuid.uuid4().hex.encode()
        self._context = zmq.Context()
        self._socket: zmq.Socket | None = None
        self._backlog: deque[Message] = deque(maxlen=1024)  # events that arrived while a request waited for its answer
        self._connect()

    def _connect(self) -> None:
        socket = self._context.socket(zmq.DEALER)
        socket.setsockopt(zmq.LINGER, 0)
        socket.setsockopt(zmq.IDENTITY, self.identity)
        if self.security.server_public is not None:
            server_public, _ = _load(self.security.server_public, "daemon's public")
            if self.security.client_secret is not None:
                public, secret = _load(self.security.client_secret, "client's secret")
            else:
                public, secret = zmq.curve_keypair()
            socket.curve_serverkey, socket.curve_publickey, socket.curve_secretkey = server_public, public, secret
        try:
            socket.connect(self.address)
        except zmq.ZMQError as exc:
            socket.close(linger=0)
            raise TransportError(f"{self.address}: cannot connect ({exc})") from exc
        self._socket = socket

    def _live(self) -> zmq.Socket:
        if self._socket is None:
            raise TransportError(f"{self.address}: the connection is closed")
        return self._socket

    def reconnect(self) -> None:
        """Close the socket (what ZeroMQ still held for it is lost; events already received stay queued) and connect afresh."""
        if self._socket is not None:
            self._socket.close(linger=0)
        self._connect()

    def send(self, kind: str, header: dict[str, Any] | None = None, arrays: Sequence[np.ndarray] = ()) -> None:
        self._live().send_multipart(encoded(kind, header, arrays), copy=False)

    def send_raw(self, frames: Sequence[bytes]) -> None:
        """Send frames as they are, checked by nobody: for tests of what the daemon does with garbage."""
        self._live().send_multipart(list(frames))

    def receive(self, timeout_ms: int) -> Message | None:
        """Wait up to ``timeout_ms`` for a message; None on silence. A malformed answer is a ``ProtocolError``."""
        socket = self._live()
        if self._backlog:
            return self._backlog.popleft()
        if not socket.poll(timeout_ms, zmq.POLLIN):
            return None
        return decoded(socket.recv_multipart())

    def request(
        self,
        kind: str,
        header: dict[str, Any] | None = None,
        arrays: Sequence[np.ndarray] = (),
        *,
        timeout_ms: int = 3000,
        retries: int = 2,
        expect: Sequence[str] = ("ok", "error"),
    ) -> Message:
        """Send and wait for the answer, reconnecting and resending on silence (Lazy Pirate); events in between are skipped."""
        for _attempt in range(retries + 1):
            self.send(kind, header, arrays)
            deadline = time.monotonic() + timeout_ms / 1000
            while (left := deadline - time.monotonic()) > 0:
                socket = self._live()
                if not socket.poll(int(left * 1000) + 1, zmq.POLLIN):
                    continue
                answer = decoded(socket.recv_multipart())
                if answer.kind in expect:
                    return answer
                self._backlog.append(answer)
            self.reconnect()
        raise DaemonUnavailable(
            f"{self.address}: no answer to {kind} after {retries + 1} tries of {timeout_ms} ms; is the daemon running?"
        )

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        _terminate(self._context)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
