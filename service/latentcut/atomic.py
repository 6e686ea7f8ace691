"""Atomic replacement of output files and folders: a crash never leaves a partial result under its final name."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "stale_temps_removed", "writable_dir"]

# A temporary name carries the pid of the process writing it: ".<name>.<pid>-<random>.partial<suffix>".
_TEMP_OWNER = re.compile(r"\.(\d+)-[^./]+\.partial(?:\.[^/]*)?$")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def writable_dir(path: Path) -> Path:
    """Return the folder that will hold ``path``, creating it; raise OSError if it cannot be written."""
    folder = path.parent if path.parent != Path("") else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"{folder}: folder is not writable")
    return folder


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def stale_temps_removed(folder: Path, name: str | None = None, *, any_owner: bool = False) -> list[Path]:
    """Remove the hidden temporary outputs in ``folder`` left by processes that died while writing; return them.

    Only names of the form ``atomic_path``/``atomic_dir`` make are touched, and only those of
    ``name`` (a final file or folder name) when given. A temporary whose writer is still running
    is kept, unless ``any_owner`` (for a caller that owns the folder alone and has just started).
    """
    prefixes = (f".{Path(name).stem}.", f".{name}.") if name else (".",)
    removed: list[Path] = []
    try:
        # One listing, no glob: this runs before every atomic write, in folders of thousands of files.
        with os.scandir(folder) as entries:
            candidates = [entry.name for entry in entries if entry.name.startswith(prefixes) and ".partial" in entry.name]
    except OSError:
        return removed
    for candidate in candidates:
        leftover = folder / candidate
        owner = _TEMP_OWNER.search(candidate)
        if owner is None and not any_owner:
            continue
        if owner is not None and int(owner.group(1)) == os.getpid():
            continue
        if not any_owner and owner is not None and _alive(int(owner.group(1))):
            continue
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
        removed.append(leftover)
    return removed


@contextlib.contextmanager
def atomic_path(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; rename it over ``final`` only if the block succeeds.

    A folder under the name ``final`` is an ``IsADirectoryError`` at once, its ``strerror`` one line.

    The temporary name keeps the final suffix (ffmpeg picks its muxer from it) and starts with a dot
    so that editors and watchers ignore it; it names this process, so that the next write of ``final``
    removes the temporary of a writer that was killed (``stale_temps_removed``).
    """
    if final.is_dir():  # checked before any work: a file is never renamed over a folder
        raise IsADirectoryError(errno.EISDIR, "is a folder; choose another output name, or remove the folder", str(final))
    folder = writable_dir(final)
    stale_temps_removed(folder, final.name)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.stem}.{os.getpid()}-", suffix=f".partial{final.suffix}", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    # mkstemp makes files private (0600); a finished output gets the permissions any new file would.
    tmp.chmod(0o666 & ~_umask())
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a fresh temporary folder beside ``final``; swap it in for ``final`` only if the block succeeds."""
    parent = writable_dir(final)
    stale_temps_removed(parent, final.name)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.{os.getpid()}-", suffix=".partial", dir=parent))
    tmp.chmod(0o777 & ~_umask())
    try:
        yield tmp
        if final.exists():
            # A folder cannot be renamed over a non-empty one: move the old one aside first.
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=parent))
            os.replace(final, old / "content")
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
