import itertools
import json

import numpy as np
import pytest

from digit_measures import decoded_ink, digits_model, encoded_digits, predicted_classes
from latentcut.errors import InputError, UsageError
from latentcut.latent.attributes import (
    AttributeUse,
    augmented_images,
    balanced_difference,
    labels_from_json,
    load_attribute,
    mean_difference,
    parse_attribute_use,
    save_attribute,
    synthetic_difference,
    with_attributes,
)
from latentcut.models.digits import digit_images

AMOUNTS = (0.0, 0.5, 1.0, 1.5, 2.0)


def _by_ink(classes_wanted: tuple[int, ...]) -> dict[tuple[int, str], np.ndarray]:
    """Per class: the frames with the most ink (top 40 %) and the least (bottom 40 %)."""
    images, classes = digit_images()
    ink = images.reshape(len(images), -1).mean(axis=1)
    groups = {}
    for digit in classes_wanted:
        frames = np.flatnonzero(classes == digit)
        low, high = np.quantile(ink[frames], [0.4, 0.6])
        groups[(digit, "thick")] = frames[ink[frames] >= high]
        groups[(digit, "thin")] = frames[ink[frames] <= low]
    return groups


def test_moving_along_the_thick_vector_raises_ink_monotonically():
    latents, _ = encoded_digits()
    images, _ = digit_images()
    ink = images.reshape(len(images), -1).mean(axis=1)
    low, high = np.quantile(ink, [1 / 3, 2 / 3])
    thick = mean_difference(latents, np.flatnonzero(ink >= high), np.flatnonzero(ink <= low))
    start = latents[-200:]  # digits of every class
    measured = [decoded_ink(with_attributes(start, [(thick, a, a)])).mean() for a in AMOUNTS]
    assert all(later > earlier + 0.005 for earlier, later in itertools.pairwise(measured)), measured
    # A ramp over a journey grows the ink frame by frame too.
    for digit in start[:5]:
        ramp = decoded_ink(with_attributes(np.repeat(digit[None], 5, axis=0), [(thick, 0.0, 2.0)]))
        assert np.all(np.diff(ramp.mean(axis=(1, 2))) > 0), ramp.mean(axis=(1, 2))


def test_bias_corrected_thickness_changes_class_less_than_the_plain_vector():
    # The artist's picks are biased: thick examples are nearly all zeros, thin ones nearly all sevens.
    groups = _by_ink((0, 7))
    with_frames = np.concatenate([groups[(0, "thick")], groups[(7, "thick")][:8]])
    without_frames = np.concatenate([groups[(7, "thin")], groups[(0, "thin")][:8]])
    latents, classes = encoded_digits()
    labels = {"zero": np.flatnonzero(classes == 0).tolist(), "seven": np.flatnonzero(classes == 7).tolist()}
    plain = mean_difference(latents, with_frames, without_frames)
    corrected, balance = balanced_difference(latents, with_frames, without_frames, labels)
    assert balance.combinations == (("seven",), ("zero",)) and balance.dropped_frames == ()
    start = latents[np.isin(classes, (0, 7))]
    before_class, before_ink = predicted_classes(start), decoded_ink(start).mean()
    changes = {}
    for name, vector in (("plain", plain), ("corrected", corrected)):
        moved = with_attributes(start, [(vector, 1.5, 1.5)])
        changes[name] = (decoded_ink(moved).mean() - before_ink, (predicted_classes(moved) != before_class).mean())
    assert changes["corrected"][0] > 0.02  # it still thickens
    # Class changes per unit of added ink: the corrected vector is far cleaner.
    assert changes["corrected"][1] / changes["corrected"][0] < 0.5 * changes["plain"][1] / changes["plain"][0], changes


def test_balanced_difference_is_the_mean_of_per_combination_differences():
    rng = np.random.default_rng(0)
    pool = rng.standard_normal((12, 4)).astype(np.float32)
    labels = {"a": [0, 1, 2, 6], "b": [2, 3, 4, 5, 7]}
    vector, balance = balanced_difference(pool, [0, 1, 2, 3, 4, 11], [6, 7, 8, 5], labels)
    # ("a", "b") has frame 2 only --with, and () has 11 --with and 8 --without.
    expected = np.mean([pool[[0, 1]].mean(0) - pool[6], pool[[3, 4]].mean(0) - pool[[7, 5]].mean(0), pool[11] - pool[8]], axis=0)
    np.testing.assert_allclose(vector, expected, rtol=1e-5)
    assert balance.combinations == ((), ("a",), ("b",)) and balance.dropped_frames == (2,)
    assert balance.replicated_to == 2


def test_frame_lists_are_checked():
    pool = np.zeros((5, 3), np.float32)
    with pytest.raises(UsageError, match="outside the pool"):
        mean_difference(pool, [1, 9], [2])
    with pytest.raises(UsageError, match="both --with and --without"):
        mean_difference(pool, [1, 2], [2])
    with pytest.raises(UsageError, match="no combination"):
        balanced_difference(pool, [0], [1], {"x": [0]})


def test_labels_file(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"zero": "0-2,7", "one": [3, 4]}))
    assert labels_from_json(path) == {"zero": [0, 1, 2, 7], "one": [3, 4]}
    path.write_text(json.dumps({"zero": "2-0"}))
    with pytest.raises(InputError, match="runs backwards"):
        labels_from_json(path)
    path.write_text("[1, 2]")
    with pytest.raises(InputError, match="object of labels"):
        labels_from_json(path)
    with pytest.raises(InputError, match="not found"):
        labels_from_json(tmp_path / "missing.json")


def test_synthetic_thickening_vector_adds_ink():
    images, _ = digit_images()
    frames = np.repeat((images[:300] * 255 + 0.5).astype(np.uint8)[..., None], 3, axis=3)
    assert augmented_images(frames, "thicken").mean() > frames.mean() > augmented_images(frames, "thin").mean()
    np.testing.assert_array_equal(augmented_images(frames, "flip")[:, :, 0], frames[:, :, -1])
    vector = synthetic_difference(digits_model().encode, frames, "thicken")
    start, _ = encoded_digits()
    measured = [decoded_ink(with_attributes(start[-100:], [(vector, a, a)])).mean() for a in (0.0, 0.5, 1.0)]
    assert measured[0] < measured[1] < measured[2]
    with pytest.raises(UsageError, match="unknown augmentation"):
        augmented_images(frames, "melt")


def test_applied_attributes_keep_norms_and_ramp():
    rng = np.random.default_rng(1)
    latents = np.repeat(rng.standard_normal((1, 8)).astype(np.float32), 5, axis=0)
    vector = rng.standard_normal(8).astype(np.float32)
    moved = with_attributes(latents, [(vector, 0.0, 2.0)])
    np.testing.assert_allclose(np.linalg.norm(moved, axis=1), np.linalg.norm(latents, axis=1), rtol=1e-5)
    np.testing.assert_allclose(moved[0], latents[0], rtol=1e-6)  # the ramp starts at 0
    along = [float(m @ vector) for m in moved]
    assert all(b > a for a, b in itertools.pairwise(along))
    np.testing.assert_array_equal(with_attributes(latents, []), latents)
    np.testing.assert_allclose(with_attributes(latents, [(vector, 1.0, 1.0)], space="w"), latents + vector, rtol=1e-6)
    np.testing.assert_allclose(with_attributes(np.zeros((1, 8), np.float32), [(vector, 2.0, 2.0)])[0], 2 * vector, rtol=1e-6)


def test_attribute_files_and_option_text(tmp_path):
    path = tmp_path / "thick.attr.npy"
    save_attribute(path, np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(load_attribute(path, 4), np.arange(4, dtype=np.float32))
    with pytest.raises(InputError, match="dim 4 but the latents have 16"):
        load_attribute(path, 16)
    with pytest.raises(UsageError, match="NAME.attr.npy"):
        save_attribute(tmp_path / "thick.npy", np.zeros(4))
    assert parse_attribute_use("a=b.attr.npy=1.5") == AttributeUse(tmp_path.__class__("a=b.attr.npy"), 1.5, 1.5)
    assert parse_attribute_use("thick.attr.npy=0:-1.5e0") == AttributeUse(tmp_path.__class__("thick.attr.npy"), 0.0, -1.5)
    for bad in ("thick.attr.npy", "thick.attr.npy=", "=1", "thick.attr.npy=1:2:3", "thick.attr.npy=..."):
        with pytest.raises(UsageError):
            parse_attribute_use(bad)
