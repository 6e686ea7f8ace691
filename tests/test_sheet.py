"""Contact sheets: every tile where it belongs, unchanged, with its caption below it; paging; the CLI's sheets."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from latentcut.errors import RenderError
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence
from latentcut.render.labels import caption_image, label_height_px, short_model_label, stamped, text_patch
from latentcut.render.sheet import cell_origin, page_paths, sheet_image, write_sheet


def _tiles(count: int, size: tuple[int, int] = (40, 30)) -> list[np.ndarray]:
    rng = np.random.default_rng(count)
    return [rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8) for _ in range(count)]


def _same_picture(a: np.ndarray, b: np.ndarray) -> None:
    # The model renders a frame alone or in a batch to within float rounding: one level of 255.
    assert a.shape == b.shape
    assert np.abs(a.astype(np.int16) - b.astype(np.int16)).max() <= 1


def _cell(sheet: np.ndarray, index: int, columns: int, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    x, y = cell_origin(index, columns, size)
    label = label_height_px(size[1])
    return sheet[y : y + size[1], x : x + size[0]], sheet[y + size[1] : y + size[1] + label, x : x + size[0]]


def test_every_tile_is_copied_unchanged_with_its_own_caption_below():
    tiles = _tiles(7)
    labels = [f"{i * 11}" for i in range(7)]
    sheet = sheet_image(tiles, labels, 3)
    for index, (tile, label) in enumerate(zip(tiles, labels, strict=True)):
        pixels, caption = _cell(sheet, index, 3, (40, 30))
        np.testing.assert_array_equal(pixels, tile)
        np.testing.assert_array_equal(caption, caption_image(label, 40, label_height_px(30)))
    # Captions carry their text: different labels draw differently, and white text is there.
    assert not np.array_equal(caption_image("12", 40, 12), caption_image("13", 40, 12))
    assert caption_image("12", 40, 12).max() > 200


def test_labels_are_legible_at_128_px_and_snapshots_are_named_by_number():
    assert label_height_px(128) == 18
    assert text_patch("@27", label_height_px(128)).shape[0] == 18
    assert short_model_label("builtin:cppn@9") == "@9"
    assert short_model_label("builtin:cppn", 27) == "@27"
    assert short_model_label("runs/my-very-long-model-name.pt") == "…ng-model-name"


def test_a_large_sheet_is_paged_by_whole_rows_and_written_as_png(tmp_path):
    tiles = _tiles(10)
    labels = [str(i) for i in range(10)]
    pages = write_sheet(tmp_path / "s.png", tiles, labels, 2, page_tiles=4)
    assert pages == page_paths(tmp_path / "s.png", 3) == [tmp_path / f"s-00{n}.png" for n in (1, 2, 3)]
    last = np.asarray(Image.open(pages[2]))
    np.testing.assert_array_equal(_cell(last, 1, 2, (40, 30))[0], tiles[9])
    assert not list(tmp_path.glob(".*"))  # no temporary file left behind
    assert write_sheet(tmp_path / "one.png", tiles[:3], labels[:3], 2) == [tmp_path / "one.png"]


def test_tiles_of_different_sizes_are_refused():
    with pytest.raises(RenderError, match="one size"):
        sheet_image([*_tiles(1), *_tiles(1, (20, 20))], ["a", "b"], 2)


def test_the_sheet_command_shows_the_rendered_frames_labelled_with_their_numbers(cli, tmp_path, cppn):
    assert cli("sample", "pool.z.npy", "--count", "12", "--seed", "5", "--model", "builtin:cppn").returncode == 0
    result = cli("sheet", "pool.z.npy", "-o", "pool.png", "--frames", "2-4,9", "--columns", "2", "--tile", "48x48")
    assert result.returncode == 0, result.stderr
    sheet = np.asarray(Image.open(tmp_path / "pool.png"))
    pool = load_sequence(tmp_path / "pool.z.npy").latents
    for index, frame in enumerate([2, 3, 4, 9]):
        pixels, caption = _cell(sheet, index, 2, (48, 48))
        _same_picture(pixels, cppn.render(np.asarray(pool[frame : frame + 1]), (48, 48))[0])
        np.testing.assert_array_equal(caption, caption_image(str(frame), 48, label_height_px(48)))


def test_a_neighbourhood_sheet_has_a_row_per_centre_growing_in_radius(cli, tmp_path, cppn):
    cli("sample", "pool.z.npy", "--count", "8", "--seed", "5")
    result = cli(
        "sheet", "pool.z.npy", "-o", "near.png", "--around", "1,6", "--radii", "5,20", "--tile", "32x32", "--save", "near.z.npy"
    )
    assert result.returncode == 0, result.stderr
    sheet = np.asarray(Image.open(tmp_path / "near.png"))
    near = np.asarray(load_sequence(tmp_path / "near.z.npy").latents)
    pool = np.asarray(load_sequence(tmp_path / "pool.z.npy").latents)
    assert len(near) == 6
    np.testing.assert_array_equal(near[[0, 3]], pool[[1, 6]])  # each row starts with its centre
    cos = np.sum(near[1:3] * pool[1], axis=1) / np.linalg.norm(near[1:3], axis=1) / np.linalg.norm(pool[1])
    np.testing.assert_allclose(np.degrees(np.arccos(np.clip(cos, -1, 1))), [5, 20], atol=1e-3)
    labels = ["1", "1 +5°", "1 +20°", "6", "6 +5°", "6 +20°"]
    for index, label in enumerate(labels):
        pixels, caption = _cell(sheet, index, 3, (32, 32))
        _same_picture(pixels, cppn.render(near[index : index + 1], (32, 32))[0])
        np.testing.assert_array_equal(caption, caption_image(label, 32, label_height_px(32)))


def test_snapshot_grid_labels_name_the_final_snapshot_by_number(tmp_path, cppn):
    from fractions import Fraction

    from latentcut.latent.sidecar import save_sequence
    from latentcut.models.cppn import CppnGenerator
    from latentcut.render.sequence import render_sequence

    latents = gaussian_latents(1, 512, 3)
    save_sequence(tmp_path / "one.z.npy", latents, fps=Fraction(25))
    early = CppnGenerator(0, device="cpu")
    render_sequence(
        load_sequence(tmp_path / "one.z.npy"),
        tmp_path / "grid",
        [early, cppn],
        preset="online",
        fps=Fraction(25),
        tile_size=(128, 128),
    )
    frame = np.asarray(Image.open(tmp_path / "grid" / "000000.png"))
    expected = cppn.render(latents, (128, 128))
    stamped(expected, text_patch("@27", 18), 0, 0)
    _same_picture(frame[:, 128:], expected[0])


def test_a_snapshot_sheet_has_a_row_per_snapshot(cli, tmp_path):
    from latentcut.models.cppn import CppnGenerator

    cli("sample", "pool.z.npy", "--count", "6", "--seed", "5")
    result = cli("sheet", "pool.z.npy", "-o", "snaps.png", "--frames", "4,1", "--snapshots", "0,27", "--tile", "32x32")
    assert result.returncode == 0, result.stderr
    sheet = np.asarray(Image.open(tmp_path / "snaps.png"))
    pool = np.asarray(load_sequence(tmp_path / "pool.z.npy").latents)
    for index, (snapshot, frame) in enumerate([(0, 4), (0, 1), (27, 4), (27, 1)]):
        pixels, caption = _cell(sheet, index, 2, (32, 32))
        _same_picture(pixels, CppnGenerator(snapshot, device="cpu").render(pool[frame : frame + 1], (32, 32))[0])
        np.testing.assert_array_equal(caption, caption_image(f"f{frame} · @{snapshot}", 32, label_height_px(32)))
