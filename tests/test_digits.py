import numpy as np
import pytest

from digit_measures import as_frames, classifier, digits_model, predicted_classes
from latentcut.errors import ModelError
from latentcut.latent.sampling import gaussian_latents
from latentcut.models.digits import DIGITS_LATENT_DIM, DIGITS_RECORDED_ERROR, DIGITS_WEIGHTS, DigitsGenerator, held_out_digits
from latentcut.models.digits_training import held_out_error
from latentcut.models.generator import Encoder, Generator
from latentcut.models.loading import load_generator


def test_shipped_weights_reproduce_the_recorded_reconstruction_error():
    assert DIGITS_WEIGHTS.stat().st_size < 1 << 20  # a few hundred KB, shipped in the package
    assert held_out_error(digits_model()) == pytest.approx(DIGITS_RECORDED_ERROR, abs=5e-4)


def test_loads_by_spec_encodes_and_is_deterministic():
    model = load_generator("builtin:digits", device="cpu")
    assert isinstance(model, Generator) and isinstance(model, Encoder)
    assert model.spec == "builtin:digits" and model.latent_dim == DIGITS_LATENT_DIM
    z = gaussian_latents(4, DIGITS_LATENT_DIM, 1)
    np.testing.assert_array_equal(model.render(z, (40, 40)), DigitsGenerator(device="cpu").render(z, (40, 40)))
    assert model.sha256 == DigitsGenerator(device="cpu").sha256


@pytest.mark.parametrize("size", [(8, 8), (64, 64), (100, 60), (1, 1)])
def test_decodes_at_any_size_by_resampling(size):
    frames = digits_model().render(gaussian_latents(2, DIGITS_LATENT_DIM, 2), size)
    assert frames.shape == (2, size[1], size[0], 3) and frames.dtype == np.uint8


def test_encode_then_decode_keeps_the_digit_at_any_picture_size():
    images, classes = held_out_digits()
    frames = as_frames(images[:60])
    large = np.repeat(np.repeat(frames, 8, axis=1), 8, axis=2)  # the same digits as 64x64 pictures
    for pictures in (frames, large):
        z = digits_model().encode(pictures)
        assert z.shape == (60, DIGITS_LATENT_DIM) and z.dtype == np.float32
        agreement = (predicted_classes(z) == classes[:60]).mean()
        assert agreement > 0.8, agreement


def test_random_samples_look_like_digits():
    ink = digits_model().render(gaussian_latents(200, DIGITS_LATENT_DIM, 3), (8, 8))[..., 0] / 255.0
    confidence = classifier().predict_proba(ink.reshape(200, -1)).max(axis=1)
    noise = np.random.default_rng(0).uniform(0, 1, (200, 64))
    assert confidence.mean() > 0.6 > classifier().predict_proba(noise).max(axis=1).mean()


def test_bad_weights_file_is_a_model_error(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, something=np.zeros(3, np.float32))
    with pytest.raises(ModelError, match="does not fit"):
        DigitsGenerator(device="cpu", weights=bad)
