"""Named W-space directions (SeFa, GANSpace) of StyleGAN snapshots: unit, orthogonal, strongest first, and usable as attributes."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from latentcut.cli.arithmetic import attributed_latents
from latentcut.errors import UsageError
from latentcut.latent.attributes import parse_attribute_use
from latentcut.latent.directions import direction_vector
from latentcut.models.directions import ganspace_directions, sefa_directions
from latentcut.models.stylegan.generator import load_stylegan
from tinystylegan import tiny_stylegan2_snapshot, tiny_stylegan3_snapshot

TIMEOUT_S = 300
CONFIGURATIONS = {
    "stylegan3-t": lambda path: tiny_stylegan3_snapshot(path, seed=1),
    "stylegan3-wide-w": lambda path: tiny_stylegan3_snapshot(path, seed=2, z_dim=12, w_dim=24),
    "stylegan2": lambda path: tiny_stylegan2_snapshot(path, seed=3),
}


@pytest.fixture(params=list(CONFIGURATIONS))
def generator(request, tmp_path):
    return load_stylegan(CONFIGURATIONS[request.param](tmp_path / "network-snapshot-000040.pkl"), device="cpu")


def _style_energy(generator, vectors: np.ndarray) -> np.ndarray:
    """How much each unit vector moves the styles: sum over layers of |A_l n|^2, rows of A_l unit (SeFa's objective)."""
    affines = [
        m.affine.weight.detach().double().numpy()
        for m in generator.network.synthesis.modules()
        if type(m).__name__ == "SynthesisLayer"
    ]
    rows = np.concatenate([a / np.linalg.norm(a, axis=1, keepdims=True) for a in affines])
    return ((rows @ vectors.T) ** 2).sum(axis=0)


def _assert_unit_orthogonal_ordered(vectors: np.ndarray, strengths: np.ndarray) -> None:
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(len(vectors)), atol=1e-5)
    assert (np.diff(strengths) <= 1e-9).all() and strengths[-1] > 0


def test_sefa_directions_are_unit_orthogonal_and_move_the_styles_most_first(generator):
    found = sefa_directions(generator, 6)
    _assert_unit_orthogonal_ordered(found.vectors, found.strengths)
    energy = _style_energy(generator, found.vectors.astype(np.float64))
    np.testing.assert_allclose(energy, found.strengths, rtol=1e-5)  # the strength is what the direction does to the styles
    random = np.random.default_rng(0).standard_normal((200, generator.w_dim))
    assert energy[0] >= _style_energy(generator, random / np.linalg.norm(random, axis=1, keepdims=True)).max()


def test_ganspace_directions_are_the_principal_axes_of_mapped_w(generator):
    found = ganspace_directions(generator, 5, samples=3000, seed=1)
    _assert_unit_orthogonal_ordered(found.vectors, found.strengths)
    z = np.random.default_rng(99).standard_normal((3000, generator.z_dim)).astype(np.float32)  # a fresh sample
    w = generator.mapped(z).astype(np.float64)
    spread = (w - w.mean(axis=0)) @ found.vectors.T.astype(np.float64)
    np.testing.assert_allclose(spread.std(axis=0, ddof=1), found.strengths, rtol=0.15)
    random = np.random.default_rng(0).standard_normal((200, generator.w_dim))
    assert (
        spread.std(axis=0)[0]
        >= ((w - w.mean(axis=0)) @ (random / np.linalg.norm(random, axis=1, keepdims=True)).T).std(axis=0).max()
    )


def test_too_many_directions_is_one_line(generator):
    with pytest.raises(UsageError, match=f"give 1 to {generator.w_dim}"):
        sefa_directions(generator, generator.w_dim + 1)


@pytest.mark.parametrize("method", ["sefa", "ganspace"])
def test_the_command_writes_named_directions_that_work_as_attributes_and_lanes(tmp_path, method):
    snapshot = tiny_stylegan2_snapshot(tmp_path / "network-snapshot-000040.pkl", seed=5)
    done = subprocess.run(
        [sys.executable, "-m", "latentcut", "directions", str(snapshot), "--method", method, "--count", "4", "-o", str(tmp_path / "d"), "--samples", "2000"],
        capture_output=True, text=True, timeout=TIMEOUT_S,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listing = json.loads((tmp_path / "d" / "directions.json").read_text())
    assert [d["name"] for d in listing["directions"]] == [f"{method}-0{i}" for i in range(4)] and listing["space"] == "w"
    strengths = [d["strength"] for d in listing["directions"]]
    assert strengths == sorted(strengths, reverse=True)
    second = tmp_path / "d" / f"{method}-01.attr.npy"
    vector = np.load(second)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_array_equal(direction_vector(tmp_path / "d" / "directions.json", 1, len(vector)), vector)
    w = np.random.default_rng(0).standard_normal((5, len(vector))).astype(np.float32)
    moved, record = attributed_latents(w, [parse_attribute_use(f"{second}=2.5")], "w")
    np.testing.assert_allclose(moved, w + 2.5 * vector, atol=1e-6)
    assert record[0]["vector"] == str(second)
    with pytest.raises(UsageError, match="latentcut map"):
        attributed_latents(w, [parse_attribute_use(f"{second}=2.5")], "z")
