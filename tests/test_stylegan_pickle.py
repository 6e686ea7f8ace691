"""The StyleGAN snapshot reader: NVIDIA's persistence layout read without running code, anything else refused."""

from __future__ import annotations

import json
import os
import pickle
import re
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


# ----- hostile pickles that run nothing but would crash, exhaust or hang the reader (issue 21)


class _Calls:
    """Pickles as a call of ``func(*args)`` (a REDUCE), whatever ``func`` is."""

    def __init__(self, func: object, *args: object) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


def _legacy_storage_bytes(numel: int) -> bytes:
    """What a pickled storage carries (torch.save's legacy format), declaring ``numel`` bytes."""
    import io

    buffer = io.BytesIO()
    torch.save(torch.zeros(2).untyped_storage(), buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    return data.replace(b"K\x08N", b"J" + numel.to_bytes(4, "little") + b"N", 1)  # BININT1 8 bytes -> BININT numel


_PROTO4, _PROTO5 = b"\x80\x04", b"\x80\x05"
_HUGE = (2**62).to_bytes(8, "little")
_HOSTILE_PICKLES = {
    "binbytes8 2^62": _PROTO4 + b"\x8e" + _HUGE + b"x.",
    "binunicode8 2^62": _PROTO4 + b"\x8d" + _HUGE + b"x.",
    "frame 2^62": _PROTO4 + b"\x95" + _HUGE + b"N.",
    "bytearray8 2^62": _PROTO5 + b"\x96" + _HUGE + b"x.",
    "bytearray8 3 GB": _PROTO5 + b"\x96" + (3 * 10**9).to_bytes(8, "little") + b"x.",
    "bytearray(10**30)": pickle.dumps(_Calls(bytearray, 10**30), protocol=4),
    "bytearray(3 GB)": pickle.dumps(_Calls(bytearray, 3 * 10**9), protocol=4),  # 33 bytes that asked 3 GB
    "unknown codec": b"\x80\x02c_codecs\nencode\nX\x01\x00\x00\x00xX\x0d\x00\x00\x00no-such-codec\x86R.",
    "torch.FloatTensor(10**10)": pickle.dumps(_Calls(torch.FloatTensor, 10**10), protocol=4),
    "numpy array of 10**12": b"\x80\x04cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ\x00\x00\x00\x00\x85C\x01b\x87R.".replace(
        b"J\x00\x00\x00\x00\x85", b"\x8a\x06\x00\x10\xa5\xd4\xe8\x00\x85"
    ),
    "storage declaring 10**9 bytes": pickle.dumps(
        _Calls(torch.storage._load_from_bytes, _legacy_storage_bytes(10**9)), protocol=4
    ),
}


_WHY = {
    "binbytes8 2^62": "it declares 4,611,686,018,427,387,904 bytes where",
    "binunicode8 2^62": "it declares 4,611,686,018,427,387,904 bytes where",
    "frame 2^62": "it declares 4,611,686,018,427,387,904 bytes where",
    "bytearray8 2^62": "it declares 4,611,686,018,427,387,904 bytes where",
    "bytearray8 3 GB": "it declares 3,000,000,000 bytes where",
    "bytearray(10**30)": "bytearray called with something other than its bytes",
    "bytearray(3 GB)": "bytearray called with something other than its bytes",
    "unknown codec": "_codecs.encode with 'no-such-codec', not latin1",
    "torch.FloatTensor(10**10)": "the pickle calls FloatTensor, which a snapshot never calls",
    "numpy array of 10**12": "a numpy array rebuilt at shape (1000000000000,), not (0,)",
    "storage declaring 10**9 bytes": "a tensor storage declares 1,000,000,000 bytes but is carried in",
}


@pytest.mark.parametrize("name", list(_HOSTILE_PICKLES))
def test_small_pickles_that_would_exhaust_or_crash_the_reader_are_one_line(tmp_path: Path, name: str) -> None:
    path = tmp_path / "hostile.pkl"
    path.write_bytes(_HOSTILE_PICKLES[name])
    with pytest.raises(ModelError) as caught:
        read_snapshot(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a readable StyleGAN snapshot") and _WHY[name] in message, message
    assert "\n" not in message and len(message) < 400, message
    assert not is_stylegan_snapshot(path)


def test_the_reader_never_grows_past_what_the_file_holds(tmp_path: Path) -> None:
    """Each hostile pickle read in a fresh process whose peak memory is then measured: none asks gigabytes."""
    for number, data in enumerate(_HOSTILE_PICKLES.values()):
        (tmp_path / f"{number}.pkl").write_bytes(data)
    probe = (
        "import resource, sys\nfrom pathlib import Path\nfrom latentcut.errors import ModelError\n"
        "from latentcut.models.stylegan.pickle_reader import read_snapshot\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "for path in sorted(Path(sys.argv[1]).glob('*.pkl')):\n"
        "    try:\n        read_snapshot(path)\n    except ModelError:\n        pass\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) // 1024)\n"
    )
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) < 200, f"the reader grew by {result.stdout.strip()} MiB"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"img_resolution": 0}, "img_resolution is 0, not a power of two from 4 to 4096"),
        ({"img_resolution": 3}, "img_resolution is 3, not a power of two"),
        ({"z_dim": -1}, "z_dim is -1, not a whole number from 1 to 4096"),
        ({"w_dim": 40000}, "w_dim is 40000, not a whole number from 1 to 4096"),  # 6.4 GB a layer
        ({"channel_base": 2**40}, "channel_base is 1099511627776, not a whole number"),
        ({"mapping_kwargs": {"num_layers": 10**7}}, "num_layers is 10000000, not a whole number from 1 to 64"),  # hung
        ({"mapping_kwargs": {"lr_multiplier": float("nan")}}, "lr_multiplier is nan, not a number"),
        ({"z_dim": True}, "z_dim is True, not a whole number"),
        ({"mapping_kwargs": "x"}, "mapping_kwargs is x, not a dict of settings"),
        ({"evil": 1}, "setting 'evil' is not one latentcut knows"),
        ({"w_dim": 32}, "the weights do not fit latentcut's Generator with the recorded settings"),
    ],
)
def test_every_constructor_argument_a_snapshot_gives_is_checked_before_anything_is_built(
    tmp_path: Path, changes, message
) -> None:
    generator, kwargs = _tiny_sg2()
    path = write_snapshot(tmp_path / "g.pkl", generator, SG2_MODULE, {**kwargs, **changes})
    with pytest.raises(
        ModelError, match=f"^g.pkl: the generator's .*{re.escape(message)}|^g.pkl: {re.escape(message)}"
    ) as caught:
        build_generator(read_snapshot(path)["G_ema"], where="g.pkl")
    assert "\n" not in str(caught.value)


def test_a_hanging_snapshot_is_one_line_from_the_command_line(tmp_path: Path, run_cli) -> None:
    from latentcut.latent.sidecar import save_sequence

    generator, kwargs = _tiny_sg2()
    write_snapshot(tmp_path / "deep.pkl", generator, SG2_MODULE, {**kwargs, "mapping_kwargs": {"num_layers": 10**7}})
    save_sequence(tmp_path / "z.z.npy", np.zeros((2, 16), np.float32), fps=25)
    result = run_cli("render", "z.z.npy", "--model", "deep.pkl", "-o", "z.mp4", "--size", "16x16", timeout_s=60)
    assert result.returncode == 1 and result.stderr.strip().splitlines() == [
        "latentcut: error: deep.pkl: the generator's num_layers is 10000000, not a whole number from 1 to 64; "
        "this is no snapshot latentcut runs"
    ], result.stderr


@pytest.mark.slow
def test_a_thousand_mutated_snapshots_give_a_snapshot_or_one_line(tmp_path: Path) -> None:
    generator, kwargs = _tiny_sg2()
    good = write_snapshot(tmp_path / "good.pkl", generator, SG2_MODULE, kwargs).read_bytes()
    rng = np.random.default_rng(21)
    path = tmp_path / "mutant.pkl"
    outcomes = {"read": 0, "refused": 0}
    for _ in range(1000):
        data = bytearray(good)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(len(data)))
            if rng.random() < 0.3 and at + 9 < len(data):  # a length field made huge
                data[at : at + 8] = int(rng.integers(2**31, 2**63)).to_bytes(8, "little")
            else:
                data[at] = int(rng.integers(256))
        if rng.random() < 0.1:
            data = data[: int(rng.integers(len(data)))]
        path.write_bytes(bytes(data))
        try:
            record = read_snapshot(path).get("G_ema")
            if isinstance(record, NetworkRecord):
                build_generator(record, where="mutant")
            outcomes["read"] += 1
        except ModelError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 1000, str(exc)
            outcomes["refused"] += 1
    assert outcomes["refused"] > 100, outcomes
