"""Curation without the editor: frame selections, pick, concat, resampling near a curated set, held proxies, pool origins."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from latentcut.errors import UsageError
from latentcut.latent.curation import exploded_cuts, frame_of, frame_selection, near_latents
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence
from latentcut.render.labels import frame_numbers_stamped


def test_a_selection_keeps_repeats_and_ranges_in_order():
    assert frame_selection("3,7x2,9-12", 20) == [3, 7, 7, 9, 10, 11, 12]
    assert frame_selection("0-1x2, 5", 20) == [0, 0, 1, 1, 5]
    assert frame_selection("00:00:01:10,00:00:00:03-00:00:00:04", 100, Fraction(25)) == [35, 3, 4]
    assert frame_of("00:00:01.400", Fraction(25)) == 35
    assert frame_of("00:00:01:10", Fraction(30000, 1001)) == 40  # timecode frames count at the rounded rate


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3,25", "past the sequence's 20 frames"),
        ("9-4", "runs backwards"),
        ("3x0", "0 times"),
        ("a", "not a frame number"),
        ("00:00:01:30", "past the 25"),
    ],
)
def test_a_bad_selection_says_what_is_wrong(text, message):
    with pytest.raises(UsageError, match=message):
        frame_selection(text, 20, Fraction(25))


def test_resampling_near_a_curated_set_stays_within_the_spread_on_each_frames_shell():
    curated = gaussian_latents(3, 64, 1)
    curated = np.concatenate([curated, curated[2:3]])  # frame 2 duplicated: twice as likely
    near, parents = near_latents(curated, 4000, np.radians(10), 7)
    centres = curated[parents].astype(np.float64)
    cos = np.sum(near * centres, axis=1) / np.linalg.norm(near, axis=1) / np.linalg.norm(centres, axis=1)
    angles = np.degrees(np.arccos(np.clip(cos, -1, 1)))
    assert angles.max() <= 10 + 1e-3 and angles.mean() == pytest.approx(5, abs=0.3)
    np.testing.assert_allclose(np.linalg.norm(near, axis=1), np.linalg.norm(centres, axis=1), rtol=1e-5)
    share = np.bincount(parents, minlength=4) / len(parents)
    assert share[2] + share[3] == pytest.approx(0.5, abs=0.03)
    np.testing.assert_array_equal(near_latents(curated, 5, 0.1, 7)[0], near_latents(curated, 5, 0.1, 7)[0])


def test_exploded_cuts_give_one_piece_per_latent_or_per_held_block():
    assert exploded_cuts([3, 6], [1, 3]) == [(0, 0, 0), (0, 1, 1), (0, 2, 2), (1, 0, 2), (1, 3, 5)]


def test_pick_pick_concat_keep_each_frames_number_in_the_original_pool(cli, tmp_path):
    assert cli("sample", "pool.z.npy", "--count", "20", "--seed", "3").returncode == 0
    assert cli("pick", "pool.z.npy", "--frames", "3,7x2,9-12", "-o", "a.z.npy").returncode == 0
    assert cli("pick", "a.z.npy", "--frames", "6,1x2", "-o", "b.z.npy").returncode == 0
    result = cli("concat", "a.z.npy", "b.z.npy", "-o", "ab.z.npy")
    assert result.returncode == 0, result.stderr
    pool = np.load(tmp_path / "pool.z.npy")
    expected = [3, 7, 7, 9, 10, 11, 12, 12, 7, 7]
    np.testing.assert_array_equal(np.load(tmp_path / "ab.z.npy"), pool[expected])
    made = json.loads((tmp_path / "ab.z.json").read_text())["made"]
    assert made["origin"]["frames"] == expected and made["origin"]["pool"] == load_sequence(tmp_path / "pool.z.npy").meta.id
    assert json.loads((tmp_path / "a.z.json").read_text())["made"]["frames"] == [3, 7, 7, 9, 10, 11, 12]
    near = cli("sample", "near.z.npy", "--near", "a.z.npy", "--count", "5", "--spread", "6", "--seed", "1")
    assert near.returncode == 0, near.stderr
    made = json.loads((tmp_path / "near.z.json").read_text())["made"]
    assert made["how"] == "near" and set(made["parents_in_pool"]["frames"]) <= {3, 7, 9, 10, 11, 12}
    assert cli("pick", "pool.z.npy", "--frames", "30", "-o", "x.z.npy").returncode == 2


def test_a_held_render_burns_in_the_pool_numbers_and_holds_each_latent(cli, tmp_path, cppn):
    cli("sample", "pool.z.npy", "--count", "12", "--seed", "3")
    cli("pick", "pool.z.npy", "--frames", "9,4", "-o", "two.z.npy")
    result = cli("render", "two.z.npy", "-o", "held", "--preset", "online", "--size", "64x64", "--hold", "3", "--frame-numbers")
    assert result.returncode == 0, result.stderr
    held = load_sequence(tmp_path / "held.z.npy")
    pool = np.load(tmp_path / "pool.z.npy")
    np.testing.assert_array_equal(held.latents, pool[[9, 9, 9, 4, 4, 4]])
    assert held.meta.made["hold"] == 3 and held.meta.made["origin"]["frames"] == [9, 9, 9, 4, 4, 4]
    for index, number in ((0, 9), (5, 4)):
        frame = np.asarray(Image.open(tmp_path / "held" / f"{index:06d}.png"))
        expected = frame_numbers_stamped(cppn.render(pool[number : number + 1], (64, 64)), 0, np.array([number]))
        label = slice(64 - 10, 64), slice(0, 40)  # the burned-in number's corner
        assert np.abs(frame[label].astype(int) - expected[0][label].astype(int)).max() <= 1
    assert cli("render", "two.z.npy", "-o", "two.mp4", "--hold", "2").returncode == 2  # would overwrite two.z.npy
