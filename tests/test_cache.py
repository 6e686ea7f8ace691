import numpy as np

from latentcut.daemon.cache import FrameCache
from latentcut.daemon.identity import frame_keys
from latentcut.daemon.ranges import RangeBoard


def test_keys_change_with_everything_that_decides_a_frame():
    z = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    alpha = np.ones(3, np.float32)
    base = frame_keys("sha", "builtin:cppn", (32, 32), z, alpha)
    assert len(set(base)) == 3
    assert frame_keys("sha", "builtin:cppn", (32, 32), z, alpha) == base
    assert frame_keys("other", "builtin:cppn", (32, 32), z, alpha)[0] != base[0]
    assert frame_keys("sha", "builtin:cppn@3", (32, 32), z, alpha)[0] != base[0]
    assert frame_keys("sha", "builtin:cppn", (32, 16), z, alpha)[0] != base[0]
    assert frame_keys("sha", "builtin:cppn", (32, 32), z, alpha * 0.5)[0] != base[0]
    nudged = z.copy()
    nudged[1, 3] = np.nextafter(nudged[1, 3], np.float32(9))
    assert frame_keys("sha", "builtin:cppn", (32, 32), nudged, alpha) == [
        base[0],
        frame_keys("sha", "builtin:cppn", (32, 32), nudged, alpha)[1],
        base[2],
    ]


def test_frames_survive_a_restart_and_the_oldest_go_first(tmp_path):
    frame = lambda v: np.full((4, 5, 3), v, np.uint8)  # noqa: E731
    cache = FrameCache(tmp_path, max_bytes=3 * 60)
    for key, value in (("aa1", 1), ("bb2", 2), ("cc3", 3)):
        cache.put(key, frame(value))
    assert cache.get("aa1", (5, 4))[0, 0, 0] == 1  # reading makes "aa1" recent
    cache.put("dd4", frame(4))
    assert "bb2" not in cache and "aa1" in cache and cache.total_bytes == 180
    again = FrameCache(tmp_path, max_bytes=3 * 60)
    assert {k for k in ("aa1", "cc3", "dd4") if k in again} == {"aa1", "cc3", "dd4"}
    assert again.get("dd4", (5, 4))[0, 0, 0] == 4
    assert again.get("dd4", (4, 4)) is None  # a frame of another size is not that frame
    assert not list(tmp_path.glob("*/.*"))  # no temporary files left


def test_ranges_come_back_or_go_out_again():
    board = RangeBoard("j", np.arange(10), range_frames=4)
    first = board.take("w1", deadline_s=60, peer=b"p1")
    second = board.take("w2", deadline_s=-1, peer=b"p2")  # already overdue: as if w2 died
    assert first.indices.tolist() == [0, 1, 2, 3] and second.indices.tolist() == [4, 5, 6, 7]
    assert board.requeue_overdue() == 1 and board.requeued == 1
    again = board.take("w1", deadline_s=60, peer=b"p1")
    assert again.indices.tolist() == [4, 5, 6, 7] and again.token != second.token  # the lost range goes out first
    assert board.claim(second.range_id, b"p2", second.token) is None  # the dead lease cannot deliver
    assert not board.returned(second)
    assert board.claim(again.range_id, b"p2", again.token) is None  # nor another peer with the right token
    assert board.claim(again.range_id, b"p1", "0" * 32) is None  # nor the right peer with a guessed one
    assert board.claim(again.range_id, b"p1", again.token) is again and board.returned(again)
    assert not board.returned(again)  # counted once
    assert board.returned(first)
    assert board.take("w1", deadline_s=60, before=8) is None  # the last range starts at frame 8
    last = board.take("w1", deadline_s=60)
    assert board.returned(last) and board.finished and board.done_by == {"w1": 3}


def test_a_lost_renderers_range_goes_back_at_once_and_its_lease_dies():
    board = RangeBoard("j", np.arange(8), range_frames=4)
    first, second = board.take("ray-0", deadline_s=60), board.take("ray-1", deadline_s=60)
    assert board.requeue(first) and board.requeued == 1 and not board.requeue(first)  # once, before any deadline
    again = board.take("ray-1", deadline_s=60)
    assert again.indices.tolist() == [0, 1, 2, 3] and again.token != first.token
    assert not board.returned(first) and board.claim(first.range_id, b"", first.token) is None  # the lost lease is over
    assert board.returned(again) and board.returned(second) and board.finished and board.done_by == {"ray-1": 2}
