import contextlib
import json

import numpy as np
import pytest

from latentcut.daemon.protocol import MAX_HEADER_BYTES, VERSION, ProtocolError, decoded, encoded


def _bytes(frames):
    return [bytes(f) for f in frames]


def test_round_trip_keeps_header_and_arrays_without_pickle():
    latents = np.random.default_rng(0).standard_normal((5, 8)).astype(np.float32)
    opacity = np.linspace(0, 1, 5, dtype=np.float32)
    frames = _bytes(encoded("submit", {"job": "j1", "output": "cut.mov"}, [latents, opacity]))
    assert frames[0] == VERSION and b"pickle" not in b"".join(frames)
    message = decoded(frames)
    assert message.kind == "submit" and message.header["job"] == "j1"
    np.testing.assert_array_equal(message.arrays[0], latents)
    np.testing.assert_array_equal(message.arrays[1], opacity)
    assert not message.arrays[0].flags.writeable


def _with_header(header: dict, arrays=()):
    return [VERSION, b"submit", json.dumps(header).encode(), *arrays]


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([VERSION, b"ping"], "at least 3"),
        ([b"LCUT0", b"ping", b"{}"], "update latentcut"),
        ([VERSION, b"explode", b"{}"], "unknown message kind"),
        ([VERSION, b"ping", b"{not json"], "not JSON"),
        ([VERSION, b"ping", b"[1, 2]"], "not a JSON object"),
        ([VERSION, b"ping", b" " * (MAX_HEADER_BYTES + 1)], "exceeds"),
        (_with_header({"arrays": [{"dtype": "float32", "shape": [2, 2]}]}), "describes 1 arrays, 0 came"),
        (_with_header({"arrays": [{"dtype": "object", "shape": [1]}]}, [b"x"]), "no accepted dtype"),
        (_with_header({"arrays": [{"dtype": "float32", "shape": [1, -1]}]}, [b"x"]), "is not a list"),
        (_with_header({"arrays": [{"dtype": "float32", "shape": [2**39, 2**39]}]}, [b"x"]), "exceed the"),
        (_with_header({"arrays": [{"dtype": "uint8", "shape": [1 << 30, 8]}]}, [b"x"]), "exceed the"),
        (_with_header({"arrays": [{"dtype": "float32", "shape": [4]}]}, [b"123"]), "arrived as 3"),
    ],
)
def test_malformed_messages_are_refused_before_allocation(frames, message):
    with pytest.raises(ProtocolError, match=message):
        decoded(frames)


def test_fuzzed_messages_never_raise_anything_but_protocol_errors():
    rng = np.random.default_rng(1)
    for _ in range(2000):
        frames = [rng.bytes(int(rng.integers(0, 40))) for _ in range(int(rng.integers(0, 6)))]
        if rng.random() < 0.5 and frames:
            frames[0] = VERSION
        with contextlib.suppress(ProtocolError):
            decoded(frames)


def test_unsendable_dtype_is_refused():
    with pytest.raises(ProtocolError, match="cannot travel"):
        encoded("submit", {}, [np.zeros(3, np.float64)])


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (b"[" * 1000 + b"]" * 1000, "nests deeper|not a JSON object"),  # the probe's 2 KB daemon killer
        (b"[" * 30000 + b"]" * 30000, "nests deeper"),  # past Python's recursion limit
        (b'{"a":' * 9 + b"1" + b"}" * 9, "nests deeper"),
        (b'{"size":[' + b"9" * 4301 + b",1]}", "integer of 4301 digits"),  # past Python's int-from-text limit
        (b'{"x":1e999}', "overflows a float"),
        (b'{"x":NaN}', "not JSON"),
        (b'{"arrays":[{"dtype":"uint8","shape":[true]}]}', "array shape"),
        (b'{"arrays":[{"dtype":["uint8"],"shape":[1]}]}', "no accepted dtype"),
        (b'{"arrays":[[]]}', "no accepted dtype"),
        (b"\xff\xfe{}", "not JSON"),
    ],
)
def test_hostile_headers_are_protocol_errors(header, message):
    with pytest.raises(ProtocolError, match=message):
        decoded([VERSION, b"ping", header, b"x"])


def test_an_unencodable_header_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="cannot travel as JSON"):
        encoded("ping", {"x": float("nan")})
