"""StyleGAN snapshots as latentcut models: no flag to load, z / w / w+ latents, truncation, map, snapshot grids."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from latentcut.errors import ModelError, SidecarError, UsageError
from latentcut.latent.look import Look
from latentcut.latent.sidecar import load_sequence, save_sequence, sidecar_paths
from latentcut.models.latent_space import generator_for, mapped_sequence
from latentcut.models.loading import load_generator
from latentcut.models.snapshots import snapshot_specs
from latentcut.models.stylegan.generator import StyleGanGenerator, snapshot_kimg
from latentcut.render.labels import short_model_label
from tinystylegan import tiny_snapshot


def _snapshot(path: Path, seed: int = 0, **overrides: object) -> Path:
    return tiny_snapshot(path, "sg2-z8-16px", seed, **overrides)


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    return _snapshot(tmp_path / "network-snapshot-000120.pkl")


def _z(count: int = 4) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((count, 8)).astype(np.float32)


def test_a_snapshot_loads_without_trust_pickle_and_renders(snapshot: Path) -> None:
    model = load_generator(str(snapshot), device="cpu")
    assert isinstance(model, StyleGanGenerator)
    assert (model.latent_dim, model.native_size, model.num_ws) == (8, (16, 16), 6)
    frames = model.render(_z(), (16, 16))
    assert frames.shape == (4, 16, 16, 3) and frames.dtype == np.uint8
    assert frames.std() > 1  # not a flat image
    assert model.render(_z(), (8, 8)).shape == (4, 8, 8, 3)


def test_w_and_w_plus_render_what_z_renders(snapshot: Path) -> None:
    model = load_generator(str(snapshot), device="cpu")
    assert isinstance(model, StyleGanGenerator)
    z = _z()
    w = model.mapped(z)
    assert w.shape == (4, 8)
    from_z = model.render(z, (16, 16))
    from_w = model.in_space("w").render(w, (16, 16))
    w_plus = np.repeat(w[:, None, :], model.num_ws, axis=1).reshape(4, -1)
    from_w_plus = model.in_space("w+").render(w_plus, (16, 16))
    np.testing.assert_array_equal(from_z, from_w)
    np.testing.assert_array_equal(from_z, from_w_plus)


def test_truncation_moves_toward_w_avg_in_every_space(snapshot: Path) -> None:
    model = load_generator(str(snapshot), device="cpu")
    assert isinstance(model, StyleGanGenerator)
    z = _z()
    settings = {"truncation_psi": 0.5}
    w = model.mapped(z)
    truncated_from_z = generator_for(model, Look(space="z", **settings)).render(z, (16, 16))
    truncated_from_w = generator_for(model, Look(space="w", **settings)).render(w, (16, 16))
    np.testing.assert_array_equal(truncated_from_z, truncated_from_w)
    w_avg = model.network.mapping.w_avg.numpy()
    np.testing.assert_allclose(model.configured(truncation_psi=0.5).mapped(z), w_avg + 0.5 * (w - w_avg), atol=1e-5)
    # A view's sha256 covers its settings (frame caches key on it); the weights' hash stays the model's identity.
    assert generator_for(model, Look(), precision="fp16").sha256 == model.sha256 == model.weights_sha256
    views = {generator_for(model, Look(space=space, **s)).sha256 for space in ("z", "w") for s in ({}, settings)}
    assert len(views) == 4 and model.weights_sha256 in views
    at_average = generator_for(model, Look(truncation_psi=0.0)).render(z, (16, 16))
    assert (at_average == at_average[:1]).all()  # psi 0: every frame is the average image
    assert not (truncated_from_z == model.render(z, (16, 16))).all()


def test_noise_random_is_seeded(snapshot: Path) -> None:
    model = load_generator(str(snapshot), device="cpu")
    assert isinstance(model, StyleGanGenerator)
    seeded = model.configured(noise_mode="random", noise_seed=5)
    first = seeded.render(_z(), (16, 16))
    np.testing.assert_array_equal(first, seeded.render(_z(), (16, 16)))
    np.testing.assert_array_equal(first[1:2], seeded.render(_z()[1:2], (16, 16)))  # a frame does not depend on its batch
    assert not np.array_equal(first, model.configured(noise_mode="random", noise_seed=6).render(_z(), (16, 16)))


def test_models_without_a_mapping_network_refuse_w() -> None:
    cppn = load_generator("builtin:cppn", device="cpu")
    with pytest.raises(ModelError, match=r"clip\.w\.npy: the sequence holds w latents, but builtin:cppn has no mapping network"):
        generator_for(cppn, Look(space="w"), where="clip.w.npy")
    with pytest.raises(UsageError, match="--truncation-psi needs a StyleGAN model"):
        generator_for(cppn, Look(truncation_psi=0.7))
    with pytest.raises(UsageError, match="--class needs a StyleGAN model"):
        generator_for(cppn, Look(class_index=0))
    assert generator_for(cppn, Look(truncation_psi=1.0), precision="fp16") is cppn


def test_the_input_transform_is_stylegan3s_only(snapshot: Path) -> None:
    model = load_generator(str(snapshot), device="cpu")
    with pytest.raises(UsageError, match="not a StyleGAN3 model"):
        generator_for(model, Look(rotate_deg=10.0))
    assert generator_for(model, Look(translate=(0.0, 0.0))).sha256 == model.sha256


def test_a_conditional_model_needs_its_class(tmp_path: Path) -> None:
    path = _snapshot(tmp_path / "cond.pkl", c_dim=3)
    model = load_generator(str(path), device="cpu")
    with pytest.raises(UsageError, match="choose one with --class N"):
        model.render(_z(1), (16, 16))
    with pytest.raises(UsageError, match="cond.pkl is a conditional model with 3 classes; choose one with --class N"):
        generator_for(model, Look())
    assert generator_for(model, Look(space="w")) is not None  # W latents carry their class already
    assert isinstance(model, StyleGanGenerator)
    one, two = (model.configured(class_index=c).render(_z(1), (16, 16)) for c in (0, 2))
    assert not np.array_equal(one, two)
    with pytest.raises(UsageError, match="classes 0..2"):
        model.configured(class_index=3)


def test_w_plus_sidecars_keep_their_shape_and_load_flat(tmp_path: Path) -> None:
    w_plus = np.random.default_rng(1).standard_normal((5, 8, 4)).astype(np.float32)
    save_sequence(tmp_path / "clip.w.npy", w_plus, fps=Fraction(25), space="w+")
    assert np.load(tmp_path / "clip.w.npy").shape == (5, 8, 4)
    assert json.loads((tmp_path / "clip.w.json").read_text())["space"] == "w+"
    loaded = load_sequence(tmp_path / "clip.w.npy")
    assert loaded.meta.space == "w+" and loaded.latents.shape == (5, 32)
    np.testing.assert_array_equal(loaded.latents.reshape(5, 8, 4), w_plus)
    assert sidecar_paths(tmp_path / "clip.w.npy")[1].name == "clip.w.json"
    save_sequence(tmp_path / "z.z.npy", np.zeros((5, 32), np.float32), fps=Fraction(25))
    np.save(tmp_path / "z.z.npy", w_plus)  # a 3-D array whose json says z
    with pytest.raises(SidecarError, match="3-D array is w\\+ latents"):
        load_sequence(tmp_path / "z.z.npy", verify_hash=False)


def test_map_refuses_what_is_not_z_or_not_stylegan(snapshot: Path, tmp_path: Path) -> None:
    save_sequence(tmp_path / "w.w.npy", np.zeros((2, 8), np.float32), fps=Fraction(25), space="w")
    model = load_generator(str(snapshot), device="cpu")
    with pytest.raises(UsageError, match="map takes a z-sequence"):
        mapped_sequence(model, load_sequence(tmp_path / "w.w.npy"))
    save_sequence(tmp_path / "z.z.npy", np.zeros((2, 512), np.float32), fps=Fraction(25))
    with pytest.raises(ModelError, match="builtin:cppn: has no mapping network"):
        mapped_sequence(load_generator("builtin:cppn", device="cpu"), load_sequence(tmp_path / "z.z.npy"))


def test_snapshot_folders_are_listed_by_kimg_and_labelled(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for kimg in (400, 40, 1200):
        (run / f"network-snapshot-{kimg:06d}.pkl").write_bytes(b"")
    (run / "log.txt").write_text("")
    specs = snapshot_specs(str(run / "network-snapshot-001200.pkl"), str(run))
    assert [Path(s).name for s in specs] == [f"network-snapshot-{k:06d}.pkl" for k in (40, 400, 1200)]
    assert [short_model_label(s) for s in specs] == ["40 kimg", "400 kimg", "1200 kimg"]
    assert snapshot_kimg(specs[1]) == 400 and snapshot_kimg("g.pkl") is None


@pytest.mark.slow
def test_map_then_render_w_on_the_command_line(snapshot: Path, tmp_path: Path, cli) -> None:
    save_sequence(tmp_path / "s.z.npy", _z(6), fps=Fraction(25))
    mapped = cli("map", "s.z.npy", "--model", snapshot.name, "-o", "s.w.npy", "--truncation-psi", "0.7")
    assert mapped.returncode == 0, mapped.stderr
    w = load_sequence(tmp_path / "s.w.npy")
    assert (w.meta.space, w.meta.dim, w.meta.made["truncation_psi"]) == ("w", 8, 0.7)
    assert w.meta.model is not None and w.meta.model.spec == snapshot.name
    # The recorded model renders the W latents without --model, without --trust-pickle.
    rendered = cli("render", "s.w.npy", "-o", "s.mp4", "--no-progress", "--size", "16x16")
    assert rendered.returncode == 0, rendered.stderr
    refused = cli("render", "s.w.npy", "-o", "c.mp4", "--model", "builtin:cppn", "--no-progress")
    assert refused.returncode == 1 and "has no mapping network" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr


@pytest.mark.slow
def test_the_daemon_renders_w_jobs_and_caches_them_apart_from_z(snapshot: Path, tmp_path: Path, decode_video) -> None:
    from daemons import daemon_thread, finished
    from latentcut.conform.frame_arrays import FrameArrays
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.messages import Job
    from latentcut.daemon.transport import Connection

    model = load_generator(str(snapshot), device="cpu")
    assert isinstance(model, StyleGanGenerator)
    z = _z(6)
    w = model.mapped(z)
    opacity = np.ones(6, np.float32)
    with (
        daemon_thread(tmp_path, "--model", str(snapshot), "--cache", str(tmp_path / "cache")) as address,
        Connection(address) as connection,
    ):
        client = DaemonClient(connection)

        def render(latents: np.ndarray, space: str, output: str, psi: float | None = None):
            look = Look(space=space, truncation_psi=psi)
            job = Job("p", output, str(snapshot), (16, 16), Fraction(25), FrameArrays(latents, opacity), look=look)
            return finished(client, client.submit(job).job_id)

        from_w = render(w, "w", "w.mkv")
        assert from_w.kind == "done" and from_w.summary.generated == 6, from_w
        from_z = render(w, "z", "z.mkv")  # the same numbers read as z: other pictures, none from the w job's cache
        assert from_z.kind == "done" and from_z.summary.generated == 6 and from_z.summary.cached == 0, from_z
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/w.mkv", (16, 16)), model.render(z, (16, 16)))
        assert not np.array_equal(decode_video(tmp_path / "renders/z.mkv", (16, 16)), model.render(z, (16, 16)))
        truncated = render(w, "w", "t.mkv", psi=0.5)
        assert truncated.kind == "done" and truncated.summary.cached == 0, truncated
        expected = model.configured(truncation_psi=0.5).render(z, (16, 16))
        np.testing.assert_array_equal(decode_video(tmp_path / "renders/t.mkv", (16, 16)), expected)


@pytest.mark.parametrize(("seed", "picks"), [(3, [8, 2, 5]), (9, [0, 11, 11, 4])])
def test_map_keeps_each_frames_pool_number_and_snapshot_sheets_name_frame_and_kimg(tmp_path: Path, cli, seed, picks) -> None:
    from PIL import Image

    from latentcut.render.labels import caption_image, frame_numbers_stamped, label_height_px
    from latentcut.render.sheet import cell_origin

    run = tmp_path / "run"
    run.mkdir()
    for kimg in (40, 400):
        _snapshot(run / f"network-snapshot-{kimg:06d}.pkl", seed=kimg)
    snapshot = run / "network-snapshot-000400.pkl"
    assert cli("sample", "pool.z.npy", "--count", "12", "--dim", "8", "--seed", str(seed)).returncode == 0
    assert cli("pick", "pool.z.npy", "--frames", ",".join(map(str, picks)), "-o", "cur.z.npy").returncode == 0
    assert cli("map", "cur.z.npy", "--model", str(snapshot), "-o", "cur.w.npy").returncode == 0
    w = load_sequence(tmp_path / "cur.w.npy")
    assert w.meta.made["origin"]["frames"] == picks
    assert w.meta.made["origin"]["pool"] == load_sequence(tmp_path / "pool.z.npy").meta.id
    # Its burned-in numbers are the pool's, not its own frame numbers.
    result = cli("render", "cur.w.npy", "-o", "frames", "--preset", "online", "--size", "64x64", "--frame-numbers")
    assert result.returncode == 0, result.stderr
    assert cli("render", "cur.w.npy", "-o", "clean", "--preset", "online", "--size", "64x64").returncode == 0
    corner = slice(64 - 10, 64), slice(0, 32)
    for index, number in enumerate(picks):
        frame = np.asarray(Image.open(tmp_path / "frames" / f"{index:06d}.png"))
        clean = np.asarray(Image.open(tmp_path / "clean" / f"{index:06d}.png"))
        for candidate in range(12):
            stamped = frame_numbers_stamped(clean[None].copy(), 0, np.array([candidate]))[0]
            matches = np.abs(frame[corner].astype(int) - stamped[corner].astype(int)).max() <= 1
            assert matches == (candidate == number), (index, candidate)
    # A sheet of a training run's snapshots labels each tile with the frame's pool number and the snapshot's kimg.
    assert cli("sheet", "cur.z.npy", "--snapshots", str(run), "-o", "runs.png", "--tile", "96x96").returncode == 0
    sheet = np.asarray(Image.open(tmp_path / "runs.png"))
    band = label_height_px(96)
    for index, label in enumerate([f"f{n} · {kimg} kimg" for kimg in (40, 400) for n in picks]):
        x, y = cell_origin(index, len(picks), (96, 96))
        np.testing.assert_array_equal(sheet[y + 96 : y + 96 + band, x : x + 96], caption_image(label, 96, band))
