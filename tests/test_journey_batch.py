"""Journeys in batches: reproducible keys, chained and fixed-source plans, and the batch's files (sidecars, proxies, project, sheet)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from PIL import Image

from indexclips import melt_frames
from latentcut.editor.mlt_module import mlt_environment
from latentcut.errors import UsageError
from latentcut.latent.journey import journey_keys
from latentcut.render.labels import caption_image, label_height_px
from latentcut.render.sheet import cell_origin
from resave import kdenlive_resave, needs_kdenlive

SIZE = (64, 48)  # the frame size tests/indexclips.melt_frames decodes
FRAMES_PER_SEGMENT = 6


def test_journey_keys_are_reproducible_and_follow_the_chosen_order():
    assert journey_keys(50, 5, seed=4) == journey_keys(50, 5, seed=4) != journey_keys(50, 5, seed=5)
    assert all(len(set(keys)) == 3 for keys in journey_keys(50, 20, keys=3, seed=1))
    chained = journey_keys(50, 6, keys=3, seed=2, chain=True)
    assert all(a[-1] == b[0] for a, b in itertools.pairwise(chained))
    fixed = journey_keys(50, 6, seed=2, keep_source=True, among=[9, 1, 2, 3, 4])
    assert {keys[0] for keys in fixed} == {9} and sorted(k[1] for k in fixed[:4]) == [1, 2, 3, 4]
    assert set(sum(journey_keys(50, 10, seed=2, among=[3, 17, 40]), ())) <= {3, 17, 40}
    with pytest.raises(UsageError, match="contradict"):
        journey_keys(50, 2, chain=True, keep_source=True)
    with pytest.raises(UsageError, match="outside the pool"):
        journey_keys(10, 2, among=[3, 12])


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """A chained batch of three journeys written by the CLI (in this process; one run shared by the tests below)."""
    import contextlib
    import io

    from latentcut.cli.main import main

    folder = tmp_path_factory.mktemp("batch")

    def run(*args: str) -> str:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert main(list(args)) == 0
        return out.getvalue()

    run("sample", str(folder / "pool.z.npy"), "--count", "30", "--seed", "11", "--model", "builtin:cppn")
    stdout = run(
        "journeys", str(folder / "pool.z.npy"), "--count", "3", "-o", str(folder / "trips"), "--frames-per-segment",
        str(FRAMES_PER_SEGMENT), "--chain", "--seed", "3", "--size", "64x48", "--timeline", "--no-progress",
    )  # fmt: skip
    again = run(
        "journeys", str(folder / "pool.z.npy"), "--count", "3", "-o", str(folder / "again"), "--frames-per-segment", "2",
        "--chain", "--seed", "3", "--size", "32x32", "--no-progress",
    )  # fmt: skip
    return folder, stdout, again


def test_the_batch_writes_numbered_journeys_that_chain_and_record_their_parameters(batch):
    folder, stdout, again = batch
    trips = folder / "trips"
    names = sorted(p.name for p in trips.iterdir() if not p.name.startswith("."))
    assert names == sorted(
        [f"journey-00{n}.{ext}" for n in (1, 2, 3) for ext in ("z.npy", "z.json", "mp4")] + ["journeys.kdenlive", "journeys.png"]
    )
    paths = [np.load(trips / f"journey-00{n}.z.npy") for n in (1, 2, 3)]
    pool = np.load(folder / "pool.z.npy")
    for first, second in itertools.pairwise(paths):
        np.testing.assert_array_equal(first[-1], second[0])  # continuous at the join: the same latent
        # and slow on both sides of it (spring journeys start from rest and arrive at rest), where a slerp
        # chain would cross the join at full speed; 6 frames per segment leave the first step at 35 %.
        for path in (first[-2:], second[:2]):
            assert np.linalg.norm(np.diff(path, axis=0)) < 0.4 * np.linalg.norm(np.diff(first, axis=0), axis=1).max()
    metas = [json.loads((trips / f"journey-00{n}.z.json").read_text())["made"] for n in (1, 2, 3)]
    for path, made in zip(paths, metas, strict=True):
        np.testing.assert_array_equal(path[[0, -1]], pool[made["keys"]])
        assert made["batch"]["seed"] == 3 and made["batch"]["chain"] and made["interpolation"] == "spring"
        assert made["origin"]["frames"][0] == made["keys"][0] and made["origin"]["frames"][-1] == made["keys"][-1]
    # The same seed draws the same journeys (whatever their length).
    assert [line.split(":")[1] for line in stdout.splitlines()[:3]] == [line.split(":")[1] for line in again.splitlines()[:3]]


def test_the_batch_sheet_shows_first_middle_and_last_frames(batch, cppn):
    folder, _, _ = batch
    sheet = np.asarray(Image.open(folder / "trips" / "journeys.png"))
    path = np.load(folder / "trips" / "journey-002.z.npy")
    keys = json.loads((folder / "trips" / "journey-002.z.json").read_text())["made"]["keys"]
    for column, (frame, label) in enumerate([(0, f"2: {keys[0]}"), (FRAMES_PER_SEGMENT // 2, "2: mid"), (-1, f"2: {keys[-1]}")]):
        x, y = cell_origin(3 + column, 3, (128, 128))
        tile = cppn.render(path[frame:][:1], (128, 128))[0]
        assert np.abs(sheet[y : y + 128, x : x + 128].astype(int) - tile.astype(int)).max() <= 1
        np.testing.assert_array_equal(sheet[y + 128 : y + 128 + label_height_px(128), x : x + 128], caption_image(label, 128, 18))


@pytest.mark.melt
def test_the_batch_project_plays_in_melt_as_its_proxies_end_to_end(batch, decode_video):
    folder, _, _ = batch
    trips = folder / "trips"
    proxies = np.concatenate([decode_video(trips / f"journey-00{n}.mp4", SIZE) for n in (1, 2, 3)])
    assert len(proxies) == 3 * (FRAMES_PER_SEGMENT + 1)
    rendered = melt_frames(trips / "journeys.kdenlive", len(proxies), env=mlt_environment())
    assert rendered.shape == proxies.shape
    difference = np.abs(rendered.astype(int) - proxies.astype(int)).mean(axis=(1, 2, 3))
    assert difference.max() < 3, difference
    # Frames differ from each other far more than melt differs from the proxy: each frame is the right one.
    assert np.abs(np.diff(proxies.astype(int), axis=0)).mean(axis=(1, 2, 3)).min() > 4 * difference.max()
    text = (trips / "journeys.kdenlive").read_text()
    assert text.count('<property name="mlt_service">latent</property>') == 6  # three in the bin, three on V1


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_real_kdenlive_resaves_the_batch_project_and_it_conforms_the_same(batch):
    from latentcut.conform.project import conform_project

    folder, _, _ = batch
    project = folder / "trips" / "journeys.kdenlive"
    resaved = project.with_name("resaved.kdenlive")
    result = kdenlive_resave(project, resaved, mlt_environment())
    assert result.returncode == 0, result.stderr
    assert (
        conform_project(project, folder / "one.z.npy").meta.sha256 == conform_project(resaved, folder / "two.z.npy").meta.sha256
    )
