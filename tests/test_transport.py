"""The daemon's ROUTER socket on loopback: woken from other threads, and large answers held only for peers that read."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import zmq

from latentcut.daemon.protocol import decoded, encoded
from latentcut.daemon.transport import MAX_UNREAD_PER_PEER, Connection, ServerSocket

_FRAMES = np.zeros((8, 128, 128, 3), np.uint8)  # 384 KiB: a large answer
_HEADER = {"preview": "p", "state": "done", "model_sha256": "0" * 64, "error": ""}


@pytest.fixture
def server() -> Iterator[ServerSocket]:
    socket = ServerSocket("tcp://127.0.0.1:*", max_unread_bytes=5 * _FRAMES.nbytes)
    try:
        yield socket
    finally:
        socket.close()


@contextlib.contextmanager
def _never_reads(server: ServerSocket) -> Iterator[tuple[zmq.Socket, bytes]]:
    """A client that holds one message on its side and reads nothing more: the daemon would hold the rest."""
    context = zmq.Context()
    client = context.socket(zmq.DEALER)
    try:
        for option, value in ((zmq.LINGER, 0), (zmq.RCVHWM, 1), (zmq.RCVBUF, 4096)):
            client.setsockopt(option, value)
        client.connect(server.address)
        client.send_multipart(encoded("ping"))
        received = server.receive(10_000)
        assert received is not None
        yield client, received[0]
    finally:
        client.close(linger=0)
        context.term()


def _filled(server: ServerSocket, peer: bytes) -> int:
    """Send large answers to ``peer`` until ten in a row are refused (its kernel buffers full); return how many went."""
    went = refused = 0
    deadline = time.monotonic() + 20
    while refused < 10 and time.monotonic() < deadline:
        if server.send(peer, "rendered", _HEADER, (_FRAMES,)):
            went, refused = went + 1, 0
        else:
            refused += 1
        time.sleep(0.02)
    assert refused == 10, "answers were never refused"
    return went


def _eventually(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_wake_from_another_thread_ends_the_wait_for_a_request(server):
    waker = threading.Timer(0.1, server.wake)
    waker.start()
    started = time.monotonic()
    try:
        assert server.receive(20_000) is None
        assert time.monotonic() - started < 10  # woken, not timed out
    finally:
        waker.join(10)
    # The wake was used up: the next wait lasts its whole time again, and requests still come through.
    started = time.monotonic()
    assert server.receive(300) is None
    assert time.monotonic() - started >= 0.2
    with Connection(server.address) as client:
        client.send("ping")
        received = server.receive(10_000)
        assert received is not None and received[1].kind == "ping"


def test_large_answers_are_held_for_a_peer_only_while_it_reads_them(server):
    with _never_reads(server) as (hostile, peer):
        # A few go to the connection's kernel buffers (a few MiB); then MAX_UNREAD_PER_PEER are held, the rest refused.
        assert _filled(server, peer) < 40 and server.unread(peer) == MAX_UNREAD_PER_PEER
        assert server.send(peer, "error", {"error": "small answers still go"})
        # Once it reads, what was held is written out and new answers are taken again.
        while hostile.poll(1000):
            hostile.recv_multipart()
        assert _eventually(lambda: server.unread(peer) == 0)
        assert server.send(peer, "rendered", _HEADER, (_FRAMES,))
        assert hostile.poll(10_000) and decoded(hostile.recv_multipart()).kind == "rendered"


def test_all_peers_together_are_held_at_most_max_unread_bytes(server):
    with contextlib.ExitStack() as stack:
        peers = [stack.enter_context(_never_reads(server))[1] for _ in range(6)]
        for peer in peers:
            _filled(server, peer)
        # Two peers hold two answers each, a third one; the others' are refused though they have none held.
        assert server.unread_bytes() == server.max_unread_bytes
        assert [server.unread(peer) for peer in peers] == [2, 2, 1, 0, 0, 0]
    # Peers that go away let go of everything held for them.
    assert _eventually(lambda: server.receive(10) is None and server.unread_bytes() == 0)  # ZeroMQ hears it in a call


def test_a_close_that_zeromq_will_not_finish_returns_and_warns(monkeypatch, caplog):
    from latentcut.daemon import transport

    monkeypatch.setattr(transport, "TERM_TIMEOUT_S", 0.2)
    context = zmq.Context()
    held = context.socket(zmq.DEALER)  # an open socket: zmq_ctx_term waits for it, as for a wedged handshake
    try:
        started = time.monotonic()
        with caplog.at_level("WARNING", logger="latentcut.daemon.transport"):
            transport._terminate(context)
        assert time.monotonic() - started < 5 and "did not let go of a context" in caplog.text
    finally:
        held.close(linger=0)  # now the waiting term ends, and its thread with it
    assert _eventually(lambda: not any(t.name == "latentcut-zmq-term" for t in threading.enumerate()))
    assert context.closed
