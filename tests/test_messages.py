"""Typed daemon messages: round trips, and strict checks of every field (bools are not numbers, names match in full)."""

from __future__ import annotations

import contextlib
import json
from fractions import Fraction

import numpy as np
import pytest

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.daemon.messages import (
    Accepted,
    Cancel,
    Delivery,
    Hello,
    Idle,
    Job,
    JobEvent,
    JobSummary,
    Lease,
    Preview,
    PreviewFrames,
    Ready,
    Refusal,
    Status,
)
from latentcut.daemon.protocol import Message, decoded, encoded
from latentcut.errors import ProtocolError
from latentcut.latent.look import Look


def _over_the_wire(kind, header, arrays) -> Message:
    return decoded([bytes(frame) for frame in encoded(kind, header, arrays)])


def _job(**changes) -> Job:
    latents = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    frame_fields = {name: changes.pop(name) for name in ("blend_latents", "blend_weight", "controls") if name in changes}
    fields = {
        "project": "/edits/cut.kdenlive",
        "output": "cut.mov",
        "model": "builtin:cppn",
        "size": (32, 16),
        "fps": Fraction(30000, 1001),
        "arrays": FrameArrays(latents, np.array([0, 0.5, 1, 1], np.float32), **frame_fields),
        **changes,
    }
    return Job(**fields)


def _lease(model: str = "builtin:cppn", controls: np.ndarray | None = None, look: Look | None = None) -> Lease:
    arrays = FrameArrays(np.zeros((2, 4), np.float32), np.ones(2, np.float32), controls=controls)
    return Lease("j1", 3, "f" * 32, model, (8, 8), arrays, np.arange(2), look or Look())


_LOOK = Look(
    space="w", truncation_psi=0.7, class_index=1, noise_mode="random", noise_seed=3, translate=(0.1, 0.0), rotate_deg=5.0
)


def test_the_look_of_a_job_a_lease_and_a_preview_survives_the_wire():
    # The psi travels as the truncation still to apply: W latents that carry psi 0.7 shown at 0.35 are truncated by 0.5.
    carried = Look(space="w", truncation_psi=0.35, psi_in_latents=0.7, noise_mode="none")
    for sent, applied in [(_LOOK, _LOOK), (carried, Look(space="w", truncation_psi=0.5, noise_mode="none")), (Look(), Look())]:
        assert Job.from_wire(_over_the_wire(*_job(look=sent).to_wire())).look == applied
        assert Lease.from_wire(_over_the_wire(*_lease(look=sent).to_wire())).look == applied
        preview = Preview("p1", "builtin:cppn", (8, 8), FrameArrays.plain(np.zeros((2, 4), np.float32)), sent)
        assert Preview.from_wire(_over_the_wire(*preview.to_wire())).look == applied


def test_a_job_with_a_pixel_cross_fade_survives_the_wire():
    other = np.ones((4, 8), np.float32)
    sent = _job(job_id="j-1", blend_latents=other, blend_weight=np.array([0, 0.25, 0.75, 0], np.float32), codec="ffv1")
    got = Job.from_wire(_over_the_wire(*sent.to_wire()))
    assert (got.project, got.output, got.size, got.fps, got.job_id, got.codec) == (
        sent.project,
        sent.output,
        (32, 16),
        Fraction(30000, 1001),
        "j-1",
        "ffv1",
    )
    np.testing.assert_array_equal(got.arrays.latents, sent.arrays.latents)
    np.testing.assert_array_equal(got.arrays.blend_latents, other)
    np.testing.assert_array_equal(got.arrays.blend_weight, sent.arrays.blend_weight)
    plain = Job.from_wire(_over_the_wire(*_job().to_wire()), default_id="picked")
    assert plain.arrays.blend_latents is None and plain.arrays.blend_weight is None and plain.job_id == "picked"


def test_every_other_message_survives_the_wire():
    summary = JobSummary("j1", "/p", "cut.mov", "running", 10, 4, 3, 1, "")
    values = [
        JobEvent("done", summary, 1.5, {"local": 2, "w1": 1}, 1),
        Status(summary, (summary,), (summary,), 123, {"w1": 0.5}),
        Hello("1.0", ("builtin:cppn",), 1.0),
        Accepted("j1", "queued", 2.0),
        Cancel("j1"),
        Refusal("no"),
        Ready("w1", "a" * 64),
        Idle("busy"),
    ]
    for value in values:
        assert type(value).from_wire(_over_the_wire(*value.to_wire())) == value
    lease = _lease()
    got = Lease.from_wire(_over_the_wire(*lease.to_wire()))
    assert (got.job_id, got.range_id, got.token, got.size) == ("j1", 3, "f" * 32, (8, 8)) and got.arrays.blend_latents is None
    delivery = Delivery("w1", "j1", 3, "f" * 32, np.zeros((2, 8, 8, 3), np.uint8))
    assert Delivery.from_wire(_over_the_wire(*delivery.to_wire())).frames.shape == (2, 8, 8, 3)


def _controls(frames: int = 4) -> np.ndarray:
    return np.random.default_rng(5).uniform(-0.5, 0.5, (frames, 4)).astype(np.float32)


def test_a_job_and_a_lease_with_input_controls_survive_the_wire():
    got = Job.from_wire(_over_the_wire(*_job(controls=_controls()).to_wire()))
    np.testing.assert_array_equal(got.arrays.controls, _controls())
    assert got.arrays.controls.dtype == np.float32 and _job(controls=_controls()).array_bytes == _job().array_bytes + 4 * 4 * 4
    assert Job.from_wire(_over_the_wire(*_job().to_wire())).arrays.controls is None
    lease = _lease("m", _controls(2))
    np.testing.assert_array_equal(Lease.from_wire(_over_the_wire(*lease.to_wire())).arrays.controls, _controls(2))


@pytest.mark.parametrize(
    ("controls", "header", "message"),
    [
        (np.full((4, 4), np.nan, np.float32), {}, "controls holds NaN"),
        (np.full((4, 4), np.inf, np.float32), {}, "controls holds NaN or infinity"),
        (np.zeros((4, 3), np.float32), {}, "controls is float32 \\[4, 3\\], not float32 \\(4, 4\\)"),
        (np.zeros((3, 4), np.float32), {}, "controls is float32 \\[3, 4\\]"),  # one row per frame
        (np.zeros((4, 4), np.int32), {}, "controls is int32"),
        (np.zeros((4, 4, 1), np.float32), {}, "controls is float32"),
        (np.zeros((4, 4), np.float32), {"controls": 1}, "controls 1 is not a list of control columns"),
        (np.zeros((4, 4), np.float32), {"controls": ["a", "b", "c", "d"]}, "control column 'a' is not one this latentcut knows"),
        (np.zeros((4, 1), np.float32), {"controls": ["direction:0"]}, "names a direction, but 0 travel with"),
        (np.zeros((4, 1), np.float32), {"controls": ["noise_angle:1:24"]}, "need a noise_frame column"),
        (np.zeros((4, 4), np.float32), {"controls": False}, "carries 2 arrays, not 3"),
        (None, {"controls": True}, "carries 3 arrays, not 2"),
    ],
)
def test_bad_input_controls_are_refused_by_name(controls, header, message):
    kind, sent_header, arrays = _job().to_wire()
    if controls is not None:
        arrays = (*arrays, controls)
        sent_header = {**sent_header, "controls": True}
    with pytest.raises(ProtocolError, match=message):
        Job.from_wire(_over_the_wire(kind, {**sent_header, **header}, arrays))


def test_named_lanes_and_their_directions_travel_with_a_job_and_a_lease_even_with_a_pixel_cross_fade():
    columns = ("truncation_psi", "noise_angle:7:12.5", "noise_frame", "w_direction:0", "direction:1")
    table = np.random.default_rng(3).uniform(0.2, 1, (4, len(columns))).astype(np.float32)
    directions = np.random.default_rng(4).standard_normal((2, 8)).astype(np.float32)
    arrays = FrameArrays(
        np.ones((4, 8), np.float32), np.ones(4, np.float32), np.zeros((4, 8), np.float32), np.full(4, 0.5, np.float32),
        table, control_columns=columns, directions=directions,
    )  # fmt: skip
    got = Job.from_wire(_over_the_wire(*Job("p", "cut.mov", "m", (8, 8), Fraction(25), arrays).to_wire())).arrays
    assert got.control_columns == columns and got.blended
    np.testing.assert_array_equal(got.controls, table)
    np.testing.assert_array_equal(got.directions, directions)
    lease = _lease("m")
    kind, header, sent = lease.to_wire()
    with pytest.raises(ProtocolError, match="controls is float32 \\[2, 3\\]"):
        Lease.from_wire(_over_the_wire(kind, {**header, "controls": True}, (*sent, np.zeros((2, 3), np.float32))))
    announced = {**header, "controls": ["direction:0"], "directions": True}  # directions announced, not sent
    with pytest.raises(ProtocolError, match="carries 5 arrays, not 4"):
        Lease.from_wire(_over_the_wire(kind, announced, (*sent, np.zeros((2, 1), np.float32))))


def _submit(header_changes: dict, arrays=None) -> Message:
    kind, header, sent = _job().to_wire()
    return _over_the_wire(kind, {**header, **header_changes}, sent if arrays is None else arrays)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": [True, True]}, "size"),  # a bool is an int to Python, never a size
        ({"size": [16, 10**6]}, "size"),
        ({"job": "abc\n"}, "job"),  # full matches: no trailing newline
        ({"output": "cut.mov\n"}, "not a plain file name"),
        ({"output": "../cut.mov"}, "not a plain file name"),
        ({"project": "p\nlatentcut daemon: job forged"}, "printable"),  # no forged log lines
        ({"fps": "1e999999999"}, "fps"),
        ({"fps": "0"}, "fps"),
        ({"blend": 1}, "blend"),
        ({"preset": True}, "preset"),
        ({"codec": ["h264"]}, "codec"),
    ],
)
def test_bad_job_fields_are_refused_by_name(changes, message):
    with pytest.raises(ProtocolError, match=message):
        Job.from_wire(_submit(changes))


def test_bad_job_arrays_are_refused():
    good = _job()
    with pytest.raises(ProtocolError, match="NaN"):
        Job.from_wire(_submit({}, [good.arrays.latents, np.full(4, np.nan, np.float32)]))
    with pytest.raises(ProtocolError, match="outside 0..1"):
        Job.from_wire(_submit({}, [good.arrays.latents, np.full(4, 7, np.float32)]))
    with pytest.raises(ProtocolError, match="carries 4"):
        Job.from_wire(_submit({"blend": True}))
    with pytest.raises(ProtocolError, match="opacity"):
        Job.from_wire(_submit({}, [good.arrays.latents, np.ones(3, np.float32)]))


_HOSTILE = [
    *(True, False, None, 10**30, -1, 1.5, "x", "", [], {}, [[[[1]]]], [True, True], "a\n", "9" * 300),
    *("1/0", "0/0", "1/999999999", "p\ud800", "p\x85", "p\x9b[31m", "p\u2028"),  # zero rates, surrogates, C1 controls
]


def _templates() -> list[Message]:
    summary = JobSummary("j1", "/p", "cut.mov", "running", 10, 4, 3, 1, "")
    lease = _lease()
    steered = _lease("m", _controls(2), _LOOK)
    values = [
        _job(look=_LOOK),
        _job(controls=_controls()),
        steered,
        JobEvent("progress", summary, 1.5, {"w1": 1}, 1),
        Status(summary, (summary,), (), 1, {"w1": 0.5}),
        Hello("1.0", ("builtin:cppn",), 1.0),
        Accepted("j1", "queued", 2.0),
        Cancel("j1"),
        Ready("w1", "a" * 64),
        lease,
        Delivery("w1", "j1", 3, "f" * 32, np.zeros((2, 8, 8, 3), np.uint8)),
        Preview("p1", "builtin:cppn", (8, 8), FrameArrays.plain(np.zeros((2, 4), np.float32)), _LOOK),
        PreviewFrames("p1", "done", np.zeros((2, 8, 8, 3), np.uint8), "a" * 64),
    ]
    return [_over_the_wire(*value.to_wire()) for value in values]


def test_every_field_of_every_message_refuses_hostile_values_with_protocol_errors_only():
    readers = {
        "submit": Job,
        "progress": JobEvent,
        "cancel": Cancel,
        "ready": Ready,
        "range": Lease,
        "frames": Delivery,
        "preview": Preview,
        "rendered": PreviewFrames,
    }
    checked = 0
    for template in _templates():
        header = dict(template.header)
        header.pop("arrays")
        readers_here = [readers[template.kind]] if template.kind in readers else [Status, Hello, Accepted]
        for key in [*header, "running", "queue", "workers", "ranges"]:
            for value in _HOSTILE:
                hostile = Message(template.kind, json.loads(json.dumps({**header, key: value})), template.arrays)
                for reader in readers_here:
                    with contextlib.suppress(ProtocolError):
                        reader.from_wire(hostile)
                    checked += 1
    assert checked > 1000


def test_previews_and_their_frames_survive_the_wire():
    latents = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    sent = Preview("p-1", "builtin:cppn", (32, 16), FrameArrays.plain(latents), Look(space="w+", truncation_psi=0.5))
    got = Preview.from_wire(_over_the_wire(*sent.to_wire()))
    assert (got.preview_id, got.model, got.size, got.look) == (
        "p-1",
        "builtin:cppn",
        (32, 16),
        Look(space="w+", truncation_psi=0.5),
    )
    np.testing.assert_array_equal(got.arrays.latents, latents)
    frames = np.random.default_rng(2).integers(0, 256, (3, 16, 32, 3), dtype=np.uint8)
    done = PreviewFrames.from_wire(_over_the_wire(*PreviewFrames("p-1", "done", frames, "b" * 64).to_wire()))
    assert (done.preview_id, done.state, done.model_sha256) == ("p-1", "done", "b" * 64)
    np.testing.assert_array_equal(done.frames, frames)
    failed = PreviewFrames.from_wire(_over_the_wire(*PreviewFrames("p-1", "failed", error="no\nmodel").to_wire()))
    assert failed.frames is None and failed.error == "no\\nmodel"  # control characters arrive escaped


def _preview(latents: np.ndarray, **header_changes) -> Message:
    kind, header, _ = Preview("p1", "builtin:cppn", (64, 64), FrameArrays.plain(np.zeros((1, 8), np.float32))).to_wire()
    return _over_the_wire(kind, {**header, **header_changes}, (latents, np.ones(len(latents), np.float32)))


@pytest.mark.parametrize(
    ("latents", "changes", "message"),
    [
        (np.zeros((65, 8), np.float32), {}, "1-64 frames"),  # too many frames
        (np.zeros((0, 8), np.float32), {}, "1-64 frames"),
        (np.zeros((2, 2**16 + 1), np.float32), {}, "values"),  # absurd latents
        (np.zeros((64, 8), np.float32), {"size": [1024, 1024]}, "pixels"),  # over the pixel budget
        (np.zeros((1, 8), np.float32), {"size": [8193, 1]}, "size"),
        (np.zeros((1, 8), np.float32), {"size": [True, 8]}, "size"),
        (np.full((2, 8), np.nan, np.float32), {}, "NaN"),
        (np.full((2, 8), np.inf, np.float32), {}, "NaN"),
        (np.zeros((2, 8), np.float64), {}, "float32"),  # wrong dtype
        (np.zeros((2, 8), np.int32), {}, "float32"),
        (np.zeros((2, 8, 1), np.float32), {}, "float32"),  # wrong shape
        (np.zeros((2, 8), np.float32), {"preview": "p1\n"}, "preview"),
        (np.zeros((2, 8), np.float32), {"space": "x"}, "space"),
        (np.zeros((2, 8), np.float32), {"truncation_psi": 1e300}, "truncation_psi"),
        (np.zeros((2, 8), np.float32), {"model": "cppn\nlatentcut daemon: forged"}, "printable"),
    ],
)
def test_bad_previews_are_refused_by_name(latents, changes, message):
    with pytest.raises(ProtocolError, match=message):
        Preview.from_wire(_preview(latents, **changes))


def test_bad_preview_answers_are_refused():
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    _, header, _ = PreviewFrames("p1", "done", frames, "a" * 64).to_wire()
    for arrays, changes, message in [
        ((), {}, "carries 1"),
        ((frames.astype(np.float32),), {}, "uint8"),
        ((np.zeros((65, 1, 1, 3), np.uint8),), {}, "more than a preview"),
        ((frames,), {"state": "running"}, "state"),
        ((frames,), {"model_sha256": "x"}, "model_sha256"),
        ((frames,), {"state": "failed"}, "carries 0"),
    ]:
        with pytest.raises(ProtocolError, match=message):
            PreviewFrames.from_wire(_over_the_wire("rendered", {**header, **changes}, arrays))
