import os

import pytest

from latentcut.atomic import atomic_dir, atomic_path


def test_atomic_path_renames_only_on_success(tmp_path):
    final = tmp_path / "out.mp4"
    with atomic_path(final) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".mp4" and tmp.name.startswith(".")
        tmp.write_text("done")
    assert final.read_text() == "done"
    with pytest.raises(RuntimeError), atomic_path(final) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert final.read_text() == "done"
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]


def test_atomic_path_gives_ordinary_permissions(tmp_path):
    final = tmp_path / "f.txt"
    with atomic_path(final) as tmp:
        tmp.write_text("x")
    mask = os.umask(0)
    os.umask(mask)
    assert final.stat().st_mode & 0o777 == 0o666 & ~mask


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    final = tmp_path / "frames"
    with atomic_dir(final) as tmp:
        (tmp / "a.png").write_text("1")
    with atomic_dir(final) as tmp:
        (tmp / "b.png").write_text("2")
    assert [p.name for p in final.iterdir()] == ["b.png"]
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "c.png").write_text("3")
        raise RuntimeError("crash")
    assert [p.name for p in final.iterdir()] == ["b.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["frames"]


def _dead_pid() -> int:
    import sys

    from latentcut.programs import run_program

    child = run_program([sys.executable, "-c", "import os; print(os.getpid())"], stall_s=None, timeout_s=60, text=True)
    return int(child.stdout)


def test_the_next_write_removes_temporaries_of_dead_writers_only(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    stale_file = tmp_path / f".out.{dead}-abc123_x.partial.mp4"
    stale_dir = tmp_path / f".frames.{dead}-abc123_x.partial"
    kept_live = tmp_path / f".out.{live}-abc123_x.partial.mp4"
    unrelated = tmp_path / ".other.partial.mp4"
    for path in (stale_file, kept_live, unrelated):
        path.write_text("half")
    stale_dir.mkdir()
    (stale_dir / "000000.png").write_text("half")
    with atomic_path(tmp_path / "out.mp4") as tmp:
        tmp.write_text("done")
    assert not stale_file.exists() and kept_live.exists() and unrelated.exists()
    with atomic_dir(tmp_path / "frames") as tmp:
        (tmp / "a.png").write_text("1")
    assert not stale_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.mp4", "frames", kept_live.name, unrelated.name])


def test_a_render_killed_mid_write_leaves_no_output_and_the_next_run_cleans_up(tmp_path, cli):
    import signal
    import sys
    import time
    from fractions import Fraction

    from latentcut.latent.sampling import gaussian_latents
    from latentcut.latent.sidecar import save_sequence
    from latentcut.programs import Program

    save_sequence(tmp_path / "s.z.npy", gaussian_latents(3000, 512, 1), fps=Fraction(25))
    save_sequence(tmp_path / "t.z.npy", gaussian_latents(3, 512, 2), fps=Fraction(25))
    render_args = ["-o", "out.mp4", "--size", "64x64", "--no-progress", "--model", "builtin:cppn"]
    with Program([sys.executable, "-m", "latentcut", "render", "s.z.npy", *render_args], cwd=tmp_path) as render:
        deadline = time.monotonic() + 120
        while not any(path.stat().st_size for path in tmp_path.glob(".out.*.partial.mp4")):
            assert render.poll() is None and time.monotonic() < deadline, "the render ended before it was killed"
            time.sleep(0.05)
        render.send_signal(signal.SIGKILL)
        render.wait(60)
    leftovers = list(tmp_path.glob(".out.*.partial.mp4"))
    assert len(leftovers) == 1 and not (tmp_path / "out.mp4").exists()
    again = cli("render", "t.z.npy", *render_args)  # the next run, in this process
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "out.mp4").is_file() and not leftovers[0].exists()
