"""Each seam between looking and delivering, on real renders of StyleGAN snapshots of several configurations.

What a model says about itself; sampling for it (its z size, NVIDIA's seeds); its path found again from
another folder and by content hash; code in a file a sidecar names never run; W latents never truncated
twice; journeys recorded and shown in the look they were made with.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from latentcut.files import file_sha256
from latentcut.latent.look import Look, ModelRef
from latentcut.latent.sidecar import load_sequence, save_sequence
from latentcut.models.latent_space import generator_for
from latentcut.models.loading import load_generator
from tinystylegan import CONFIGURATIONS, tiny_snapshot

UNCONDITIONAL = [name for name, (_, kwargs) in CONFIGURATIONS.items() if kwargs["c_dim"] == 0]


def _size(configuration: str) -> tuple[int, int]:
    resolution = CONFIGURATIONS[configuration][1]["img_resolution"]
    return resolution, resolution


def _rendered(decode_video, path: Path, size: tuple[int, int]) -> np.ndarray:
    return decode_video(path, size).astype(int)


@pytest.mark.parametrize("configuration", list(CONFIGURATIONS))
def test_a_model_says_its_sizes_and_sample_draws_for_it(configuration, tmp_path, cli):
    snapshot = tiny_snapshot(tmp_path / "network-snapshot-000400.pkl", configuration)
    kwargs = CONFIGURATIONS[configuration][1]
    described = cli("model", snapshot.name, "--json")
    assert described.returncode == 0, described.stderr
    facts = json.loads(described.stdout)
    model = load_generator(str(snapshot), device="cpu")
    assert (facts["z_dim"], facts["w_dim"], facts["c_dim"]) == (kwargs["z_dim"], kwargs["w_dim"], kwargs["c_dim"])
    assert facts["resolution"] == [kwargs["img_resolution"]] * 2 and facts["num_ws"] == model.num_ws  # type: ignore[attr-defined]
    assert facts["mapping_layers"] == kwargs["mapping_kwargs"]["num_layers"] and facts["snapshot"] == "400 kimg"
    assert facts["kind"] == CONFIGURATIONS[configuration][0] and facts["sha256"] == file_sha256(snapshot)
    # sample --model takes the model's z size; another --dim is one line
    assert cli("sample", "s.z.npy", "--count", "5", "--seed", "1", "--model", snapshot.name).returncode == 0
    sampled = load_sequence(tmp_path / "s.z.npy")
    assert sampled.meta.dim == kwargs["z_dim"] and sampled.meta.model is not None
    assert sampled.meta.model.sha256 == file_sha256(snapshot)
    refused = cli("sample", "t.z.npy", "--count", "5", "--seed", "1", "--dim", "512", "--model", snapshot.name)
    assert refused.returncode == 2 and f"takes z of {kwargs['z_dim']} values" in refused.stderr
    assert refused.stderr.count("\n") == 1 and not (tmp_path / "t.z.npy").exists()
    # --seeds: the z NVIDIA's gen_images.py draws for each seed
    assert cli("sample", "seeds.z.npy", "--seeds", "0-2,123", "--model", snapshot.name).returncode == 0
    seeded = load_sequence(tmp_path / "seeds.z.npy")
    expected = np.concatenate([np.random.RandomState(seed).randn(1, kwargs["z_dim"]) for seed in (0, 1, 2, 123)])
    np.testing.assert_array_equal(seeded.latents, expected.astype(np.float32))
    assert seeded.meta.made["seeds"] == [0, 1, 2, 123]


def test_builtin_models_describe_themselves(cli):
    for spec, z_dim, encodes in (("builtin:cppn@3", 512, False), ("builtin:digits", 16, True)):
        facts = json.loads(cli("model", spec, "--json").stdout)
        assert (facts["z_dim"], facts["w_dim"], facts["encodes"]) == (z_dim, None, encodes)
    lines = cli("model", "builtin:cppn").stdout.splitlines()
    assert lines[0].split() == ["model", "builtin:cppn"] and "z_dim      512" in lines


def test_a_wrong_width_names_the_command_that_fixes_it(tmp_path, cli):
    tiny_snapshot(tmp_path / "G.pkl", UNCONDITIONAL[0])
    assert cli("sample", "wide.z.npy", "--count", "2", "--seed", "1").returncode == 0  # 512 wide: the CPPN's
    result = cli("render", "wide.z.npy", "-o", "w.mp4", "--model", "G.pkl", "--no-progress")
    assert result.returncode == 1 and "latentcut sample OUT.z.npy --count N --seed S --model G.pkl" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.slow
def test_a_model_path_recorded_as_typed_is_found_from_another_folder_and_by_its_hash(tmp_path, cli, monkeypatch, decode_video):
    configuration = UNCONDITIONAL[-1]
    size = _size(configuration)
    (tmp_path / "models").mkdir()
    snapshot = tiny_snapshot(tmp_path / "models/G.pkl", configuration)
    (tmp_path / "pools").mkdir()
    made = cli("sample", "pool.z.npy", "--count", "3", "--seed", "2", "--model", "../models/G.pkl", cwd=tmp_path / "pools")
    assert made.returncode == 0, made.stderr
    recorded = json.loads((tmp_path / "pools/pool.z.json").read_text())["model"]
    assert (recorded["spec"], recorded["file"]) == ("../models/G.pkl", "../models/G.pkl")
    (tmp_path / "elsewhere").mkdir()
    args = (
        "render",
        "../pools/pool.z.npy",
        "-o",
        "a.mkv",
        "--preset",
        "online",
        "--codec",
        "ffv1",
        "--size",
        f"{size[0]}x{size[1]}",
    )
    result = cli(*args, "--no-progress", cwd=tmp_path / "elsewhere")
    assert result.returncode == 0, result.stderr
    model = load_generator(str(snapshot), device="cpu")
    expected = model.render(np.asarray(load_sequence(tmp_path / "pools/pool.z.npy").latents), size)
    np.testing.assert_array_equal(_rendered(decode_video, tmp_path / "elsewhere/a.mkv", size), expected)
    # Moved and renamed: not found where it was recorded, then found by its content in a declared folder.
    (tmp_path / "archive").mkdir()
    shutil.move(snapshot, tmp_path / "archive/renamed.pkl")
    lost = cli(*args, "--no-progress", cwd=tmp_path / "elsewhere")
    assert lost.returncode == 1 and "not where it was recorded" in lost.stderr and lost.stderr.count("\n") == 1
    monkeypatch.setenv("LATENTCUT_MODEL_PATH", str(tmp_path / "archive"))
    found = cli(*args[:3], "b.mkv", *args[4:], "--no-progress", cwd=tmp_path / "elsewhere")
    assert found.returncode == 0, found.stderr
    np.testing.assert_array_equal(_rendered(decode_video, tmp_path / "elsewhere/b.mkv", size), expected)
    # Another file under the recorded name, with other weights, is never taken for it.
    tiny_snapshot(tmp_path / "models/G.pkl", configuration, seed=9)
    monkeypatch.delenv("LATENTCUT_MODEL_PATH")
    other = cli(*args[:3], "c.mkv", *args[4:], "--no-progress", cwd=tmp_path / "elsewhere")
    assert other.returncode == 1 and "holds other weights" in other.stderr and not (tmp_path / "elsewhere/c.mkv").exists()


class _Evil(torch.nn.Module):
    """A model whose every call writes a marker file: what a hostile TorchScript file can do (``torch.from_file``)."""

    def __init__(self, marker: str) -> None:
        super().__init__()
        self.z_dim = 4
        self.marker = marker

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        mark = torch.from_file(self.marker, True, 3, dtype=torch.uint8)
        mark.fill_(65)
        return torch.tanh(z[:, :3, None, None].expand(-1, 3, 8, 8)) + mark.sum() * 0


class _Plain(torch.nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(z[:, :3, None, None].expand(-1, 3, 8, 8))


def _evil_files(folder: Path, marker: Path) -> list[Path]:
    """A TorchScript file and a torch.export archive that each write ``marker`` when loaded (the .pt2 through sympy's eval)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_Evil(str(marker))).save(str(folder / "evil.pt"))
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(_Plain(), (torch.zeros(2, 4),), dynamic_shapes={"z": {0: batch}})
    torch.export.save(program, str(folder / "plain.pt2"))
    symbol = b"Symbol('s"
    with zipfile.ZipFile(folder / "plain.pt2") as source, zipfile.ZipFile(folder / "evil.pt2", "w") as evil:
        for info in source.infolist():
            data = source.read(info)
            if info.filename.endswith("models/model.json"):
                start = data.index(b'"expr_str": "') + len(b'"expr_str": "')
                end = data.index(b'"', start)
                expression = data[start:end]
                assert expression.startswith(symbol), expression
                hostile = f"__import__('pathlib').Path({str(marker)!r}).write_text('ran')".encode()
                data = data[:start] + expression + b" if " + hostile + b" else " + expression + data[end:]
            evil.writestr(info, data)
    return [folder / "evil.pt", folder / "evil.pt2"]


@pytest.mark.slow
def test_code_in_a_model_file_a_sidecar_names_never_runs(tmp_path, cli):
    from indexclips import write_index_clip

    marker = tmp_path / "ran"
    for evil in _evil_files(tmp_path, marker):
        ref = ModelRef(evil.name, file_sha256(evil), (str(evil),))
        save_sequence(tmp_path / "seq.z.npy", np.zeros((3, 4), np.float32), fps=Fraction(25), model=ref)
        result = cli("render", "seq.z.npy", "-o", "seq.mp4", "--no-progress", "--size", "8x8")
        assert result.returncode == 1 and "can run code when it is loaded" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1 and not marker.exists()
        write_index_clip(tmp_path / "clips/a.mkv", 1, 6, Fraction(25))
        save_sequence(tmp_path / "clips/a.z.npy", np.zeros((6, 4), np.float32), fps=Fraction(25), model=ref)
        (tmp_path / "edit.mlt").write_text(
            '<mlt><profile width="8" height="8" frame_rate_num="25" frame_rate_den="1"/>'
            '<producer id="a"><property name="resource">clips/a.mkv</property></producer>'
            '<playlist id="v1"><entry producer="a" in="0" out="5"/></playlist><tractor id="t"><track producer="v1"/></tractor></mlt>'
        )
        online = cli("online", "edit.mlt", "-o", "final.mkv")
        assert online.returncode == 1 and "can run code when it is loaded" in online.stderr, online.stderr
        assert online.stderr.count("\n") == 1 and not marker.exists() and not (tmp_path / "final.mkv").exists()
        # Named on the command line, the same file loads (first in a child process) and its code does run: it is hostile.
        cli("render", "seq.z.npy", "-o", "typed.mp4", "--no-progress", "--size", "8x8", "--model", evil.name)
        assert marker.exists(), evil
        marker.unlink()


@pytest.mark.parametrize("configuration", UNCONDITIONAL)
def test_w_mapped_with_a_psi_is_never_truncated_twice(configuration, tmp_path, cli, decode_video):
    tiny_snapshot(tmp_path / "G.pkl", configuration)
    size = _size(configuration)
    online = ("--preset", "online", "--codec", "ffv1", "--size", f"{size[0]}x{size[1]}", "--no-progress")
    assert cli("sample", "s.z.npy", "--count", "4", "--seed", "3", "--model", "G.pkl").returncode == 0
    assert cli("map", "s.z.npy", "-o", "s.w.npy", "--truncation-psi", "0.7").returncode == 0
    assert load_sequence(tmp_path / "s.w.npy").meta.look.psi_in_latents == 0.7
    assert cli("render", "s.z.npy", "-o", "z.mkv", "--truncation-psi", "0.7", *online).returncode == 0
    assert cli("render", "s.w.npy", "-o", "w.mkv", *online).returncode == 0
    assert cli("render", "s.w.npy", "-o", "w07.mkv", "--truncation-psi", "0.7", *online).returncode == 0
    at_07 = _rendered(decode_video, tmp_path / "z.mkv", size)
    np.testing.assert_array_equal(_rendered(decode_video, tmp_path / "w.mkv", size), at_07)
    np.testing.assert_array_equal(_rendered(decode_video, tmp_path / "w07.mkv", size), at_07)
    # Another psi: the pictures show it (0.35 of the way), not 0.7 x 0.35.
    assert cli("render", "s.z.npy", "-o", "z035.mkv", "--truncation-psi", "0.35", *online).returncode == 0
    assert cli("render", "s.w.npy", "-o", "w035.mkv", "--truncation-psi", "0.35", *online).returncode == 0
    difference = np.abs(
        _rendered(decode_video, tmp_path / "w035.mkv", size) - _rendered(decode_video, tmp_path / "z035.mkv", size)
    )
    assert difference.max() <= 1 and np.abs(at_07 - _rendered(decode_video, tmp_path / "z035.mkv", size)).mean() > 1


def test_a_class_for_w_latents_of_another_class_is_one_line(tmp_path, cli):
    tiny_snapshot(tmp_path / "G.pkl", "sg2-z12-w10-32px-3classes")
    assert cli("sample", "s.z.npy", "--count", "2", "--seed", "3", "--model", "G.pkl").returncode == 0
    assert cli("map", "s.z.npy", "-o", "s.w.npy", "--class", "1").returncode == 0
    assert cli("render", "s.w.npy", "-o", "w.mp4", "--no-progress").returncode == 0  # the class is in the latents
    refused = cli("render", "s.w.npy", "-o", "x.mp4", "--class", "2", "--no-progress")
    assert refused.returncode == 2 and "carry it; drop --class" in refused.stderr and refused.stderr.count("\n") == 1


@pytest.mark.parametrize("configuration", UNCONDITIONAL)
def test_journeys_show_and_record_the_look_they_were_made_with(configuration, tmp_path, cli, decode_video):
    snapshot = tiny_snapshot(tmp_path / "G.pkl", configuration)
    size = _size(configuration)
    assert cli("sample", "pool.z.npy", "--count", "6", "--seed", "4", "--model", "G.pkl").returncode == 0
    made = cli(
        "journeys", "pool.z.npy", "--count", "2", "-o", "trips", "--frames-per-segment", "4", "--interp", "slerp",
        "--truncation-psi", "0.7", "--size", f"{size[0]}x{size[1]}", "--no-progress",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    journey = load_sequence(tmp_path / "trips/journey-001.z.npy")
    assert journey.meta.look.truncation_psi == 0.7 and journey.meta.model is not None
    model = load_generator(str(snapshot), device="cpu")
    at_07 = generator_for(model, Look(truncation_psi=0.7)).render(np.asarray(journey.latents), size).astype(int)
    at_1 = model.render(np.asarray(journey.latents), size).astype(int)
    proxy = _rendered(decode_video, tmp_path / "trips/journey-001.mp4", size)  # H.264: near, not equal
    assert np.abs(proxy - at_07).mean() < 0.5 * np.abs(proxy - at_1).mean()
    # A later render of the journey shows it as its proxy did, with no option.
    online = ("--preset", "online", "--codec", "ffv1", "--size", f"{size[0]}x{size[1]}", "--no-progress")
    assert cli("render", "trips/journey-001.z.npy", "-o", "j.mkv", *online).returncode == 0
    np.testing.assert_array_equal(_rendered(decode_video, tmp_path / "j.mkv", size), at_07)


def test_an_edit_of_clips_in_two_looks_renders_each_in_its_own(tmp_path, cli, decode_video):
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection
    from latentcut.models.cppn import CppnGenerator
    from latentcut.watch.session import WatchOptions, WatchSession

    for name, spec, seed in (("a", "builtin:cppn@0", 1), ("b", "builtin:cppn@20", 2)):
        assert cli("sample", f"{name}.z.npy", "--count", "6", "--seed", str(seed), "--model", spec).returncode == 0
        assert cli("render", f"{name}.z.npy", "-o", f"{name}.mkv", "--size", "16x16", "--no-progress").returncode == 0
    (tmp_path / "edit.mlt").write_text(
        '<mlt><profile width="16" height="16" frame_rate_num="25" frame_rate_den="1"/>'
        '<producer id="a"><property name="resource">a.mkv</property></producer><producer id="b"><property name="resource">b.mkv</property></producer>'
        '<playlist id="v1"><entry producer="a" in="0" out="5"/><entry producer="b" in="0" out="5"/></playlist>'
        '<tractor id="t"><track producer="v1"/></tractor></mlt>'
    )
    assert cli("conform", "edit.mlt", "-o", "cut.z.npy").returncode == 0
    cut = load_sequence(tmp_path / "cut.z.npy")
    assert [(run.start, run.look.model.spec if run.look.model else "") for run in cut.meta.look_runs] == [
        (0, "builtin:cppn@0"),
        (6, "builtin:cppn@20"),
    ]
    assert cli("render", "cut.z.npy", "-o", "cut.mkv", "--preset", "online", "--codec", "ffv1", "--size", "16x16").returncode == 0
    rendered = decode_video(tmp_path / "cut.mkv", (16, 16)).astype(int)
    latents = np.asarray(cut.latents)
    assert np.abs(rendered[:6] - CppnGenerator(0, device="cpu").render(latents[:6], (16, 16))).max() <= 1
    assert np.abs(rendered[6:] - CppnGenerator(20, device="cpu").render(latents[6:], (16, 16))).max() <= 1
    # A daemon job has one look: the watcher says so in one line instead of rendering half the edit in the wrong one.
    connection = Connection("tcp://127.0.0.1:9")  # never asked: the conform refuses first
    try:
        lines: list[str] = []
        session = WatchSession(tmp_path / "edit.mlt", DaemonClient(connection), WatchOptions(), lines.append)
        session.conform()
    finally:
        connection.close()
    assert session.pending is None and len(lines) == 1 and "different looks" in lines[0], lines
