"""The latent MLT producer, loaded by the real melt: metadata, frames identical to the proxy, the sidecar link, the online switch."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexclips import HEIGHT, WIDTH, block_centres, melt_frames, write_index_clip
from latentcut.conform.project import project_frame_map
from latentcut.conform.sidecars import OutsideProjectWarning
from latentcut.editor.mlt_module import MODULE_NAME, mlt_environment, module_file
from latentcut.latent.sidecar import SIDECAR_TAG, ModelRef, SidecarMeta, ZSequence, link_tags, load_sequence, save_sequence
from latentcut.programs import run_melt, run_program

pytestmark = pytest.mark.melt  # the module is tested inside the real melt

TIMEOUT_S = 120
VALGRIND_STALL_S = 60.0  # valgrind's log grows as melt runs under it, many times slower than alone
PROFILE = '<profile width="64" height="48" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="4" display_aspect_den="3" frame_rate_num="{num}" frame_rate_den="{den}"/>'


def _melt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_melt(["melt", *args], cwd=cwd, timeout_s=TIMEOUT_S, env=mlt_environment(), check=True)


def _render(project: Path) -> np.ndarray:
    return melt_frames(project, 56, env=mlt_environment())


def _project(folder: Path, service: str, fps: Fraction, extra: str = "") -> Path:
    path = folder / f"{service}.mlt"
    path.write_text(
        f"<mlt>{PROFILE.format(num=fps.numerator, den=fps.denominator)}"
        f'<producer id="c" in="0" out="89"><property name="resource">clip.mkv</property><property name="mlt_service">{service}</property>{extra}</producer>'
        '<playlist id="v"><entry producer="c" in="5" out="40"/><entry producer="c" in="50" out="69"/></playlist>'
        '<tractor id="t"><track producer="v"/></tractor></mlt>'
    )
    return path


CLIENT_SOURCE = Path(__file__).with_name("latent_client.c")


@pytest.fixture(scope="session")
def client(tmp_path_factory) -> Path:
    """tests/latent_client.c built: an MLT application that uses the producer as editors do (see its comment)."""
    program = tmp_path_factory.mktemp("client") / "latent_client"
    flags = run_program(["pkg-config", "--cflags", "--libs", "mlt-framework-7"], stall_s=30, text=True, check=True).stdout.split()
    run_program(["cc", "-Wall", "-Werror", "-o", str(program), str(CLIENT_SOURCE), *flags], stall_s=60, timeout_s=120, check=True)
    return program


def _client(client: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return run_program(
        [str(client), *args], stall_s=30, timeout_s=TIMEOUT_S, cwd=cwd, env=mlt_environment(), check=True, text=True
    )


def _seen(client: Path, path: str, *names: str, cwd: Path, settings: tuple[str, ...] = ()) -> dict[str, str]:
    """The properties the first latent producer made from ``path`` has, once a frame was shown (``settings`` set first)."""
    out = _client(client, "props", path, *settings, "--", *names, cwd=cwd).stdout
    after = out.split("-- after a frame\n")[-1]
    return dict(line.split("=", 1) for line in (out.split("-- after a frame")[0] + after).splitlines() if "=" in line)


def test_melt_lists_the_latent_producer_with_its_metadata(tmp_path):
    query = _melt("-query", "producer=latent", cwd=tmp_path)
    assert "identifier: latent" in query.stdout and "online_resource" in query.stdout


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)])
def test_latent_clips_play_exactly_their_proxy(tmp_path, fps):
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(30))
    latent = _render(_project(tmp_path, "latent", fps))
    plain = _render(_project(tmp_path, "avformat", fps))
    assert latent.shape == plain.shape == (56, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(latent, plain)


def _tagged_clip(folder: Path, model: ModelRef | None = None) -> SidecarMeta:
    """clip.mkv with the container tags latentcut render writes, for a sidecar clip.z.npy (recording ``model``)."""
    latents = np.zeros((90, 4), np.float32)
    latents[:, 1] = np.arange(90)
    meta = save_sequence(folder / "clip.z.npy", latents, fps=Fraction(25), model=model)
    tags = link_tags(ZSequence(latents, meta, folder / "clip.z.npy"))
    write_index_clip(folder / "clip.mkv", 1, 90, Fraction(25), sidecar=folder / "scratch.z.npy", tags=tags)
    return meta


_DERIVED = ("_latent.sidecar", "_latent.id", "_latent.sha256", "_latent.frames", "_latent.dim")


def test_the_sidecar_link_is_known_to_the_producer_and_never_saved(tmp_path, client):
    meta = _tagged_clip(tmp_path)
    seen = _seen(client, "latent:clip.mkv", *_DERIVED, cwd=tmp_path)
    assert [seen[name] for name in _DERIVED] == ["clip.z.npy", meta.id, meta.sha256, "90", "4"]
    saved = tmp_path / "saved.mlt"
    _melt("latent:clip.mkv", "-consumer", f"xml:{saved}", cwd=tmp_path)
    text = saved.read_text()
    # Derived values and defaults stay private: a project moved elsewhere keeps no stale path.
    assert '<property name="mlt_service">latent</property>' in text
    assert not re.search(r'name="(_?latent\.|online)', text), text


def test_the_sequence_hash_not_the_model_hash_of_a_sidecar_that_records_a_model(tmp_path, client):
    meta = _tagged_clip(tmp_path, ModelRef("builtin:cppn", "f" * 64))
    assert '"sha256": "' + "f" * 64 in (tmp_path / "clip.z.json").read_text()  # the model's hash comes first in the JSON
    assert _seen(client, "latent:clip.mkv", "_latent.sha256", cwd=tmp_path)["_latent.sha256"] == meta.sha256


def test_the_latent_sidecar_property_names_the_sidecar_when_the_proxy_names_none(tmp_path, client):
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(25))
    other = tmp_path / "elsewhere" / "named.z.npy"
    project = tmp_path / "one.mlt"
    project.write_text(
        f"<mlt>{PROFILE.format(num=25, den=1)}<producer id='c'><property name='resource'>clip.mkv</property>"
        f"<property name='mlt_service'>latent</property><property name='latent:sidecar'>{other}</property></producer></mlt>"
    )
    assert _seen(client, str(project), "_latent.sidecar", cwd=tmp_path)["_latent.sidecar"] == str(other)


def test_a_tag_too_long_for_a_path_links_no_sidecar_rather_than_a_cut_one(tmp_path, client):
    write_index_clip(tmp_path / "clip.mkv", 1, 5, Fraction(25), sidecar=tmp_path / "s.z.npy", tags={"latent_sidecar": "x" * 5000})
    result = _client(client, "props", "latent:clip.mkv", "--", "_latent.sidecar", "_latent.id", cwd=tmp_path)
    assert "_latent.sidecar=(none)" in result.stdout and "frame.clip=1" in result.stdout  # it still plays its proxy
    assert "longer than" in result.stderr and "linked to no sidecar" in result.stderr


def test_the_editors_settings_reach_the_decoder_and_what_the_decoder_learns_comes_back(tmp_path, client):
    """avformat's parameters pass both ways (as MLT's timewarp passes them); meta.* come up from the file."""
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(30))
    out = _client(client, "props", "latent:clip.mkv", "force_aspect_ratio=2", "--", "meta.media.width", cwd=tmp_path).stdout
    before, after = out.split("-- after a frame")
    assert "frame.aspect_ratio=2" in out  # Kdenlive's "Pixel aspect ratio" setting, applied by the decoder
    assert "meta.media.width=(none)" in before and "meta.media.width=64" in after  # learnt while decoding, passed up
    # Over a whole render, a setting as Kdenlive saves it plays the same frames as on a plain avformat clip.
    force = '<property name="force_fps">15</property>'
    latent = _render(_project(tmp_path, "latent", Fraction(25), force))
    np.testing.assert_array_equal(latent, _render(_project(tmp_path, "avformat", Fraction(25), force)))
    assert not np.array_equal(latent, _render(_project(tmp_path, "latent", Fraction(25))))


def test_kdenlive_sees_a_video_clip_and_melt_saves_a_latent_one(tmp_path, client):
    """Kdenlive 22.12 types a clip by its exact mlt_service: while playing its proxy the producer shows avformat-novalidate."""
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(25))
    write_index_clip(tmp_path / "clip.online.mkv", 7, 90, Fraction(25), sidecar=tmp_path / "online.z.npy")
    assert _seen(client, "latent:clip.mkv", "mlt_service", cwd=tmp_path)["mlt_service"] == "avformat-novalidate"
    online = _seen(client, "latent:clip.mkv", "mlt_service", cwd=tmp_path, settings=("online=1",))
    assert online["mlt_service"] == "latent" and online["frame.clip"] == "7"  # MLT clones it by this name: clones stay online


def test_online_switch_serves_the_online_render_of_the_same_frames(tmp_path):
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(25))
    write_index_clip(tmp_path / "clip.online.mkv", 7, 90, Fraction(25), sidecar=tmp_path / "online-sidecar.z.npy")
    proxy = block_centres(_render(_project(tmp_path, "latent", Fraction(25))))
    online = block_centres(_render(_project(tmp_path, "latent", Fraction(25), '<property name="online">1</property>')))
    bits = lambda c: (c > 127).reshape(len(c), -1)  # noqa: E731
    index = lambda c: (bits(c)[:, :16] * (1 << np.arange(16))).sum(1)  # noqa: E731
    clip = lambda c: (bits(c)[:, 16:24] * (1 << np.arange(8))).sum(1)  # noqa: E731
    assert (clip(proxy) == 1).all() and (clip(online) == 7).all()
    np.testing.assert_array_equal(index(online), index(proxy))  # same frames, from the other file
    missing = _render(
        _project(
            tmp_path,
            "latent",
            Fraction(25),
            '<property name="online">1</property><property name="online_resource">gone.mkv</property>',
        )
    )
    assert (clip(block_centres(missing)) == 1).all()  # no online render: the proxy, and an error in MLT's log


def test_a_fifo_where_the_online_render_should_be_shows_the_proxy_instead_of_hanging(tmp_path):
    """avformat would wait for ever for a writer on a FIFO, with melt deaf to SIGTERM: the producer opens regular files only."""
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(25))
    os.mkfifo(tmp_path / "clip.online.mkv")
    shown = block_centres(_render(_project(tmp_path, "latent", Fraction(25), '<property name="online">1</property>')))
    bits = (shown > 127).reshape(len(shown), -1)
    assert len(shown) == 56 and ((bits[:, 16:24] * (1 << np.arange(8))).sum(1) == 1).all()  # every frame from the proxy


def test_a_proxy_that_cannot_be_opened_makes_no_producer(tmp_path):
    (tmp_path / "broken.mkv").write_text("not a video")
    result = run_melt(
        ["melt", "latent:broken.mkv", "-consumer", "xml:out.mlt"], cwd=tmp_path, timeout_s=TIMEOUT_S, env=mlt_environment()
    )
    output = result.stdout + result.stderr
    assert "cannot open the proxy video broken.mkv" in output  # logged through MLT
    assert 'Failed to load "latent:broken.mkv"' in output  # and no half-built producer was returned


def _ids(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The clip id and frame index each index-coded frame shows."""
    bits = (block_centres(frames) > 127).reshape(len(frames), -1)
    return (bits[:, 16:24] * (1 << np.arange(8))).sum(1), (bits[:, :16] * (1 << np.arange(16))).sum(1)


@pytest.mark.parametrize("broken", ["not a video", "a FIFO"])
def test_a_followed_clip_plays_the_file_that_replaced_it_and_is_blank_past_its_end(tmp_path, client, broken):
    write_index_clip(tmp_path / "clip.mkv", 1, 80, Fraction(25))
    write_index_clip(tmp_path / "new.mkv", 2, 30, Fraction(25))
    if broken == "a FIFO":
        os.mkfifo(tmp_path / "broken.mkv")  # avformat would wait for a writer for ever: it is never opened
    else:
        (tmp_path / "broken.mkv").write_text("not a video")
    result = _client(client, "follow", "clip.mkv", "new.mkv", "broken.mkv", cwd=tmp_path)
    assert result.stdout.split() == [
        "length=2160000",  # a followed clip is a day long (at 25 fps), whatever its file holds: an editor keeps it as long
        "frame0=1",
        "blank=0",
        "frame1=2",  # the file renamed over the clip, opened again at the next frame
        "blank=0",
        "frame2=-1",  # past the new file's end: a blank frame, as a playlist's blank, and transparent if drawn
        "blank=1",
        "alpha=0",
        "frame3=2",  # a file that does not open: the one opened before goes on, and a line in MLT's log
        "blank=0",
        "frame4=2",
        "blank=0",
    ]
    assert "cannot open the replaced clip.mkv" in result.stderr


def test_melt_shows_the_new_frames_of_a_followed_clip_after_its_file_is_replaced_mid_render(tmp_path):
    """A preview clip over a lower track, rendered by melt while its file is renamed over: the frames after the swap are
    the new file's, at their own positions, and past the new file's end the lower track shows through."""
    write_index_clip(tmp_path / "lower.mkv", 3, 400, Fraction(25))
    write_index_clip(tmp_path / "preview.mkv", 1, 400, Fraction(25))
    write_index_clip(tmp_path / "new.mkv", 2, 250, Fraction(25))
    project = tmp_path / "followed.mlt"
    project.write_text(
        f"<mlt>{PROFILE.format(num=25, den=1)}"
        "<producer id='l' in='0' out='399'><property name='resource'>lower.mkv</property></producer>"
        "<producer id='p' in='0' out='399'><property name='length'>400</property><property name='resource'>preview.mkv</property>"
        "<property name='mlt_service'>latent</property><property name='refresh'>1</property></producer>"
        "<playlist id='v1'><entry producer='l' in='0' out='399'/></playlist><playlist id='v2'><entry producer='p' in='0' out='399'/></playlist>"
        "<tractor id='t'><track producer='v1'/><track producer='v2'/></tractor></mlt>"
    )
    # melt writes raw frames into a pipe and waits while it is full: it renders only as fast as they are read here.
    command = ["melt", str(project), "-consumer", "avformat:pipe:1", "f=rawvideo", "pix_fmt=rgb24", "an=1", "real_time=-1"]
    melt = subprocess.Popen(command, cwd=tmp_path, env=mlt_environment(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    frames = []
    try:
        assert melt.stdout is not None
        while len(chunk := melt.stdout.read(WIDTH * HEIGHT * 3)) == WIDTH * HEIGHT * 3:
            frames.append(np.frombuffer(chunk, np.uint8).reshape(HEIGHT, WIDTH, 3))
            if len(frames) == 50:
                os.replace(tmp_path / "new.mkv", tmp_path / "preview.mkv")
            time.sleep(0.01)
    finally:
        melt.kill()
        melt.wait(TIMEOUT_S)
        if melt.stdout is not None:
            melt.stdout.close()
    clips, indices = _ids(np.array(frames))
    assert len(frames) == 400
    np.testing.assert_array_equal(indices, np.arange(400))  # every frame at its own position, whichever file it came from
    swap = int(np.argmax(clips != 1))
    assert 50 < swap < 250, swap  # melt had rendered some frames ahead of the pipe; it took the new file within 0.25 s
    assert (clips[:swap] == 1).all() and (clips[swap:250] == 2).all() and (clips[250:] == 3).all(), clips.tolist()


@pytest.mark.parametrize("root", ["none", "own folder", "original folder"])
def test_a_relative_latent_sidecar_resolves_against_the_project_root_in_melt_as_in_the_conform(tmp_path, root, client):
    """melt, run from another folder, and the conform name the same sidecar: the one relative to the project's root."""
    original = tmp_path / "original"
    copy = tmp_path / "copy"  # a copy of the project file elsewhere; Kdenlive's root= still names the original folder
    elsewhere = tmp_path / "elsewhere"  # melt's working folder
    folder = original if root != "original folder" else copy
    for where, clip_id in ((original, 1), (copy, 2), (elsewhere, 3)):
        latents = np.full((90, 4), clip_id, np.float32)
        save_sequence(where / "sidecars" / "clip.z.npy", latents, fps=Fraction(25))
    right = load_sequence(original / "sidecars" / "clip.z.npy")
    tags = {k: v for k, v in link_tags(right).items() if k != SIDECAR_TAG}  # the file names no sidecar: the property decides
    write_index_clip(original / "clips" / "clip.mkv", 1, 90, Fraction(25), sidecar=tmp_path / "scratch.z.npy", tags=tags)
    attribute = {"none": "", "own folder": f' root="{original}"', "original folder": f' root="{original}"'}[root]
    project = folder / "project.mlt"
    project.write_text(
        f"<mlt{attribute}>{PROFILE.format(num=25, den=1)}"
        "<producer id='c' in='0' out='89'><property name='resource'>clips/clip.mkv</property>"
        "<property name='mlt_service'>latent</property><property name='latent:sidecar'>sidecars/clip.z.npy</property></producer>"
        "<playlist id='v'><entry producer='c' in='5' out='9'/></playlist><tractor id='t'><track producer='v'/></tractor></mlt>"
    )
    seen = _seen(client, str(project), "_latent.sidecar", cwd=elsewhere)["_latent.sidecar"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutsideProjectWarning)
        _, sequences, _ = project_frame_map(project)
    assert Path(seen) == sequences[0].path == original / "sidecars" / "clip.z.npy"
    assert load_sequence(Path(seen)).meta.id == right.meta.id


# The leak check: melt under valgrind over a latent producer at each way producer_latent_init can end.
_FRAME = re.compile(r"^\s+(?:at|by) 0x[0-9A-Fa-f]+: .*\(in (/[^)]*)\)$")


def _records(log: str) -> list[str]:
    """Valgrind's reports (errors and loss records), each as its lines without the ==pid== prefix."""
    lines = [re.sub(r"^==\d+== ?", "", line) for line in log.splitlines()]
    return [record for record in "\n".join(lines).split("\n\n") if record.strip()]


def _owner(record: str) -> str | None:
    """The MLT module (or program) whose code made the allocation or access: the innermost frame in one.

    Frames in libc, MLT's framework and the libraries modules call (ffmpeg, libxml2) are skipped, so an
    avformat leak reached through our get_frame is avformat's, and a libxml2 reader we forgot to free is ours.
    """
    for line in record.splitlines()[1:]:
        match = _FRAME.match(line)
        if match and ("/mlt-7/" in match.group(1) or match.group(1).endswith(MODULE_NAME) or "/bin/" in match.group(1)):
            return match.group(1)
    return None


def _ours(log: str) -> list[str]:
    kinds = re.compile(r"definitely lost|^Invalid|uninitialised|Mismatched free")
    return [r for r in _records(log) if kinds.search(r.splitlines()[0]) and (_owner(r) or "").endswith(MODULE_NAME)]


def test_the_leak_check_attributes_reports_to_the_module_whose_code_made_them():
    ours = """==7== 77 bytes in 1 blocks are definitely lost in loss record 159 of 315
==7==    at 0x48417B4: malloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x604BC8A: producer_latent_init (in /x/libmltlatent.so)
==7==    by 0x4879261: mlt_factory_producer (in /usr/lib/x86_64-linux-gnu/libmlt-7.so.7.12.0)
==7==    by 0x8448283: producer_loader_init (in /usr/lib/x86_64-linux-gnu/mlt-7/libmltcore.so)
==7== """
    theirs = """==7== 16 bytes in 1 blocks are definitely lost in loss record 101 of 315
==7==    at 0x48465EF: calloc (in /usr/libexec/valgrind/vgpreload_memcheck-amd64-linux.so)
==7==    by 0x846C7FE: producer_avformat_init (in /usr/lib/x86_64-linux-gnu/mlt-7/libmltavformat.so)
==7==    by 0x4879261: mlt_factory_producer (in /usr/lib/x86_64-linux-gnu/libmlt-7.so.7.12.0)
==7==    by 0x604BBA1: producer_latent_init (in /x/libmltlatent.so)
==7== """
    assert len(_ours(ours + theirs)) == 1 and "77 bytes" in _ours(ours + theirs)[0]


def test_frames_waiting_in_a_queue_outlive_a_switch_of_online_render_and_the_producer(tmp_path, client):
    """A consumer may render a frame after the clip changed its online render, or after the project closed."""
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25))
    for name, clip_id in (("one", 7), ("two", 9)):
        write_index_clip(tmp_path / f"{name}.mkv", clip_id, 10, Fraction(25), sidecar=tmp_path / f"{name}-s.z.npy")
    out = _client(client, "queued", "clip.mkv", "one.mkv", "two.mkv", cwd=tmp_path).stdout
    assert out.split() == ["frame0=1", "frame1=7", "frame2=9"]  # each frame from the file it was taken from


def test_a_document_whose_request_an_application_answered_leaves_no_root_behind(tmp_path, client):
    """MLT fires no "done" for a request the application answers itself; a clip made afterwards resolves as any other."""
    write_index_clip(tmp_path / "clip.mkv", 1, 10, Fraction(25))
    (tmp_path / "elsewhere").mkdir()
    project = tmp_path / "project.mlt"
    project.write_text(
        f"<mlt root='{tmp_path / 'elsewhere'}'>{PROFILE.format(num=25, den=1)}<producer id='c'><property name='resource'>{tmp_path}/clip.mkv"
        "</property><property name='mlt_service'>latent</property></producer></mlt>"
    )
    out = _client(client, "answered", str(project), "clip.mkv", "s.z.npy", cwd=tmp_path).stdout
    assert out.strip() == "_latent.sidecar=s.z.npy"  # relative to the working folder, not to that document's root


def test_the_module_exports_only_mlt_register_and_prefixed_names():
    module = module_file()
    assert module is not None
    symbols = run_program(["nm", "-D", "--defined-only", str(module)], stall_s=30, text=True, check=True)
    names = {line.split()[-1] for line in symbols.stdout.splitlines() if line.split()[1] in "TDB"}
    assert names and all(n == "mlt_register" or n.startswith(("producer_latent_", "latent_")) for n in names), names


def _valgrind_env(tmp_path: Path) -> dict[str, str]:
    """MLT's environment with only the modules needed here: valgrind runs much faster, and no other module's reports to sift."""
    env = mlt_environment()
    modules = tmp_path / "modules"
    modules.mkdir()
    system = Path(
        run_program(["pkg-config", "--variable=moduledir", "mlt-framework-7"], stall_s=30, text=True, check=True).stdout.strip()
    )
    for name in ("libmltcore.so", "libmltavformat.so", "libmltxml.so"):
        (modules / name).symlink_to(system / name)
    module = module_file()
    assert module is not None
    (modules / MODULE_NAME).symlink_to(module)
    env["MLT_REPOSITORY"] = str(modules)
    return env


def _under_valgrind(command: list[str], log: Path, cwd: Path, env: dict[str, str]) -> str:
    result = run_program(
        ["valgrind", "--leak-check=full", "--keep-debuginfo=yes", "--num-callers=40", f"--log-file={log}", *command],
        stall_s=VALGRIND_STALL_S,
        timeout_s=TIMEOUT_S,
        watch=(log,),
        cwd=cwd,
        text=True,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    text = log.read_text()
    assert "LEAK SUMMARY" in text
    assert _ours(text) == [], f"{command[:2]}: " + "\n\n".join(_ours(text))
    return result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind is not installed")
@pytest.mark.valgrind
def test_the_producer_frees_everything_on_every_path_under_valgrind(tmp_path, client):
    """No definite leak and no invalid access in the module's code on any path: failed opens, odd and over-long tags and
    paths, relative sidecars, the online switch with frames still queued, a document request answered by the application."""
    (tmp_path / "broken.mkv").write_text("not a video")
    (tmp_path / "empty.mkv").write_bytes(b"")
    write_index_clip(tmp_path / "plain.mkv", 1, 5, Fraction(25))
    write_index_clip(tmp_path / "other.mkv", 3, 5, Fraction(25), sidecar=tmp_path / "other-s.z.npy")
    _tagged_clip(tmp_path)  # clip.mkv, tagged for clip.z.npy
    garbled = {"latent_sidecar": "x" * 5000, "latent_sidecar_id": "", "latent_frames": "many", "latent_dim": "-1"}
    write_index_clip(tmp_path / "garbled.mkv", 2, 5, Fraction(25), sidecar=tmp_path / "scratch.z.npy", tags=garbled)
    (tmp_path / "unreadable.z.npy").write_bytes(b"")
    (tmp_path / "unreadable.z.npy").chmod(0)
    os.mkfifo(tmp_path / "fifo.mkv")
    # An absolute path that opens (the XML loader makes resources absolute), with no room left for ".online.mkv".
    deep = f"{tmp_path}/" + "./" * ((4090 - len(str(tmp_path)) - 10) // 2) + "plain.mkv"

    def producer(name: str, resource: str, *extra: tuple[str, str]) -> str:
        props = "".join(
            f"<property name='{k}'>{v}</property>" for k, v in (("resource", resource), ("mlt_service", "latent"), *extra)
        )
        return f"<producer id='{name}' in='0' out='4'>{props}</producer>"

    producers = [
        producer("missing", "missing.mkv", ("latent:sidecar", "m.z.npy")),
        producer("broken", "broken.mkv"),
        producer("garbled", "garbled.mkv", ("latent:sidecar", "sub/g.z.npy")),
        producer("tagged", "clip.mkv", ("latent:sidecar", "unreadable.z.npy"), ("online", "1"), ("online_resource", "gone.mkv")),
        producer("online", "plain.mkv", ("latent:sidecar", "sub/x.z.npy"), ("online", "1"), ("online_resource", "clip.mkv")),
        producer("deep", deep, ("latent:sidecar", "y" * 4200), ("online", "1"), ("force_aspect_ratio", "2")),
        producer("fifo", "plain.mkv", ("online", "1"), ("online_resource", "fifo.mkv")),
    ]
    names = ("missing", "broken", "garbled", "tagged", "online", "deep", "fifo")
    entries = "".join(f"<entry producer='{p}' in='0' out='1'/>" for p in names)
    project = tmp_path / "paths.mlt"
    project.write_text(f"<mlt>{PROFILE.format(num=25, den=1)}{''.join(producers)}<playlist id='v'>{entries}</playlist></mlt>")
    env = _valgrind_env(tmp_path)
    melt_args = ["latent:", "latent:missing.mkv", "latent:broken.mkv", "latent:empty.mkv", str(project), "latent:garbled.mkv"]
    melt_args += ["./" * 2600 + "paths.mlt", "out=1"]  # a document whose name does not fit into PATH_MAX
    said = _under_valgrind(
        ["melt", *melt_args, "-consumer", "null", "real_time=0", "terminate_on_pause=1"], tmp_path / "melt.log", tmp_path, env
    )
    assert "cannot open the proxy video broken.mkv" in said and "linked to no sidecar" in said  # the failure paths ran
    assert "would have a path longer" in said and "fifo.mkv (not a regular file)" in said
    said = _under_valgrind([str(client), "queued", "clip.mkv", "plain.mkv", "other.mkv"], tmp_path / "queued.log", tmp_path, env)
    assert said.split()[:3] == ["frame0=1", "frame1=1", "frame2=3"]
    said = _under_valgrind(
        [str(client), "answered", str(project), "plain.mkv", "s.z.npy"], tmp_path / "answered.log", tmp_path, env
    )
    assert "_latent.sidecar=s.z.npy" in said
    # A followed clip: reopened with a frame of the old file still queued, blank past the new end, a broken file kept out.
    write_index_clip(tmp_path / "followed.mkv", 1, 80, Fraction(25))
    write_index_clip(tmp_path / "replacing.mkv", 2, 30, Fraction(25))
    (tmp_path / "broken-again.mkv").write_text("not a video")
    said = _under_valgrind(
        [str(client), "follow", "followed.mkv", "replacing.mkv", "broken-again.mkv"], tmp_path / "follow.log", tmp_path, env
    )
    assert said.split()[1:8] == ["frame0=1", "blank=0", "frame1=2", "blank=0", "frame2=-1", "blank=1", "alpha=0"]
