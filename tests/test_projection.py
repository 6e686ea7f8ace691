import numpy as np
import pytest

from digit_measures import as_frames, digits_model
from latentcut.errors import ModelError, UsageError
from latentcut.latent.sampling import gaussian_latents
from latentcut.models.cppn import CPPN_LATENT_DIM
from latentcut.models.digits import DIGITS_RECORDED_ERROR, held_out_digits
from latentcut.models.projection import image_distance, ms_ssim, projected_latents


def test_encoding_then_decoding_a_digit_reproduces_it_within_the_recorded_error():
    images, _ = held_out_digits()
    result = projected_latents(digits_model(), as_frames(images))
    assert result.method == "encoder" and result.space == "z" and result.latents.shape == (len(images), 16)
    decoded = digits_model().render(result.latents, (8, 8))[..., 0] / 255.0
    errors = np.abs(decoded - images).mean(axis=(1, 2))
    assert errors.mean() <= DIGITS_RECORDED_ERROR + 1e-4
    assert np.median(errors) < 0.1


@pytest.fixture
def one_torch_thread():
    """Many tiny steps: on a shared 2-core machine, torch's second thread only spins against other processes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.usefixtures("one_torch_thread")
def test_optimisation_finds_a_cppn_frame_closer_than_1000_random_samples(cppn):
    size = (32, 32)
    target = cppn.render(gaussian_latents(1, CPPN_LATENT_DIM, 11), size)
    steps = []
    result = projected_latents(cppn, target, steps=60, starts=4, fit_size=size, seed=0, progress=steps.append)
    assert result.method == "optimisation" and len(steps) == 60 and result.latents.shape == (1, CPPN_LATENT_DIM)
    found = image_distance(cppn.render(result.latents, size), target)[0]
    assert found == pytest.approx(result.losses[0], abs=0.02)  # the reported loss is the rendered frame's
    random = cppn.render(gaussian_latents(1000, CPPN_LATENT_DIM, 12), size)
    assert found < image_distance(random, np.repeat(target, 1000, axis=0)).min()


def test_ms_ssim_is_one_for_equal_images_and_falls_with_noise():
    import torch

    rng = np.random.default_rng(0)
    image = torch.as_tensor(rng.uniform(0, 1, (1, 3, 64, 64)), dtype=torch.float32)
    noisy = (image + torch.as_tensor(rng.normal(0, 0.2, (1, 3, 64, 64)), dtype=torch.float32)).clamp(0, 1)
    assert float(ms_ssim(image, image)) == pytest.approx(1.0, abs=1e-5)
    assert float(ms_ssim(image, noisy)) < 0.9


def test_a_model_without_encoder_or_gradient_is_refused():
    class Opaque:
        spec, sha256, latent_dim, native_size, device = "opaque", "0", 4, (8, 8), "cpu"

        def render(self, latents, size):
            return np.zeros((len(latents), size[1], size[0], 3), np.uint8)

    with pytest.raises(ModelError, match="cannot encode images"):
        projected_latents(Opaque(), np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(UsageError, match="frames"):
        projected_latents(Opaque(), np.zeros((8, 8, 3), np.uint8))


@pytest.mark.usefixtures("one_torch_thread")
def test_a_stylegan_model_is_inverted_in_w(tmp_path, run_cli):
    import torch

    from latentcut.models.loading import load_generator
    from latentcut.models.stylegan.pickle_reader import SG2_MODULE
    from latentcut.models.stylegan.snapshot_writer import write_snapshot
    from latentcut.models.stylegan.stylegan2 import Generator as StyleGan2

    kwargs = {"z_dim": 8, "w_dim": 8, "c_dim": 0, "img_resolution": 16, "img_channels": 3}
    kwargs |= {"mapping_kwargs": {"num_layers": 2}, "channel_base": 128, "channel_max": 8}
    torch.manual_seed(0)
    network = StyleGan2(**kwargs)
    with torch.no_grad():
        network.mapping.w_avg.normal_()
        for name, parameter in network.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                parameter.normal_(0, 0.2)
    snapshot = write_snapshot(tmp_path / "network-snapshot-000100.pkl", network, SG2_MODULE, kwargs)
    model = load_generator(str(snapshot), device="cpu")
    target = model.render(np.random.default_rng(4).standard_normal((1, 8)).astype(np.float32), (16, 16))
    result = projected_latents(model, target, steps=100, starts=4, fit_size=(16, 16))
    assert result.space == "w" and result.latents.shape == (1, 8)
    found = image_distance(model.in_space("w").render(result.latents, (16, 16)), target)[0]
    assert found == pytest.approx(result.losses[0], abs=0.02)
    random = model.render(np.random.default_rng(5).standard_normal((200, 8)).astype(np.float32), (16, 16))
    assert found < image_distance(random, np.repeat(target, 200, axis=0)).min()
