"""The StyleGAN snapshot reader: NVIDIA's persistence layout read without running code, anything else refused."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from latentcut.errors import ModelError
from latentcut.models.stylegan import stylegan3
from latentcut.models.stylegan.pickle_reader import (
    SG2_MODULE,
    NetworkRecord,
    build_generator,
    is_stylegan_snapshot,
    read_snapshot,
)
from latentcut.models.stylegan.snapshot_writer import write_snapshot
from latentcut.models.stylegan.stylegan2 import Generator

# NVIDIA's weights and the images NVIDIA's code makes from them (tests/data/stylegan/README.md).
REFERENCE = Path(__file__).resolve().parent / "data" / "stylegan"
TINY_SG2 = {
    "z_dim": 16,
    "w_dim": 16,
    "c_dim": 0,
    "img_resolution": 16,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 2},
    "channel_base": 256,
    "channel_max": 16,
}


def _tiny_sg2(seed: int = 0, **overrides: object) -> tuple[Generator, dict]:
    kwargs = {**TINY_SG2, **overrides}
    torch.manual_seed(seed)
    generator = Generator(**kwargs).eval()
    with torch.no_grad():
        generator.mapping.w_avg.normal_()
        for name, parameter in generator.named_parameters():
            if name.endswith("bias") or name.endswith("noise_strength"):
                parameter.normal_(0, 0.1)
    return generator, kwargs


def test_a_written_snapshot_reads_back_as_records_with_the_same_state_dict(tmp_path: Path) -> None:
    generator, kwargs = _tiny_sg2()
    path = write_snapshot(tmp_path / "network-snapshot-000100.pkl", generator, SG2_MODULE, kwargs)
    snapshot = read_snapshot(path)
    record = snapshot["G_ema"]
    assert isinstance(record, NetworkRecord)
    assert snapshot["D"] is None
    assert (record.module_name, record.class_name) == (SG2_MODULE, "Generator")
    assert record.init_kwargs == kwargs
    assert record.attributes["num_ws"] == generator.num_ws
    state = record.state_dict()
    expected = generator.state_dict()
    assert list(state) == list(expected)
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor), name
    assert is_stylegan_snapshot(path)


def test_build_generator_gives_the_same_images_as_the_network_written(tmp_path: Path) -> None:
    generator, kwargs = _tiny_sg2(seed=3, architecture="resnet")
    path = write_snapshot(tmp_path / "g.pkl", generator, SG2_MODULE, kwargs)
    rebuilt = build_generator(read_snapshot(path)["G_ema"])
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(rebuilt(z, None, truncation_psi=0.7), generator(z, None, truncation_psi=0.7))


class _RunsACommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


class _Evaluates:
    def __reduce__(self) -> tuple:
        return (eval, ("__import__('os').getpid()",))


@pytest.mark.parametrize("payload", ["top", "nested"])
def test_a_pickle_that_would_run_a_command_is_refused_and_the_command_never_runs(tmp_path: Path, payload: str) -> None:
    marker = tmp_path / "ran"
    evil = _RunsACommand(marker)
    data = {"G_ema": evil} if payload == "top" else {"G_ema": {"state": [torch.zeros(2), {"x": evil}]}}
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(data, protocol=4))
    with pytest.raises(ModelError) as caught:
        read_snapshot(path)
    message = str(caught.value)
    assert "\n" not in message
    assert str(path) in message
    assert "system" in message  # names the disallowed global (posix.system / nt.system)
    assert not marker.exists()
    assert not is_stylegan_snapshot(path)


def test_other_globals_are_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "eval.pkl"
    path.write_bytes(pickle.dumps({"G_ema": _Evaluates()}, protocol=2))
    with pytest.raises(ModelError, match=r"eval\.pkl: refused: the pickle asks for builtins\.eval"):
        read_snapshot(path)


def test_not_a_pickle_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "junk.pkl"
    path.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelError, match=r"junk\.pkl: not a readable StyleGAN snapshot"):
        read_snapshot(path)


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip((np.asarray(x, np.float64) + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).astype(np.float64)


@pytest.mark.parametrize("name", ["sg2-32", "sg3t-32"])
def test_nvidia_stylegan_weights_in_a_snapshot_give_nvidias_images(tmp_path: Path, name: str) -> None:
    fixture = np.load(REFERENCE / f"{name}.npz")
    module, kwargs = str(fixture["module"]), json.loads(str(fixture["init_kwargs"]))
    network = (Generator if module == SG2_MODULE else stylegan3.Generator)(**kwargs)
    weights = {key.removeprefix("weight/"): torch.from_numpy(fixture[key]) for key in fixture.files if key.startswith("weight/")}
    network.load_state_dict(weights, strict=True)
    generator = build_generator(read_snapshot(write_snapshot(tmp_path / f"{name}.pkl", network, module, kwargs))["G_ema"])
    assert type(generator) is type(network)
    z = torch.from_numpy(fixture["z"])
    with torch.no_grad():
        ws = generator.mapping(z, None)
        psi1 = generator(z, None, truncation_psi=1, noise_mode="const").numpy()
        psi07 = generator(z, None, truncation_psi=0.7, noise_mode="const").numpy()
        from_w = generator.synthesis(torch.from_numpy(fixture["ws"]), noise_mode="const").numpy()
    np.testing.assert_allclose(ws.numpy(), fixture["ws"], atol=1e-5)
    for got, want in ((psi1, fixture["img_psi1"]), (psi07, fixture["img_psi07"]), (from_w, fixture["img_psi1"])):
        assert np.abs(_u8(got) - _u8(want)).mean() < 0.5
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_easydicts_numpy_values_and_the_rest_of_a_snapshot_read_as_plain_data(tmp_path: Path, monkeypatch) -> None:
    import sys
    import types

    # Stand-ins named like NVIDIA's dnnlib, only so that pickle writes their names; the reader never imports them.
    dnnlib, util = types.ModuleType("dnnlib"), types.ModuleType("dnnlib.util")

    class EasyDict(dict):
        pass

    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict
    monkeypatch.setitem(sys.modules, "dnnlib", dnnlib)
    monkeypatch.setitem(sys.modules, "dnnlib.util", util)
    generator, kwargs = _tiny_sg2()
    extra = {
        "training_set_kwargs": EasyDict(path="ffhq.zip", resolution=np.int64(1024), xflip=True),
        "progress": {"cur_nimg": np.float64(2.5e6), "pads": np.arange(4, dtype=np.int32)},
    }
    path = write_snapshot(tmp_path / "full.pkl", generator, SG2_MODULE, kwargs, extra)
    monkeypatch.delitem(sys.modules, "dnnlib.util")
    monkeypatch.delitem(sys.modules, "dnnlib")
    snapshot = read_snapshot(path)
    assert type(snapshot["training_set_kwargs"]) is dict
    assert snapshot["training_set_kwargs"] == {"path": "ffhq.zip", "resolution": 1024, "xflip": True}
    np.testing.assert_array_equal(snapshot["progress"]["pads"], np.arange(4))
    assert isinstance(snapshot["G_ema"], NetworkRecord)
