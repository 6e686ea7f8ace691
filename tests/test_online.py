"""The online render through MLT: titles stay, latent clips come from their online renders, frame for frame."""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexclips import block_centres, melt_frames, swap_media, write_index_clip
from latentcut.conform.project import project_frame_map
from latentcut.editor.kdenlive_project import project_clips, with_preview_track, write_kdenlive_project
from latentcut.editor.mlt_module import mlt_environment
from latentcut.editor.online import online_render
from latentcut.errors import SidecarError
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence
from latentcut.models.cppn import CppnGenerator
from latentcut.render.sequence import render_sequence

pytestmark = pytest.mark.melt  # the online render is a melt render

DATA = Path(__file__).parent / "data"
TITLE = (
    '&lt;kdenlivetitle duration="20" LC_NUMERIC="C" width="64" height="48" out="19"&gt;&lt;item type="QGraphicsRectItem" '
    'z-index="0"&gt;&lt;position x="0" y="0"&gt;&lt;transform&gt;1,0,0,0,1,0,0,0,1&lt;/transform&gt;&lt;/position&gt;'
    '&lt;content rect="0,0,32,16" pencolor="0,0,0,0" penwidth="0" brushcolor="255,0,0,255"/&gt;&lt;/item&gt;'
    '&lt;startviewport rect="0,0,64,48"/&gt;&lt;endviewport rect="0,0,64,48"/&gt;&lt;background color="0,0,0,0"/&gt;&lt;/kdenlivetitle&gt;'
)
PROJECT = f"""<mlt><profile width="64" height="48" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="4" display_aspect_den="3" frame_rate_num="25" frame_rate_den="1"/>
<producer id="black_track" out="999"><property name="length">1000</property><property name="resource">black</property><property name="mlt_service">color</property></producer>
<producer id="a" out="59"><property name="length">60</property><property name="resource">clips/a.mkv</property><property name="mlt_service">latent</property></producer>
<producer id="title" out="19"><property name="length">20</property><property name="mlt_service">kdenlivetitle</property><property name="xmldata">{TITLE}</property></producer>
<playlist id="v1"><entry producer="a" in="5" out="44"/></playlist>
<playlist id="v2"><blank length="10"/><entry producer="title" in="0" out="19"/></playlist>
<tractor id="main"><track producer="black_track"/><track producer="v1"/><track producer="v2"/>
<transition><property name="a_track">1</property><property name="b_track">2</property><property name="mlt_service">composite</property><property name="always_active">1</property></transition>
</tractor></mlt>"""


def test_title_over_a_latent_clip_shows_the_title_and_the_online_frames(tmp_path, decode_video):
    write_index_clip(tmp_path / "clips/a.mkv", 1, 60, Fraction(25))
    sidecar = load_sequence(tmp_path / "clips/a.z.npy").meta
    write_index_clip(
        tmp_path / "clips/a.online.mkv",
        7,
        60,
        Fraction(25),
        sidecar=tmp_path / "online.z.npy",
        tags={"latent_sidecar_sha256": sidecar.sha256},
    )
    project = tmp_path / "edit.kdenlive"
    project.write_text(PROJECT)
    result = online_render(
        project, tmp_path / "final.mkv", lambda sequence: pytest.fail("the online render exists: no model needed")
    )
    assert result.frames == 40 and result.rendered == ()
    frames = decode_video(tmp_path / "final.mkv", (64, 48))
    bits = (block_centres(frames) > 127).reshape(len(frames), -1)
    # Decode from the rows the title does not cover: the clip id and the inverted frame index.
    clip = (bits[:, 16:24] * (1 << np.arange(8))).sum(1)
    index = ((~bits[:, 24:40]) * (1 << np.arange(16))).sum(1)
    assert (clip == 7).all()
    np.testing.assert_array_equal(index, np.arange(5, 45))
    red = (frames[:, 4, 4, 0] > 200) & (frames[:, 4, 4, 1] < 60)
    assert red[10:30].all() and not red[:10].any() and not red[30:].any()


def test_the_preview_track_is_left_out_of_the_online_render(tmp_path, decode_video):
    """A project's preview of the render (latentcut project preview) covers the clips in Kdenlive; the online render,
    like the conform, shows the clips from their online renders as if it were not there."""
    write_index_clip(tmp_path / "clips/a.mkv", 1, 40, Fraction(25))
    sidecar = load_sequence(tmp_path / "clips/a.z.npy").meta
    online = {"latent_sidecar_sha256": sidecar.sha256}
    write_index_clip(tmp_path / "clips/a.online.mkv", 7, 40, Fraction(25), sidecar=tmp_path / "online.z.npy", tags=online)
    project = tmp_path / "edit.kdenlive"
    write_kdenlive_project(project, project_clips([tmp_path / "clips/a.mkv"], project), timeline=True)
    write_index_clip(tmp_path / "edit.latent-preview.mkv", 9, 40, Fraction(25), sidecar=tmp_path / "scratch.z.npy")
    with_preview_track(project, tmp_path / "edit.latent-preview.mkv")

    def clips(frames: np.ndarray) -> np.ndarray:
        bits = (block_centres(frames) > 127).reshape(len(frames), -1)
        return (bits[:, 16:24] * (1 << np.arange(8))).sum(1)

    assert (clips(melt_frames(project, 40, env=mlt_environment())) == 9).all()  # the preview covers the clip
    result = online_render(project, tmp_path / "final.mkv", lambda sequence: pytest.fail("the online render exists"))
    shown = clips(decode_video(tmp_path / "final.mkv", (64, 48)))
    assert result.frames == 40 and (shown == 7).all(), shown.tolist()


def test_online_clip_renders_are_made_when_missing_kept_when_current_and_remade_when_stale(tmp_path, decode_video):
    model = CppnGenerator(device="cpu")
    clips = tmp_path / "clips"
    save_sequence(clips / "a.z.npy", gaussian_latents(12, 512, 1), fps=Fraction(25))
    render_sequence(
        load_sequence(clips / "a.z.npy"), clips / "a.mp4", [model], preset="proxy", fps=Fraction(25), tile_size=(32, 32)
    )
    project = tmp_path / "edit.kdenlive"
    write_kdenlive_project(project, project_clips([clips / "a.mp4"], project), timeline=True)
    first = online_render(project, tmp_path / "final.mkv", lambda sequence: model)
    assert first.rendered == (clips / "a.online.mkv",) and first.frames == 12
    again = online_render(project, tmp_path / "final.mov", lambda sequence: model)
    assert again.rendered == () and (tmp_path / "final.mov").is_file()
    online = decode_video(clips / "a.online.mkv", (32, 32)).astype(int)
    np.testing.assert_array_equal(online, model.render(load_sequence(clips / "a.z.npy").latents, (32, 32)))
    final = decode_video(tmp_path / "final.mkv", (32, 32)).astype(int)
    distance = np.abs(final[:, None] - online[None]).mean(axis=(2, 3, 4))  # every final frame against every online frame
    np.testing.assert_array_equal(distance.argmin(axis=1), np.arange(12))  # each is its own online frame
    assert distance.diagonal().max() < 6  # through MLT's colour conversions, but the online picture
    save_sequence(clips / "a.z.npy", gaussian_latents(12, 512, 9), fps=Fraction(25))
    with pytest.raises(SidecarError, match="rendered from another version of a.z.npy"):
        online_render(project, tmp_path / "final.mov", lambda sequence: model)  # the proxy is stale too
    render_sequence(
        load_sequence(clips / "a.z.npy"), clips / "a.mp4", [model], preset="proxy", fps=Fraction(25), tile_size=(32, 32)
    )
    remade = online_render(project, tmp_path / "final.mov", lambda sequence: model)
    assert remade.rendered == (clips / "a.online.mkv",)


def test_only_the_clips_the_timeline_plays_are_rendered_online_at_the_size_asked(tmp_path, decode_video):
    model = CppnGenerator(device="cpu")
    clips = tmp_path / "clips"
    for name, seed in (("a", 1), ("b", 2)):
        save_sequence(clips / f"{name}.z.npy", gaussian_latents(8, 512, seed), fps=Fraction(25))
        render_sequence(
            load_sequence(clips / f"{name}.z.npy"),
            clips / f"{name}.mp4",
            [model],
            preset="proxy",
            fps=Fraction(25),
            tile_size=(32, 32),
        )
    project = tmp_path / "edit.kdenlive"
    # b stays in the bin only.
    write_kdenlive_project(project, project_clips([clips / "a.mp4", clips / "b.mp4"], project), cuts=[(0, 0, 7)])
    result = online_render(project, tmp_path / "final.mkv", lambda sequence: model, size=(48, 40))
    assert result.rendered == (clips / "a.online.mkv",) and not (clips / "b.online.mkv").exists()
    assert decode_video(tmp_path / "final.mkv", (48, 40)).shape == (8, 40, 48, 3)


def test_the_online_render_of_a_tracked_performance_goes_through_its_input_controls(tmp_path, decode_video):
    from latentcut.editor.online import _online_file
    from latentcut.latent.controls import InputControls, save_controls
    from tinystylegan import tiny_stylegan3

    model = tiny_stylegan3()
    latents = np.random.default_rng(10).standard_normal((6, 16)).astype(np.float32)
    table = np.zeros((6, 4), np.float32)
    table[:, 0], table[:, 2] = np.linspace(0, 0.4, 6), 45.0
    record = save_controls(tmp_path / "perf.z.npy", InputControls.from_array(table))
    save_sequence(tmp_path / "perf.z.npy", latents, fps=Fraction(25), made={"controls": record})
    online = _online_file(tmp_path / "perf.mp4", load_sequence(tmp_path / "perf.z.npy"), (16, 16), lambda _: model, [])
    expected = model.render_controlled(latents, (16, 16), InputControls.from_array(table))
    np.testing.assert_array_equal(decode_video(online, (16, 16)), expected)


@pytest.mark.parametrize(("name", "service"), [("ui_mixes", "avformat"), ("ui_compositions", "avformat"), ("ui_mixes", "latent")])
def test_the_frames_the_conform_leaves_to_pixels_are_the_ones_melt_makes_from_the_online_renders(
    tmp_path, decode_video, name, service
):
    # A project made in Kdenlive's timeline with slides (pixel-only: latents cannot say "half of each picture")
    # beside dissolves. Its online render must be, frame for frame, what melt makes of the same project with the
    # online renders in place of the proxies: the pixel-only frames included, which only MLT can draw.
    project, proxies = swap_media(DATA / f"kdenlive-22.12/{name}.kdenlive", tmp_path)
    if service == "latent":  # the clips as latentcut's MLT producer, which switches to the online render itself
        project.write_text(re.sub(r'"mlt_service">avformat(-novalidate)?<', '"mlt_service">latent<', project.read_text()))
    frame_map, _, _ = project_frame_map(project)
    assert frame_map.pixel_only.sum() >= 20 and frame_map.composites
    text, online_pixels = project.read_text(), {}
    for clip_id, proxy in enumerate(sorted(proxies), start=11):
        proxy = Path(proxy)
        sidecar = load_sequence(proxy.with_name(proxy.stem + ".z.npy")).meta
        online = proxy.with_name(proxy.stem + ".online.mkv")
        tags = {"latent_sidecar_sha256": sidecar.sha256}
        online_pixels[str(proxy)] = block_centres(
            write_index_clip(online, clip_id, sidecar.frames, sidecar.fps, sidecar=tmp_path / f"{clip_id}.z.npy", tags=tags)
        )
        text = text.replace(f">{proxy.relative_to(tmp_path)}<", f">{online.relative_to(tmp_path)}<")
    result = online_render(project, tmp_path / "final.mkv", lambda sequence: pytest.fail("the online renders exist"))
    assert result.frames == frame_map.length and result.rendered == ()
    reference = tmp_path / "with-online-renders.kdenlive"
    reference.write_text(text)
    expected = melt_frames(reference, frame_map.length, qt=True)
    final = decode_video(tmp_path / "final.mkv", (64, 48))
    assert len(final) == len(expected) == frame_map.length
    differ = [t for t in range(frame_map.length) if not np.array_equal(final[t], expected[t])]
    assert not differ, f"frames {differ[:10]} of the online render are not melt's"
    # And inside a slide a frame is neither of the two online pictures the conform names there, but MLT's drawing of both.
    seen, refs = block_centres(final), [str(ref.resource) for ref in frame_map.sources]
    for t in np.nonzero(frame_map.pixel_only & (frame_map.progress > 0.2) & (frame_map.progress < 0.8))[0]:
        a, b = (online_pixels[refs[frame_map.source[t, k]]][frame_map.frame[t, k]] for k in (0, 1))
        assert np.abs(seen[t] - a).max() > 100 and np.abs(seen[t] - b).max() > 100, f"frame {t} shows one picture"
