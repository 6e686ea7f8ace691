"""Opening the files a user names for reading: only regular files, never a FIFO, device or folder, and never more than a stated size.

A FIFO opened for reading blocks until some writer appears, a device can be endless, and a folder
cannot be read at all; so a path is opened without blocking, checked with ``fstat`` on the open
descriptor (no race between the check and the read), and only then read. Each refusal is an
``OSError`` subclass whose ``strerror`` is one line, so callers that already turn ``OSError`` into
their own one-line errors need nothing more.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
from pathlib import Path
from typing import BinaryIO

__all__ = ["FileTooLargeError", "NotRegularFileError", "file_sha256", "open_regular", "read_regular_bytes", "regular_size"]

_HASHED: dict[tuple[str, int, int, int, int], str] = {}  # (path, size, mtime, ctime, inode): sha256, for this process
_HASHED_LOCK = threading.Lock()


class NotRegularFileError(OSError):
    """The path is a FIFO, device, socket or folder, not a regular file."""


class FileTooLargeError(OSError):
    """The file is larger than the caller reads."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: str | Path, *, limit_bytes: int | None = None) -> BinaryIO:
    """Return ``path`` opened for binary reading if it is a regular file (of at most ``limit_bytes``).

    Raises ``FileNotFoundError`` and the like as ``open`` does, ``NotRegularFileError`` for anything
    that is not a regular file, and ``FileTooLargeError`` beyond ``limit_bytes``.
    """
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting for one.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(errno.EINVAL, f"is {_kind(info.st_mode)}, not a regular file; give a file", str(path))
        if limit_bytes is not None and info.st_size > limit_bytes:
            raise FileTooLargeError(errno.EFBIG, f"is {info.st_size:,} bytes, over the {limit_bytes:,} this reads", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular_bytes(path: str | Path, limit_bytes: int) -> bytes:
    """Return the contents of the regular file ``path``, refusing one larger than ``limit_bytes`` (see ``open_regular``)."""
    with open_regular(path, limit_bytes=limit_bytes) as handle:
        # Read one byte more than allowed: a file that grew since fstat is still refused.
        data = handle.read(limit_bytes + 1)
    if len(data) > limit_bytes:
        raise FileTooLargeError(errno.EFBIG, f"is over the {limit_bytes:,} bytes this reads", str(path))
    return data


def regular_size(path: str | Path) -> int:
    """Return the size of the regular file ``path`` without opening it; ``NotRegularFileError`` for anything else."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        raise NotRegularFileError(errno.EINVAL, f"is {_kind(info.st_mode)}, not a regular file; give a file", str(path))
    return info.st_size


def file_sha256(path: str | Path) -> str:
    """The sha256 of the regular file ``path``'s contents, read once per process while the file is unchanged.

    A model file is hashed to find it and to check it before it is loaded, then again by its loader:
    the second time costs nothing. A file changed since (size, mtime, ctime or inode) is read again.
    """
    with open_regular(path) as handle:
        info = os.fstat(handle.fileno())
        key = (os.path.realpath(path), info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino)
        with _HASHED_LOCK:
            known = _HASHED.get(key)
        if known is not None:
            return known
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    with _HASHED_LOCK:
        _HASHED[key] = digest.hexdigest()
    return digest.hexdigest()
