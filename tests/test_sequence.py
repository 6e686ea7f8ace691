from fractions import Fraction

import numpy as np
import pytest

from latentcut.errors import ModelError, RenderError
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence
from latentcut.models.cppn import CppnGenerator
from latentcut.render.encode import container_tags
from latentcut.render.sequence import render_sequence

TILE = (48, 48)


@pytest.fixture
def sequence(tmp_path):
    save_sequence(tmp_path / "s.z.npy", gaussian_latents(6, 512, 1), fps=Fraction(25))
    return load_sequence(tmp_path / "s.z.npy")


def test_online_ffv1_frames_are_exactly_the_model_output(tmp_path, sequence, cppn, decode_video):
    result = render_sequence(sequence, tmp_path / "o.mkv", [cppn], preset="online", fps=Fraction(25), tile_size=TILE)
    assert result.frames == 6 and result.codec == "ffv1"
    np.testing.assert_array_equal(decode_video(result.path, TILE), cppn.render(sequence.latents, TILE))
    tags = container_tags(result.path)
    assert tags["latent_sidecar_id"] == sequence.meta.id and tags["latent_sidecar_sha256"] == sequence.meta.sha256
    assert tags["latent_frames"] == "6" and tags["latent_model"] == "builtin:cppn"
    assert (
        tags["comment"] == f"latents: {sequence.path.name}, 6 frames of 512, sha256 {sequence.meta.sha256}, id {sequence.meta.id}"
    )


def test_snapshot_grid_is_frame_locked_and_labelled(tmp_path, sequence, decode_video):
    snapshots = [CppnGenerator(n, device="cpu") for n in (0, 13, 27)]
    result = render_sequence(
        sequence, tmp_path / "g.mkv", snapshots, preset="online", fps=Fraction(25), tile_size=TILE, grid=(2, 2)
    )
    grid = decode_video(result.path, (96, 96))
    for index, snapshot in enumerate(snapshots):
        row, column = divmod(index, 2)
        tile = grid[:, row * 48 : (row + 1) * 48, column * 48 : (column + 1) * 48]
        alone = snapshot.render(sequence.latents, TILE)
        # Below the label band each tile is exactly that snapshot at the same frame.
        np.testing.assert_array_equal(tile[:, 12:], alone[:, 12:])
        assert (tile[:, :6, :20] != alone[:, :6, :20]).any()
    assert (grid[:, 48:, 48:] == 0).all()  # the fourth cell is empty
    assert container_tags(result.path)["latent_model"] == "builtin:cppn@0,builtin:cppn@13,builtin:cppn"


def test_wrong_dim_or_too_small_grid_write_nothing(tmp_path, cppn):
    save_sequence(tmp_path / "small.z.npy", gaussian_latents(3, 16, 1), fps=Fraction(25))
    small = load_sequence(tmp_path / "small.z.npy")
    with pytest.raises(ModelError, match="small.z.npy: latents have dim 16"):
        render_sequence(small, tmp_path / "x.mp4", [cppn], preset="proxy", fps=Fraction(25), tile_size=TILE)
    save_sequence(tmp_path / "ok.z.npy", gaussian_latents(3, 512, 1), fps=Fraction(25))
    with pytest.raises(RenderError, match="do not fit a 1x1 grid"):
        render_sequence(
            load_sequence(tmp_path / "ok.z.npy"),
            tmp_path / "x.mp4",
            [cppn, cppn],
            preset="proxy",
            fps=Fraction(25),
            tile_size=TILE,
            grid=(1, 1),
        )
    assert not (tmp_path / "x.mp4").exists()
