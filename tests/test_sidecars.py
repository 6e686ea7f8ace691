from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexclips import write_index_clip
from latentcut.conform.sidecars import OutsideProjectWarning, SidecarFinder, StalePropertyWarning
from latentcut.errors import SidecarError
from latentcut.latent.sidecar import BareSequenceWarning, ZSequence, link_tags, save_sequence
from latentcut.timeline.model import SourceRef


def _ref(path: Path, **props: str) -> SourceRef:
    return SourceRef(path, "p", props, path.name)


@pytest.fixture
def finder(tmp_path):
    return SidecarFinder(tmp_path / "edit.kdenlive", tmp_path)


def test_stem_beside_the_video(tmp_path, finder):
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25))
    sequence = finder.sequence_for(_ref(tmp_path / "clip.mkv"))
    assert sequence.path.name == "clip.z.npy"
    assert finder(_ref(tmp_path / "clip.mkv")).frames == 10


def test_property_wins_and_resolves_against_the_project(tmp_path, finder):
    write_index_clip(tmp_path / "media" / "clip.mkv", 1, 10, Fraction(25))
    save_sequence(tmp_path / "elsewhere.z.npy", np.ones((10, 4), np.float32), fps=Fraction(25))
    assert (
        finder.sequence_for(_ref(tmp_path / "media/clip.mkv", **{"latent:sidecar": "elsewhere.z.npy"})).path.name
        == "elsewhere.z.npy"
    )
    assert (
        finder.sequence_for(_ref(tmp_path / "media/clip.mkv", **{"latent:sidecar": "elsewhere.npy"})).path.name
        == "elsewhere.z.npy"
    )


def test_container_tags_in_the_project_or_in_the_file(tmp_path, finder):
    pixels_dir = tmp_path / "media"
    write_index_clip(
        pixels_dir / "clip.mkv", 1, 10, Fraction(25), sidecar=pixels_dir / "named.z.npy", tags={"latent_sidecar": "named.z.npy"}
    )
    assert finder.sequence_for(_ref(pixels_dir / "clip.mkv")).path.name == "named.z.npy"  # read from the file
    stored = {"meta.attr.LATENT_SIDECAR.markup": "named.z.npy"}
    assert (
        SidecarFinder(tmp_path / "e.kdenlive", tmp_path).sequence_for(_ref(pixels_dir / "clip.mkv", **stored)).path.name
        == "named.z.npy"
    )


def test_kdenlive_proxy_leads_to_the_original(tmp_path, finder):
    write_index_clip(tmp_path / "media/clip.mkv", 1, 10, Fraction(25))
    write_index_clip(tmp_path / "cache/proxy/abc.mkv", 1, 10, Fraction(25), sidecar=tmp_path / "unrelated.z.npy")
    ref = _ref(
        tmp_path / "cache/proxy/abc.mkv", **{"kdenlive:originalurl": "media/clip.mkv", "kdenlive:proxy": "cache/proxy/abc.mkv"}
    )
    assert finder.sequence_for(ref).path == tmp_path / "media/clip.z.npy"


def test_ordinary_footage_has_no_sidecar(tmp_path, finder):
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25), sidecar=tmp_path / "other.z.npy")
    assert finder(_ref(tmp_path / "clip.mkv")) is None


def test_missing_named_sidecar_names_the_clip_and_the_file(tmp_path, finder):
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25))
    with pytest.raises(
        SidecarError,
        match=r"edit.kdenlive: clip 'clip.mkv' \(clip.mkv\): sidecar .*gone.z.npy named by its latent:sidecar property is missing",
    ):
        finder.sequence_for(_ref(tmp_path / "clip.mkv", **{"latent:sidecar": "gone.z.npy"}))


def test_sidecar_of_the_wrong_length(tmp_path, finder):
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25))
    save_sequence(tmp_path / "clip.z.npy", np.ones((12, 4), np.float32), fps=Fraction(25))
    with pytest.raises(SidecarError, match="clip.mkv has 10 frames but clip.z.npy has 12; re-render clip.mkv from clip.z.npy"):
        finder.sequence_for(_ref(tmp_path / "clip.mkv"))


def test_sidecar_of_another_frame_rate(tmp_path, finder):
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25))
    with pytest.raises(SidecarError, match="plays at 30 fps but clip.z.npy is 25 fps"):
        finder.sequence_for(_ref(tmp_path / "clip.mkv", **{"meta.media.frame_rate_num": "30", "meta.media.frame_rate_den": "1"}))


def test_proxy_rendered_from_another_version_of_the_sidecar(tmp_path, finder):
    other = save_sequence(tmp_path / "old.z.npy", np.zeros((10, 4), np.float32), fps=Fraction(25))
    tags = link_tags(ZSequence(np.zeros((10, 4), np.float32), other, Path("clip.z.npy")))
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25), tags=tags)
    with pytest.raises(SidecarError, match="rendered from another version of clip.z.npy"):
        finder.sequence_for(_ref(tmp_path / "clip.mkv"))


def test_stale_tags_saved_in_the_project_never_win_over_the_file(tmp_path, finder):
    # Kdenlive saved j01's tags; the clip now plays j01b, whose own tags name j01b's sidecar.
    write_index_clip(tmp_path / "j01.mkv", 1, 10, Fraction(25), tags={"latent_sidecar": "j01.z.npy"})
    write_index_clip(tmp_path / "j01b.mkv", 2, 12, Fraction(25), tags={"latent_sidecar": "j01b.z.npy"})
    stale = {"meta.attr.latent_sidecar.markup": "j01.z.npy", "latent:sidecar": "j01.z.npy"}
    with pytest.warns(StalePropertyWarning, match="names sidecar j01.z.npy but j01b.mkv was rendered from j01b.z.npy"):
        sequence = finder.sequence_for(_ref(tmp_path / "j01b.mkv", **stale))
    assert sequence.path.name == "j01b.z.npy" and sequence.meta.frames == 12


def test_a_sidecar_outside_the_project_folder_is_named_when_one_sits_beside_it(tmp_path):
    original, copy = tmp_path / "original", tmp_path / "copy"
    for folder in (original, copy):
        write_index_clip(folder / "clip.mkv", 1, 10, Fraction(25))
    finder = SidecarFinder(copy / "edit.kdenlive", original)  # a copied project whose root= still names the original
    with pytest.warns(OutsideProjectWarning, match=r"original/clip.z.npy is outside the project's folder .*copy/clip.z.npy sits"):
        finder.sequence_for(_ref(original / "clip.mkv"))


@pytest.mark.parametrize("fps", [Fraction(24), Fraction(30000, 1001)])
def test_bare_npy_takes_the_frame_rate_of_the_media(tmp_path, finder, fps):
    write_index_clip(tmp_path / "clip.mkv", 1, 10, fps)
    (tmp_path / "clip.z.json").unlink()
    with pytest.warns(BareSequenceWarning, match=f"frame rate {fps} is taken from clip.mkv"):
        info = finder(_ref(tmp_path / "clip.mkv"))
    assert (info.fps, info.frames) == (fps, 10)


def test_nan_in_a_clip_sidecar_names_the_clip(tmp_path, finder):
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25))
    latents = np.load(tmp_path / "clip.z.npy")
    latents[3, 0] = np.nan
    np.save(tmp_path / "clip.z.npy", latents)
    with pytest.raises(SidecarError, match=r"clip 'clip.mkv' .*frame 3 holds NaN"):
        finder.sequence_for(_ref(tmp_path / "clip.mkv"))
