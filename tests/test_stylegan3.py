"""latentcut's StyleGAN3 (configs T and R): its filters and ops against their definitions, its shapes, snapshots, and NVIDIA's images."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch

from latentcut.models.stylegan import stylegan3
from latentcut.models.stylegan.pickle_reader import SG3_MODULE, build_generator, read_snapshot
from latentcut.models.stylegan.snapshot_writer import write_snapshot
from latentcut.models.stylegan.stylegan3 import Generator, filtered_lrelu, input_transform_matrix, lowpass_filter, upfirdn2d

TINY_T = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, mapping_kwargs={"num_layers": 2})
FAST = dict(channel_base=256, channel_max=8, num_layers=6)


def tiny(seed: int = 0, **kwargs: Any) -> Generator:
    torch.manual_seed(seed)
    generator = Generator(**{**TINY_T, **FAST, **kwargs}).eval().requires_grad_(False)
    # Random biases and statistics too, so that no term of the forward pass is trivially zero or one.
    with torch.no_grad():
        for name, tensor in generator.state_dict().items():
            if name.endswith(".bias") or name.endswith("w_avg"):
                tensor.add_(torch.randn_like(tensor) * 0.3)
            if name.endswith("magnitude_ema"):
                tensor.fill_(1.7)
    return generator


def taps(numtaps: int, cutoff: float, width: float, fs: float, radial: bool = False) -> torch.Tensor:
    f = lowpass_filter(numtaps, cutoff, width, fs, radial)
    assert f is not None
    return f


def eight_bit(images: np.ndarray) -> np.ndarray:
    return np.clip((np.asarray(images, np.float64) + 1) * 127.5 + 0.5, 0, 255)


# ---------------------------------------------------------------------------------------------------
# The ops, against their textbook definitions computed another way (numpy, explicit loops)


def upfirdn_by_definition(
    x: np.ndarray, f: np.ndarray | None, up: int, down: int, padding: tuple[int, ...], gain: float
) -> np.ndarray:
    """Zero insertion, pad/crop, true 2-D convolution over the valid part, decimation: one sample at a time."""
    px0, px1, py0, py1 = padding
    f2 = np.ones((1, 1)) if f is None else (np.outer(f, f) if f.ndim == 1 else f)
    f2 = f2 * gain
    n, c, h, w = x.shape
    upsampled = np.zeros((n, c, h * up, w * up))
    upsampled[:, :, ::up, ::up] = x
    padded = np.pad(upsampled, ((0, 0), (0, 0), (max(py0, 0), max(py1, 0)), (max(px0, 0), max(px1, 0))))
    padded = padded[:, :, max(-py0, 0) : padded.shape[2] - max(-py1, 0), max(-px0, 0) : padded.shape[3] - max(-px1, 0)]
    kh, kw = f2.shape
    out = np.zeros((n, c, padded.shape[2] - kh + 1, padded.shape[3] - kw + 1))
    for i in range(kh):
        for j in range(kw):
            out += padded[:, :, i : i + out.shape[2], j : j + out.shape[3]] * f2[kh - 1 - i, kw - 1 - j]
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize(
    ("taps", "radial", "up", "down", "padding"),
    [
        (12, False, 2, 1, (9, 8, 9, 8)),
        (24, False, 4, 1, (-2, -5, 3, -1)),
        (5, False, 3, 1, (0, 7, 2, 2)),
        (12, False, 1, 2, (0, 0, 0, 0)),
        (12, True, 1, 2, (1, -2, 0, 3)),
        (6, True, 2, 1, (3, 3, 2, 4)),
        (1, False, 1, 1, (0, 0, 0, 0)),
    ],
)
def test_upfirdn2d_is_zero_insertion_padding_convolution_and_decimation(taps, radial, up, down, padding):
    rng = np.random.default_rng(taps + up)
    x = rng.standard_normal((2, 3, 14, 15))
    f = lowpass_filter(taps, cutoff=2.0, width=4.0, fs=16.0, radial=radial)
    gain = 1.7
    got = upfirdn2d(torch.as_tensor(x, dtype=torch.float64), None if f is None else f.double(), up, down, padding, gain)
    want = upfirdn_by_definition(x, None if f is None else f.double().numpy(), up, down, padding, gain)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, atol=1e-12)


def test_filtered_lrelu_is_bias_upsample_lrelu_clamp_downsample():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 4, 10, 10)) * 40
    b = rng.standard_normal(4)
    fu = taps(12, cutoff=3.0, width=6.0, fs=32.0).double()
    fd = taps(12, cutoff=3.0, width=6.0, fs=32.0, radial=True).double()
    padding = (9, 8, 7, 10)
    got = filtered_lrelu(
        torch.as_tensor(x), fu, fd, torch.as_tensor(b), up=2, down=2, padding=padding, gain=math.sqrt(2), slope=0.2, clamp=25
    )
    y = upfirdn_by_definition(x + b.reshape(1, -1, 1, 1), fu.numpy(), 2, 1, padding, 4)
    y = np.clip(np.where(y >= 0, y, 0.2 * y) * math.sqrt(2), -25, 25)
    want = upfirdn_by_definition(y, fd.numpy(), 1, 2, (0, 0, 0, 0), 1)
    assert np.abs(want).max() == pytest.approx(25, abs=5)  # the clamp was reached, so it was tested
    np.testing.assert_allclose(got.numpy(), want, atol=1e-10)


def test_lowpass_filters_pass_dc_and_are_symmetric():
    separable = taps(12, cutoff=2.0, width=12.0, fs=32.0)
    radial = taps(12, cutoff=5.0, width=6.0, fs=32.0, radial=True)
    assert lowpass_filter(1, cutoff=2.0, width=1.0, fs=4.0) is None
    assert separable.shape == (12,) and radial.shape == (12, 12)
    assert float(separable.sum()) == pytest.approx(1, abs=1e-6) and float(radial.sum()) == pytest.approx(1, abs=1e-6)
    assert torch.equal(separable, separable.flip(0))
    assert torch.allclose(radial, radial.t()) and torch.allclose(radial, radial.flip(0))
    # Radial: equal radii give equal taps (a separable filter would differ on the diagonal).
    assert float(radial[3, 8]) == pytest.approx(float(radial[8, 3]))
    assert float(radial[2, 2]) != pytest.approx(float(radial[2, 5]) * float(radial[5, 2]) / float(radial[5, 5]), rel=1e-3)


def test_lowpass_filters_match_scipys_design():
    signal = pytest.importorskip("scipy.signal")
    special = pytest.importorskip("scipy.special")
    for numtaps, cutoff, width, fs in ((12, 2.0, 12.0, 32.0), (24, 6.35, 4.1, 64.0), (12, 16.0, 6.6, 64.0)):
        want = signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        np.testing.assert_allclose(taps(numtaps, cutoff, width, fs).numpy(), want, atol=1e-7)
        x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
        r = np.hypot(*np.meshgrid(x, x))
        jinc = special.j1(2 * cutoff * np.pi * r) / (np.pi * r)
        window = np.kaiser(numtaps, signal.kaiser_beta(signal.kaiser_atten(numtaps, width / (fs / 2))))
        jinc *= np.outer(window, window)
        np.testing.assert_allclose(taps(numtaps, cutoff, width, fs, radial=True).numpy(), jinc / jinc.sum(), atol=1e-7)


# ---------------------------------------------------------------------------------------------------
# The architecture


def test_layer_names_sizes_and_padding_follow_the_alias_free_schedule():
    # The reference configuration (sg3t-32): names, sizes and paddings as NVIDIA's code computes them.
    torch.manual_seed(0)
    g = Generator(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3, channel_base=1024, channel_max=32)
    names = g.synthesis.layer_names
    assert names == [f"L{i}_36_32" for i in range(5)] + [f"L{i}_52_32" for i in range(5, 13)] + ["L13_32_32", "L14_32_3"]
    assert g.num_ws == 16 and g.mapping.num_ws == 16
    layers = [getattr(g.synthesis, name) for name in names]
    assert [layer.up_factor for layer in layers] == [2] * 5 + [4] + [2] * 8 + [1]
    assert [layer.padding for layer in layers][:2] == [[9, 8, 9, 8]] * 2
    assert layers[-1].padding == [0, 0, 0, 0] and layers[-1].up_filter is None and layers[-1].down_filter is None
    assert all(layer.down_filter is not None and layer.down_filter.ndim == 1 for layer in layers[:-1])
    assert g.synthesis.input.freqs.shape == (32, 2) and g.synthesis.input.size.tolist() == [36, 36]


def test_config_r_has_one_by_one_convolutions_and_radial_filters_outside_the_critical_layers():
    g = tiny(conv_kernel=1, use_radial_filters=True)
    layers = [getattr(g.synthesis, name) for name in g.synthesis.layer_names]
    critical = [layer.is_critically_sampled for layer in layers]
    assert critical == [False] * 4 + [True] * 3
    for layer in layers[:-1]:
        assert layer.weight.shape[2:] == (1, 1)
        assert layer.down_filter.ndim == (1 if layer.is_critically_sampled else 2)
        assert layer.up_filter.ndim == 1  # upsampling filters stay separable in config R
    state = g.state_dict()
    assert state["synthesis.L0_36_8.down_filter"].shape == (12, 12)
    assert state["synthesis.L6_32_3.weight"].shape == (3, 8, 1, 1)
    images = g(torch.randn(2, 16), None)
    assert images.shape == (2, 3, 32, 32) and images.dtype == torch.float32 and torch.isfinite(images).all()


def test_state_dict_names_are_nvidias():
    g = tiny(c_dim=5)
    names = set(g.state_dict())
    assert {"mapping.w_avg", "mapping.fc0.weight", "mapping.fc1.bias", "mapping.embed.weight", "mapping.embed.bias"} <= names
    assert {f"synthesis.input.{n}" for n in ("weight", "transform", "freqs", "phases", "affine.weight", "affine.bias")} <= names
    layer = {n.split(".", 2)[2] for n in names if n.startswith("synthesis.L1_")}
    assert layer == {"weight", "bias", "magnitude_ema", "up_filter", "down_filter", "affine.weight", "affine.bias"}


def test_generating_is_deterministic_and_each_image_independent_of_its_batch():
    g = tiny()
    z = torch.randn(4, 16)
    with torch.no_grad():
        batch = g(z, None, truncation_psi=0.8)
        again = g(z, None, truncation_psi=0.8)
        alone = g(z[2:3], None, truncation_psi=0.8)
    assert torch.equal(batch, again)
    torch.testing.assert_close(alone[0], batch[2], atol=1e-5, rtol=0)
    assert batch.std() > 0.01 and (batch[0] - batch[1]).abs().mean() > 1e-3


def test_forward_is_synthesis_of_mapping_and_truncation_moves_toward_w_avg():
    g = tiny()
    z = torch.randn(3, 16)
    with torch.no_grad():
        ws = g.mapping(z, None)
        assert ws.shape == (3, g.num_ws, 16) and torch.equal(ws[:, 0], ws[:, -1])
        torch.testing.assert_close(g(z, None, noise_mode="random"), g.synthesis(ws, noise_mode="none"))
        at_average = g.mapping(z, None, truncation_psi=0)
        torch.testing.assert_close(at_average, g.mapping.w_avg.expand(3, g.num_ws, 16))
        half = g.mapping(z, None, truncation_psi=0.5, truncation_cutoff=3)
        torch.testing.assert_close(half[:, :3], (ws[:, :3] + g.mapping.w_avg) / 2)
        assert torch.equal(half[:, 3:], ws[:, 3:])
        torch.testing.assert_close(g.mapping.truncate(ws, 0.5, 3), half)


def test_a_conditional_model_embeds_its_class_label():
    g = tiny(c_dim=4)
    z = torch.randn(2, 16).repeat(2, 1)
    c = torch.eye(4)[[0, 0, 1, 3]]
    with torch.no_grad():
        ws = g.mapping(z, c)
    assert not torch.allclose(ws[0], ws[2]) and not torch.allclose(ws[1], ws[3])
    with pytest.raises(ValueError, match="conditional"):
        g.mapping(z, None)


def test_update_emas_tracks_w_avg_and_input_magnitudes():
    g = tiny()
    w_avg = g.mapping.w_avg.clone()
    with torch.no_grad():
        g(torch.randn(8, 16), None, update_emas=True)
    assert not torch.equal(g.mapping.w_avg, w_avg)
    first = getattr(g.synthesis, g.synthesis.layer_names[0])
    assert float(first.magnitude_ema) != pytest.approx(1.7)


def test_precision_is_float32_on_cpu_and_reduced_layers_stay_close(monkeypatch):
    g = tiny()
    z = torch.randn(2, 16)
    with torch.no_grad():
        fp32 = g(z, None)
        g.set_precision("bf16")
        assert torch.equal(g(z, None), fp32)  # CPU computes in float32 whatever is asked, as NVIDIA does
        # Where a GPU would reduce precision (here forced on the CPU), every layer runs in bfloat16.
        seen: list[torch.dtype] = []
        real = stylegan3.SynthesisLayer.compute_dtype

        def as_on_cuda(self, device, precision, force_fp32=False):
            dtype = real(self, torch.device("cuda"), precision, force_fp32)
            seen.append(dtype)
            return dtype

        monkeypatch.setattr(stylegan3.SynthesisLayer, "compute_dtype", as_on_cuda)
        reduced = g(z, None)
        forced = g(z, None, force_fp32=True)
    assert set(seen[: len(g.synthesis.layer_names)]) == {torch.bfloat16} and set(seen[len(g.synthesis.layer_names) :]) == {
        torch.float32
    }
    assert reduced.dtype == torch.float32 and torch.equal(forced, fp32)
    assert np.abs(eight_bit(reduced.numpy()) - eight_bit(fp32.numpy())).mean() < 3
    with pytest.raises(ValueError, match="precision"):
        g.set_precision("fp8")


# ---------------------------------------------------------------------------------------------------
# The input transform


def test_translating_the_input_by_one_sample_shifts_the_fourier_features_by_one_pixel():
    g = tiny()
    inp = g.synthesis.input
    w = torch.randn(2, 16)
    with torch.no_grad():
        still = inp(w)
        g.set_input_transform(translate=(1 / inp.sampling_rate, 0))
        moved_right = inp(w)
        g.set_input_transform(translate=(0, -2 / inp.sampling_rate))
        moved_up = inp(w)
    torch.testing.assert_close(moved_right[..., 1:], still[..., :-1], atol=1e-4, rtol=0)
    torch.testing.assert_close(moved_up[..., :-2, :], still[..., 2:, :], atol=1e-4, rtol=0)


def test_rotating_the_input_by_ninety_degrees_rotates_the_fourier_features():
    g = tiny()
    inp = g.synthesis.input
    w = torch.randn(1, 16)
    with torch.no_grad():
        still = inp(w)
        g.set_input_transform(rotate_deg=90)
        turned = inp(w)
    # Frequencies are drawn inside the band, so a quarter turn keeps every amplitude.
    torch.testing.assert_close(turned, torch.rot90(still, k=1, dims=(2, 3)), atol=1e-4, rtol=0)


def test_per_sample_transforms_equal_the_buffer_and_the_identity_changes_nothing():
    g = tiny()
    z = torch.randn(2, 16)
    matrices = [input_transform_matrix((0.1, -0.05), 20), input_transform_matrix((0.0, 0.2), -45)]
    with torch.no_grad():
        plain = g(z, None)
        g.set_input_transform()
        assert torch.equal(g(z, None), plain)
        per_sample = g(z, None, transforms=torch.as_tensor(np.stack(matrices), dtype=torch.float32))
        each = []
        for i, matrix in enumerate(matrices):
            g.synthesis.input.transform.copy_(torch.as_tensor(matrix))
            each.append(g(z[i : i + 1], None))
    torch.testing.assert_close(per_sample, torch.cat(each), atol=1e-5, rtol=0)
    assert (per_sample - plain).abs().mean() > 1e-3
    np.testing.assert_allclose(input_transform_matrix((0.3, 0.1), 30) @ [0.3, 0.1, 1], [0, 0, 1], atol=1e-12)


# ---------------------------------------------------------------------------------------------------
# Snapshots in NVIDIA's persistence layout (written by latentcut's snapshot writer)


@pytest.mark.parametrize("config", ["T", "R"])
def test_a_snapshot_of_latentcuts_network_round_trips_through_the_reader(tmp_path, config):
    kwargs = {**TINY_T, **FAST, **({"conv_kernel": 1, "use_radial_filters": True} if config == "R" else {})}
    original = tiny(seed=5, **{k: v for k, v in kwargs.items() if k not in TINY_T})
    original.set_input_transform(translate=(0.05, 0), rotate_deg=10)
    write_snapshot(tmp_path / "network-snapshot-000040.pkl", original, SG3_MODULE, kwargs)
    record = read_snapshot(tmp_path / "network-snapshot-000040.pkl")["G_ema"]
    assert record.class_name == "Generator" and record.init_kwargs == kwargs
    rebuilt = build_generator(record)
    assert isinstance(rebuilt, Generator)
    z = torch.randn(3, 16)
    with torch.no_grad():
        assert torch.equal(rebuilt(z, None, truncation_psi=0.7), original(z, None, truncation_psi=0.7))
