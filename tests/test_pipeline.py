import threading

import numpy as np
import pytest

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.errors import RenderError
from latentcut.render.pipeline import Layout, grid_frames, render_video

WAIT_S = 10.0


class ListSink:
    def __init__(self):
        self.batches = []

    def write(self, frames):
        self.batches.append(frames.copy())


class CountingGenerator:
    """Frames whose every pixel is the latent's first component: easy to check, no torch."""

    spec = "test:counting"
    sha256 = "0" * 64
    latent_dim = 4
    native_size = (8, 6)
    device = "cpu"

    def __init__(self, on_batch=None):
        self.calls = 0
        self.on_batch = on_batch

    def render(self, latents, size):
        self.calls += 1
        if self.on_batch:
            self.on_batch(self.calls)
        values = np.asarray(latents[:, 0], np.uint8)
        return np.broadcast_to(values[:, None, None, None], (len(latents), size[1], size[0], 3)).copy()


def _latents(frames):
    latents = np.zeros((frames, 4), np.float32)
    latents[:, 0] = np.arange(frames)
    return latents


def test_every_frame_arrives_once_in_order():
    sink = ListSink()
    written = render_video(FrameArrays.plain(_latents(21)), [CountingGenerator()], sink, Layout((8, 6)), batch_frames=4)
    frames = np.concatenate(sink.batches)
    assert written == 21 and frames.shape == (21, 6, 8, 3)
    np.testing.assert_array_equal(frames[:, 0, 0, 0], np.arange(21))


def test_generation_of_the_next_batch_overlaps_encoding_of_the_current_one():
    second_batch_started = threading.Event()
    generator = CountingGenerator(on_batch=lambda call: call == 2 and second_batch_started.set())

    class WaitingSink(ListSink):
        def write(self, frames):
            # The first batch is not accepted until the generator is already working on the second:
            # without overlap this wait would time out.
            if not self.batches:
                assert second_batch_started.wait(WAIT_S), "generator did not run while the encoder was busy"
            super().write(frames)

    render_video(FrameArrays.plain(_latents(12)), [generator], WaitingSink(), Layout((8, 6)), batch_frames=4)


def test_a_failing_generator_stops_the_render_with_its_error():
    def fail(call):
        if call == 3:
            raise RenderError("model exploded")

    sink = ListSink()
    with pytest.raises(RenderError, match="model exploded"):
        render_video(FrameArrays.plain(_latents(40)), [CountingGenerator(on_batch=fail)], sink, Layout((8, 6)), batch_frames=4)
    assert len(sink.batches) <= 2


def test_a_failing_sink_stops_the_generator_thread():
    class BrokenSink:
        def write(self, frames):
            raise OSError("disk full")

    generator = CountingGenerator()
    with pytest.raises(OSError, match="disk full"):
        render_video(FrameArrays.plain(_latents(400)), [generator], BrokenSink(), Layout((8, 6)), batch_frames=2)
    assert generator.calls < 20  # it stopped instead of generating all 200 batches


def test_grid_tiles_row_by_row_and_leaves_empty_cells_black():
    tiles = [np.full((2, 3, 4, 3), value, np.uint8) for value in (10, 20, 30)]
    grid = grid_frames(tiles, columns=2, rows=2)
    assert grid.shape == (2, 6, 8, 3)
    assert grid[0, 0, 0, 0] == 10 and grid[0, 0, 4, 0] == 20 and grid[0, 3, 0, 0] == 30 and grid[0, 3, 4, 0] == 0
    with pytest.raises(RenderError, match="do not fit"):
        grid_frames(tiles, 1, 2)


def test_layout_labels_and_frame_numbers_change_only_their_corners():
    sink = ListSink()
    layout = Layout((64, 48), columns=2, rows=1, labels=("snap A", "snap B"), frame_numbers=True)
    render_video(FrameArrays.plain(_latents(3)), [CountingGenerator(), CountingGenerator()], sink, layout)
    frames = np.concatenate(sink.batches)
    assert frames.shape == (3, 48, 128, 3)
    assert (frames[:, :3, :20] != frames[:, 20:21, 30:31]).any()  # label band top-left of each tile
    assert (frames[:, :3, 64:84] != frames[:, 20:21, 94:95]).any()
    np.testing.assert_array_equal(frames[:, 20, 40], frames[:, 20, 104])  # the middles are untouched
    assert not np.array_equal(frames[0, -8:, :30], frames[1, -8:, :30])  # numbers differ per frame


def test_needs_a_generator_and_a_positive_batch():
    with pytest.raises(RenderError):
        render_video(FrameArrays.plain(_latents(2)), [], ListSink(), Layout((8, 6)))
    with pytest.raises(RenderError):
        render_video(FrameArrays.plain(_latents(2)), [CountingGenerator()], ListSink(), Layout((8, 6)), batch_frames=0)
