"""A folder bounded in bytes: on start the least recently modified go first, and the count follows the disk."""

import os
from pathlib import Path

from latentcut.render.bounded_folder import BoundedFolder


def _written(folder: Path, name: str, mtime: int) -> Path:
    path = folder / name[:2] / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * 10)
    os.utime(path, (mtime, mtime))
    return path


def test_a_restart_removes_the_oldest_first_and_the_count_follows_the_disk(tmp_path):
    for name, mtime in (("dd", 100), ("cc", 200), ("bb", 300), ("aa", 400)):  # the reverse of their names' order
        _written(tmp_path, name, mtime)
    removed: list[str] = []

    def remove(path: Path) -> None:
        removed.append(path.name)
        path.unlink()

    files = BoundedFolder(tmp_path, 25, sorted(tmp_path.glob("*/*")), remove)
    assert removed == ["dd", "cc"] and files.total_bytes == 20 and "aa" in files and "bb" in files
    assert files.touch("bb")  # now "aa" is the least recently used
    _written(tmp_path, "ee", 500)
    files.add("ee", 10, keep={"aa"})
    assert removed == ["dd", "cc", "bb"] and files.total_bytes == 20 and "aa" in files
    files.path("ee").unlink()  # removed behind the store's back
    assert not files.touch("ee") and "ee" not in files and files.total_bytes == 10
