"""Lanes rendered: the conform writes them as named control columns and every renderer applies them to each frame.

The projects are Kdenlive 22.12 files whose latent clips are index clips with sidecars of a tiny StyleGAN
snapshot; lanes are ``latent_controls`` filters on a clip. The truth for a lane's value is melt's own
evaluation (``lane_probe``); the truth for a frame's picture is that frame rendered alone with the look
options the lane stands for (``--truncation-psi P``, the latent moved in W by hand, turned toward its walk).
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from lxml import etree

from indexclips import write_index_clip
from lane_probe import TOLERANCE, melt_lane
from latentcut.conform.frame_arrays import conformed_frames, sequence_frames
from latentcut.conform.project import conform_project
from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.latent.controls import load_controls
from latentcut.latent.honing import turned, walk_directions
from latentcut.latent.look import LookOptions
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence
from mutations import mutated
from resave import kdenlive_resave, needs_kdenlive

FPS = Fraction(25)
HELD_OUT_PSI = "14=0.9;00:00:00.920|=0.45;00:00:01.360~=1.0;44~=0.35;-8=0.8"  # linear, discrete, smooth; clock and frames


def _lane(**props: str) -> str:
    text = "".join(f'<property name="{k}">{v}</property>' for k, v in props.items())
    return f'<filter><property name="mlt_service">latent_controls</property><property name="kdenlive_id">latent_controls</property>{text}</filter>'


def _clip(folder: Path, name: str, clip_id: int, frames: int, snapshot: Path) -> Path:
    """An index clip (the proxy Kdenlive shows) and its sidecar ``name.z.npy``: z-latents of ``snapshot``, which it records."""
    from latentcut.models.generator import model_ref_of
    from latentcut.models.stylegan.generator import load_stylegan

    video = folder / f"{name}.mkv"
    write_index_clip(video, clip_id, frames, FPS, sidecar=folder / "scratch" / f"{name}.z.npy")
    ref = model_ref_of(load_stylegan(snapshot))
    save_sequence(folder / f"{name}.z.npy", gaussian_latents(frames, 16, clip_id), fps=FPS, model=ref)
    return video


def _project(folder: Path, videos: list[Path], lanes: list[str], *, trim: tuple[int, int] = (10, 59), blank: int = 9) -> Path:
    """A Kdenlive 22.12 project: the first clip trimmed to ``trim`` after a blank on V1, carrying ``lanes``; then the others whole."""
    project = folder / "edit.kdenlive"
    cuts = [(0, *trim)] + [(index, 0, 9) for index in range(1, len(videos))]
    write_kdenlive_project(project, project_clips(videos, project), tracks=[cuts])
    tree = etree.parse(str(project))
    entry = tree.getroot().xpath("//playlist[@id='trV1a']/entry")[0]
    entry.addprevious(etree.Element("blank", length=str(blank)))
    for lane in lanes:
        entry.append(etree.fromstring(lane))
    tree.write(str(project))
    return project


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    from tinystylegan import tiny_snapshot

    return tiny_snapshot(tmp_path / "sg3.pkl", "sg3t-z16-32px", seed=3)  # average w and biases random: psi shows


_LOOKS: dict[Path, Any] = {}  # one Looks per snapshot: its model is read once, each frame's options are its own


def _alone(snapshot: Path, latent: np.ndarray, **options: object) -> np.ndarray:
    """One frame rendered by itself through the look machinery every command's options go through."""
    from latentcut.latent.look import Look
    from latentcut.models.looks import Looks

    space = str(options.pop("space", "z"))
    looks = _LOOKS.setdefault(snapshot, Looks(device="cpu"))
    looks.options = LookOptions(model=str(snapshot), **options)  # type: ignore[arg-type]
    loaded = looks.of_look(Look(space=space))
    return loaded.generator.render(np.asarray(latent, np.float32)[None], (32, 32))[0]


@pytest.mark.slow
@pytest.mark.melt
def test_a_held_out_projects_psi_lane_is_melts_and_its_render_shows_each_frame_at_that_psi(tmp_path, snapshot, cli, decode_video):
    project = _project(tmp_path, [_clip(tmp_path, "trip", 1, 80, snapshot)], [_lane(truncation_psi=HELD_OUT_PSI)])
    done = cli("conform", "edit.kdenlive", "-o", "cut.z.npy", "--explain")
    assert done.returncode == 0, done.stderr
    cut = load_sequence(tmp_path / "cut.z.npy")
    assert cut.meta.made["controls"]["columns"] == ["truncation_psi"] and "wrote cut.controls.npy: its lanes" in done.stdout
    psi = load_controls(cut).column("truncation_psi")  # what a render reads: the file beside the sequence, its hash checked
    # The conformed lane is melt's own evaluation of the same animation, within 0.012 at every frame that shows the clip.
    melt = melt_lane(project, cut.meta.frames)
    shown = np.zeros(cut.meta.frames, bool)
    shown[9:59] = True
    assert np.abs(psi - melt[: len(psi)])[shown].max() <= TOLERANCE
    assert len(np.unique(psi[shown].round(3))) > 25 and psi[shown].min() < 0.4  # every kind of key moved it
    lanes_line = next(line for line in done.stdout.splitlines() if line.strip().startswith("truncation_psi:"))
    moved = psi != 1  # the explanation gives the lane's range where it changes anything, and those frames
    assert f"{psi[moved].min():.3g} to {psi[moved].max():.3g} on frames 9-" in lanes_line and np.nonzero(moved)[0][-1] == 58
    # The render of the conformed sequence: each frame its latent at its own psi, as that frame alone with --truncation-psi.
    rendered = cli("render", "cut.z.npy", "-o", "cut.mkv", "--preset", "online", "--codec", "ffv1", "--no-progress")
    assert rendered.returncode == 0, rendered.stderr
    frames = decode_video(tmp_path / "cut.mkv", (32, 32))
    low = int(np.argmin(np.where(shown, psi, 9)))
    high = int(np.argmax(np.where(shown, psi, -9)))
    for index in sorted({*range(9, 59, 4), low, high}):  # frame by frame a StyleGAN3 takes 0.5 s a picture here: every fourth
        expected = _alone(snapshot, cut.latents[index], truncation_psi=float(psi[index]))
        np.testing.assert_array_equal(frames[index], expected, err_msg=f"frame {index} at psi {psi[index]:.3f}")
    assert np.abs(frames[low].astype(int) - _alone(snapshot, cut.latents[low])).mean() > 5  # psi 0.35 is not psi 1
    # And through the command line itself, one frame: the same picture.
    save_sequence(tmp_path / "one.z.npy", cut.latents[low : low + 1], fps=FPS, model=cut.meta.model)
    alone = cli(
        "render", "one.z.npy", "-o", "one.mkv", "--preset", "online", "--codec", "ffv1", "--truncation-psi", str(float(psi[low]))
    )
    assert alone.returncode == 0, alone.stderr
    np.testing.assert_array_equal(decode_video(tmp_path / "one.mkv", (32, 32))[0], frames[low])


def _directions(folder: Path, seed: int = 5) -> Path:
    from latentcut.latent.directions import save_directions

    vectors = np.random.default_rng(seed).standard_normal((2, 16))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    save_directions(folder / "dirs", "sefa", vectors, [2.0, 1.0], model={"spec": "sg3.pkl", "sha256": "0" * 64})
    return folder / "dirs" / "directions.json"


LANES = _lane(
    truncation_psi="10=1;30=0.5;59=0.8",
    translate_x="10=0;40=0.25",
    amount="10=0;30=2.5;59=-1",
    direction="dirs/directions.json",
    direction_index="1",
    noise_angle="10=0;25=30;50=10",
    noise_seed="7",
    noise_smooth="6",
)


def test_psi_a_w_direction_a_noise_walk_and_translate_lanes_render_as_each_frame_moved_by_hand(tmp_path, snapshot):
    from latentcut.models.looks import Looks
    from latentcut.render.range_frames import render_range

    directions = _directions(tmp_path)
    project = _project(tmp_path, [_clip(tmp_path, "trip", 1, 80, snapshot)], [LANES])
    result = conform_project(project, tmp_path / "cut.z.npy")
    cut = load_sequence(tmp_path / "cut.z.npy")
    controls = load_controls(cut)
    assert controls is not None and result.controls is not None
    assert set(controls.columns) == {"truncation_psi", "translate_x", "w_direction:0", "noise_angle:7:6", "noise_frame"}
    np.testing.assert_array_equal(controls.table(), result.controls.table())
    unit = np.load(directions.parent / "sefa-01.attr.npy")
    np.testing.assert_array_equal(controls.directions, unit[None])  # the direction travels with the sequence
    generator = Looks(device="cpu").of_sequence(cut).generator
    frames = render_range(generator, (32, 32), sequence_frames(cut))
    np.testing.assert_array_equal(render_range(generator, (32, 32), conformed_frames(result)), frames)  # watch = render
    psi, shift = controls.column("truncation_psi"), controls.column("translate_x")
    amount, angle = controls.column("w_direction:0"), controls.column("noise_angle:7:6")
    assert psi.min() <= 0.51 and amount.max() >= 2.4 and angle.max() >= 29 and shift.max() >= 0.2
    mapper = Looks(LookOptions(model=str(tmp_path / "sg3.pkl")), device="cpu").of_look(cut.meta.look).generator
    for index in range(9, 59, 3):
        walk = walk_directions(np.array([index]), 16, 6.0, 7)  # the walk at this timeline frame
        z = turned(cut.latents[index : index + 1], walk, np.radians([float(angle[index])]))
        cosine = float(z[0] @ cut.latents[index] / np.linalg.norm(z[0]) / np.linalg.norm(cut.latents[index]))
        assert np.degrees(np.arccos(np.clip(cosine, -1, 1))) == pytest.approx(angle[index], abs=0.01)
        w = mapper.mapped(z)[0] + (np.float64(amount[index]) * unit).astype(np.float32)  # moved in W by amount x unit
        expected = _alone(
            tmp_path / "sg3.pkl", w, space="w", truncation_psi=float(psi[index]), translate=(float(shift[index]), 0.0)
        )
        np.testing.assert_array_equal(frames[index], expected, err_msg=f"frame {index}")
    plain = generator.render(np.asarray(cut.latents[9:59]), (32, 32))
    assert np.abs(frames[9:59].astype(int) - plain).mean(axis=(1, 2, 3)).max() > 10  # the lanes moved the pictures


def test_a_lane_a_model_cannot_apply_is_one_line_naming_the_lane_the_clip_and_the_fix(tmp_path, cli, cppn):
    from latentcut.models.generator import model_ref_of
    from latentcut.models.stylegan.generator import load_stylegan
    from tinystylegan import tiny_stylegan2_snapshot

    save_sequence(tmp_path / "cppn.z.npy", gaussian_latents(20, 512, 4), fps=FPS, model=model_ref_of(cppn))
    video = tmp_path / "cppn.mkv"
    write_index_clip(video, 2, 20, FPS, sidecar=tmp_path / "scratch" / "cppn.z.npy")
    _project(tmp_path, [video], [_lane(truncation_psi="0=1;10=0.5")], trim=(0, 19), blank=0)
    refused = cli("conform", "edit.kdenlive", "-o", "cut.z.npy")
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert "the lane truncation_psi on clip cppn.mkv (track V1, timeline frames 0-19) needs a StyleGAN model" in refused.stderr
    assert "builtin:cppn is not; take the lane off" in refused.stderr and not (tmp_path / "cut.z.npy").exists()
    # Translate on a StyleGAN2 snapshot: it has no input transform.
    sg2 = tiny_stylegan2_snapshot(tmp_path / "sg2.pkl")
    save_sequence(tmp_path / "cppn.z.npy", gaussian_latents(20, 12, 4), fps=FPS, model=model_ref_of(load_stylegan(sg2)))
    _project(tmp_path, [video], [_lane(translate_x="0=0;10=0.3")], trim=(0, 19), blank=0)
    refused = cli("conform", "edit.kdenlive", "-o", "cut.z.npy")
    assert refused.returncode == 1 and "the lane translate_x on clip cppn.mkv" in refused.stderr
    assert "needs a StyleGAN3 model (its input transform), which " in refused.stderr and refused.stderr.count("\n") == 1
    # The same lane at its neutral value moves nothing: no refusal, no controls.
    _project(tmp_path, [video], [_lane(translate_x="0")], trim=(0, 19), blank=0)
    assert cli("conform", "edit.kdenlive", "-o", "cut.z.npy").returncode == 0
    assert "controls" not in load_sequence(tmp_path / "cut.z.npy").meta.made


def test_a_direction_of_the_latents_own_space_moves_a_cppn_journey_in_z(tmp_path, cppn):
    from latentcut.latent.attributes import moved_latents, save_attribute
    from latentcut.render.range_frames import render_range

    vector = np.random.default_rng(2).standard_normal(512).astype(np.float32)
    save_attribute(tmp_path / "glow.attr.npy", vector)
    save_sequence(tmp_path / "j.z.npy", gaussian_latents(30, 512, 6), fps=FPS, model=None)
    video = tmp_path / "j.mkv"
    write_index_clip(video, 3, 30, FPS, sidecar=tmp_path / "scratch" / "j.z.npy")
    project = _project(tmp_path, [video], [_lane(amount="0=0;29=1.5", direction="glow.attr.npy")], trim=(0, 29), blank=0)
    result = conform_project(project, tmp_path / "cut.z.npy")
    cut = load_sequence(tmp_path / "cut.z.npy")
    controls = load_controls(cut)
    assert (
        controls is not None
        and controls.columns == ("direction:0",)
        and result.lanes == {"direction:0": "direction glow.attr.npy in z, amount"}
    )
    amount = controls.column("direction:0").astype(np.float64)
    expected_latents = moved_latents(cut.latents, [amount[:, None] * vector[None, :]], space="z")  # as --attribute does in z
    frames = render_range(cppn, (16, 16), sequence_frames(cut))
    np.testing.assert_array_equal(frames, cppn.render(expected_latents, (16, 16)))
    assert np.abs(frames[-1].astype(int) - cppn.render(cut.latents[-1:], (16, 16))[0]).mean() > 5


@pytest.mark.slow
@pytest.mark.melt
def test_every_renderer_applies_every_lane_render_daemon_worker_ray_actor_and_online(
    tmp_path, snapshot, cli, run_cli, decode_video
):
    import threading

    from daemons import daemon_thread, process
    from latentcut.daemon.messages import Job
    from latentcut.daemon.ranges import FrameBatch, RangeBoard
    from latentcut.daemon.ray_pool import ModelLoading, RangeWork, _RangeActor
    from latentcut.models.stylegan.generator import load_stylegan

    _directions(tmp_path)
    videos = [_clip(tmp_path, "trip", 1, 80, snapshot), _clip(tmp_path, "other", 2, 10, snapshot)]
    _project(tmp_path, videos, [LANES])
    conformed = cli("conform", "edit.kdenlive", "-o", "cut.z.npy")
    assert conformed.returncode == 0, conformed.stderr
    rendered = cli("render", "cut.z.npy", "-o", "cut.mkv", "--preset", "online", "--codec", "ffv1", "--no-progress")
    assert rendered.returncode == 0, rendered.stderr
    ours = decode_video(tmp_path / "cut.mkv", (32, 32))
    cut = load_sequence(tmp_path / "cut.z.npy")
    plain = load_stylegan(snapshot).render(np.asarray(cut.latents), (32, 32))
    assert np.abs(ours[9:59].astype(int) - plain[9:59]).mean() > 10 and np.array_equal(
        ours[59:], plain[59:]
    )  # lanes on trip only
    watch = ("--preset", "online", "--codec", "ffv1", "--size", "32x32", "--model", str(snapshot))
    with daemon_thread(tmp_path, "--model", str(snapshot), "--cache", str(tmp_path / "cache")) as address:
        sent = run_cli("watch", "edit.kdenlive", "--daemon", address, "--once", "--output", "daemon.mkv", *watch)
        assert sent.returncode == 0, sent.stderr + sent.stdout
    with (
        daemon_thread(
            tmp_path, "--model", str(snapshot), "--no-local", "--range-frames", "8", "--cache", str(tmp_path / "c2")
        ) as address,
        process("worker", "--connect", address, "--model", str(snapshot), "--name", "w1", cwd=tmp_path),
    ):
        sent = run_cli("watch", "edit.kdenlive", "--daemon", address, "--once", "--output", "worker.mkv", *watch)
        assert sent.returncode == 0, sent.stderr + sent.stdout
    np.testing.assert_array_equal(decode_video(tmp_path / "renders/daemon.mkv", (32, 32)), ours)
    np.testing.assert_array_equal(decode_video(tmp_path / "renders/worker.mkv", (32, 32)), ours)
    # A Ray actor (the class Ray runs; no cluster needed) given a range of the job renders it as the others did.
    arrays = sequence_frames(cut)
    job = Job("p", "cut.mkv", str(snapshot), (32, 32), FPS, arrays, look=cut.meta.look)
    rows = np.arange(20, 36)
    work = RangeWork(
        job, load_stylegan(snapshot), RangeBoard("j", rows, 16), 30.0, lambda: 16, lambda b, f: None, threading.Event()
    )
    np.testing.assert_array_equal(
        _RangeActor(ModelLoading(), "cpu").render(work.request(FrameBatch("j", 0, rows), str(snapshot))), ours[rows]
    )
    # online: MLT plays each clip's online render, whose frames carry the lanes of the timeline frames that show them.
    online = cli("online", "edit.kdenlive", "-o", "final.mkv", "--model", str(snapshot), "--size", "32x32")
    assert online.returncode == 0, online.stderr
    final = decode_video(tmp_path / "final.mkv", (32, 32))
    assert len(list(tmp_path.glob("trip.online.lanes-*.mkv"))) == 1 and (tmp_path / "other.online.mkv").exists()
    np.testing.assert_array_equal(final, ours)  # the blank black in both; every frame to the byte (FFV1 RGB through MLT)
    assert np.abs(final[9:59].astype(int) - plain[9:59]).mean() > 10


def _with_music(folder: Path, project: Path) -> None:
    """Put ``music.wav`` on the project's audio track A1 from frame 0: loud 150 Hz for frames 25-49, 3 kHz at frames 60-79."""
    from test_soundtrack import write_wav

    rate = 44100
    seconds = np.arange(int(4 * rate)) / rate
    bass = np.where((seconds >= 1.0) & (seconds < 2.0), 0.6, 0.05) * np.sin(2 * np.pi * 150 * seconds)
    high = np.where((seconds >= 2.4) & (seconds < 3.2), 0.5, 0.0) * np.sin(2 * np.pi * 3000 * seconds)
    write_wav(folder / "music.wav", (bass + high).astype(np.float32), rate)
    tree = etree.parse(str(project))
    root = tree.getroot()
    music = etree.Element("producer", {"id": "music", "in": "0", "out": "99"})
    for name, value in (("length", "100"), ("resource", "music.wav"), ("mlt_service", "avformat"), ("kdenlive:id", "9")):
        etree.SubElement(music, "property", name=name).text = value
    root.xpath("//playlist[@id='main_bin']")[0].addprevious(music)
    etree.SubElement(root.xpath("//playlist[@id='trA1a']")[0], "entry", {"producer": "music", "in": "0", "out": "99"})
    tree.write(str(project))


@pytest.mark.melt
def test_a_lane_follows_the_loudness_and_a_band_of_the_projects_audio_as_melt_mixes_it(tmp_path, snapshot, cli):
    heard = _lane(truncation_psi="1", audio_lane="truncation_psi", audio_feature="loudness", audio_gain="-0.5", audio_offset="1")
    band = _lane(
        translate_x="0", audio_lane="translate_x", audio_feature="band", audio_band_low="2000", audio_band_high="4000",
        audio_gain="0.3", audio_smooth="4",
    )  # fmt: skip
    project = _project(tmp_path, [_clip(tmp_path, "trip", 1, 100, snapshot)], [heard, band], trim=(0, 99), blank=0)
    _with_music(tmp_path, project)
    done = cli("conform", "edit.kdenlive", "-o", "cut.z.npy", "--explain")
    assert done.returncode == 0, done.stderr
    controls = load_controls(load_sequence(tmp_path / "cut.z.npy"))
    assert controls is not None
    psi, shift = controls.column("truncation_psi"), controls.column("translate_x")
    # Loudness 0..1 by the loudest frame: psi 1 - 0.5 * loudness: 0.5 while the bass is loud, about 0.96 elsewhere.
    assert np.abs(psi[26:49] - 0.5).max() < 0.02 and np.abs(psi[2:24] - (1 - 0.5 * 0.05 / 0.6 * 1.0)).max() < 0.03
    assert np.abs(psi[82:] - psi[2:24].mean()).max() < 0.03
    # The 2-4 kHz band: 0.3 where the high tone plays, 0 before it, falling back over 4 frames after it.
    assert np.abs(shift[61:80] - 0.3).max() < 0.02 and np.abs(shift[:58]).max() < 0.01
    assert shift[80:83] == pytest.approx(0.3 * np.exp(-np.arange(1, 4) / 4), abs=0.01) and shift[99] < 0.01
    assert "translate_x follows the audio's 2000-4000 Hz band: 0 + 0.3 x (0..1), falling back over 4 frames" in done.stdout
    assert "truncation_psi follows the audio's loudness: 1 + -0.5 x (0..1)" in done.stdout


@pytest.mark.kdenlive
@needs_kdenlive
def test_kdenlive_keeps_a_direction_a_noise_walk_and_an_audio_lane_through_a_save(tmp_path, snapshot):
    from latentcut.editor.mlt_module import kdenlive_data_folder, mlt_environment

    _directions(tmp_path)
    heard = {"audio_lane": "amount", "audio_feature": "band", "audio_band_low": "60", "audio_band_high": "250"}
    project = _project(tmp_path, [_clip(tmp_path, "trip", 1, 80, snapshot)], [LANES.replace("</filter>", "".join(
        f'<property name="{k}">{v}</property>' for k, v in {**heard, "audio_gain": "0.5", "audio_smooth": "3"}.items()
    ) + "</filter>")])  # fmt: skip
    resaved = tmp_path / "resaved.kdenlive"
    done = kdenlive_resave(project, resaved, mlt_environment(), data_dir=kdenlive_data_folder())
    assert done.returncode == 0, done.stderr
    lane = etree.parse(str(resaved)).getroot().xpath("//entry/filter[property[@name='mlt_service']='latent_controls']")
    assert len(lane) == 1
    props = {p.get("name"): p.text or "" for p in lane[0].findall("property")}
    assert {k: props[k] for k in heard} == heard and float(props["audio_gain"]) == 0.5 and float(props["audio_smooth"]) == 3
    assert props["direction"].endswith("dirs/directions.json") and props["noise_seed"] == "7" and props["direction_index"] == "1"
    assert props["amount"] == "10=0;30=2.5;59=-1" and props["noise_angle"] == "10=0;25=30;50=10"


_HOSTILE = ["0", "-1", "1e30", "-1e30", "nan", "inf", "9" * 5000, "", "x", "1/0", "0=1;x=2", "00:00:00.000=nan", "band", "none"]


@pytest.mark.melt
def test_hostile_values_in_every_lane_property_give_controls_or_one_line(tmp_path, snapshot):
    """120 projects with hostile values in the effect's properties (audio ones too): the conform's lanes, or one short line."""
    from latentcut.editor.soundtrack import ProjectAudio
    from latentcut.errors import LatentcutError

    _directions(tmp_path)
    lanes = LANES.replace("</filter>", "".join(
        f'<property name="{k}">{v}</property>' for k, v in
        {"audio_lane": "amount", "audio_feature": "band", "audio_band_low": "60", "audio_band_high": "250",
         "audio_gain": "0.5", "audio_offset": "0", "audio_smooth": "3"}.items()
    ) + "</filter>")  # fmt: skip
    project = _project(tmp_path, [_clip(tmp_path, "trip", 1, 100, snapshot)], [lanes], trim=(0, 99), blank=0)
    _with_music(tmp_path, project)
    audio = ProjectAudio(project)  # the music as melt mixes it, rendered once: the cases change only the effect
    assert conform_project(project, None, audio=audio).controls is not None
    template = project.read_text()
    slots = [
        m.span(1)
        for m in re.finditer(
            r'<property name="(?:truncation_psi|translate_x|amount|direction_index|noise_\w+|audio_\w+)">([^<]*)<', template
        )
    ]
    refused = 0
    for text in mutated(template, slots, _HOSTILE, 120, seed=22):
        project.write_text(text)
        try:
            result = conform_project(project, None, audio=audio)
        except LatentcutError as exc:
            assert "\n" not in str(exc) and len(str(exc)) < 1000, str(exc)
            refused += 1
            continue
        if result.controls is not None:
            assert np.isfinite(result.controls.table()).all()
    assert 20 < refused < 120
