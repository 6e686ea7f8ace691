"""Curating in the editor: an exploded project edited by deleting and duplicating clips gives what ``pick`` gives.

The edits are made the way Kdenlive saves them (entries of the V1 playlist), and one project goes
through the real Kdenlive; held proxies map each held block back to its one latent.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from lxml import etree
from PIL import Image

from indexclips import melt_frames
from latentcut.conform.holds import held_rows
from latentcut.editor.mlt_module import mlt_environment
from latentcut.latent.curation import burned_numbers
from latentcut.latent.sidecar import load_sequence
from latentcut.render.labels import frame_numbers_stamped
from resave import kdenlive_resave, needs_kdenlive


def _v1(root: etree._Element) -> etree._Element:
    return root.xpath("//playlist[@id='trV1a']")[0]


def _v1_pieces(project: Path) -> list[tuple[int, int]]:
    """(in, out) of each clip on V1, as the project stores them."""
    return [(int(entry.get("in")), int(entry.get("out"))) for entry in _v1(etree.parse(str(project)).getroot()).iter("entry")]


def _v1_names(project: Path) -> list[str]:
    """The name Kdenlive shows on each clip of V1 (as written, or after Kdenlive renumbered it): its bin clip's name."""
    root = etree.parse(str(project)).getroot()
    track = root.xpath("//tractor[property[@name='kdenlive:track_name']='V1']/track")[0].get("producer")
    bin_ids = {p.get("id"): p.findtext("property[@name='kdenlive:id']") for p in root.iter("producer")}
    in_bin = {entry.get("producer") for entry in root.xpath("//playlist[@id='main_bin']/entry")}
    names = {
        bin_ids[p.get("id")]: p.findtext("property[@name='kdenlive:clipname']")
        for p in root.iter("producer")
        if p.get("id") in in_bin
    }
    return [names[bin_ids[entry.get("producer")]] for entry in root.xpath(f"//playlist[@id='{track}']/entry")]


def _edited(project: Path, pieces: list[tuple[int, int]]) -> Path:
    """The project with V1's one-latent clips replaced by ``pieces`` (in, out): clips deleted, duplicated, trimmed.

    Each piece keeps the producer of the exploded clip it comes from (its own bin clip, named by its pool frame).
    """
    tree = etree.parse(str(project))
    v1 = _v1(tree.getroot())
    spans = [(int(e.get("in")), int(e.get("out")), e.get("producer")) for e in v1.findall("entry")]
    for entry in v1.findall("entry"):
        v1.remove(entry)
    for first, last in pieces:
        producer = next(p for start, end, p in spans if start <= first <= end)
        etree.SubElement(v1, "entry", {"producer": producer, "in": str(first), "out": str(last)})
    edited = project.with_name("curated.kdenlive")
    tree.write(str(edited), encoding="utf-8", xml_declaration=True)
    return edited


def test_held_rows_map_each_run_of_a_held_block_to_copies_of_its_latent():
    source = np.array([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, -1, 0])
    frame = np.array([3, 4, 5, 3, 4, 5, 7, 8, 0, 0, 0, 0])
    # Source 0 held 3 frames: block 1 twice in a row (6 frames: 2 copies), 2 frames of block 2 (1 copy);
    # source 1 not held: both its frames stay; -1 (nothing) stays; block 0 once.
    assert held_rows(source, frame, [3, 1]).tolist() == [0, 0, 6, 8, 9, 10, 11]


@pytest.fixture
def pool(cli, tmp_path):
    assert cli("sample", "pool.z.npy", "--count", "12", "--seed", "21", "--model", "builtin:cppn").returncode == 0
    return tmp_path


def test_pick_reproduces_a_curation_of_an_exploded_project(cli, pool):
    assert cli("render", "pool.z.npy", "-o", "pool.mp4", "--size", "64x48").returncode == 0
    result = cli("project", "new", "pool.kdenlive", "pool.mp4", "--explode")
    assert result.returncode == 0 and "12 one-latent clips" in result.stdout, result.stderr
    assert _v1_pieces(pool / "pool.kdenlive") == [(i, i) for i in range(12)]
    assert _v1_names(pool / "pool.kdenlive") == [f"pool #{i}" for i in range(12)]  # what Kdenlive names each clip
    # The artist deletes frames and duplicates frame 7: 3, 7, 7, 9, 10, 11.
    edited = _edited(pool / "pool.kdenlive", [(3, 3), (7, 7), (7, 7), (9, 9), (10, 10), (11, 11)])
    assert cli("conform", edited.name, "-o", "conformed.z.npy").returncode == 0
    assert cli("curate", edited.name, "-o", "curated.z.npy").returncode == 0
    assert cli("pick", "pool.z.npy", "--frames", "3,7x2,9-11", "-o", "picked.z.npy").returncode == 0
    picked = np.load(pool / "picked.z.npy")
    np.testing.assert_array_equal(np.load(pool / "conformed.z.npy"), picked)
    np.testing.assert_array_equal(np.load(pool / "curated.z.npy"), picked)
    made = json.loads((pool / "curated.z.json").read_text())["made"]
    assert made["origin"]["frames"] == [3, 7, 7, 9, 10, 11]
    # The plain conform's pool numbers come from its provenance (what render --frame-numbers burns in).
    conformed = load_sequence(pool / "conformed.z.npy")
    assert burned_numbers(conformed).tolist() == [3, 7, 7, 9, 10, 11]


@pytest.mark.melt
def test_a_curation_of_a_held_proxy_maps_each_block_back_to_its_latent(cli, pool, decode_video):
    result = cli("render", "pool.z.npy", "-o", "held.mp4", "--size", "64x48", "--hold", "4", "--frame-numbers")
    assert result.returncode == 0, result.stderr
    assert cli("project", "new", "held.kdenlive", "held.mp4", "--explode").returncode == 0
    assert _v1_names(pool / "held.kdenlive") == [f"pool #{i}" for i in range(12)]  # a clip per held block, named by its latent
    # Block 3 kept, block 7 duplicated, block 9 trimmed to half, block 10 kept.
    edited = _edited(pool / "held.kdenlive", [(12, 15), (28, 31), (28, 31), (36, 37), (40, 43)])
    result = cli("curate", edited.name, "-o", "curated.z.npy")
    assert result.returncode == 0 and "5 latents from 18 timeline frames" in result.stdout, result.stderr
    np.testing.assert_array_equal(np.load(pool / "curated.z.npy"), np.load(pool / "pool.z.npy")[[3, 7, 7, 9, 10]])
    assert json.loads((pool / "curated.z.json").read_text())["made"]["origin"]["frames"] == [3, 7, 7, 9, 10]
    # melt plays the curated project as the held proxy's blocks.
    proxy = decode_video(pool / "held.mp4", (64, 48))
    rendered = melt_frames(edited, 18, env=mlt_environment())
    expected = proxy[[12, 13, 14, 15, 28, 29, 30, 31, 28, 29, 30, 31, 36, 37, 40, 41, 42, 43]]
    assert np.abs(rendered.astype(int) - expected.astype(int)).mean(axis=(1, 2, 3)).max() < 3


@pytest.mark.kdenlive
@needs_kdenlive
@pytest.mark.melt
def test_real_kdenlive_resaves_an_exploded_curation_and_it_curates_the_same(cli, pool):
    assert cli("render", "pool.z.npy", "-o", "held.mp4", "--size", "64x48", "--hold", "2").returncode == 0
    assert cli("project", "new", "held.kdenlive", "held.mp4", "--explode").returncode == 0
    edited = _edited(pool / "held.kdenlive", [(2, 3), (2, 3), (10, 11), (22, 23)])
    resaved = pool / "resaved.kdenlive"
    result = kdenlive_resave(edited, resaved, mlt_environment())
    assert result.returncode == 0, result.stderr
    assert cli("curate", "resaved.kdenlive", "-o", "curated.z.npy").returncode == 0
    np.testing.assert_array_equal(np.load(pool / "curated.z.npy"), np.load(pool / "pool.z.npy")[[1, 1, 5, 11]])
    assert _v1_names(resaved) == ["pool #1", "pool #1", "pool #5", "pool #11"]  # the names Kdenlive showed and kept


@pytest.mark.parametrize(("count", "seed", "picks"), [(12, 21, [5, 2, 2, 9]), (20, 4, [17, 0, 13])])
def test_a_conform_records_the_pool_number_of_every_frame_it_shows(cli, tmp_path, cppn, count, seed, picks):
    assert cli("sample", "pool.z.npy", "--count", str(count), "--seed", str(seed)).returncode == 0
    assert cli("pick", "pool.z.npy", "--frames", ",".join(map(str, picks)), "-o", "cur.z.npy").returncode == 0
    keys = f"{picks[0]},{picks[1]}"  # as cur.z.npy's sheet shows them
    assert cli("journey", "cur.z.npy", "--keys", keys, "--frames-per-segment", "3", "-o", "trip.z.npy").returncode == 0
    for name in ("cur", "trip"):
        assert cli("render", f"{name}.z.npy", "-o", f"{name}.mp4", "--size", "64x48").returncode == 0
    assert cli("project", "new", "story.kdenlive", "cur.mp4", "trip.mp4", "--timeline").returncode == 0
    # The edit: the curated clip from its second frame, a 2-frame gap, the journey reversed in time by a cut order.
    tree = etree.parse(str(tmp_path / "story.kdenlive"))
    v1 = _v1(tree.getroot())
    for entry in v1.findall("entry"):
        v1.remove(entry)
    etree.SubElement(v1, "entry", {"producer": "v1c0", "in": "1", "out": str(len(picks) - 1)})
    etree.SubElement(v1, "blank", {"length": "2"})
    etree.SubElement(v1, "entry", {"producer": "v1c1", "in": "2", "out": "3"})
    etree.SubElement(v1, "entry", {"producer": "v1c1", "in": "0", "out": "0"})
    tree.write(str(tmp_path / "story.kdenlive"), encoding="utf-8", xml_declaration=True)
    assert cli("conform", "story.kdenlive", "-o", "story.z.npy").returncode == 0
    explained = cli("conform", "story.kdenlive", "--explain").stdout.splitlines()  # each clip's first and last pool number
    assert [line.split()[-4:-1] for line in explained if line.startswith("V1") and "cur.mp4" in line] == [
        [str(picks[1]), "to", str(picks[-1])]
    ]
    assert [line.split()[-4:-1] for line in explained if line.startswith("V1") and "trip.mp4" in line] == [
        ["?", "to", str(picks[1])],
        [str(picks[0]), "to", str(picks[0])],
    ]
    # Curated frames show their pool numbers, gaps and the journey's in-betweens none, its keyframe its pool number.
    expected = [*picks[1:], -1, -1, -1, picks[1], picks[0]]
    story = load_sequence(tmp_path / "story.z.npy")
    assert story.meta.made["origin"]["frames"] == expected
    assert story.meta.made["origin"]["pool"] == load_sequence(tmp_path / "pool.z.npy").meta.id
    with np.load(tmp_path / "story.provenance.npz") as provenance:
        assert provenance["pool_frame"].tolist() == expected
        assert str(provenance["pool_id"]) == story.meta.made["origin"]["pool"]
    # What render --frame-numbers burns in: a story with frames of no pool frame (a gap, in-betweens) is numbered by
    # position, as a number typed to name its frames is read; a conform of pool frames only shows pool numbers (above).
    burned = list(range(len(expected)))
    assert burned_numbers(story).tolist() == burned
    result = cli("render", "story.z.npy", "-o", "story", "--preset", "online", "--size", "64x64", "--frame-numbers")
    assert result.returncode == 0, result.stderr
    for index in (0, len(picks) - 1 + 2, len(expected) - 1):
        frame = np.asarray(Image.open(tmp_path / "story" / f"{index:06d}.png"))
        clean = cppn.render(np.asarray(story.latents[index : index + 1]), (64, 64))
        corner = slice(64 - 10, 64), slice(0, 32)
        stamped = frame_numbers_stamped(clean, 0, np.array([burned[index]]))[0]
        assert np.abs(frame[corner].astype(int) - stamped[corner].astype(int)).max() <= 1, index


def test_a_curation_of_clips_of_two_models_keeps_each_frames_model(cli, tmp_path, decode_video):
    # The clips' sidecars record two models: the curated frames must render with the model of the clip each came from.
    online = ("--preset", "online", "--codec", "ffv1", "--size", "32x32", "--no-progress")
    for name, count, model in (("a", 4, "builtin:cppn@1"), ("b", 3, "builtin:cppn@2")):
        assert cli("sample", f"{name}.z.npy", "--count", str(count), "--seed", "1", "--model", model).returncode == 0
        assert cli("render", f"{name}.z.npy", "-o", f"{name}.mp4", "--size", "32x32", "--no-progress").returncode == 0
        assert cli("render", f"{name}.z.npy", "-o", f"{name}.mkv", *online).returncode == 0
    assert cli("project", "new", "e.kdenlive", "a.mp4", "b.mp4", "--timeline").returncode == 0
    assert cli("curate", "e.kdenlive", "-o", "c.z.npy").returncode == 0
    runs = [(run.start, run.look.model.spec) for run in load_sequence(tmp_path / "c.z.npy").meta.look_runs]
    assert runs == [(0, "builtin:cppn@1"), (4, "builtin:cppn@2")]
    rendered = cli("render", "c.z.npy", "-o", "c.mkv", *online)
    assert rendered.returncode == 0, rendered.stderr
    each = np.concatenate([decode_video(tmp_path / "a.mkv", (32, 32)), decode_video(tmp_path / "b.mkv", (32, 32))])
    np.testing.assert_array_equal(decode_video(tmp_path / "c.mkv", (32, 32)), each)
