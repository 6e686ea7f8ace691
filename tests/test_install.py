"""latentcut installed without its source tree (``pip install .`` into a fresh venv) runs the workflow from any folder."""

from __future__ import annotations

import os
import shutil
import site
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from latentcut.errors import MltError
from latentcut.media import media_facts
from latentcut.programs import run_program

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "README.md", "service", "mlt_profiles", "plugin")  # what `pip install .` reads
INSTALL_TIMEOUT_S = 300
COMMAND_TIMEOUT_S = 300
# A stand-in for Kdenlive: what `latentcut kdenlive` starts it with, the profile folder MLT is given.
FAKE_KDENLIVE = '#!/bin/sh\nreadlink -f "$MLT_PROFILES_PATH/latent_256_25"\n'


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh venv with latentcut installed from a copy of the source, which is then deleted; yields the venv."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.o", "*.so"))
        else:
            shutil.copy2(ROOT / name, source / name)
    folder = work / "venv"
    run_program(
        [sys.executable, "-m", "venv", "--without-pip", str(folder)], stall_s=None, timeout_s=INSTALL_TIMEOUT_S, check=True
    )
    # The dependencies (torch, numpy, ...) are this interpreter's: a .pth file puts its site folders after the venv's own,
    # so pip installs latentcut alone, from the copy, without the network.
    purelib = next((folder / "lib").glob("python3*/site-packages"))
    (purelib / "dependencies.pth").write_text("".join(f"{path}\n" for path in site.getsitepackages()))
    python = folder / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", "--no-build-isolation"]
    run_program([*install, "--no-index", str(source)], stall_s=None, timeout_s=INSTALL_TIMEOUT_S, cwd=work, check=True)
    shutil.rmtree(source)
    yield folder


def _environment(venv: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return {**env, "PATH": f"{venv / 'bin'}:{env['PATH']}", "CUDA_VISIBLE_DEVICES": "", **extra}


def _latentcut(venv: Path, cwd: Path, *args: str, **extra: str) -> str:
    result = run_program(
        [str(venv / "bin" / "latentcut"), *args],
        stall_s=None,
        timeout_s=COMMAND_TIMEOUT_S,
        cwd=cwd,
        env=_environment(venv, **extra),
        text=True,
    )
    assert result.returncode == 0, f"latentcut {' '.join(args)}: {result.stderr}"
    return result.stdout


@pytest.mark.slow
@pytest.mark.melt
def test_a_non_editable_install_runs_the_workflow_from_any_folder(venv, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    code = "import latentcut.editor.mlt_module as m; print(m.__file__); print(m.profiles_folder()); print(m.metadata_folder())"
    where = run_program(
        [str(venv / "bin" / "python"), "-c", code], stall_s=None, timeout_s=120, cwd=elsewhere, env=_environment(venv), text=True
    )
    module, profiles, metadata = where.stdout.split()
    assert Path(module).is_relative_to(venv) and not Path(module).is_relative_to(ROOT), where.stderr
    assert Path(profiles) == venv / "share/latentcut/mlt_profiles" and (Path(profiles) / "latent_512_2997").is_file()
    assert (Path(metadata) / "producer_latent.yml").is_file()

    _latentcut(venv, elsewhere, "sample", "pool.z.npy", "--count", "6", "--seed", "1")
    _latentcut(venv, elsewhere, "render", "pool.z.npy", "-o", "pool.mp4", "--size", "64x64", "--no-progress")
    _latentcut(venv, elsewhere, "sheet", "pool.z.npy", "-o", "pool.png", "--tile", "32x32")
    _latentcut(venv, elsewhere, "project", "new", "edit.kdenlive", "pool.mp4", "--timeline")
    _latentcut(venv, elsewhere, "conform", "edit.kdenlive", "-o", "cut.z.npy")
    _latentcut(venv, elsewhere, "online", "edit.kdenlive", "-o", "final.mkv", "--size", "32x32")
    assert (elsewhere / "pool.png").is_file() and (elsewhere / "cut.z.npy").is_file()
    assert media_facts(elsewhere / "final.mkv").frames == 6

    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "kdenlive").write_text(FAKE_KDENLIVE)
    (fake / "kdenlive").chmod(0o755)
    shown = _latentcut(venv, elsewhere, "kdenlive", PATH=f"{fake}:{venv / 'bin'}:{os.environ['PATH']}")
    assert Path(shown.strip()) == venv / "share/latentcut/mlt_profiles/latent_256_25"


def test_without_the_module_the_error_names_the_fix(monkeypatch, tmp_path):
    from latentcut.editor import mlt_module

    monkeypatch.setattr(mlt_module, "_pkg", lambda variable: tmp_path)  # MLT's module folder without ours
    monkeypatch.setattr(mlt_module, "_PLUGIN", tmp_path / "not-built")
    with pytest.raises(MltError) as absent:
        mlt_module.mlt_environment()
    assert "./install.sh as root" in str(absent.value) and "LATENTCUT_MLT_MODULE" in str(absent.value)
    monkeypatch.setenv("LATENTCUT_MLT_MODULE", str(tmp_path / "libmltlatent.so"))
    with pytest.raises(MltError, match=r"libmltlatent.so: LATENTCUT_MLT_MODULE names no file; build the module"):
        mlt_module.mlt_environment()
