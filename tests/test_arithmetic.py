import json

import numpy as np
from PIL import Image

from digit_measures import as_frames, digits_model, encoded_digits
from latentcut.latent.sidecar import ModelRef, load_sequence, save_sequence
from latentcut.models.digits import digit_images
from latentcut.render.sheet import cell_origin


def _digit_pool(tmp_path, count=120):
    """A pool of encoded digits recorded as made for builtin:digits; returns its path and the digits' classes."""
    latents, classes = encoded_digits()
    model = digits_model()
    save_sequence(tmp_path / "pool.z.npy", latents[:count], fps=25, model=ModelRef(model.spec, model.sha256))
    return tmp_path / "pool.z.npy", classes[:count]


def test_attribute_plain_balanced_and_synthetic(cli, tmp_path):
    _, classes = _digit_pool(tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps({"zero": np.flatnonzero(classes == 0).tolist()}))
    plain = cli("attribute", "pool.z.npy", "--with", "0-9", "--without", "10-29", "-o", "a.attr.npy")
    assert plain.returncode == 0, plain.stderr
    assert "mean difference" in plain.stdout
    latents = load_sequence(tmp_path / "pool.z.npy").latents
    np.testing.assert_allclose(np.load(tmp_path / "a.attr.npy"), latents[:10].mean(0) - latents[10:30].mean(0), rtol=1e-5)
    balanced = cli(
        "attribute", "pool.z.npy", "--with", "0-9", "--without", "10-29", "--balance-by", "labels.json", "-o", "b.attr.npy"
    )
    assert balanced.returncode == 0, balanced.stderr
    assert "balanced over" in balanced.stdout
    synthetic = cli("attribute", "pool.z.npy", "--synthetic", "thicken", "-o", "thick.attr.npy")
    assert synthetic.returncode == 0, synthetic.stderr
    assert np.load(tmp_path / "thick.attr.npy").shape == (16,)


def test_attribute_refusals(cli, tmp_path):
    _digit_pool(tmp_path)
    assert cli("attribute", "pool.z.npy", "--with", "0-3", "-o", "a.attr.npy").returncode == 2
    outside = cli("attribute", "pool.z.npy", "--synthetic", "flip", "--with", "1,500", "-o", "a.attr.npy")
    assert outside.returncode == 2 and "pool.z.npy holds no pool frame 500" in outside.stderr
    cppn = cli("attribute", "pool.z.npy", "--synthetic", "flip", "--model", "builtin:cppn", "-o", "a.attr.npy")
    assert cppn.returncode != 0  # the CPPN takes 512-dim latents and has no encoder
    missing = cli("attribute", "pool.z.npy", "--with", "1", "--without", "2", "--balance-by", "nope.json", "-o", "a.attr.npy")
    assert missing.returncode == 1 and "nope.json: labels file not found" in missing.stderr
    assert not (tmp_path / "a.attr.npy").exists()


def test_attribute_applied_on_journey_and_neighbours(cli, tmp_path):
    _digit_pool(tmp_path)
    assert cli("attribute", "pool.z.npy", "--synthetic", "thicken", "-o", "thick.attr.npy").returncode == 0
    plain = cli("journey", "pool.z.npy", "--keys", "1,2", "--frames-per-segment", "4", "-o", "plain.z.npy")
    ramped = cli(
        "journey",
        "pool.z.npy",
        "--keys",
        "1,2",
        "--frames-per-segment",
        "4",
        "--attribute",
        "thick.attr.npy=0:1.5",
        "-o",
        "ramp.z.npy",
    )
    assert plain.returncode == 0 and ramped.returncode == 0, ramped.stderr
    before, after = load_sequence(tmp_path / "plain.z.npy"), load_sequence(tmp_path / "ramp.z.npy")
    np.testing.assert_allclose(after.latents[0], before.latents[0], rtol=1e-6)  # the ramp starts at 0
    ink = [digits_model().render(seq.latents[-1:], (8, 8)).mean() for seq in (before, after)]
    assert ink[1] > ink[0]
    assert after.meta.made["attributes"] == [{"vector": "thick.attr.npy", "start": 0.0, "end": 1.5}]
    near = cli(
        "neighbours",
        "pool.z.npy",
        "--frames",
        "3",
        "--radius",
        "5",
        "--count",
        "2",
        "--attribute",
        "thick.attr.npy=1",
        "-o",
        "n.z.npy",
    )
    assert near.returncode == 0, near.stderr
    wrong = cli(
        "journey",
        "pool.z.npy",
        "--keys",
        "1,2",
        "--frames-per-segment",
        "4",
        "--attribute",
        "thick.attr.npy=lots",
        "-o",
        "x.z.npy",
    )
    assert wrong.returncode == 2 and "NAME.attr.npy=AMOUNT" in wrong.stderr


def test_analogy_jdiagram_and_mine(cli, tmp_path):
    _digit_pool(tmp_path)
    analogy = cli("analogy", "pool.z.npy", "3", "5", "7", "-o", "d.z.npy")
    assert analogy.returncode == 0, analogy.stderr
    d = load_sequence(tmp_path / "d.z.npy")
    assert d.latents.shape == (1, 16) and d.meta.model.spec == "builtin:digits"
    jd = cli("jdiagram", "pool.z.npy", "3", "5", "7", "-o", "jd.png", "--size", "4", "--tile", "32x32", "--save", "jd.z.npy")
    assert jd.returncode == 0, jd.stderr
    with Image.open(tmp_path / "jd.png") as image:
        sheet = np.asarray(image.convert("RGB"))
    pool = load_sequence(tmp_path / "pool.z.npy").latents
    for cell, frame in ((0, 3), (3, 5), (12, 7)):
        x, y = cell_origin(cell, 4, (32, 32))
        np.testing.assert_array_equal(sheet[y : y + 32, x : x + 32], digits_model().render(pool[frame : frame + 1], (32, 32))[0])
    np.testing.assert_allclose(load_sequence(tmp_path / "jd.z.npy").latents[15], d.latents[0], rtol=1e-6)
    mine = cli("mine", "pool.z.npy", "--frame", "9", "-o", "mine.png", "--grid", "5x3", "--tile", "24x24")
    assert mine.returncode == 0, mine.stderr
    with Image.open(tmp_path / "mine.png") as image:
        assert image.size[0] > 5 * 24
    outside = cli("mine", "pool.z.npy", "--frame", "500", "-o", "m.png")
    assert outside.returncode == 2 and "pool.z.npy holds no pool frame 500" in outside.stderr


def test_encode_pictures_through_the_encoder(cli, tmp_path):
    images, _ = digit_images()
    for index in range(3):
        Image.fromarray(as_frames(images[index : index + 1])[0]).resize((48, 48)).save(tmp_path / f"d{index}.png")
    result = cli("encode", "d0.png", "d1.png", "d2.png", "--model", "builtin:digits", "-o", "keys.z.npy")
    assert result.returncode == 0, result.stderr
    assert "d0.png: encoder" in result.stdout
    keys = load_sequence(tmp_path / "keys.z.npy")
    assert keys.latents.shape == (3, 16) and keys.meta.made["method"] == "encoder"
    (tmp_path / "junk.png").write_text("not an image")
    bad = cli("encode", "junk.png", "--model", "builtin:digits", "-o", "k.z.npy")
    assert bad.returncode == 1 and "junk.png: not an image" in bad.stderr


def test_encode_by_optimisation_prints_the_final_loss(cli, tmp_path, cppn):
    Image.fromarray(cppn.render(np.random.default_rng(2).standard_normal((1, 512)).astype(np.float32), (24, 24))[0]).save(
        tmp_path / "frame.png"
    )
    result = cli("encode", "frame.png", "-o", "k.z.npy", "--steps", "5", "--starts", "2", "--fit-size", "16x16", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "frame.png: optimisation, final loss" in result.stdout
    assert load_sequence(tmp_path / "k.z.npy").meta.made["steps"] == 5


def test_attribute_applied_on_a_batch_of_journeys(cli, tmp_path):
    _digit_pool(tmp_path)
    assert cli("attribute", "pool.z.npy", "--synthetic", "thicken", "-o", "thick.attr.npy").returncode == 0
    result = cli(
        "journeys", "pool.z.npy", "--count", "1", "--frames-per-segment", "3", "--size", "32x32", "--seed", "2",
        "--interp", "slerp", "--attribute", "thick.attr.npy=1", "-o", "trips", "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    journey = load_sequence(tmp_path / "trips" / "journey-001.z.npy")
    assert journey.meta.made["attributes"] == [{"vector": "thick.attr.npy", "start": 1.0, "end": 1.0}]
    pool = load_sequence(tmp_path / "pool.z.npy").latents
    first_key = journey.meta.made["keys"][0]
    assert (
        digits_model().render(journey.latents[:1], (8, 8)).mean()
        > digits_model().render(pool[first_key : first_key + 1], (8, 8)).mean()
    )
