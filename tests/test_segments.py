"""Segmented outputs: cut by content, stored by key, joined by stream copy into exactly the one-piece encode's frames."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from daemons import daemon_thread, finished, job_arrays, submit
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.transport import Connection
from latentcut.errors import EncodeError
from latentcut.render.encode import VideoWriter, container_tags, encoding_for
from latentcut.render.segments import SegmentStore, segment_plan, segmentable

SIZE = (32, 24)
FPS = Fraction(25)
SMALL = {"min_frames": 3, "divisor": 5, "max_frames": 12}  # many segments from few frames
TAGS = {"latent_job": "j1", "latent_project": "edit's project"}


def keys_of(names: list[str]) -> list[str]:
    return [hashlib.sha256(name.encode()).hexdigest() for name in names]


def frame_of(key: str) -> np.ndarray:
    """A picture that depends only on its key: a gradient with some noise, as a generator's frames might be."""
    rng = np.random.default_rng(int(key[:8], 16))
    ramp = np.linspace(0, 200, SIZE[0], dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 20, (SIZE[1], SIZE[0], 3)).astype(np.float32)
    return np.clip(ramp + noise + rng.integers(0, 50), 0, 255).astype(np.uint8)


def one_piece(path: Path, keys: list[str], preset: str = "online") -> None:
    with VideoWriter(path, SIZE, FPS, encoding_for(path, preset), tags=TAGS) as writer:
        writer.write(np.stack([frame_of(key) for key in keys]))


def segmented(store: SegmentStore, path: Path, keys: list[str], preset: str = "online") -> list[str]:
    """Render ``keys`` to ``path`` through the store; return the names of the segments it had to encode."""
    encoding = encoding_for(path, preset)
    plan = segment_plan(keys, encoding, SIZE, FPS, path.suffix, **SMALL)
    encoded = []
    for segment in plan:
        if not store.has(segment):
            store.write(segment, lambda i: frame_of(keys[i]), SIZE, FPS, encoding, keep={s.name for s in plan})
            encoded.append(segment.name)
    store.assemble(plan, path, SIZE, FPS, TAGS)
    return encoded


def decoded(path: Path, decode_video) -> np.ndarray:
    if path.is_dir():
        return np.stack([np.asarray(Image.open(png).convert("RGB")) for png in sorted(path.glob("*.png"))])
    return decode_video(path, SIZE)


@pytest.mark.parametrize("name", ["out.mov", "out.mkv", "out"])
def test_joined_segments_decode_to_the_frames_of_a_one_piece_encode(tmp_path, decode_video, name):
    preset = "online"
    keys = keys_of([f"frame {i}" for i in range(40)])
    store = SegmentStore(tmp_path / "segments", 2**30)
    encoded = segmented(store, tmp_path / "joined" / name, keys, preset)
    one_piece(tmp_path / "whole" / name, keys, preset)
    assert len(encoded) >= 4  # really joined from several pieces
    joined, whole = decoded(tmp_path / "joined" / name, decode_video), decoded(tmp_path / "whole" / name, decode_video)
    assert joined.shape == (40, SIZE[1], SIZE[0], 3)
    assert np.array_equal(joined, whole)
    assert {k: v for k, v in container_tags(tmp_path / "joined" / name).items() if k in TAGS} == TAGS


def test_only_encodings_that_code_each_frame_alone_are_segmented(tmp_path, decode_video):
    assert segmentable(encoding_for(tmp_path / "a.mov", "online"))
    assert segmentable(encoding_for(tmp_path / "a", "online"))
    # x264's rate control carries state across frames: joined intra proxies would not match a one-piece encode.
    assert not segmentable(encoding_for(tmp_path / "a.mp4", "proxy"))
    assert not segmentable(encoding_for(tmp_path / "a.mp4", "online"))
    assert not segmentable(encoding_for(tmp_path / "a.mp4", "online", "h265"))


def _edit(trim: int) -> list[str]:
    """A 10-minute edit of 20 clips of 750 frames; the middle clip's in point ``trim`` frames earlier."""
    names = []
    for clip in range(20):
        start = 50 - (trim if clip == 10 else 0)
        names += [f"clip {clip} frame {i}" for i in range(start, 800)]
    return keys_of(names)


def test_a_trimmed_edit_encodes_only_the_segments_around_the_trim():
    encoding = encoding_for(Path("edit.mov"), "online")
    before = segment_plan(_edit(0), encoding, (256, 256), FPS, ".mov")
    after = segment_plan(_edit(25), encoding, (256, 256), FPS, ".mov")
    known = {segment.key for segment in before}
    new = [segment for segment in after if segment.key not in known]
    assert len(before) > 40  # the edit really is in many segments
    assert sum(segment.stop - segment.start for segment in after) == 15025
    assert 1 <= len(new) <= 2 and sum(segment.frames for segment in new) <= 2000
    # The frames that changed are all inside the new segments.
    assert all(any(s.start <= i < s.stop for s in new) for i in range(10 * 750, 10 * 750 + 25))


def test_segments_follow_the_size_the_fps_and_the_encoding(tmp_path):
    keys = _edit(0)[:500]
    mov = encoding_for(tmp_path / "a.mov", "online")
    base = {s.key for s in segment_plan(keys, mov, SIZE, FPS, ".mov")}
    assert not base & {s.key for s in segment_plan(keys, mov, (64, 64), FPS, ".mov")}
    assert not base & {s.key for s in segment_plan(keys, mov, SIZE, Fraction(24), ".mov")}
    assert not base & {s.key for s in segment_plan(keys, encoding_for(tmp_path / "a.mkv", "online"), SIZE, FPS, ".mkv")}


def test_an_edit_reuses_unchanged_segments_and_stays_exact(tmp_path, decode_video):
    store = SegmentStore(tmp_path / "segments", 2**30)
    first = keys_of([f"frame {i}" for i in range(60)])
    trimmed = first[:30] + keys_of(["new a", "new b"]) + first[30:]
    encoded_first = segmented(store, tmp_path / "edit.mkv", first)
    encoded_again = segmented(store, tmp_path / "edit.mkv", trimmed)
    assert 1 <= len(encoded_again) <= 2 < len(encoded_first)
    assert np.array_equal(decode_video(tmp_path / "edit.mkv", SIZE), np.stack([frame_of(key) for key in trimmed]))


@pytest.mark.slow
def test_stale_segments_are_removed_past_the_limit_but_never_those_of_the_running_job(tmp_path):
    store = SegmentStore(tmp_path / "segments", 60_000)
    edits = [keys_of([f"edit {e} frame {i}" for i in range(40)]) for e in range(4)]
    for keys in edits:
        segmented(store, tmp_path / "out.mkv", keys)
        last = segment_plan(keys, encoding_for(tmp_path / "out.mkv", "online"), SIZE, FPS, ".mkv", **SMALL)
        assert all(store.path(segment).exists() for segment in last)
    on_disk = [p for p in (tmp_path / "segments").glob("*/*") if not p.name.startswith(".")]
    assert sum(p.stat().st_size for p in on_disk) == store.total_bytes
    assert store.total_bytes <= 60_000 + sum(store.path(s).stat().st_size for s in last)
    assert len(on_disk) < sum(
        len(segment_plan(k, encoding_for(Path("o.mkv"), "online"), SIZE, FPS, ".mkv", **SMALL)) for k in edits
    )
    # A store opened again finds what is there, and drops the temporaries of a writer that was killed.
    leftover = store.path(last[0]).parent / f".{last[0].key}.999999999-x.partial.mkv"
    leftover.write_bytes(b"half a segment")
    again = SegmentStore(tmp_path / "segments", 60_000)
    on_disk = [p for p in (tmp_path / "segments").glob("*/*") if not p.name.startswith(".")]
    assert sum(p.stat().st_size for p in on_disk) == again.total_bytes <= 60_000 and not leftover.exists()
    assert again.has(last[-1])  # the most recently used is kept


def test_a_segment_gone_from_the_store_fails_assembly_in_one_line_and_writes_nothing(tmp_path):
    store = SegmentStore(tmp_path / "segments", 2**30)
    keys = keys_of([f"frame {i}" for i in range(20)])
    segmented(store, tmp_path / "first.mov", keys)
    plan = segment_plan(keys, encoding_for(tmp_path / "a.mov", "online"), SIZE, FPS, ".mov", **SMALL)
    store.path(plan[1]).unlink()
    with pytest.raises(EncodeError, match="left the store"):
        store.assemble(plan, tmp_path / "second.mov", SIZE, FPS, TAGS)
    assert not (tmp_path / "second.mov").exists()


def test_a_draft_is_found_by_no_plan_until_it_is_adopted(tmp_path):
    store = SegmentStore(tmp_path / "segments", 2**30)
    keys = keys_of([f"frame {i}" for i in range(10)])
    encoding = encoding_for(tmp_path / "a.mkv", "online")
    (segment,) = segment_plan(keys, encoding, SIZE, FPS, ".mkv")
    draft = segment.draft("job 1")
    store.write(draft, lambda i: frame_of(keys[i]), SIZE, FPS, encoding)
    assert draft.key != segment.key and draft.key != segment.draft("job 2").key and not store.has(segment)
    store.adopt(draft, segment)
    assert store.has(segment) and not store.path(draft).exists()
    store.discard(segment)
    assert not store.has(segment) and store.total_bytes == 0


@pytest.mark.slow
def test_the_daemon_encodes_only_the_segments_an_edit_changed(tmp_path, decode_video):
    latents, opacity = job_arrays(800)
    segments = tmp_path / "frames" / "segments"
    with daemon_thread(tmp_path, "--cache", str(tmp_path / "frames")) as address, Connection(address) as connection:
        client = DaemonClient(connection)
        first = finished(client, submit(client, latents, opacity, output="cut.mkv", size=(16, 16)))
        assert first.kind == "done" and first.summary.generated == 800
        before = decode_video(tmp_path / "renders/cut.mkv", (16, 16))
        stored = {path.name for path in segments.glob("*/*")}
        assert len(stored) >= 2
        new = np.random.default_rng(9).standard_normal((5, 512)).astype(np.float32)
        edited = np.concatenate([latents[:400], new, latents[400:]])
        second = finished(client, submit(client, edited, np.ones(805, np.float32), output="cut.mkv", size=(16, 16)))
        assert second.kind == "done" and second.summary.generated == 5
        after = decode_video(tmp_path / "renders/cut.mkv", (16, 16))
        assert len({path.name for path in segments.glob("*/*")} - stored) <= 2
    assert after.shape == (805, 16, 16, 3)
    np.testing.assert_array_equal(after[:400], before[:400])
    np.testing.assert_array_equal(after[405:], before[400:])
    assert container_tags(tmp_path / "renders/cut.mkv")["latent_job"]
