"""Where the ``latent`` MLT module and latentcut's profiles are, and the environment melt and Kdenlive need to find them.

Installed as root, ``install.sh`` puts the module beside MLT's own and the profiles in MLT's profile
folder. Otherwise MLT can still be pointed at them: ``MLT_REPOSITORY`` *replaces* MLT's module folder
(it does not add to it), so a private folder of links to MLT's modules plus ours is made, and the
same for ``MLT_DATA`` and ``MLT_PROFILES_PATH``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from latentcut.errors import MltError, ProgramHung
from latentcut.latent.sidecar import cache_dir
from latentcut.programs import run_program

__all__ = ["MODULE_NAME", "mlt_environment", "module_file", "profiles_folder"]

MODULE_NAME = "libmltlatent.so"
_REPO = Path(__file__).resolve().parents[2]
_PLUGIN = _REPO / "plugin" / "mlt_latent"


def _pkg(variable: str) -> Path:
    try:
        out = run_program(["pkg-config", f"--variable={variable}", "mlt-framework-7"], stall_s=30, text=True, check=True)
    except (OSError, subprocess.SubprocessError, ProgramHung) as exc:
        raise MltError(f"cannot ask pkg-config where MLT 7 is ({exc}); run ./install.sh (it installs libmlt-dev)") from exc
    return Path(out.stdout.strip())


def profiles_folder() -> Path:
    """latentcut's MLT profiles (square 256/512/1024 and HD letterbox, at 24, 25, 30, 60 and 29.97 fps)."""
    return _REPO / "mlt_profiles"


def module_file() -> Path | None:
    """The module as MLT will load it: installed beside MLT's modules, else built in the repository, else None."""
    installed = _pkg("moduledir") / MODULE_NAME
    if installed.is_file():
        return installed
    built = _PLUGIN / MODULE_NAME
    return built if built.is_file() else None


def _by_name(sources: list[Path]) -> dict[str, Path]:
    """Link names for ``sources``; of two with one name, the later wins (latentcut's over MLT's)."""
    return {source.name: source for source in sources}


def _linked(parent: Path, name: str, links: Mapping[str, Path]) -> Path:
    """A folder of links, ``{link name: target}``.

    It is named after what it links to and never changed once made, so a melt or Kdenlive already
    using it keeps working while another process asks for it again.
    """
    digest = hashlib.sha256("\n".join(f"{n}={p}" for n, p in sorted(links.items())).encode()).hexdigest()[:16]
    folder = parent / f"{name}-{digest}"
    if folder.is_dir():
        return folder
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=parent))
    for link_name, source in links.items():
        (staging / link_name).symlink_to(source)
    try:
        staging.rename(folder)
    except OSError:  # made meanwhile by another process: theirs is the same
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def mlt_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``base`` (default: this process's environment) with what MLT needs to load the module and profiles."""
    env = dict(os.environ if base is None else base)
    module = module_file()
    if module is None:
        raise MltError(f"the latent MLT module is not built; run ./install.sh (or make -C {_PLUGIN})")
    moduledir, datadir = _pkg("moduledir"), _pkg("mltdatadir")
    private = cache_dir() / "mlt"
    if module.parent != moduledir:
        env["MLT_REPOSITORY"] = str(_linked(private, "modules", _by_name([*sorted(moduledir.glob("*.so")), module])))
    latent = _linked(private, "latent", _by_name([_PLUGIN / "producer_latent.yml"]))
    profiles = _linked(
        private, "profiles", _by_name([*sorted((datadir / "profiles").iterdir()), *sorted(profiles_folder().iterdir())])
    )
    others = _by_name([p for p in sorted(datadir.iterdir()) if p.name not in ("latent", "profiles")])
    data = _linked(private, "data", {**others, "latent": latent, "profiles": profiles})
    env["MLT_DATA"] = str(data)
    env["MLT_PROFILES_PATH"] = str(data / "profiles")
    return env
