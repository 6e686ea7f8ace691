"""The web explorer without a browser: keys and transitions, shadow frames, the saved folder's name checks, and the server's refusals."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from daemons import daemon_thread
from latentcut.errors import UsageError
from latentcut.explore.generation import Generations
from latentcut.explore.saved import SavedFolder
from latentcut.explore.server import Explorer, ExplorerSettings, ExploreServer, allowed_hosts, daemon_explorer, local_explorer
from latentcut.explore.transitions import MAX_STEPS, Key, TransitionSpec, key_from_json, silhouette, transition_latents
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import ModelRef, load_sequence
from latentcut.programs import Program

SNAPSHOTS = ("builtin:cppn",)


def test_transition_starts_and_ends_exactly_on_its_keys() -> None:
    a, b = gaussian_latents(2, 512, 4)
    for interp in ("lerp", "slerp", "spring"):
        path = transition_latents(a, b, 7, interp)
        assert path.shape == (7, 512) and path.dtype == np.float32
        np.testing.assert_array_equal(path[0], a)
        np.testing.assert_allclose(path[-1], b, atol=1e-5)


@pytest.mark.parametrize(
    "body",
    [
        {"pool": -1},
        {"pool": True},
        {"seed": "7"},
        {"saved": 3},
        {"file": "/etc/passwd"},
        {"pool": 1, "seed": 2},
        [1],
    ],
)
def test_malformed_keys_are_refused(body: object) -> None:
    with pytest.raises(UsageError):
        key_from_json(body)


def test_transition_spec_checks_every_field() -> None:
    good = {"source": {"pool": 1}, "destination": {"seed": 9}, "steps": 12, "interp": "slerp", "snapshot": "builtin:cppn"}
    assert TransitionSpec.from_json(good, SNAPSHOTS).to_json() == good
    for field, value in (("steps", 1), ("steps", 601), ("steps", 3.5), ("interp", "cubic"), ("snapshot", "os:abort")):
        with pytest.raises(UsageError, match=field):
            TransitionSpec.from_json({**good, field: value}, SNAPSHOTS)


def test_shadow_mode_is_the_figure_dark_on_a_light_ground() -> None:
    frame = np.full((40, 40, 3), (20, 30, 90), np.uint8)
    frame[10:30, 12:28] = (250, 220, 120)  # a bright figure on a dark ground
    shadow = silhouette(frame)
    assert shadow.shape == frame.shape and shadow.dtype == np.uint8
    assert set(np.unique(shadow).tolist()) == {24, 236}
    assert (shadow[10:30, 12:28] == 24).all() and (shadow[:10] == 236).all()
    inverted = silhouette(255 - frame)  # a dark figure on a bright ground: still the figure dark
    np.testing.assert_array_equal(inverted, shadow)


@pytest.mark.parametrize("name", ["../evil", "a/b", "..", ".hidden", "", "x" * 65, "bad name", "é", "/tmp/x", "a\nb", None, 3])
def test_names_that_would_leave_the_folder_are_refused(tmp_path: Path, name: object) -> None:
    folder = SavedFolder(tmp_path / "out")
    with pytest.raises(UsageError):
        folder.path(name, ".z.npy")


def test_a_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    folder = SavedFolder(tmp_path / "out")
    (tmp_path / "elsewhere.z.npy").write_bytes(b"")
    (tmp_path / "out" / "link.z.npy").symlink_to(tmp_path / "elsewhere.z.npy")
    with pytest.raises(UsageError, match="outside"):
        folder.path("link", ".z.npy")
    assert folder.path("walk-1_b", ".z.npy") == (tmp_path / "out" / "walk-1_b.z.npy").resolve()


class _Slow:
    """A renderer that takes its time, so that a second request surely arrives while the first is in flight."""

    spec, sha256 = "slow", "0" * 64

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        time.sleep(0.02)
        return np.zeros((len(latents), size[1], size[0], 3), np.uint8)


def test_a_new_request_cancels_the_one_in_flight() -> None:
    generations = Generations()
    try:
        first = generations.submit(np.zeros((400, 4), np.float32), (8, 8), _Slow(), {})
        deadline = time.monotonic() + 10
        while not first.frames and time.monotonic() < deadline:
            time.sleep(0.005)
        second = generations.submit(np.zeros((3, 4), np.float32), (8, 8), _Slow(), {})
        assert second.finished.wait(10) and first.finished.wait(10)
        assert first.state() == "cancelled" and 0 < len(first.frames) < 400
        assert second.state() == "done" and len(second.frames) == 3
    finally:
        generations.close()


def test_frames_stream_as_they_are_rendered(tmp_path: Path) -> None:
    settings = ExplorerSettings(out=tmp_path / "out", snapshots=("slow",), size=(8, 8))
    running = ExploreServer(Explorer(settings, lambda spec: _Slow(), 512), "127.0.0.1", 0)
    running.start()
    try:
        body = {"source": {"seed": 1}, "destination": {"seed": 2}, "steps": 41, "interp": "slerp", "snapshot": "slow"}
        status, generation = _call(running, "POST", "/api/generate", body)
        assert status == 200
        connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=30)
        headers = {"Host": f"127.0.0.1:{running.port}", "X-Latentcut-Token": running.explorer.token}
        connection.request("GET", f"/api/events/{generation['id']}", headers=headers)
        events = [json.loads(line[6:]) for line in connection.getresponse() if line.startswith(b"data: ")]
        connection.close()
        done = [event["done"] for event in events]
        assert done == sorted(done) and done[-1] == 41 and events[-1]["state"] == "done"
        # The first frame is there while the rest are still being rendered, and the page hears of it.
        assert any(event["state"] == "running" and 0 < event["done"] < 41 for event in events), events
        assert len(events) >= 4
    finally:
        running.stop()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ExploreServer]:
    settings = ExplorerSettings(out=tmp_path / "out", snapshots=SNAPSHOTS, size=(32, 32), tile_size=(16, 16), columns=4)
    explorer = local_explorer(settings, device="cpu", warm=False)
    running = ExploreServer(explorer, "127.0.0.1", 0)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _call(
    server: ExploreServer, method: str, path: str, body: object = None, *, token: str | None = "", host: str = "", **headers: str
) -> tuple[int, dict]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        sent = dict(headers)
        sent["Host"] = host or f"127.0.0.1:{server.port}"
        if token is not None:
            sent["X-Latentcut-Token"] = token or server.explorer.token
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent.setdefault("Content-Type", "application/json")
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if response.getheader("content-type", "").startswith(
            "application/json"
        ) else {}
    finally:
        connection.close()


def test_every_api_request_needs_the_token(server: ExploreServer) -> None:
    assert _call(server, "GET", "/api/config")[0] == 200
    assert _call(server, "GET", "/api/config", token=None)[0] == 403
    assert _call(server, "GET", "/api/config", token="wrong")[0] == 403
    assert _call(server, "GET", f"/api/config?token={server.explorer.token}", token=None)[0] == 200
    body = {"source": {"seed": 1}, "destination": {"seed": 2}, "steps": 3, "interp": "lerp", "snapshot": "builtin:cppn"}
    # A change needs the token in its header: a query string (which a link or a form could carry) is not enough.
    status, answer = _call(server, "POST", f"/api/generate?token={server.explorer.token}", body, token=None)
    assert status == 403 and "token" in answer["error"]
    assert _call(server, "POST", "/api/generate", body, **{"Content-Type": "text/plain"})[0] == 415
    assert _call(server, "POST", "/api/generate", body, Origin="http://evil.example")[0] == 403
    status, answer = _call(server, "POST", "/api/generate", body, Origin=f"http://localhost:{server.port}")
    assert status == 200 and answer["total"] == 3
    # The page itself carries no secret; it is served to a right Host without a token.
    assert _call(server, "GET", "/", token=None)[0] == 200


def test_a_foreign_host_header_is_refused(server: ExploreServer) -> None:
    # DNS rebinding: a page on evil.example whose name now points at 127.0.0.1 sends its own name as Host.
    for host in (f"evil.example:{server.port}", "127.0.0.1", f"127.0.0.1:{server.port + 1}", ""):
        status, _ = _call(server, "GET", "/api/config", host=host or " ")
        assert status == 421, host
    assert _call(server, "GET", "/", token=None, host=f"evil.example:{server.port}")[0] == 421
    assert _call(server, "GET", "/api/config", host=f"localhost:{server.port}")[0] == 200
    assert allowed_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765", "[::1]:8765"}
    assert allowed_hosts("192.168.1.9", 8765) == {"192.168.1.9:8765"}
    assert allowed_hosts("192.168.1.9", 8765, ("studio.lan",)) == {"192.168.1.9:8765", "studio.lan:8765"}


def test_page_names_never_leave_the_out_folder(server: ExploreServer, tmp_path: Path) -> None:
    body = {"source": {"seed": 1}, "destination": {"seed": 2}, "steps": 3, "interp": "lerp", "snapshot": "builtin:cppn"}
    status, generation = _call(server, "POST", "/api/generate", body)
    assert status == 200
    for name in ("../escaped", "../../tmp/escaped", "sub/escaped", ".escaped", "%2e%2e"):
        status, answer = _call(server, "POST", "/api/save", {"generation": generation["id"], "name": name})
        assert status == 400 and "refused" in answer["error"], name
        assert _call(server, "POST", "/api/delete", {"name": name})[0] == 400
        assert _call(server, "POST", "/api/load", {"name": name})[0] == 400
        assert _call(server, "POST", "/api/chain", {"name": "x", "output": name})[0] == 400
    assert not list(tmp_path.rglob("*escaped*"))
    assert _call(server, "POST", "/api/load", {"name": "nothing-here"})[0] == 400


def test_a_non_loopback_address_needs_insecure(tmp_path: Path) -> None:
    settings = ExplorerSettings(out=tmp_path / "out", snapshots=SNAPSHOTS, size=(16, 16))
    explorer = local_explorer(settings, device="cpu", warm=False)
    try:
        with pytest.raises(UsageError, match="--insecure"):
            ExploreServer(explorer, "0.0.0.0", 0)
    finally:
        explorer.close()


@pytest.mark.slow
def test_frames_from_a_render_daemon_equal_the_local_ones(tmp_path: Path, cppn) -> None:
    settings_for = {"out": tmp_path / "out", "snapshots": SNAPSHOTS, "size": (32, 32), "tile_size": (16, 16)}
    # The daemon runs in its own folder: the frames come back over its socket, through no shared folder.
    (tmp_path / "daemon").mkdir()
    with daemon_thread(tmp_path / "daemon") as address:
        explorer = daemon_explorer(ExplorerSettings(**settings_for, daemon=address))
        try:
            # Frames stream from the daemon a batch at a time, and a newer transition cancels the one in flight.
            long = explorer.generate(TransitionSpec(Key("seed", 1), Key("seed", 2), MAX_STEPS, "lerp", "builtin:cppn"))
            deadline = time.monotonic() + 60
            while not long.frames and time.monotonic() < deadline:
                time.sleep(0.005)
            spec = TransitionSpec(Key("seed", 5), Key("pool", 3), 6, "slerp", "builtin:cppn")
            generation = explorer.generate(spec)
            assert long.finished.wait(60) and long.state() == "cancelled" and 0 < len(long.frames) < MAX_STEPS
            assert generation.finished.wait(120) and generation.state() == "done", generation.error
            frames = np.stack(generation.frames)
            np.testing.assert_array_equal(frames, cppn.render(generation.latents, (32, 32)))
            saved = explorer.save(generation, "from-daemon")
            assert saved["frames"] == 6 and (tmp_path / "out" / "from-daemon.mp4").exists()
            assert load_sequence(tmp_path / "out" / "from-daemon.z.npy").meta.model == ModelRef("builtin:cppn", cppn.sha256)
            assert not list((tmp_path / "daemon" / "renders").iterdir())
        finally:
            explorer.close()


@pytest.mark.slow
def test_the_command_prints_its_address_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "latentcut",
        "explore",
        "--port",
        "0",
        "--out",
        "saved",
        "--size",
        "32x32",
        "--device",
        "cpu",
    ]
    with Program(command, cwd=tmp_path) as child:
        url = child.wait_for_output(r"^latentcut explore: open (http://127\.0\.0\.1:\S+)$", timeout_s=120)[1]
        port, token = int(url.split(":")[2].split("/")[0]), url.split("#token=")[1]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        connection.request("GET", "/api/config", headers={"Host": f"127.0.0.1:{port}", "X-Latentcut-Token": token})
        answer = connection.getresponse()
        assert answer.status == 200 and json.loads(answer.read())["size"] == [32, 32]
        connection.close()
        child.send_signal(signal.SIGTERM)
        assert child.wait(30) == 0
        assert (tmp_path / "saved").is_dir()


def _explorer(tmp_path: Path, snapshots: tuple[str, ...]) -> ExploreServer:
    settings = ExplorerSettings(out=tmp_path / "out", snapshots=snapshots, size=(16, 16), tile_size=(16, 16), columns=4)
    running = ExploreServer(local_explorer(settings, device="cpu", warm=False), "127.0.0.1", 0)
    running.start()
    return running


def _sheet(server: ExploreServer, query: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    try:
        headers = {"Host": f"127.0.0.1:{server.port}", "X-Latentcut-Token": server.explorer.token}
        connection.request("GET", f"/api/sheet/0.png?{query}", headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# ----- hostile requests and a hostile --out folder (issue 21): answered in one line, the explorer goes on

_BODY = {"source": {"seed": 1}, "destination": {"seed": 2}, "steps": 3, "interp": "lerp", "snapshot": "builtin:cppn"}


def test_a_fifo_in_the_out_folder_never_blocks_the_saved_list_or_a_save(server: ExploreServer, tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "out" / "trap.z.json")  # opened for reading, a FIFO waits for a writer for ever
    status, answer = _call(server, "GET", "/api/saved")
    assert status == 200 and answer["saved"] == []
    for name in ("one", "two"):  # the second save takes the folder's lock after the first: it was let go
        generation = _call(server, "POST", "/api/generate", _BODY)[1]
        status, answer = _call(server, "POST", "/api/save", {"generation": generation["id"], "name": name})
        assert status == 200, answer
    assert [t["name"] for t in _call(server, "GET", "/api/saved")[1]["saved"]] == ["one", "two"]
    assert _call(server, "POST", "/api/delete", {"name": "one"})[0] == 200
    assert (tmp_path / "out" / "trap.z.json").is_fifo()


def _raw(server: ExploreServer, body: bytes | Iterator[bytes], **headers: str) -> tuple[int, dict]:
    """POST ``body`` as it is (an iterator of bytes: sent in chunks, without a length) to /api/generate."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        sent = {
            "Host": f"127.0.0.1:{server.port}",
            "X-Latentcut-Token": server.explorer.token,
            "Content-Type": "application/json",
        }
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # answered and closed before all was sent
            connection.request(
                "POST", "/api/generate", body=body, headers={**sent, **headers}, encode_chunked=not isinstance(body, bytes)
            )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_the_pool_sheet_is_drawn_with_the_snapshot_and_the_psi_chosen(tmp_path: Path) -> None:
    from tinystylegan import tiny_snapshot

    snapshot = str(tiny_snapshot(tmp_path / "G.pkl", "sg2-z8-16px"))
    server = _explorer(tmp_path, ("builtin:cppn@0", "builtin:cppn@27", snapshot))
    try:
        first, last, default = (
            _sheet(server, "snapshot=builtin:cppn@0"),
            _sheet(server, "snapshot=builtin:cppn@27"),
            _sheet(server, ""),
        )
        assert first[0] == last[0] == default[0] == 200 and first[1] == default[1] != last[1]
        # The explorer's pool is 512 wide (the first snapshot's); a StyleGAN of another width is refused in one line.
        assert _sheet(server, "snapshot=builtin:cppn@27&psi=0.5")[0] == 400  # the CPPN has no truncation
        assert _sheet(server, "snapshot=os:getcwd")[0] == 400
    finally:
        server.stop()
    server = _explorer(tmp_path, (snapshot,))
    try:
        plain, truncated = _sheet(server, f"snapshot={snapshot}&psi=1"), _sheet(server, f"snapshot={snapshot}&psi=0.5")
        assert plain[0] == truncated[0] == 200 and plain[1] != truncated[1]
        body = {"source": {"seed": 1}, "destination": {"seed": 2}, "steps": 4, "interp": "slerp", "snapshot": snapshot}
        status, generation = _call(server, "POST", "/api/generate", {**body, "truncation_psi": 0.5})
        assert status == 200 and generation["about"]["truncation_psi"] == 0.5
        status, saved = _call(server, "POST", "/api/save", {"generation": generation["id"], "name": "half"})
        assert status == 200, saved
        look = load_sequence(tmp_path / "out/half.z.npy").meta.look
        assert look.truncation_psi == 0.5 and look.model is not None and look.model.spec == snapshot
    finally:
        server.stop()


def test_a_chain_across_snapshots_records_each_look_and_renders_with_each(tmp_path: Path, cli, decode_video) -> None:
    from latentcut.models.cppn import CppnGenerator

    server = _explorer(tmp_path, ("builtin:cppn@0", "builtin:cppn@20"))
    try:
        first = {"source": {"seed": 1}, "destination": {"seed": 2}, "steps": 6, "interp": "slerp", "snapshot": "builtin:cppn@0"}
        status, generation = _call(server, "POST", "/api/generate", first)
        assert status == 200 and _call(server, "POST", "/api/save", {"generation": generation["id"], "name": "a"})[0] == 200
        second = {**first, "source": {"saved": "a"}, "destination": {"seed": 3}, "snapshot": "builtin:cppn@20"}
        status, generation = _call(server, "POST", "/api/generate", second)
        assert status == 200 and _call(server, "POST", "/api/save", {"generation": generation["id"], "name": "b"})[0] == 200
        status, chain = _call(server, "POST", "/api/chain", {"name": "b", "output": "ab"})
        assert status == 200 and chain["transitions"] == ["a", "b"], chain
    finally:
        server.stop()
    sequence = load_sequence(tmp_path / "out/ab.z.npy")
    runs = sequence.meta.look_runs
    assert [(run.start, run.look.model.spec if run.look.model else None) for run in runs] == [
        (0, "builtin:cppn@0"),
        (6, "builtin:cppn@20"),
    ]
    online = ("--preset", "online", "--codec", "ffv1", "--size", "16x16", "--no-progress")
    assert cli("render", "out/ab.z.npy", "-o", "ab.mkv", *online).returncode == 0
    rendered = decode_video(tmp_path / "ab.mkv", (16, 16)).astype(int)
    latents = np.asarray(sequence.latents)
    early, late = CppnGenerator(0, device="cpu"), CppnGenerator(20, device="cpu")
    assert np.abs(rendered[:6] - early.render(latents[:6], (16, 16))).max() <= 1  # each part as the page showed it
    assert np.abs(rendered[6:] - late.render(latents[6:], (16, 16))).max() <= 1
    assert np.abs(rendered[6:] - early.render(latents[6:], (16, 16))).mean() > 5  # not the first snapshot throughout


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "the request body nests deeper than 16 levels"),  # was a 500 RecursionError
        (b'{"steps": ' + b"9" * 5000 + b"}", "the request body holds an integer of 5000 digits"),
        (b'{"steps": NaN}', "the request body holds NaN, which is not JSON"),
        (b'{"steps": 1e999}', "the request body holds 1e999, which overflows a float"),
        (b"x" * (2 << 20), "the request body of 2,097,152 bytes is over the 1,048,576 this explorer reads"),
    ],
    ids=["deep", "digits", "nan", "1e999", "2MiB"],
)
def test_hostile_bodies_are_400_in_one_line(server: ExploreServer, body: bytes, message: str) -> None:
    status, answer = _raw(server, body)
    assert status == 400 and answer["error"].startswith(message) and "\n" not in answer["error"], answer
    assert _call(server, "POST", "/api/generate", _BODY)[0] == 200  # still serving


def test_a_body_without_a_length_is_read_only_up_to_the_limit(server: ExploreServer) -> None:
    chunks = (b" " * (1 << 20) for _ in range(200))  # 200 MB, if it were all read
    status, answer = _raw(server, chunks)
    assert status == 400 and "over the 1,048,576 bytes" in answer["error"], answer


@pytest.mark.parametrize("value", [True, 1.0, "1", [1]])
def test_a_generation_id_is_a_whole_number_not_true(server: ExploreServer, value: object) -> None:
    generation = _call(server, "POST", "/api/generate", _BODY)[1]
    assert generation["id"] == 1  # True == 1 in Python: it named this one
    status, answer = _call(server, "POST", "/api/save", {"generation": value, "name": "x"})
    assert status == 400 and "is gone; generate it again" in answer["error"], answer


def test_clients_trickling_their_headers_are_cut_off_and_others_are_served(server: ExploreServer, monkeypatch) -> None:
    import socket

    from latentcut.explore import server as explore_server

    monkeypatch.setattr(explore_server, "HEADER_TIMEOUT_S", 2.0)
    slow = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(40)]
    try:
        for sock in slow:
            sock.sendall(f"GET /api/config HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n".encode())
        open_ = list(slow)
        deadline = time.monotonic() + 20
        while open_ and time.monotonic() < deadline:
            assert _call(server, "GET", "/api/config")[0] == 200  # a good client is served meanwhile
            still = []
            for sock in open_:
                try:
                    sock.sendall(b"X-Trickle: 1\r\n")  # a header line a second, never the blank line that ends them
                    sock.settimeout(0.01)
                    if sock.recv(1) != b"":
                        still.append(sock)
                except TimeoutError:
                    still.append(sock)
                except OSError:
                    pass  # reset: closed by the explorer
            open_ = still
            time.sleep(1.0)
        assert not open_, f"{len(open_)} of 40 trickling connections still open after 20 s"
    finally:
        for sock in slow:
            sock.close()


def test_a_curated_pools_sheet_shows_its_pool_numbers(tmp_path: Path, cli) -> None:
    import io

    from PIL import Image

    from latentcut.latent.curation import burned_numbers
    from latentcut.render.labels import caption_image, label_height_px
    from latentcut.render.sheet import cell_origin

    assert cli("sample", "pool.z.npy", "--count", "12", "--seed", "5").returncode == 0
    assert cli("pick", "pool.z.npy", "--frames", "9,2,11,2", "-o", "cur.z.npy").returncode == 0
    curated = load_sequence(tmp_path / "cur.z.npy")
    settings = ExplorerSettings(
        out=tmp_path / "out",
        snapshots=SNAPSHOTS,
        pool=np.asarray(curated.latents),
        pool_numbers=tuple(int(n) for n in burned_numbers(curated)),  # as `latentcut explore --pool` passes them
        tile_size=(16, 16),
        columns=4,
    )
    explorer = local_explorer(settings, device="cpu", warm=False)
    try:
        assert explorer.sheet_layout["numbers"] == [9, 2, 11, 2]  # the page's key labels read them too
        sheet = np.asarray(Image.open(io.BytesIO(explorer.sheet_png(0))).convert("RGB"))
    finally:
        explorer.close()
    band = label_height_px(16)
    for index, number in enumerate([9, 2, 11, 2]):
        x, y = cell_origin(index, 4, (16, 16))
        np.testing.assert_array_equal(sheet[y + 16 : y + 16 + band, x : x + 16], caption_image(str(number), 16, band))
