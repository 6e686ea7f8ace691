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
