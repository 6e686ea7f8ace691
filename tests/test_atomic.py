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
