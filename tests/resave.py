"""Projects re-saved by the real Kdenlive, headless (tests/tools/kdenlive-resave), as a watched program with a time limit."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

from latentcut.programs import run_program

RESAVE = Path(__file__).parent / "tools" / "kdenlive-resave"
RESAVE_TIMEOUT_S = 300  # the tool gives Kdenlive 60 s, then tries a failed sandbox once more and tears it down
needs_kdenlive = pytest.mark.skipif(
    shutil.which("kdenlive") is None or shutil.which("Xvfb") is None,
    reason="Kdenlive 22.12 and Xvfb are not installed (LATENTCUT_KDENLIVE=1 ./install.sh installs them)",
)


def kdenlive_resave(
    project: Path, output: Path, env: Mapping[str, str], *, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Have Kdenlive open ``project`` and Save As ``output`` (``--strict``: any unexpected dialog fails).

    ``data_dir``: a folder of Kdenlive data (effects) Kdenlive reads besides its own.
    """
    extra = ["--data-dir", str(data_dir)] if data_dir is not None else []
    command = [str(RESAVE), "--strict", *extra, str(project), str(output)]
    return run_program(command, stall_s=None, timeout_s=RESAVE_TIMEOUT_S, env=env, text=True)
