import json
import os
import pickle
import textwrap
import warnings

import numpy as np
import pytest
import torch

from latentcut.errors import ModelError
from latentcut.models.loading import load_generator

TINY_MODULE = '''
import torch


class Tiny(torch.nn.Module):
    """z (n, 6) -> images (n, 3, 8, 8) in [-1, 1]."""

    def __init__(self):
        super().__init__()
        self.z_dim = 6
        torch.manual_seed(0)
        self.linear = torch.nn.Linear(6, 3 * 8 * 8)

    def forward(self, z):
        return torch.tanh(self.linear(z)).reshape(-1, 3, 8, 8)


class TinyStyleGAN(Tiny):
    """The call signature of a StyleGAN generator: G(z, c, truncation_psi=..., noise_mode=...)."""

    c_dim = 0

    def forward(self, z, c, truncation_psi=1.0, noise_mode="random"):
        assert noise_mode == "const" and c.shape == (len(z), 0)
        return super().forward(z)


def make():
    return Tiny()


class NoDim(torch.nn.Module):
    def forward(self, z):
        return z.reshape(-1, 3, 2, 1)


def make_no_dim():
    return NoDim()
'''


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    (tmp_path / "tinymodels.py").write_text(textwrap.dedent(TINY_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    import tinymodels

    importlib.reload(tinymodels)
    return tinymodels


Z = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)


def _expected(module, size=(8, 8)):
    with torch.no_grad():
        images = module(torch.from_numpy(Z))
    return ((images.permute(0, 2, 3, 1) + 1) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8).numpy()


def test_builtin_specs(cppn):
    assert load_generator("builtin:cppn", device="cpu").sha256 == cppn.sha256
    assert load_generator("builtin:cppn@3", device="cpu").spec == "builtin:cppn@3"
    with pytest.raises(ModelError, match="unknown built-in model"):
        load_generator("builtin:gan")
    with pytest.raises(ModelError, match="unknown model"):
        load_generator("no such thing")


def test_torchscript_file(tiny, tmp_path):
    path = tmp_path / "tiny.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # making the file is the user's business, not ours
        torch.jit.script(tiny.Tiny()).save(str(path))
    model = load_generator(str(path), device="cpu")
    assert model.latent_dim == 6 and model.native_size == (8, 8)
    np.testing.assert_array_equal(model.render(Z, (8, 8)), _expected(tiny.Tiny()))
    assert model.render(Z, (20, 12)).shape == (3, 12, 20, 3)


def test_exported_program(tiny, tmp_path):
    path = tmp_path / "tiny.pt2"
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(torch.export.export(tiny.Tiny(), (torch.zeros(2, 6),), dynamic_shapes=({0: batch},)), str(path))
    model = load_generator(str(path), device="cpu")
    assert model.latent_dim == 6
    np.testing.assert_array_equal(model.render(Z, (8, 8)), _expected(tiny.Tiny()))


def test_entry_point(tiny):
    model = load_generator("tinymodels:make", device="cpu")
    np.testing.assert_array_equal(model.render(Z, (8, 8)), _expected(tiny.Tiny()))
    with pytest.raises(ModelError, match="cannot import"):
        load_generator("not_a_module_anywhere:make")


def test_state_dict_plus_class_loads_weights_only(tiny, tmp_path):
    trained = tiny.Tiny()
    with torch.no_grad():
        trained.linear.bias.add_(0.5)
    weights = tmp_path / "w.pth"
    torch.save(trained.state_dict(), weights)
    model = load_generator(f"{weights}=tinymodels:Tiny", device="cpu")
    np.testing.assert_array_equal(model.render(Z, (8, 8)), _expected(trained))
    with pytest.raises(ModelError, match="not found"):
        load_generator(f"{tmp_path / 'missing.pth'}=tinymodels:Tiny")


def test_pickle_needs_explicit_trust(tiny, tmp_path):
    path = tmp_path / "network-snapshot.pkl"
    with path.open("wb") as handle:
        pickle.dump({"G_ema": tiny.TinyStyleGAN()}, handle)
    with pytest.raises(ModelError, match="--trust-pickle"):
        load_generator(str(path))
    model = load_generator(str(path), device="cpu", trust_pickle=True)
    np.testing.assert_array_equal(model.render(Z, (8, 8)), _expected(tiny.Tiny()))


def test_pickle_without_stylegan_code_says_how_to_fix(tmp_path, tiny):
    path = tmp_path / "g.pkl"
    # A pickle that refers to a module nobody can import, as a StyleGAN pickle does without dnnlib.
    path.write_bytes(pickle.dumps({"G_ema": tiny.Tiny()}).replace(b"tinymodels", b"dnnlib_xyz"))
    with pytest.raises(ModelError, match="PYTHONPATH"):
        load_generator(str(path), trust_pickle=True)


def test_file_that_is_not_torchscript(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"junk")
    with pytest.raises(ModelError, match="not a TorchScript file"):
        load_generator(str(path))


def test_model_without_latent_size_is_refused(tiny):
    with pytest.raises(ModelError, match="z_dim or latent_dim"):
        load_generator("tinymodels:make_no_dim")


SIDE_EFFECT_MODULE = """
from pathlib import Path

def make():
    Path(__file__).with_name("marker").write_text("code from a sidecar ran")
    raise RuntimeError("should never be called")

class Cls:
    def __init__(self):
        make()
"""


@pytest.fixture
def side_effect(tmp_path, monkeypatch):
    """A module whose function and class leave a marker file when called; returns the marker's path."""
    (tmp_path / "sidefx.py").write_text(SIDE_EFFECT_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    return tmp_path / "marker"


def _with_recorded_model(path, spec):
    from fractions import Fraction

    from latentcut.latent.sidecar import ModelRef, save_sequence

    save_sequence(path, np.zeros((2, 512), np.float32), fps=Fraction(25), model=ModelRef(spec, "0" * 64))


def test_a_spec_read_from_a_file_is_never_imported(side_effect, tmp_path):
    import sys

    from latentcut.errors import UsageError
    from latentcut.latent.look import Look, LookOptions, ModelRef
    from latentcut.models.looks import Looks

    (tmp_path / "w.pth").write_bytes(b"weights")
    looks = Looks(device="cpu")
    for spec in ("sidefx:make", f"{tmp_path / 'w.pth'}=sidefx:Cls", "os:abort", "tempfile:mkdtemp"):
        with pytest.raises(UsageError, match="give --model"):
            looks.of_look(Look(ModelRef(spec, "0" * 64)), folder=tmp_path, where="s.z.npy")
        with pytest.raises(ModelError, match="only loaded if it is built in or an existing model file"):
            load_generator(spec, code_allowed=False)
    assert "sidefx" not in sys.modules and not side_effect.exists()
    recorded = Look(ModelRef("builtin:cppn@3", "0" * 64))
    assert looks.of_look(recorded, folder=tmp_path).generator.spec == "builtin:cppn@3"  # built in: latentcut's own code
    assert looks.of_look(Look(), folder=tmp_path).generator.spec == "builtin:cppn"  # none recorded: the default
    assert Looks(LookOptions(model="builtin:cppn@5"), device="cpu").of_look(recorded).generator.spec == "builtin:cppn@5"


def test_render_and_online_without_model_never_run_a_sidecars_code(side_effect, tmp_path, cli, run_cli, monkeypatch):
    from fractions import Fraction

    from indexclips import write_index_clip
    from latentcut.latent.sidecar import ModelRef, save_sequence

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))  # where tempfile.mkdtemp would make its folder
    _with_recorded_model(tmp_path / "s.z.npy", "tempfile:mkdtemp")
    result = run_cli("render", "s.z.npy", "-o", "s.mp4", "--no-progress", "--size", "16x16")  # a process of its own
    assert result.returncode == 2 and list(temp.iterdir()) == [], result.stderr
    assert result.stderr.strip() == (
        "latentcut: error: s.z.npy: made with model 'tempfile:mkdtemp', which is neither built in nor a model file here; "
        "give --model to choose the model"
    )
    for spec in ("sidefx:make", "w.pth=sidefx:Cls"):  # sidefx is importable here: it would leave its marker
        _with_recorded_model(tmp_path / "s.z.npy", spec)
        result = cli("render", "s.z.npy", "-o", "s.mp4", "--no-progress", "--size", "16x16")
        assert result.returncode == 2 and result.stderr.strip().endswith("give --model to choose the model")
    write_index_clip(tmp_path / "clips/a.mkv", 1, 20, Fraction(25))
    latents = np.zeros((20, 4), np.float32)
    latents[:, 0], latents[:, 1], latents[:, 2] = 1, np.arange(20), 1.0
    save_sequence(tmp_path / "clips/a.z.npy", latents, fps=Fraction(25), model=ModelRef("sidefx:make", "0" * 64))
    (tmp_path / "edit.mlt").write_text(
        '<mlt><profile width="64" height="48" frame_rate_num="25" frame_rate_den="1"/>'
        '<producer id="a" out="19"><property name="length">20</property><property name="resource">clips/a.mkv</property>'
        '<property name="mlt_service">avformat</property></producer>'
        '<playlist id="v1"><entry producer="a" in="0" out="19"/></playlist><tractor id="t"><track producer="v1"/></tractor></mlt>'
    )
    result = cli("online", "edit.mlt", "-o", "final.mkv")
    assert result.returncode == 2 and "clips/a.z.npy: made with model 'sidefx:make'" in result.stderr, result.stderr
    assert not side_effect.exists() and not (tmp_path / "final.mkv").exists()


@pytest.mark.slow
def test_render_without_model_uses_a_recorded_builtin(tmp_path, cli):
    from latentcut.render.encode import container_tags

    # The model given to sample is carried through journey and neighbours, and render picks it up.
    assert cli("sample", "s.z.npy", "--count", "4", "--seed", "1", "--model", "builtin:cppn@3").returncode == 0
    assert cli("journey", "s.z.npy", "--keys", "0,1", "--frames-per-segment", "3", "-o", "j.z.npy").returncode == 0
    assert cli("neighbours", "j.z.npy", "--frames", "0", "--radius", "5", "--count", "2", "-o", "n.z.npy").returncode == 0
    assert json.loads((tmp_path / "n.z.json").read_text())["model"]["spec"] == "builtin:cppn@3"
    assert cli("render", "n.z.npy", "-o", "n.mp4", "--no-progress", "--size", "16x16").returncode == 0
    assert container_tags(tmp_path / "n.mp4")["latent_model"] == "builtin:cppn@3"


def test_torchscript_with_a_huge_source_is_refused_before_torch_reads_it(tiny, tmp_path):
    import zipfile

    from latentcut.models.loading import PROGRAM_MAX_BYTES

    path = tmp_path / "big.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(tiny.Tiny()).save(str(path))
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("big/code/__torch__/huge.py", "#" * (PROGRAM_MAX_BYTES + 1))
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ModelError, match=r"big\.pt: [\d,]+ bytes of code and structure, over the 33,554,432"):
        load_generator(str(path), device="cpu")


def test_bad_specs_and_files_are_one_line(tmp_path, tiny):
    import os as _os
    import threading

    torch.save(tiny.Tiny().state_dict(), tmp_path / "w.pth")
    with pytest.raises(ModelError, match="os:getcwd is not a torch.nn.Module class"):
        load_generator(f"{tmp_path / 'w.pth'}=os:getcwd")
    (tmp_path / "junk.pth").write_bytes(b"x")
    torch.save({"linear.weight": torch.zeros(2, 2)}, tmp_path / "other.pth")
    for spec, message in [
        ("junk.pth=tinymodels:Tiny", "not a weights-only state dict"),
        ("other.pth=tinymodels:Tiny", "does not fit"),
    ]:
        with pytest.raises(ModelError, match=message) as caught:
            load_generator(str(tmp_path / spec))
        assert "\n" not in str(caught.value)
    with pytest.raises(ModelError, match=r"ffhq\.pkl: model file not found; check the path"):
        load_generator(str(tmp_path / "ffhq.pkl"), trust_pickle=True)
    with pytest.raises(ModelError, match=r"ffhq\.pkl: model file not found"):
        load_generator("ffhq.pkl")
    fifo = tmp_path / "model.pt"
    _os.mkfifo(fifo)
    outcome = {}

    def load():
        try:
            load_generator(str(fifo))
        except ModelError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=load)
    thread.start()
    thread.join(10)
    if thread.is_alive():  # unblock the reader before failing, so that nothing leaks
        _os.close(_os.open(fifo, _os.O_WRONLY))
        thread.join(10)
        pytest.fail("loading a FIFO as a model blocked")
    assert "is a FIFO (named pipe), not a regular file" in str(outcome.get("error"))


def test_a_recorded_path_must_be_a_regular_file_with_the_recorded_hash_and_no_code(tmp_path):
    from latentcut.files import file_sha256
    from latentcut.latent.look import Look, ModelRef
    from latentcut.models.looks import Looks

    (tmp_path / "notes.txt").write_text("not a model")
    (tmp_path / "m.pt").write_bytes(b"junk")
    looks = Looks(device="cpu")

    def loaded(spec: str, sha256: str) -> object:
        return looks.of_look(Look(ModelRef(spec, sha256)), folder=tmp_path, where="s.z.npy")

    with pytest.raises(ModelError, match="holds other weights"):
        loaded("../../../../../../etc/passwd", "0" * 64)  # found, but not the weights recorded: never read as a model
    with pytest.raises(ModelError, match="is not where it was recorded"):
        loaded("/dev/zero", "0" * 64)  # a device is not a model file
    with pytest.raises(ModelError, match="can run code when it is loaded"):
        loaded(str(tmp_path / "notes.txt"), file_sha256(tmp_path / "notes.txt"))
    with pytest.raises(ModelError, match=r"m\.pt: named by a file, and a TorchScript file can run code"):
        loaded("m.pt", file_sha256(tmp_path / "m.pt"))


def _torchscript_with_source(tiny, path, rewrite):
    """A real TorchScript file of ``tiny.Tiny`` whose code files are passed through ``rewrite``."""
    import zipfile

    plain = path.with_name("plain.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(tiny.Tiny()).save(str(plain))
    with zipfile.ZipFile(plain) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            if info.filename.endswith(".debug_pkl"):
                continue  # debug info maps source ranges; the rewritten source has none
            data = source.read(info.filename)
            # Every code file: torch mangles the file's name when Tiny was scripted before in this process.
            target.writestr(info, rewrite(data.decode()).encode() if "/code/" in info.filename else data)


def test_a_torchscript_file_that_crashes_torch_is_a_one_line_error(tiny, tmp_path):
    from latentcut.latent.sidecar import cache_dir

    path = tmp_path / "nested.pt"
    # 10,000 nested parentheses in 20 KB: torch.jit.load dies with SIGSEGV, no exception.
    nested = "return " + "(" * 10_000 + "_0" + ")" * 10_000
    _torchscript_with_source(tiny, path, lambda code: code.replace("return _0", nested))
    assert path.stat().st_size < 100_000
    with pytest.raises(ModelError, match=r"nested\.pt: torch crashed \(SIGSEGV\) loading this TorchScript file"):
        load_generator(str(path), device="cpu")
    good = tmp_path / "good.pt"
    _torchscript_with_source(tiny, good, lambda code: code)
    assert load_generator(str(good), device="cpu").latent_dim == 6
    assert f"TorchScript:{good.resolve()}" in json.loads((cache_dir() / "loadable-models.json").read_text())  # not tried again


def test_a_malformed_export_file_is_one_line_without_torchs_traceback(tmp_path, run_cli):
    import zipfile

    from latentcut.latent.sidecar import save_sequence

    with zipfile.ZipFile(tmp_path / "broken.pt2", "w") as archive:  # a zip, but not what torch.export.save writes
        archive.writestr("archive/version", "1")
        archive.writestr("archive/data.pkl", b"junk")
    save_sequence(tmp_path / "s.z.npy", np.zeros((2, 8), np.float32), fps=25)
    result = run_cli("render", "s.z.npy", "--model", "broken.pt2", "-o", "s.mp4", "--size", "16x16", timeout_s=120)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1, result.stderr  # torch logged 15 lines of its traceback first
    assert lines[0].startswith("latentcut: error: broken.pt2: not a torch.export program (RuntimeError: PytorchStreamReader")
