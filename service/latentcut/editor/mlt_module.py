"""Where the ``latent`` MLT module and latentcut's profiles are, and the environment melt and Kdenlive need to find them.

Installed as root, ``install.sh`` puts the module beside MLT's own, the profiles in MLT's profile
folder and the Kdenlive effect "Latent controls" in ``/usr/local/share/kdenlive/effects``. Otherwise
MLT can still be pointed at them: ``MLT_REPOSITORY`` *replaces* MLT's module folder (it does not add
to it), so a private folder of links to MLT's modules plus ours is made, and the same for
``MLT_DATA`` and ``MLT_PROFILES_PATH``; Kdenlive finds the effect through ``XDG_DATA_DIRS``.

The profiles and the module's metadata (``producer_latent.yml``) come with the code: from the checkout
when latentcut runs from one (an editable install), else from ``share/latentcut/`` where ``pip install``
put them (pyproject.toml's data-files). The built module is found through ``LATENTCUT_MLT_MODULE``,
then beside MLT's own modules, then in a checkout's ``plugin/mlt_latent``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from latentcut.errors import MltError, ProgramHung
from latentcut.latent.sidecar import cache_dir
from latentcut.programs import run_program

__all__ = [
    "MODULE_ENV",
    "MODULE_NAME",
    "kdenlive_data_folder",
    "kdenlive_environment",
    "metadata_folder",
    "mlt_environment",
    "module_file",
    "profiles_folder",
]

MODULE_NAME = "libmltlatent.so"
MODULE_ENV = "LATENTCUT_MLT_MODULE"  # a built libmltlatent.so, for an install that cannot put it beside MLT's modules
_CHECKOUT = Path(__file__).resolve().parents[3]  # the source tree, when the package runs from one
_PLUGIN = _CHECKOUT / "plugin" / "mlt_latent"
_SHARED = "share/latentcut"  # where pyproject.toml's data-files go, under the installation's data folder
_REINSTALL = "reinstall latentcut (pip install . from its source folder, or ./install.sh)"


def _in_checkout() -> bool:
    return (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "mlt_profiles").is_dir()


@functools.cache
def _installed(folder: str) -> Path | None:
    """``share/latentcut/<folder>`` as pip installed it with this distribution, or None."""
    try:
        files = importlib.metadata.distribution("latentcut").files or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if file.as_posix().endswith(f"{_SHARED}/{folder}/{file.name}"):
            return Path(str(file.locate())).resolve().parent
    return None


def _data_folder(checkout: Path, installed: str) -> Path:
    folder = checkout if _in_checkout() else _installed(installed)
    if folder is None or not folder.is_dir():
        raise MltError(f"latentcut's {installed} folder was not installed with it ({_SHARED}/{installed}); {_REINSTALL}")
    return folder


def _pkg(variable: str) -> Path:
    try:
        out = run_program(["pkg-config", f"--variable={variable}", "mlt-framework-7"], stall_s=30, text=True, check=True)
    except (OSError, subprocess.SubprocessError, ProgramHung) as exc:
        raise MltError(f"cannot ask pkg-config where MLT 7 is ({exc}); run ./install.sh (it installs libmlt-dev)") from exc
    return Path(out.stdout.strip())


def profiles_folder() -> Path:
    """latentcut's MLT profiles (square 256/512/1024 and HD letterbox, at 24, 25, 30, 60 and 29.97 fps)."""
    return _data_folder(_CHECKOUT / "mlt_profiles", "mlt_profiles")


def metadata_folder() -> Path:
    """The module's metadata files (``producer_latent.yml``: what ``melt -query producer=latent`` shows)."""
    return _data_folder(_PLUGIN, "mlt_latent")


def kdenlive_data_folder() -> Path:
    """A data folder for Kdenlive (an ``XDG_DATA_DIRS`` entry): its ``kdenlive/effects`` holds the effect "Latent controls"."""
    return _data_folder(_CHECKOUT / "plugin" / "kdenlive" / "effects", "kdenlive/effects").parents[1]


def module_file() -> Path | None:
    """The module as MLT will load it: named by ``LATENTCUT_MLT_MODULE``, installed beside MLT's, built in a checkout, else None."""
    named = os.environ.get(MODULE_ENV)
    if named:
        if not Path(named).is_file():
            raise MltError(f"{named}: {MODULE_ENV} names no file; build the module (make -C plugin/mlt_latent) or unset it")
        return Path(named)
    installed = _pkg("moduledir") / MODULE_NAME
    if installed.is_file():
        return installed
    built = _PLUGIN / MODULE_NAME
    return built if _in_checkout() and built.is_file() else None


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
        raise MltError(
            f"the latent MLT module is not installed; run ./install.sh as root (it installs it beside MLT's modules), "
            f"or build it (make -C plugin/mlt_latent) and set {MODULE_ENV} to the {MODULE_NAME} it makes"
        )
    moduledir, datadir = _pkg("moduledir"), _pkg("mltdatadir")
    private = cache_dir() / "mlt"
    if module.parent != moduledir:
        env["MLT_REPOSITORY"] = str(_linked(private, "modules", _by_name([*sorted(moduledir.glob("*.so")), module])))
    latent = _linked(private, "latent", _by_name(sorted(metadata_folder().glob("*.yml"))))
    profiles = _linked(
        private, "profiles", _by_name([*sorted((datadir / "profiles").iterdir()), *sorted(profiles_folder().iterdir())])
    )
    others = _by_name([p for p in sorted(datadir.iterdir()) if p.name not in ("latent", "profiles")])
    data = _linked(private, "data", {**others, "latent": latent, "profiles": profiles})
    env["MLT_DATA"] = str(data)
    env["MLT_PROFILES_PATH"] = str(data / "profiles")
    return env


def kdenlive_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``mlt_environment`` plus latentcut's Kdenlive effects, which Kdenlive reads from ``<data dir>/kdenlive/effects``."""
    env = mlt_environment(base)
    installed = env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share"
    env["XDG_DATA_DIRS"] = f"{kdenlive_data_folder()}:{installed}"
    return env
