"""Curation without the editor: frame selections, pick, concat, resampling near a curated set, held proxies, pool origins."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from latentcut.errors import UsageError
from latentcut.latent.curation import Numbering, exploded_cuts, frame_of, frame_selection, near_latents
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence
from latentcut.render.labels import caption_image, frame_numbers_stamped, label_height_px
from latentcut.render.sheet import cell_origin


def test_a_selection_keeps_repeats_and_ranges_in_order():
    assert frame_selection("3,7x2,9-12", Numbering.positions(20)) == [3, 7, 7, 9, 10, 11, 12]
    assert frame_selection("0-1x2, 5", Numbering.positions(20)) == [0, 0, 1, 1, 5]
    assert frame_selection("00:00:01:10,00:00:00:03-00:00:00:04", Numbering.positions(100), Fraction(25)) == [35, 3, 4]
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
        frame_selection(text, Numbering.positions(20), Fraction(25))


@pytest.mark.parametrize("shown", [[17, 4, 4, 9, 21], [33, 2, 30, 30, 11, 5]])
def test_on_a_sequence_numbered_by_pool_a_typed_number_names_the_frame_that_shows_it(shown):
    numbering = Numbering(np.array(shown), True, "cur.z.npy")
    first = {number: shown.index(number) for number in shown}  # a number shown twice names its first frame
    for number in shown:
        assert frame_selection(str(number), numbering) == [first[number]]
    assert frame_selection(f"{shown[-1]},{shown[0]}x2", numbering) == [first[shown[-1]], first[shown[0]], first[shown[0]]]
    # A range selects the pool numbers it holds, each once, in the sequence's order.
    low, high = sorted(shown)[1], sorted(shown)[-2]
    assert frame_selection(f"{low}-{high}", numbering) == sorted({first[n] for n in shown if low <= n <= high})
    assert frame_selection("0-99", numbering) == sorted(set(first.values()))
    # Timecodes stay positions in time.
    assert frame_selection("00:00:00:01", numbering, Fraction(25)) == [1]
    missing = max(shown) + 7
    with pytest.raises(UsageError, match=rf"^cur.z.npy holds no pool frame {missing}; the nearest it holds are .*{max(shown)}\b"):
        frame_selection(f"{shown[0]},{missing}", numbering)
    with pytest.raises(UsageError, match="holds no pool frame in 22-29"):
        frame_selection("22-29", numbering)


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
    assert cli("pick", "a.z.npy", "--frames", "12,7x2", "-o", "b.z.npy").returncode == 0  # as a.z.npy's sheet shows them
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
    assert made["how"] == "near" and set(made["parents"]["frames"]) <= {3, 7, 9, 10, 11, 12}
    assert cli("pick", "pool.z.npy", "--frames", "30", "-o", "x.z.npy").returncode == 2


def test_a_held_render_burns_in_the_pool_numbers_and_holds_each_latent(cli, tmp_path, cppn):
    cli("sample", "pool.z.npy", "--count", "12", "--seed", "3")
    cli("pick", "pool.z.npy", "--frames", "9,4", "-o", "two.z.npy")
    result = cli("render", "two.z.npy", "-o", "held", "--preset", "online", "--size", "64x64", "--hold", "3", "--frame-numbers")
    assert result.returncode == 0, result.stderr
    held = load_sequence(tmp_path / "held.hold3.z.npy")
    pool = np.load(tmp_path / "pool.z.npy")
    np.testing.assert_array_equal(held.latents, pool[[9, 9, 9, 4, 4, 4]])
    assert held.meta.made["hold"] == 3 and held.meta.made["origin"]["frames"] == [9, 9, 9, 4, 4, 4]
    for index, number in ((0, 9), (5, 4)):
        frame = np.asarray(Image.open(tmp_path / "held" / f"{index:06d}.png"))
        expected = frame_numbers_stamped(cppn.render(pool[number : number + 1], (64, 64)), 0, np.array([number]))
        label = slice(64 - 10, 64), slice(0, 40)  # the burned-in number's corner
        assert np.abs(frame[label].astype(int) - expected[0][label].astype(int)).max() <= 1
    # README's first step: the held sequence beside two.mp4 is two.hold2.z.npy, never the pool's own name.
    before = (tmp_path / "two.z.json").read_bytes()
    assert cli("render", "two.z.npy", "-o", "two.mp4", "--hold", "2").returncode == 0
    assert (tmp_path / "two.z.json").read_bytes() == before and load_sequence(tmp_path / "two.hold2.z.npy").meta.frames == 4


def _burned_number(frame: np.ndarray, clean: np.ndarray, candidates: range) -> int:
    """Read the number burned into a lossless ``frame``: the one candidate whose stamp on the ``clean`` picture gives its corner."""
    height = frame.shape[0]
    corner = slice(height - max(10, height // 16), height), slice(0, frame.shape[1] // 2)
    found = []
    for number in candidates:
        stamped = frame_numbers_stamped(clean[None].copy(), 0, np.array([number]))[0]
        if np.abs(stamped[corner].astype(int) - frame[corner].astype(int)).max() <= 1:
            found.append(number)
    assert len(found) == 1, found
    return found[0]


def _sheet_labels(path, count: int, columns: int, tile: tuple[int, int], candidates: list[str]) -> list[str]:
    """Read the caption under each of the first ``count`` tiles of a sheet: the candidate drawn there, pixel for pixel."""
    sheet = np.asarray(Image.open(path))
    band = label_height_px(tile[1])
    found = []
    for index in range(count):
        x, y = cell_origin(index, columns, tile)
        caption = sheet[y + tile[1] : y + tile[1] + band, x : x + tile[0]]
        matches = [text for text in candidates if np.array_equal(caption, caption_image(text, tile[0], band))]
        assert len(matches) == 1, (index, matches)
        found.append(matches[0])
    return found


@pytest.mark.parametrize(("count", "seed", "picks"), [(24, 5, "17,4x2,9,21"), (40, 8, "33,2,30x2,11")])
def test_every_command_shows_and_records_pool_numbers(cli, tmp_path, cppn, count, seed, picks):
    assert cli("sample", "pool.z.npy", "--count", str(count), "--seed", str(seed), "--model", "builtin:cppn").returncode == 0
    assert cli("pick", "pool.z.npy", "--frames", picks, "-o", "cur.z.npy").returncode == 0
    numbers = frame_selection(picks, Numbering.positions(count))  # each curated frame's pool number
    pool_id = load_sequence(tmp_path / "pool.z.npy").meta.id
    every = [str(n) for n in range(count)]
    # The curated set's sheet and its burned-in numbers show pool numbers, not positions in the set.
    assert cli("sheet", "cur.z.npy", "-o", "cur.png", "--tile", "32x32", "--columns", "5").returncode == 0
    assert _sheet_labels(tmp_path / "cur.png", len(numbers), 5, (32, 32), every) == [str(n) for n in numbers]
    result = cli("render", "cur.z.npy", "-o", "cur", "--preset", "online", "--size", "64x64", "--frame-numbers", "--no-progress")
    assert result.returncode == 0, result.stderr
    clean = cppn.render(np.load(tmp_path / "cur.z.npy"), (64, 64))
    burned = [
        _burned_number(np.asarray(Image.open(tmp_path / "cur" / f"{i:06d}.png")), clean[i], range(count))
        for i in range(len(numbers))
    ]
    assert burned == numbers
    # A snapshot sheet labels a frame and a snapshot together.
    assert (
        cli(
            "sheet",
            "cur.z.npy",
            "--frames",
            f"{numbers[0]},{numbers[1]}",
            "--snapshots",
            "3,27",
            "-o",
            "snaps.png",
            "--tile",
            "48x48",
        ).returncode
        == 0
    )
    snaps = [f"f{n} · @{s}" for n in range(count) for s in (3, 27)]
    shown = _sheet_labels(tmp_path / "snaps.png", 4, 2, (48, 48), snaps)
    assert shown == [f"f{numbers[0]} · @3", f"f{numbers[1]} · @3", f"f{numbers[0]} · @27", f"f{numbers[1]} · @27"]
    # Journeys between curated frames: printed lines, the sheet and the sidecars all say pool numbers.
    result = cli(
        "journeys", "cur.z.npy", "--count", "2", "-o", "trips", "--frames-per-segment", "3", "--size", "32x32", "--seed", "1",
        "--no-progress",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    expected_labels = []
    for index in (1, 2):
        made = json.loads((tmp_path / "trips" / f"journey-00{index}.z.json").read_text())["made"]
        first, last = (numbers[k] for k in (made["keys"][0], made["keys"][-1]))  # keys count positions in cur.z.npy
        assert f"journey-00{index}.z.npy: {first} -> {last}" in result.stdout.splitlines()
        assert made["origin"] == {"pool": pool_id, "sidecar": "pool.z.npy", "frames": [first, -1, -1, last]}
        expected_labels += [f"{index}: {first}", f"{index}: mid", f"{index}: {last}"]
    labels = [f"{j}: {n}" for j in (1, 2) for n in [*range(count), "mid"]]
    assert _sheet_labels(tmp_path / "trips" / "journeys.png", 6, 3, (128, 128), labels) == expected_labels
    # One journey, honed and retimed: keyframes keep their pool numbers where their latents stay.
    keys = f"{numbers[0]},{numbers[2]},{numbers[3]}"  # as the curated set's sheet shows them
    cli("journey", "cur.z.npy", "--keys", keys, "--frames-per-segment", "4", "--interp", "slerp", "-o", "trip.z.npy")
    trip = load_sequence(tmp_path / "trip.z.npy")
    assert trip.meta.made["origin"]["frames"] == [numbers[0], -1, -1, -1, numbers[2], -1, -1, -1, numbers[3]]
    assert (
        cli(
            "hone", "trip.z.npy", "-o", "honed.z.npy", "--at", "6", "--toward", "1", "--pool", "pool.z.npy", "--width", "2"
        ).returncode
        == 0
    )
    honed = load_sequence(tmp_path / "honed.z.npy").meta.made
    assert honed["origin"]["frames"] == [numbers[0], -1, -1, -1, numbers[2], -1, -1, -1, numbers[3]]
    assert cli("hone", "trip.z.npy", "-o", "bent.z.npy", "--at", "4", "--toward", "1", "--pool", "pool.z.npy").returncode == 0
    assert load_sequence(tmp_path / "bent.z.npy").meta.made["origin"]["frames"] == [numbers[0]] + [-1] * 7 + [numbers[3]]
    result = cli("retime", "trip.z.npy", "-o", "even.z.npy", "--measure-size", "16", "--check-size", "16")
    assert result.returncode == 0, result.stderr
    assert load_sequence(tmp_path / "even.z.npy").meta.made["origin"]["frames"] == [numbers[0]] + [-1] * 7 + [numbers[3]]
    # Neighbourhoods keep their centres' pool numbers; the variations around them are new latents.
    assert (
        cli(
            "neighbours",
            "cur.z.npy",
            "--frames",
            f"{numbers[1]},{numbers[3]}",
            "--radius",
            "5",
            "--count",
            "2",
            "--include-centre",
            "-o",
            "nb.z.npy",
        ).returncode
        == 0
    )
    assert load_sequence(tmp_path / "nb.z.npy").meta.made["origin"]["frames"] == [numbers[1], -1, -1, numbers[3], -1, -1]
    result = cli(
        "sheet",
        "cur.z.npy",
        "--around",
        str(numbers[2]),
        "--radii",
        "4,8",
        "--save",
        "around.z.npy",
        "-o",
        "around.png",
        "--tile",
        "32x32",
    )
    assert result.returncode == 0, result.stderr
    assert load_sequence(tmp_path / "around.z.npy").meta.made["origin"]["frames"] == [numbers[2], -1, -1]
    around = [str(numbers[2]), f"{numbers[2]} +4°", f"{numbers[2]} +8°"]
    assert _sheet_labels(tmp_path / "around.png", 3, 3, (32, 32), around) == around
    # Resampling near the curated set: each new latent names its parent's pool number, and its tile says so.
    assert cli("sample", "near.z.npy", "--near", "cur.z.npy", "--count", "6", "--seed", "2").returncode == 0
    near = load_sequence(tmp_path / "near.z.npy")
    parents = near.meta.made["parents"]
    assert parents["pool"] == pool_id and set(parents["frames"]) <= set(numbers) and len(parents["frames"]) == 6
    curated = np.load(tmp_path / "cur.z.npy")
    pool = np.load(tmp_path / "pool.z.npy")
    for latent, parent in zip(near.latents, parents["frames"], strict=True):  # nearer its parent than any other curated frame
        assert int(np.argmax(curated @ latent)) in [i for i, n in enumerate(numbers) if n == parent]
        assert int(np.argmax(pool @ latent)) == parent
    assert cli("sheet", "near.z.npy", "-o", "near.png", "--tile", "32x32").returncode == 0
    near_labels = [f"{i} · p{n}" for i in range(6) for n in range(count)]
    assert _sheet_labels(tmp_path / "near.png", 6, 10, (32, 32), near_labels) == [
        f"{i} · p{p}" for i, p in enumerate(parents["frames"])
    ]


@pytest.mark.parametrize(
    ("count", "seed", "picks"),
    [(30, 11, [23, 6, 14, 6, 27, 2, 19, 9, 12, 25]), (40, 4, [31, 8, 37, 15, 0, 22, 22, 5, 29, 11, 3])],
)
def test_a_number_typed_on_a_curated_set_names_the_frame_its_sheet_shows(cli, tmp_path, cppn, count, seed, picks):
    from latentcut.latent.attributes import balanced_difference
    from latentcut.latent.curation import burned_numbers
    from latentcut.latent.grids import analogy_latent
    from latentcut.latent.honing import waypoint_journey

    assert cli("sample", "pool.z.npy", "--count", str(count), "--seed", str(seed), "--model", "builtin:cppn").returncode == 0
    assert cli("pick", "pool.z.npy", "--frames", ",".join(map(str, picks)), "-o", "cur.z.npy").returncode == 0
    pool = np.load(tmp_path / "pool.z.npy")
    assert burned_numbers(load_sequence(tmp_path / "cur.z.npy")).tolist() == picks  # what its sheet and proxy show
    a, b, c, d = picks[5], picks[2], picks[7], picks[8]
    assert any(n < len(picks) and picks[n] != n for n in (a, b, c))  # read as a position, another latent: the old trap
    where = {number: picks.index(number) for number in picks}  # the first frame showing each number

    def ok(*args: str):
        result = cli(*args)
        assert result.returncode == 0, result.stderr
        return result

    ok("pick", "cur.z.npy", "--frames", f"{a},{b}x2", "-o", "picked.z.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "picked.z.npy"), pool[[a, b, b]])
    ok("sheet", "cur.z.npy", "--frames", str(b), "-o", "one.png", "--tile", "16x16")
    x, y = cell_origin(0, 10, (16, 16))
    tile = np.asarray(Image.open(tmp_path / "one.png").convert("RGB"))[y : y + 16, x : x + 16]
    np.testing.assert_array_equal(tile, cppn.render(pool[b : b + 1], (16, 16))[0])
    ok("sheet", "cur.z.npy", "--around", str(c), "--radii", "5", "--save", "around.z.npy", "-o", "around.png", "--tile", "16x16")
    np.testing.assert_array_equal(np.load(tmp_path / "around.z.npy")[0], pool[c])
    ok("neighbours", "cur.z.npy", "--frames", str(a), "--radius", "5", "--count", "1", "--include-centre", "-o", "nb.z.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "nb.z.npy")[0], pool[a])
    ok("journey", "cur.z.npy", "--keys", f"{a},{b}", "--frames-per-segment", "3", "--interp", "lerp", "-o", "trip.z.npy")
    trip = np.load(tmp_path / "trip.z.npy")
    np.testing.assert_allclose(trip[[0, -1]], pool[[a, b]], rtol=1e-6, atol=1e-6)
    result = ok(
        "journeys", "cur.z.npy", "--count", "1", "--from", f"{a},{c}", "--frames-per-segment", "2", "-o", "trips",
        "--size", "16x16", "--no-progress",
    )  # fmt: skip
    made = load_sequence(tmp_path / "trips" / "journey-001.z.npy").meta.made
    assert sorted(made["keys"]) == sorted([where[a], where[c]])  # positions in cur.z.npy
    first, last = (picks[k] for k in made["keys"])
    assert f"journey-001.z.npy: {first} -> {last}" in result.stdout
    np.testing.assert_allclose(np.load(tmp_path / "trips" / "journey-001.z.npy")[[0, -1]], pool[[first, last]], atol=1e-6)
    ok("analogy", "cur.z.npy", str(a), str(b), str(c), "-o", "d.z.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "d.z.npy")[0], analogy_latent(pool[a], pool[b], pool[c]))
    ok("jdiagram", "cur.z.npy", str(a), str(b), str(c), "-o", "jd.png", "--size", "2", "--tile", "16x16", "--save", "jd.z.npy")
    np.testing.assert_allclose(np.load(tmp_path / "jd.z.npy")[:3], pool[[a, b, c]], atol=1e-6)
    ok("mine", "cur.z.npy", "--frame", str(b), "-o", "mine.png", "--grid", "3x3", "--tile", "16x16", "--save", "mine.z.npy")
    np.testing.assert_allclose(np.load(tmp_path / "mine.z.npy")[4], pool[b], atol=1e-6)
    ok("attribute", "cur.z.npy", "--with", f"{a},{b}", "--without", str(c), "-o", "plain.attr.npy")
    rows = pool[[a, b, c]].astype(np.float64)
    np.testing.assert_allclose(np.load(tmp_path / "plain.attr.npy"), rows[:2].mean(0) - rows[2], rtol=1e-5)
    (tmp_path / "labels.json").write_text(json.dumps({"marked": f"{a},{c}"}))  # labels name frames as the sheet does
    ok(
        "attribute",
        "cur.z.npy",
        "--with",
        f"{a},{b}",
        "--without",
        f"{c},{d}",
        "--balance-by",
        "labels.json",
        "-o",
        "b.attr.npy",
    )
    expected, _ = balanced_difference(pool[[a, b, c, d]], [0, 1], [2, 3], {"marked": [0, 2]})
    np.testing.assert_allclose(np.load(tmp_path / "b.attr.npy"), expected, rtol=1e-5)
    # hone: the waypoint is a frame of the curated --pool, by its number; the journey's own frames count by position.
    ok("hone", "trip.z.npy", "-o", "honed.z.npy", "--at", "1", "--toward", str(c), "--pool", "cur.z.npy", "--width", "1")
    np.testing.assert_array_equal(np.load(tmp_path / "honed.z.npy"), waypoint_journey(trip, 1, pool[c], 0.5, 1))
    waypoint = load_sequence(tmp_path / "honed.z.npy").meta.made["waypoint"]
    assert (waypoint["frame"], waypoint["pool_number"]) == (where[c], c)

    # A journey is numbered by position: its sheet says so, and a typed number is a position.
    ok("sheet", "trip.z.npy", "-o", "trip.png", "--tile", "16x16")
    assert _sheet_labels(tmp_path / "trip.png", 4, 10, (16, 16), [str(n) for n in range(count)]) == ["0", "1", "2", "3"]
    ok("pick", "trip.z.npy", "--frames", "1-2", "-o", "mid.z.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "mid.z.npy"), trip[1:3])
    assert cli("pick", "trip.z.npy", "--frames", "4", "-o", "x.z.npy").returncode == 2

    # A number the curated set does not hold: one line naming the set and the numbers it holds nearby, exit 2.
    missing = next(n for n in range(count) if n not in picks and n < len(picks))
    refusals = [
        ("pick", "cur.z.npy", "--frames", f"{a},{missing}", "-o", "x.z.npy"),
        ("sheet", "cur.z.npy", "--frames", str(missing), "-o", "x.png"),
        ("sheet", "cur.z.npy", "--around", str(missing), "-o", "x.png"),
        ("neighbours", "cur.z.npy", "--frames", str(missing), "--radius", "5", "--count", "1", "-o", "x.z.npy"),
        ("journey", "cur.z.npy", "--keys", f"{a},{missing}", "--frames-per-segment", "3", "-o", "x.z.npy"),
        ("journeys", "cur.z.npy", "--count", "1", "--from", f"{a},{missing}", "-o", "x"),
        ("analogy", "cur.z.npy", str(a), str(missing), str(c), "-o", "x.z.npy"),
        ("jdiagram", "cur.z.npy", str(a), str(b), str(missing), "-o", "x.png"),
        ("mine", "cur.z.npy", "--frame", str(missing), "-o", "x.png"),
        ("attribute", "cur.z.npy", "--with", str(a), "--without", str(missing), "-o", "x.attr.npy"),
        ("hone", "trip.z.npy", "-o", "x.z.npy", "--at", "1", "--away", str(missing), "--pool", "cur.z.npy"),
    ]
    for args in refusals:
        result = cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        (line,) = result.stderr.strip().splitlines()
        assert f"cur.z.npy holds no pool frame {missing}; the nearest it holds are" in line, (args, line)
        assert "latentcut sheet cur.z.npy" in line
    assert not list(tmp_path.glob("x*"))
