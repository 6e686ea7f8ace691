"""melt's own value of a ``truncation_psi`` lane at every frame of a project, read back from pixels.

Each project is rendered twice over white, once with every lane filter turned into a ``brightness``
filter whose level is the filter's ``truncation_psi`` (same place, same in/out, same animation string)
and once without; the ratio of the two renders' luma is MLT's value of the lane at that frame
(brightness scales 8-bit limited-range luma: +-1 level in 234).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from lxml import etree

from indexclips import profile_file
from latentcut.editor.mlt_module import mlt_environment
from latentcut.programs import run_melt

TOLERANCE = 0.012  # the target; the readback itself is good to 1/234
TIMEOUT_S = 300
_MEDIA = {"avformat", "avformat-novalidate", "latent"}


def _twin(project: Path, suffix: str, *, keep_lanes: bool) -> Path:
    """``project`` over white: media become white colour clips; lane filters become brightness filters (or go)."""
    tree = etree.parse(str(project))
    for producer in tree.getroot().xpath("//producer|//chain"):
        service = producer.xpath("string(property[@name='mlt_service'])")
        if service in _MEDIA:
            for prop in producer.xpath("property[@name='mlt_service' or @name='resource']"):
                prop.text = "colour" if prop.get("name") == "mlt_service" else "white"
    for flt in tree.getroot().xpath("//filter[property[@name='mlt_service']='latent_controls']"):
        if not keep_lanes:
            flt.getparent().remove(flt)
            continue
        for prop in flt.findall("property"):
            if prop.get("name") == "mlt_service":
                prop.text = "brightness"
            elif prop.get("name") == "truncation_psi":
                prop.set("name", "level")
            elif prop.get("name") not in ("in", "out", "disable"):
                flt.remove(prop)
    twin = project.with_name(f"{project.stem}.{suffix}.mlt")
    tree.write(str(twin))
    return twin


def luma(project: Path, frames: int) -> np.ndarray:
    """Mean luma of each of the first ``frames`` frames melt renders (yuv422p: MLT's own Y, no colour conversion)."""
    out = project.with_suffix(".mkv")
    arguments = [
        "melt", "-profile", str(profile_file(project).resolve()), str(project), "in=0", f"out={frames - 1}",
        "-consumer", f"avformat:{out}", "vcodec=ffv1", "pix_fmt=yuv422p", "an=1", "real_time=-1", "terminate_on_pause=1",
    ]  # fmt: skip
    run = run_melt(arguments, output=out, cwd=project.parent, env=mlt_environment(), timeout_s=TIMEOUT_S)
    assert run.returncode == 0, run.stderr
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "yuv422p", "-"],
        check=True, capture_output=True, timeout=TIMEOUT_S,
    ).stdout  # fmt: skip
    profile = etree.parse(str(project)).getroot().find("profile")
    width, height = int(profile.get("width")), int(profile.get("height"))
    return np.frombuffer(raw, np.uint8).reshape(-1, 2 * width * height)[:, : width * height].astype(np.float64).mean(axis=1)


def melt_lane(project: Path, frames: int) -> np.ndarray:
    """melt's own ``truncation_psi`` at each frame of ``project`` (see the module docstring)."""
    with_lanes = luma(_twin(project, "probe", keep_lanes=True), frames)
    without = luma(_twin(project, "plain", keep_lanes=False), frames)
    return with_lanes / without
