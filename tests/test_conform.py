import json
import zipfile
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexclips import write_index_clip
from latentcut.conform.project import conform_project, provenance_path
from latentcut.errors import ConformError, ProjectError, SidecarError
from latentcut.latent.interpolation import slerp
from latentcut.latent.sidecar import load_sequence
from latentcut.programs import run_melt

PROFILE = '<profile width="64" height="48" frame_rate_num="25" frame_rate_den="1"/>'
CLIPS = """<producer id="black_track" out="499"><property name="length">500</property><property name="resource">black</property><property name="mlt_service">color</property></producer>
<producer id="a" out="49"><property name="length">50</property><property name="resource">a.mkv</property><property name="mlt_service">avformat</property></producer>
<producer id="b" out="49"><property name="length">50</property><property name="resource">b.mkv</property><property name="mlt_service">avformat</property></producer>"""
EDIT = f"""<mlt>{PROFILE}{CLIPS}
<playlist id="l0"><entry producer="a" in="0" out="19"/><blank length="5"/><entry producer="a" in="30" out="39"/></playlist>
<playlist id="l1"><blank length="15"/><entry producer="b" in="0" out="9"/></playlist>
<tractor id="v1"><track producer="l0"/><track producer="l1"/>
<transition in="15" out="19"><property name="a_track">0</property><property name="b_track">1</property><property name="mlt_service">luma</property></transition></tractor>
<tractor id="main"><track producer="black_track"/><track producer="v1"/></tractor></mlt>"""


@pytest.fixture
def edit(tmp_path) -> Path:
    write_index_clip(tmp_path / "a.mkv", 1, 50, Fraction(25))
    write_index_clip(tmp_path / "b.mkv", 2, 50, Fraction(25))
    (tmp_path / "edit.kdenlive").write_text(EDIT)
    return tmp_path / "edit.kdenlive"


def test_conformed_sequence_follows_the_edit(edit, tmp_path):
    result = conform_project(edit, tmp_path / "cut.z.npy")
    cut = load_sequence(tmp_path / "cut.z.npy")
    a, b = np.load(tmp_path / "a.z.npy"), np.load(tmp_path / "b.z.npy")
    assert cut.meta.frames == 35 and cut.meta.fps == Fraction(25) and cut.meta.made["how"] == "conformed"
    np.testing.assert_array_equal(cut.latents[:15], a[:15])
    # the mix: frame 15 + k blends a[15 + k] toward b[k] with weight k / 5 (weight 0 on its first frame)
    for k in range(5):
        expected = slerp(a[15 + k], b[k], k / 5)[0]
        np.testing.assert_allclose(cut.latents[15 + k], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(cut.latents[20:25], b[5:10])
    assert result.result.gap.sum() == 0
    np.testing.assert_array_equal(cut.latents[25:35], a[30:40])


def test_lerp_blend_is_available(edit, tmp_path):
    conform_project(edit, tmp_path / "cut.z.npy", blend="lerp")
    cut, a, b = np.load(tmp_path / "cut.z.npy"), np.load(tmp_path / "a.z.npy"), np.load(tmp_path / "b.z.npy")
    np.testing.assert_allclose(cut[17], 0.6 * a[17] + 0.4 * b[2], rtol=1e-6)


def test_provenance_records_sources_partners_and_opacity(edit, tmp_path):
    conform_project(edit, tmp_path / "cut.z.npy")
    with np.load(provenance_path(tmp_path / "cut.z.npy"), allow_pickle=False) as prov:
        ids = prov["sidecar_id"].tolist()
        assert ids == [load_sequence(tmp_path / "a.z.npy").meta.id, load_sequence(tmp_path / "b.z.npy").meta.id]
        assert prov["source"][3, 0] == 0 and prov["source_frame"][3, 0] == 3
        assert (
            prov["blend_partner"][17] == 1 and prov["partner_frame"][17] == 2 and prov["partner_weight"][17] == pytest.approx(0.4)
        )
        assert (prov["opacity"] == 1).all() and not prov["gap"].any()


def test_gaps_policy_black_hold_error(edit, tmp_path):
    text = EDIT.replace(
        '<blank length="5"/><entry producer="a" in="30" out="39"/>', '<blank length="12"/><entry producer="a" in="30" out="39"/>'
    )
    edit.write_text(text)
    result = conform_project(edit, tmp_path / "cut.z.npy")
    gap = np.nonzero(result.result.gap)[0]
    assert gap.tolist() == list(range(25, 32))
    cut = np.load(tmp_path / "cut.z.npy")
    np.testing.assert_array_equal(cut[25:32], np.repeat(cut[24:25], 7, axis=0))  # held, never zeros
    assert (result.result.opacity[25:32] == 0).all()
    held = conform_project(edit, None, gaps="hold")
    assert (held.result.opacity[25:32] == 1).all()
    with pytest.raises(ConformError, match="frames 25-31 have no latent source"):
        conform_project(edit, tmp_path / "never.z.npy", gaps="error")
    assert not (tmp_path / "never.z.npy").exists()


def test_fade_keeps_the_latent_and_records_opacity(edit, tmp_path):
    fade = (
        '<filter in="0" out="9"><property name="mlt_service">brightness</property><property name="kdenlive_id">fade_from_black</property>'
        '<property name="level">0=0;9=1</property></filter>'
    )
    edit.write_text(EDIT.replace('<entry producer="a" in="0" out="19"/>', f'<entry producer="a" in="0" out="19">{fade}</entry>'))
    result = conform_project(edit, tmp_path / "cut.z.npy")
    np.testing.assert_allclose(result.result.opacity[:10], np.arange(10) / 9, atol=1e-6)
    np.testing.assert_array_equal(np.load(tmp_path / "cut.z.npy")[:10], np.load(tmp_path / "a.z.npy")[:10])


def test_same_project_gives_byte_identical_files(edit, tmp_path):
    conform_project(edit, tmp_path / "one.z.npy")
    conform_project(edit, tmp_path / "two.z.npy")
    for suffix in (".z.npy", ".z.json", ".provenance.npz"):
        assert (tmp_path / f"one{suffix}").read_bytes() == (tmp_path / f"two{suffix}").read_bytes()
    assert zipfile.ZipFile(tmp_path / "one.provenance.npz").infolist()[0].date_time == (1980, 1, 1, 0, 0, 0)
    meta = json.loads((tmp_path / "one.z.json").read_text())
    assert meta["made"]["project_sha256"] and len(meta["made"]["sources"]) == 2


def _truncated(d):
    (d / "edit.kdenlive").write_text(EDIT[:300])


def _shortened(d):
    from latentcut.latent.sidecar import save_sequence

    save_sequence(d / "b.z.npy", np.load(d / "b.z.npy")[:40], fps=Fraction(25))


def _no_sidecars(d):
    for name in ("a", "b"):
        (d / f"{name}.z.npy").unlink()
        (d / f"{name}.z.json").unlink()


def _other_dim(d):
    from latentcut.latent.sidecar import save_sequence

    save_sequence(d / "b.z.npy", np.ones((50, 7), np.float32), fps=Fraction(25))


def _nan(d):
    latents = np.load(d / "a.z.npy")
    latents[5, 1] = np.nan
    np.save(d / "a.z.npy", latents)


@pytest.mark.parametrize(
    ("damage", "error", "message"),
    [
        (_truncated, ProjectError, "edit.kdenlive: not well-formed XML"),
        (_shortened, SidecarError, "clip 'b.mkv' (b.mkv): b.mkv has 50 frames but b.z.npy has 40"),
        (_no_sidecars, ConformError, "no frame of the timeline comes from a clip with a sidecar"),
        (_other_dim, ConformError, "different latent sizes: a.z.npy (4), b.z.npy (7)"),
        (_nan, SidecarError, "clip 'a.mkv' (a.mkv): "),
    ],
    ids=["truncated-xml", "wrong-length", "no-sidecar-at-all", "mixed-dims", "nan"],
)
def test_bad_input_gives_one_clear_error_and_writes_nothing(edit, tmp_path, damage, error, message):
    damage(tmp_path)
    out = tmp_path / "cut.z.npy"
    with pytest.raises(error) as raised:
        conform_project(edit, out)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert not out.exists() and not out.with_name("cut.z.json").exists() and not provenance_path(out).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


@pytest.mark.melt
def test_blend_pixel_renders_the_mix_as_melt_plays_it(tmp_path, decode_video):
    from indexclips import profile_file
    from latentcut.conform.latents import pixel_blend
    from latentcut.latent.sampling import gaussian_latents
    from latentcut.latent.sidecar import save_sequence
    from latentcut.models.cppn import CppnGenerator
    from latentcut.render.sequence import render_sequence

    model, size = CppnGenerator(device="cpu"), (32, 32)
    for name, seed in (("a", 1), ("b", 2)):
        save_sequence(tmp_path / f"{name}.z.npy", gaussian_latents(20, 512, seed), fps=Fraction(25))
        sequence = load_sequence(tmp_path / f"{name}.z.npy")
        render_sequence(
            sequence, tmp_path / f"{name}.mkv", [model], preset="online", codec="ffv1", fps=Fraction(25), tile_size=size
        )
    edit = tmp_path / "mix.mlt"
    edit.write_text(
        '<mlt><profile width="32" height="32" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="1" '
        'display_aspect_den="1" frame_rate_num="25" frame_rate_den="1" colorspace="709"/>'
        '<producer id="a"><property name="resource">a.mkv</property></producer><producer id="b"><property name="resource">b.mkv</property></producer>'
        '<playlist id="l0"><entry producer="a" in="0" out="14"/></playlist><playlist id="l1"><blank length="8"/><entry producer="b" in="0" out="14"/></playlist>'
        '<tractor id="v1"><track producer="l0"/><track producer="l1"/><transition in="8" out="15"><property name="a_track">0</property>'
        '<property name="b_track">1</property><property name="mlt_service">luma</property></transition></tractor></mlt>'
    )
    result = conform_project(edit, tmp_path / "cut.z.npy", blend="pixel")
    pair = pixel_blend(load_sequence(tmp_path / "cut.z.npy"))
    assert pair is not None and (pair.weight > 0).sum() == 6 and result.meta.made["partner"] == "cut.partner.z.npy"
    cut = load_sequence(tmp_path / "cut.z.npy")
    render_sequence(
        cut,
        tmp_path / "ours.mkv",
        [model],
        preset="online",
        codec="ffv1",
        fps=Fraction(25),
        tile_size=size,  # the pixel blend the conform recorded beside the sequence
    )
    melt = tmp_path / "melt.mkv"
    run_melt(
        ["melt", "-profile", str(profile_file(edit)), str(edit), "in=0", f"out={cut.meta.frames - 1}", "-consumer", f"avformat:{melt}",
         "vcodec=ffv1", "pix_fmt=bgr0", "an=1", "real_time=-1", "terminate_on_pause=1"],
        output=melt, timeout_s=300, cwd=tmp_path, check=True,
    )  # fmt: skip

    def blocks(video: Path) -> np.ndarray:
        # MLT's luma transition works in 4:2:2 YUV: compare 4x4 block means, where chroma subsampling averages out.
        return decode_video(video, size).astype(float).reshape(-1, 8, 4, 8, 4, 3).mean(axis=(2, 4))

    ours, theirs = blocks(tmp_path / "ours.mkv"), blocks(melt)
    assert ours.shape == theirs.shape == (23, 8, 8, 3)
    error = np.abs(ours - theirs).mean(axis=(1, 2, 3))
    assert error.max() < 4, error.round(2)  # MLT's colour conversions: the same pictures
    conform_project(edit, tmp_path / "morph.z.npy", blend="slerp")
    morph = load_sequence(tmp_path / "morph.z.npy")
    render_sequence(morph, tmp_path / "morph.mkv", [model], preset="online", codec="ffv1", fps=Fraction(25), tile_size=size)
    morph_error = np.abs(blocks(tmp_path / "morph.mkv") - theirs).mean(axis=(1, 2, 3))
    assert morph_error[9:15].min() > 2 * error[9:15].max()  # a latent morph is another picture than MLT's dissolve


@pytest.mark.parametrize("blend", ["slerp", "pixel"])
def test_the_watcher_queues_a_job_for_a_project_without_lengths(tmp_path, blend):
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection
    from latentcut.watch.session import WatchOptions, WatchSession

    write_index_clip(tmp_path / "a.mkv", 1, 30, Fraction(25))
    write_index_clip(tmp_path / "b.mkv", 2, 20, Fraction(25))
    project = tmp_path / "edit.mlt"
    project.write_text(
        f'<mlt>{PROFILE}<producer id="a"><property name="resource">a.mkv</property></producer>'
        '<producer id="b"><property name="resource">b.mkv</property></producer>'
        '<playlist id="l0"><entry producer="a"/></playlist><playlist id="l1"><blank length="25"/><entry producer="b"/></playlist>'
        '<tractor id="t"><track producer="l0"/><track producer="l1"/><transition in="25" out="30"><property name="a_track">0</property>'
        '<property name="b_track">1</property><property name="mlt_service">luma</property></transition></tractor></mlt>'
    )
    connection = Connection("tcp://127.0.0.1:9")  # never asked: conforming a save needs no daemon
    try:
        lines: list[str] = []
        session = WatchSession(project, DaemonClient(connection), WatchOptions(blend=blend), lines.append)
        session.conform()
    finally:
        connection.close()
    assert session.pending is not None, lines
    assert session.pending.arrays.frames == 45
    if blend == "pixel":
        weight = session.pending.arrays.blend_weight
        assert weight is not None and (weight > 0).sum() == 4


def test_the_watcher_renders_a_pixel_blend_of_a_project_without_lengths_through_a_real_daemon(tmp_path, decode_video):
    import threading

    from daemons import daemon_thread
    from latentcut.daemon.client import DaemonClient
    from latentcut.daemon.transport import Connection
    from latentcut.latent.sampling import gaussian_latents
    from latentcut.latent.sidecar import save_sequence
    from latentcut.models.cppn import CppnGenerator
    from latentcut.render.sequence import render_sequence
    from latentcut.watch.session import WatchOptions, WatchSession

    model = CppnGenerator(device="cpu")
    for name, seed in (("a", 1), ("b", 2)):
        save_sequence(tmp_path / f"{name}.z.npy", gaussian_latents(16, 512, seed), fps=Fraction(25))
        render_sequence(
            load_sequence(tmp_path / f"{name}.z.npy"),
            tmp_path / f"{name}.mkv",
            [model],
            preset="proxy",
            fps=Fraction(25),
            tile_size=(16, 16),
        )
    project = tmp_path / "edit.mlt"
    project.write_text(
        '<mlt><profile width="16" height="16" frame_rate_num="25" frame_rate_den="1"/>'
        '<producer id="a"><property name="resource">a.mkv</property></producer><producer id="b"><property name="resource">b.mkv</property></producer>'
        '<playlist id="l0"><entry producer="a"/></playlist><playlist id="l1"><blank length="10"/><entry producer="b"/></playlist>'
        '<tractor id="t"><track producer="l0"/><track producer="l1"/><transition in="10" out="16"><property name="a_track">0</property>'
        '<property name="b_track">1</property><property name="mlt_service">luma</property></transition></tractor></mlt>'
    )
    lines: list[str] = []
    with daemon_thread(tmp_path) as address:
        connection = Connection(address)
        try:
            session = WatchSession(project, DaemonClient(connection), WatchOptions(blend="pixel", size=(16, 16)), lines.append)
            session.run_once(120, threading.Event())
        finally:
            connection.close()
    assert session.last is not None and session.last.arrays.blend_weight is not None, lines
    assert (session.last.arrays.blend_weight > 0).sum() == 5 and "rendered edit.mov: 26 frames changed" in lines[-1], lines
    assert decode_video(tmp_path / "renders/edit.mov", (16, 16)).shape == (26, 16, 16, 3)
