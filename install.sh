#!/usr/bin/env bash
# Set up latentcut on a fresh Debian/Ubuntu machine; safe to run again (it only adds what is missing).
#   ./install.sh              system packages (when root or with sudo), .venv, torch, latentcut itself,
#                             the MLT module "latent" and the MLT profiles
# Environment: PYTHON=python3.11 picks the interpreter; LATENTCUT_SKIP_APT=1 skips the system packages;
# LATENTCUT_KDENLIVE=1 also installs Kdenlive (about 400 packages) for the tests that open projects in it.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
TORCH_VERSION=2.13.0
# xvfb and xauth: MLT draws Kdenlive titles with Qt, which needs a display even for `latentcut online`.
# libxml2-dev: the MLT module reads the root folder of the project being loaded (as MLT's XML loader does).
# valgrind: the test that the MLT module frees everything on every path.
APT_PACKAGES=(melt libmlt-dev libmlt++-dev libxml2-dev ffmpeg pkg-config build-essential valgrind xvfb xauth chromium)
if [ "${LATENTCUT_KDENLIVE:-0}" = 1 ]; then
    # Kdenlive itself, and what its tests need to run it headless (Xvfb, xdotool, a D-Bus session).
    APT_PACKAGES+=(kdenlive xvfb xdotool dbus libglib2.0-bin)
fi

say() { printf 'install.sh: %s\n' "$*"; }

missing_packages() {
    local pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || printf '%s ' "$pkg"
    done
}

if [ "${LATENTCUT_SKIP_APT:-0}" != 1 ] && command -v dpkg-query >/dev/null; then
    missing=$(missing_packages)
    if [ -n "$missing" ]; then
        if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO="sudo"; else SUDO=none; fi
        if [ "$SUDO" = none ]; then
            say "cannot install system packages without root; run this, then ./install.sh again:"
            say "  sudo apt-get update && sudo apt-get install -y $missing"
        else
            say "installing system packages: $missing"
            $SUDO apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
        fi
    else
        say "system packages present"
    fi
fi

if [ ! -x "$VENV/bin/python" ]; then
    if "$PYTHON" -c "import torch" 2>/dev/null; then
        # A torch the machine already has (a CUDA build on a GPU box) is kept by letting the venv see it.
        say "creating $VENV with $($PYTHON --version), sharing its torch $("$PYTHON" -c 'import torch; print(torch.__version__)')"
        "$PYTHON" -m venv --system-site-packages "$VENV"
    else
        say "creating $VENV with $($PYTHON --version)"
        "$PYTHON" -m venv "$VENV"
    fi
fi
PY="$VENV/bin/python"

# Keep a torch that is already there (a CUDA build on a GPU machine); otherwise the pinned CPU-capable release.
if "$PY" -c "import torch" 2>/dev/null; then
    say "torch $("$PY" -c 'import torch; print(torch.__version__)') present, kept"
else
    say "installing torch==$TORCH_VERSION"
    "$PY" -m pip install --quiet "torch==$TORCH_VERSION"
fi

say "installing latentcut and its development tools into $VENV"
"$PY" -m pip install --quiet -e ".[dev]"

# The MLT module "latent" (plugin/mlt_latent) and the profiles in mlt_profiles/.
if command -v pkg-config >/dev/null && pkg-config --exists mlt-framework-7 libxml-2.0; then
    say "building the MLT module in plugin/mlt_latent"
    make --quiet -C plugin/mlt_latent
    if [ "$(id -u)" = 0 ]; then
        make --quiet -C plugin/mlt_latent install
        profiles="$(pkg-config --variable=mltdatadir mlt-framework-7)/profiles"
        install -m 644 mlt_profiles/* "$profiles/"
        say "installed the module and profiles for MLT and Kdenlive (melt -query producer=latent)"
    else
        say "not root: the module stays in plugin/mlt_latent; latentcut points MLT at it (latentcut kdenlive starts Kdenlive so)"
        say "  (an install outside this folder finds it through LATENTCUT_MLT_MODULE=$PWD/plugin/mlt_latent/libmltlatent.so)"
    fi
else
    say "MLT 7 or libxml2 development files missing (libmlt-dev, libxml2-dev): the MLT module was not built"
fi

# Kdenlive's description of the lanes filter (effect "Latent controls"), where Kdenlive 22.12 reads effects:
# <data dir>/kdenlive/effects for each XDG data dir (/usr/local/share for everyone, ~/.local/share for this user).
if [ "$(id -u)" = 0 ]; then
    effects=/usr/local/share/kdenlive/effects
else
    effects="${XDG_DATA_HOME:-$HOME/.local/share}/kdenlive/effects"
fi
install -D -m 644 plugin/kdenlive/effects/latent_controls.xml "$effects/latent_controls.xml"
say "installed the Kdenlive effect \"Latent controls\" in $effects"

"$VENV/bin/latentcut" --version >/dev/null
say "done: try  $VENV/bin/latentcut demo demo-out/"
