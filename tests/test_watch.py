"""Saves noticed with real watchdog events on real files, and the watch loop against a real daemon (killed: a process)."""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from pathlib import Path

import pytest

from daemons import daemon, daemon_thread, free_address
from latentcut.daemon.client import DaemonClient
from latentcut.daemon.transport import Connection
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import save_sequence
from latentcut.watch.saves import SaveWatcher
from latentcut.watch.session import WatchOptions, WatchSession

WAIT_S = 5.0
QUIET_S = 0.6

PROJECT = """<mlt><profile width="16" height="16" frame_rate_num="25" frame_rate_den="1"/>
<producer id="a" out="59"><property name="length">60</property><property name="resource">a.mp4</property><property name="mlt_service">avformat</property></producer>
<producer id="b" out="59"><property name="length">60</property><property name="resource">b.mp4</property><property name="mlt_service">avformat</property></producer>
<playlist id="v1"><entry producer="a" in="0" out="{a_out}"/><entry producer="b" in="10" out="49"/></playlist>
<tractor id="t"><track producer="v1"/></tractor></mlt>"""


def kdenlive_save(project: Path, text: str) -> None:
    """Save as Kdenlive 22.12 does: write NAME.kdenlive.XXXXXX, then rename it over the project."""
    temp = project.with_name(f"{project.name}.{secrets.token_hex(3)}")
    temp.write_text(text)
    os.replace(temp, project)


def test_every_kind_of_save_is_noticed_and_nothing_else(tmp_path):
    project = tmp_path / "edit.kdenlive"
    project.write_text("v0")
    with SaveWatcher(project) as saves:
        assert not saves.wait_for_save(QUIET_S)
        kdenlive_save(project, "v1")
        assert saves.wait_for_save(WAIT_S)
        project.write_text("v2")  # in place, as other editors save
        assert saves.wait_for_save(WAIT_S)
        (tmp_path / "edit_backup0.kdenlive").write_text("backup")
        (tmp_path / "edit.kdenlive.png").write_bytes(b"thumbnail")
        (tmp_path / "edit.kdenlive.Ab12Cd").write_text("temp never renamed")
        (tmp_path / "other.kdenlive").write_text("another project")
        assert not saves.wait_for_save(QUIET_S)
        project.unlink()
        (tmp_path / "staging").write_text("v3")
        os.replace(tmp_path / "staging", project)  # Save As onto the name
        assert saves.wait_for_save(WAIT_S)


def test_quick_saves_are_reported_once(tmp_path):
    project = tmp_path / "edit.kdenlive"
    project.write_text("v0")
    with SaveWatcher(project, debounce_s=0.3) as saves:
        for version in range(5):
            kdenlive_save(project, f"v{version}")
            time.sleep(0.02)
        assert saves.wait_for_save(WAIT_S)
        assert not saves.wait_for_save(QUIET_S)


def _latent_project(folder: Path) -> Path:
    save_sequence(folder / "a.z.npy", gaussian_latents(60, 512, 1), fps=25)
    save_sequence(folder / "b.z.npy", gaussian_latents(60, 512, 2), fps=25)
    project = folder / "edit.kdenlive"
    project.write_text(PROJECT.format(a_out=39))
    return project


class _Watch:
    """A WatchSession running in a thread, its report lines collected."""

    def __init__(self, project: Path, address: str) -> None:
        self.lines: list[str] = []
        self.connection = Connection(address)
        self.session = WatchSession(project, DaemonClient(self.connection, timeout_ms=500), WatchOptions(), self.lines.append)
        self.stop = threading.Event()
        self.saves = SaveWatcher(project)
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        with self.saves:
            self.session.run(self.saves, self.stop)

    def wait_for(self, text: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [line for line in self.lines if text in line]
            if found:
                return found[-1]
            time.sleep(0.02)
        raise AssertionError(f"no {text!r} in {self.lines}")

    def __enter__(self) -> _Watch:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)
        self.connection.close()


@pytest.mark.slow
def test_saves_become_jobs_only_when_the_latents_change(tmp_path):
    project = _latent_project(tmp_path)
    with daemon_thread(tmp_path) as address, _Watch(project, address) as watch:
        assert "80 frames, 80 changed" in watch.wait_for("sent job")
        assert "80 generated" in watch.wait_for("rendered edit.mov")
        watch.lines.clear()
        kdenlive_save(project, PROJECT.format(a_out=41))  # trim: a plays two frames longer
        assert "82 frames, 2 changed" in watch.wait_for("sent job")  # b's frames only moved; a gained two
        rendered = watch.wait_for("rendered edit.mov")
        assert "2 generated" in rendered, rendered
        watch.lines.clear()
        kdenlive_save(project, PROJECT.format(a_out=41).replace("<mlt>", "<mlt >"))  # a save that changes nothing conformed
        watch.wait_for("did not change: nothing sent")
        project.write_text(PROJECT.format(a_out=45)[:200])  # an editor half-way through writing in place
        watch.wait_for("not sent: ")
        kdenlive_save(project, PROJECT.format(a_out=45))
        assert "86 frames" in watch.wait_for("sent job")
        watch.wait_for("rendered edit.mov")
        assert sum("not sent" in line for line in watch.lines) == 1


@pytest.mark.slow
def test_a_job_saved_while_the_daemon_is_down_is_sent_when_it_answers(tmp_path):
    project = _latent_project(tmp_path)
    address = free_address()
    with _Watch(project, address) as watch:
        watch.wait_for("not answering; the job is kept")
        kdenlive_save(project, PROJECT.format(a_out=30))  # the newest save replaces the kept job
        time.sleep(0.5)
        with daemon_thread(tmp_path, address=address):
            assert "71 frames" in watch.wait_for("sent job")
            watch.wait_for("rendered edit.mov")
    from latentcut.render.encode import video_frame_count_and_size

    assert video_frame_count_and_size(tmp_path / "renders/edit.mov")[0] == 71


@pytest.mark.slow
def test_the_watcher_resends_after_the_daemon_is_killed_mid_render(tmp_path):
    import signal

    project = _latent_project(tmp_path)
    project.write_text(PROJECT.format(a_out=59).replace('width="16" height="16"', 'width="96" height="96"'))
    address = free_address()
    with _Watch(project, address) as watch:
        with daemon(tmp_path, address=address) as (_, child):
            watch.wait_for("sent job")
            time.sleep(0.3)
            child.send_signal(signal.SIGKILL)
            child.wait(20)
        watch.wait_for("not answering; the job is kept", timeout_s=30)
        with daemon_thread(tmp_path, address=address):  # the restarted daemon: a process proves nothing more
            rendered = watch.wait_for("rendered edit.mov", timeout_s=120)
    counts = re.search(r"(\d+) generated, (\d+) from cache", rendered)
    assert "100 frames changed" in rendered and int(counts[1]) + int(counts[2]) == 100
    from latentcut.render.encode import video_frame_count_and_size

    assert video_frame_count_and_size(tmp_path / "renders/edit.mov") == (100, (96, 96))


def test_the_watcher_stays_alive_through_any_error_in_one_save(tmp_path, monkeypatch):
    from latentcut.watch import session

    project = _latent_project(tmp_path)
    good_json = (tmp_path / "a.z.json").read_text()
    (tmp_path / "a.z.json").write_text("[" * 100_000 + "]" * 100_000)  # RecursionError in json, before the fix
    with _Watch(project, free_address()) as watch:
        assert "a.z.json: nests deeper than 32 levels" in watch.wait_for("not sent: ")
        real = session.conform_project

        def exhausted(*args, **kwargs):
            raise MemoryError("out of memory while conforming")

        monkeypatch.setattr(session, "conform_project", exhausted)  # stands in for any bug in the conform
        kdenlive_save(project, PROJECT.format(a_out=30))
        line = watch.wait_for("MemoryError")
        assert line.endswith("please report it (watching for the next save)") and "\n" not in line
        monkeypatch.setattr(session, "conform_project", real)
        (tmp_path / "a.z.json").write_text(good_json)
        kdenlive_save(project, PROJECT.format(a_out=31))
        watch.wait_for("not answering; the job is kept")
        assert watch.thread.is_alive()


def test_a_renamed_folder_stops_the_watch_in_one_line(tmp_path):
    import pytest

    from latentcut.errors import ProjectError

    folder = tmp_path / "edit"
    folder.mkdir()
    project = folder / "edit.kdenlive"
    project.write_text("v0")
    with SaveWatcher(project) as saves:
        rename = threading.Timer(0.2, os.rename, (folder, tmp_path / "moved"))  # while the watcher waits
        rename.start()
        started = time.monotonic()
        try:
            with pytest.raises(ProjectError, match="edit: the project's folder was renamed or removed; watching stopped"):
                saves.wait_for_save(WAIT_S)
        finally:
            rename.join(WAIT_S)
        assert time.monotonic() - started < WAIT_S / 2


def test_a_folder_put_back_under_the_name_is_watched_again(tmp_path):
    folder = tmp_path / "edit"
    folder.mkdir()
    project = folder / "edit.kdenlive"
    project.write_text("v0")
    with SaveWatcher(project) as saves:
        os.rename(folder, tmp_path / "old")
        folder.mkdir()
        project.write_text("v1")
        assert saves.wait_for_save(WAIT_S)  # the folder changed under the name: that is a save
        assert not saves.wait_for_save(QUIET_S)
        kdenlive_save(project, "v2")
        assert saves.wait_for_save(WAIT_S)


def test_hostile_projects_are_one_line_each_and_the_watch_goes_on(tmp_path):
    project = _latent_project(tmp_path)
    warp = (
        '<producer id="b" out="59"><property name="length">60</property><property name="resource">{speed}:b.mp4</property>'
        '<property name="mlt_service">timewarp</property></producer>'
    )
    plain_b = re.search(r'<producer id="b".*?</producer>', PROJECT)[0]
    hostile = [
        (PROJECT.replace(plain_b, warp.format(speed="1e30")), "plays at speed 1e+30"),
        (PROJECT.replace(plain_b, warp.format(speed="9" * 4400)), "plays at speed inf"),
        (PROJECT.replace('frame_rate_den="1"', 'frame_rate_den="1000000000"'), "frame rate 25/1000000000 is not one"),
    ]
    with _Watch(project, free_address()) as watch:
        watch.wait_for("not answering; the job is kept")
        for text, message in hostile:
            watch.lines.clear()
            kdenlive_save(project, text.format(a_out=30))
            line = watch.wait_for("not sent: ")
            assert message in line and "please report" not in line and "\n" not in line, line
        kdenlive_save(project, PROJECT.format(a_out=39))  # the first save again: conformed, the same job as kept
        watch.wait_for("the conformed sequence did not change")
        assert watch.thread.is_alive()
