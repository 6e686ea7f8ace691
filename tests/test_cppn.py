from itertools import pairwise

import numpy as np
import pytest

from latentcut.errors import ModelError
from latentcut.latent.sampling import gaussian_latents
from latentcut.models.cppn import CPPN_LATENT_DIM, CppnGenerator
from latentcut.models.generator import Generator, checked_latents


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_is_a_generator_and_deterministic(cppn):
    assert isinstance(cppn, Generator)
    z = gaussian_latents(3, CPPN_LATENT_DIM, 1)
    again = CppnGenerator(device="cpu")
    np.testing.assert_array_equal(cppn.render(z, (64, 64)), again.render(z, (64, 64)))
    assert cppn.sha256 == again.sha256 and cppn.spec == "builtin:cppn"


@pytest.mark.parametrize("size", [(64, 64), (96, 48), (1, 1), (33, 17)])
def test_renders_any_resolution(cppn, size):
    frames = cppn.render(gaussian_latents(2, CPPN_LATENT_DIM, 2), size)
    assert frames.shape == (2, size[1], size[0], 3) and frames.dtype == np.uint8


def test_images_have_colour_and_structure_not_noise(cppn):
    frames = cppn.render(gaussian_latents(4, CPPN_LATENT_DIM, 3), (128, 128)).astype(np.float32)
    # colour: every picture varies strongly, and its channels differ from each other
    assert frames.std(axis=(1, 2)).mean(axis=1).min() > 25
    assert np.abs(frames[..., 0] - frames[..., 2]).mean() > 10
    # structure: neighbouring pixels are far more alike than random pairs of pixels
    neighbour = np.abs(np.diff(frames, axis=2)).mean()
    shuffled = np.random.default_rng(0).permutation(frames.reshape(-1, 3))
    random_pairs = np.abs(frames.reshape(-1, 3) - shuffled).mean()
    assert neighbour < 0.25 * random_pairs
    # and different latents give different pictures
    assert _distance(frames[0], frames[1]) > 20


def test_nearby_latents_give_nearby_images(cppn):
    z, direction = gaussian_latents(2, CPPN_LATENT_DIM, 4)
    direction /= np.linalg.norm(direction)
    steps = [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]
    frames = cppn.render(np.stack([z] + [z + s * direction for s in steps]), (96, 96))
    distances = [_distance(frames[0], f) for f in frames[1:]]
    assert all(a < b for a, b in pairwise(distances)), distances
    assert distances[0] < 2.0


def test_snapshots_drift_toward_the_final_model():
    z = gaussian_latents(3, CPPN_LATENT_DIM, 5)
    final = CppnGenerator(27, device="cpu").render(z, (64, 64))
    snapshots = [CppnGenerator(n, device="cpu") for n in (0, 9, 18, 26)]
    assert len({s.sha256 for s in snapshots}) == 4
    distances = [_distance(s.render(z, (64, 64)), final) for s in snapshots]
    assert all(a > b for a, b in pairwise(distances)), distances
    assert snapshots[0].spec == "builtin:cppn@0"


def test_bad_snapshot_and_wrong_dim_are_model_errors(cppn):
    with pytest.raises(ModelError, match="snapshots run from 0 to 27"):
        CppnGenerator(28)
    with pytest.raises(ModelError, match="dim 16 but model builtin:cppn takes 512"):
        checked_latents(cppn, np.zeros((2, 16), np.float32), "x.z.npy")


def test_coordinates_are_kept_for_a_few_frame_sizes_only():
    from latentcut.models.cppn import COORDINATE_CACHE_SIZES, CppnGenerator

    model = CppnGenerator(device="cpu")
    z = np.zeros((1, 512), np.float32)
    first = model.render(z, (8, 8))
    for width in range(9, 9 + 3 * COORDINATE_CACHE_SIZES):
        model.render(z, (width, 8))
    assert len(model._coords) == COORDINATE_CACHE_SIZES  # a daemon asked for many sizes holds only the latest
    np.testing.assert_array_equal(model.render(z, (8, 8)), first)
