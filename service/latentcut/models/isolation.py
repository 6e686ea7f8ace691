"""Loading a model file once in a child process before this one loads it: a file that crashes torch is a one-line error, not a crash.

torch's TorchScript reader parses code from the file in C++ and dies with SIGSEGV on some inputs
(10,000 nested parentheses in a 20 KB file are enough), and ``torch.export.load`` evaluates the shape
expressions a ``.pt2`` holds; no exception reaches Python when either kills the process. So the file
(only ever one the user named: ``latentcut.models.loading``) is first loaded by a child Python, and
its death by a signal is reported. A file that loaded cleanly is
remembered (by path, size, mtime, ctime, inode and torch version, in ``cache_dir()``), so the cost,
one process start and one torch import, is paid once per file, not per load.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import torch

from latentcut.atomic import atomic_path
from latentcut.errors import ModelError, ProgramHung
from latentcut.files import read_regular_bytes
from latentcut.latent.sidecar import cache_dir
from latentcut.programs import run_program

__all__ = ["CHILD_LOAD_TIMEOUT_S", "PROGRAM_KINDS", "loads_in_a_child"]

CHILD_LOAD_TIMEOUT_S = 600
_KNOWN_FILE = "loadable-models.json"
_KNOWN_MAX = 1000
_KNOWN_MAX_BYTES = 1 << 20
_LOAD = "import sys, warnings\nwarnings.simplefilter('ignore')\nimport torch\n"
PROGRAM_KINDS = {  # what loads each kind of program file, in the child
    "TorchScript": _LOAD + "torch.jit.load(sys.argv[1], map_location='cpu')\n",
    "torch.export": _LOAD + "torch.export.load(sys.argv[1])\n",
}


def _identity(path: Path) -> str:
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}:torch {torch.__version__}"


def _known() -> dict[str, str]:
    try:
        data = json.loads(read_regular_bytes(cache_dir() / _KNOWN_FILE, _KNOWN_MAX_BYTES))
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(key: str, identity: str) -> None:
    # Best effort: a record that cannot be written only costs the next load another child process.
    known = _known()
    known.pop(key, None)
    known[key] = identity
    try:
        with atomic_path(cache_dir() / _KNOWN_FILE) as tmp:
            tmp.write_text(json.dumps(dict(list(known.items())[-_KNOWN_MAX:])), encoding="utf-8")
    except OSError:
        return


def loads_in_a_child(path: Path, kind: str) -> None:
    """Raise ``ModelError`` if loading ``path``, a ``kind`` program (see ``PROGRAM_KINDS``), kills a child process (or outlasts the timeout).

    A child that fails with an ordinary exception is not reported here: loading it in this process
    raises the same exception, with the usual message.
    """
    key, identity = f"{kind}:{path.resolve()}", _identity(path)
    if _known().get(key) == identity:
        return
    try:
        child = run_program(
            [sys.executable, "-c", PROGRAM_KINDS[kind], str(path)],
            stall_s=None,  # the child prints nothing while it loads
            timeout_s=CHILD_LOAD_TIMEOUT_S,
            env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
        )
    except ProgramHung as exc:
        raise ModelError(f"{path}: loading it took over {CHILD_LOAD_TIMEOUT_S} s in a test process; it is not loaded") from exc
    if child.returncode < 0:
        try:
            name = signal.Signals(-child.returncode).name
        except ValueError:
            name = f"signal {-child.returncode}"
        raise ModelError(f"{path}: torch crashed ({name}) loading this {kind} file, so latentcut does not load it")
    if child.returncode == 0:
        _remember(key, identity)
