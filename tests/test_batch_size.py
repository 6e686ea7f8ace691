"""Batches sized to the device: the halving search on running out of memory, and the remembered sizes file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from latentcut.errors import ModelError, RenderError
from latentcut.render.batch_size import (
    CPU_BATCH,
    STORE_NAME,
    BatchSizes,
    batch_key,
    batched_frames,
    device_batch,
    largest_batch,
    ran_out_of_memory,
    remembered_batch,
)

SIZE = (16, 16)


class GpuMemoryLimit:
    """A fake for a GPU's memory limit (there is no GPU here): the real model, which "runs out of memory" above ``frames``.

    Above the limit it raises ``torch.cuda.OutOfMemoryError`` as CUDA would, optionally wrapped in a
    ``ModelError`` as ``TorchModuleGenerator`` wraps a user's model's failures; at or below it the
    real model renders.
    """

    def __init__(self, generator, frames: int, *, wrapped: bool = False) -> None:
        self.generator = generator
        self.frames = frames
        self.wrapped = wrapped
        self.tried: list[int] = []

    def render(self, latents: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        self.tried.append(len(latents))
        if len(latents) > self.frames:
            oom = torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {len(latents) * 48} MiB")
            if self.wrapped:
                raise ModelError(f"the model failed on a batch of {len(latents)} latents") from oom
            raise oom
        return self.generator.render(latents, size)


def _probe(limited: GpuMemoryLimit):
    latents = np.zeros((64, 512), np.float32)
    return lambda batch: limited.render(latents[:batch], SIZE)


@pytest.mark.parametrize(
    ("limit", "found", "tried"), [(12, 8, [32, 16, 8]), (32, 32, [32]), (100, 32, [32]), (1, 1, [32, 16, 8, 4, 2, 1])]
)
def test_the_largest_power_of_two_that_fits_is_found_by_halving(cppn, limit, found, tried):
    limited = GpuMemoryLimit(cppn, limit)
    assert largest_batch(_probe(limited), 32) == found
    assert limited.tried == tried


def test_running_out_of_memory_inside_a_models_own_error_is_recognised(cppn):
    limited = GpuMemoryLimit(cppn, 5, wrapped=True)
    assert largest_batch(_probe(limited), 16) == 4
    assert ran_out_of_memory(ModelError("x")) is False and ran_out_of_memory(MemoryError()) is True


def test_other_errors_are_the_models_and_are_raised_at_once():
    tried = []

    def broken(batch: int) -> None:
        tried.append(batch)
        raise ModelError("the model returned (8, 5, 16, 16), expected images (n, 3, H, W)")

    with pytest.raises(ModelError, match="expected images"):
        largest_batch(broken, 32)
    assert tried == [32]


def test_out_of_memory_at_one_frame_says_what_to_do(cppn):
    with pytest.raises(RenderError, match=r"single frame; use a smaller --size") as caught:
        largest_batch(_probe(GpuMemoryLimit(cppn, 0)), 8, where="G.pkl at 1024x1024")
    assert "G.pkl at 1024x1024" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(RenderError, match="not a power of two"):
        largest_batch(lambda batch: None, 24)


def test_a_batch_is_measured_once_then_remembered_in_the_cache_folder(tmp_path, cppn):
    store = BatchSizes(tmp_path / STORE_NAME)
    limited = GpuMemoryLimit(cppn, 20)
    key = batch_key(cppn, (1024, 1024), "NVIDIA H200 143771 MiB")
    assert remembered_batch(key, lambda: largest_batch(_probe(limited), 32), store) == 16
    assert remembered_batch(key, lambda: largest_batch(_probe(limited), 32), BatchSizes(tmp_path / STORE_NAME)) == 16
    assert limited.tried == [32, 16]  # the second call read the file
    assert json.loads((tmp_path / STORE_NAME).read_text()) == {key: 16}
    other = batch_key(cppn, (512, 512), "NVIDIA H200 143771 MiB")
    assert other != key and remembered_batch(other, lambda: 32, store) == 32
    assert json.loads((tmp_path / STORE_NAME).read_text()) == {key: 16, other: 32}
    assert sorted(p.name for p in tmp_path.iterdir()) == [STORE_NAME]  # written atomically: no temporary left


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", '{"k": "eight"}', '{"k": 0}', '{"k": true}', "\udcff"])
def test_a_corrupt_sizes_file_warns_once_and_is_measured_again(tmp_path, text):
    path = tmp_path / STORE_NAME
    path.write_bytes(text.encode("utf-8", "surrogateescape"))
    measured = []
    with pytest.warns(UserWarning, match=STORE_NAME) as caught:
        assert remembered_batch("k", lambda: measured.append(1) or 4, BatchSizes(path)) == 4
    assert len(caught) == 1 and measured == [1]
    assert json.loads(path.read_text()) == {"k": 4}


def test_a_folder_that_refuses_the_file_warns_and_the_batch_is_still_used(tmp_path):
    (tmp_path / "not-a-folder").write_text("")
    with pytest.warns(UserWarning, match=r"not-a-folder/batch_sizes.json: cannot be read .*measured again") as caught:
        assert remembered_batch("k", lambda: 2, BatchSizes(tmp_path / "not-a-folder" / STORE_NAME)) == 2
    assert len(caught) == 1  # reading and then writing it failed: said once


def test_on_a_cpu_the_batch_is_a_fixed_default_without_probing(tmp_path, cppn):
    assert cppn.device == "cpu"
    assert device_batch(cppn, (1024, 1024), store=BatchSizes(tmp_path / STORE_NAME)) == CPU_BATCH
    assert not (tmp_path / STORE_NAME).exists()


def test_ranges_are_rendered_a_batch_at_a_time_in_order(cppn):
    latents = np.random.default_rng(1).standard_normal((11, 512)).astype(np.float32)
    asked = []

    def frames_of(rows: np.ndarray) -> np.ndarray:
        asked.append(len(rows))
        return cppn.render(latents[rows], SIZE)

    whole = cppn.render(latents, SIZE)
    np.testing.assert_array_equal(batched_frames(frames_of, np.arange(11), 4), whole)
    assert asked == [4, 4, 3]
    np.testing.assert_array_equal(batched_frames(frames_of, np.arange(11), 0), whole)
    assert asked[-1] == 11


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (probing a real GPU's memory)")
def test_on_cuda_the_batch_is_probed_once_and_remembered_under_the_gpus_name(tmp_path):
    from latentcut.models.cppn import CppnGenerator

    model = CppnGenerator(device="cuda")
    store = BatchSizes(tmp_path / STORE_NAME)
    assert device_batch(model, (64, 64), store=store) == 32  # the embedded model at 64x64 fits any GPU
    (key,) = json.loads((tmp_path / STORE_NAME).read_text())
    assert key.startswith(f"{model.sha256} 64x64 {torch.cuda.get_device_name(0)}")
    assert device_batch(model, (64, 64), store=store) == 32
