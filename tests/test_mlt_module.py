"""The latent MLT producer, loaded by the real melt: metadata, frames identical to the proxy, the sidecar link, the online switch."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from indexclips import HEIGHT, WIDTH, block_centres, melt_frames, write_index_clip
from latentcut.latent.sidecar import ModelRef, SidecarMeta, ZSequence, link_tags, save_sequence
from latentcut.mlt_module import mlt_environment

TIMEOUT_S = 120
PROFILE = '<profile width="64" height="48" progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="4" display_aspect_den="3" frame_rate_num="{num}" frame_rate_den="{den}"/>'


def _melt(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["melt", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=mlt_environment(),
        check=True,
        stdin=subprocess.DEVNULL,
    )


def _render(project: Path) -> np.ndarray:
    return melt_frames(project, 56, env=mlt_environment())


def _project(folder: Path, service: str, fps: Fraction, extra: str = "") -> Path:
    path = folder / f"{service}.mlt"
    path.write_text(
        f"<mlt>{PROFILE.format(num=fps.numerator, den=fps.denominator)}"
        f'<producer id="c" in="0" out="89"><property name="resource">clip.mkv</property><property name="mlt_service">{service}</property>{extra}</producer>'
        '<playlist id="v"><entry producer="c" in="5" out="40"/><entry producer="c" in="50" out="69"/></playlist>'
        '<tractor id="t"><track producer="v"/></tractor></mlt>'
    )
    return path


def test_melt_lists_the_latent_producer_with_its_metadata(tmp_path):
    query = _melt("-query", "producer=latent", cwd=tmp_path)
    assert "identifier: latent" in query.stdout and "online_resource" in query.stdout


@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)])
def test_latent_clips_play_exactly_their_proxy(tmp_path, fps):
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(30))
    latent = _render(_project(tmp_path, "latent", fps))
    plain = _render(_project(tmp_path, "avformat", fps))
    assert latent.shape == plain.shape == (56, HEIGHT, WIDTH, 3)
    np.testing.assert_array_equal(latent, plain)


def _tagged_clip(folder: Path, model: ModelRef | None = None) -> SidecarMeta:
    """clip.mkv with the container tags latentcut render writes, for a sidecar clip.z.npy (recording ``model``)."""
    latents = np.zeros((90, 4), np.float32)
    latents[:, 1] = np.arange(90)
    meta = save_sequence(folder / "clip.z.npy", latents, fps=Fraction(25), model=model)
    tags = link_tags(ZSequence(latents, meta, folder / "clip.z.npy"))
    write_index_clip(folder / "clip.mkv", 1, 90, Fraction(25), sidecar=folder / "scratch.z.npy", tags=tags)
    return meta


def test_the_sidecar_link_is_exposed_as_properties(tmp_path):
    meta = _tagged_clip(tmp_path)
    saved = tmp_path / "saved.mlt"
    _melt("latent:clip.mkv", "-consumer", f"xml:{saved}", cwd=tmp_path)
    text = saved.read_text()
    assert f'<property name="latent.id">{meta.id}</property>' in text
    assert f'<property name="latent.sha256">{meta.sha256}</property>' in text
    assert '<property name="latent.frames">90</property>' in text and '<property name="latent.dim">4</property>' in text
    assert '<property name="latent.sidecar">clip.z.npy</property>' in text


def test_the_sequence_hash_not_the_model_hash_of_a_sidecar_that_records_a_model(tmp_path):
    meta = _tagged_clip(tmp_path, ModelRef("builtin:cppn", "f" * 64))
    assert '"sha256": "' + "f" * 64 in (tmp_path / "clip.z.json").read_text()  # the model's hash comes first in the JSON
    saved = tmp_path / "saved.mlt"
    _melt("latent:clip.mkv", "-consumer", f"xml:{saved}", cwd=tmp_path)
    assert f'<property name="latent.sha256">{meta.sha256}</property>' in saved.read_text()


def test_the_latent_sidecar_property_names_the_sidecar_when_the_proxy_names_none(tmp_path):
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(25))
    other = tmp_path / "elsewhere" / "named.z.npy"
    saved = tmp_path / "saved.mlt"
    project = tmp_path / "one.mlt"  # one producer alone: melt's XML writer shows its properties
    project.write_text(
        f"<mlt>{PROFILE.format(num=25, den=1)}<producer id='c'><property name='resource'>clip.mkv</property>"
        f"<property name='mlt_service'>latent</property><property name='latent:sidecar'>{other}</property></producer></mlt>"
    )
    _melt(str(project), "-consumer", f"xml:{saved}", cwd=tmp_path)
    # (MLT's XML writer stores paths under the working folder relative to it.)
    assert '<property name="latent.sidecar">elsewhere/named.z.npy</property>' in saved.read_text()


def test_online_switch_serves_the_online_render_of_the_same_frames(tmp_path):
    write_index_clip(tmp_path / "clip.mkv", 1, 90, Fraction(25))
    write_index_clip(tmp_path / "clip.online.mkv", 7, 90, Fraction(25), sidecar=tmp_path / "online-sidecar.z.npy")
    proxy = block_centres(_render(_project(tmp_path, "latent", Fraction(25))))
    online = block_centres(_render(_project(tmp_path, "latent", Fraction(25), '<property name="online">1</property>')))
    bits = lambda c: (c > 127).reshape(len(c), -1)  # noqa: E731
    index = lambda c: (bits(c)[:, :16] * (1 << np.arange(16))).sum(1)  # noqa: E731
    clip = lambda c: (bits(c)[:, 16:24] * (1 << np.arange(8))).sum(1)  # noqa: E731
    assert (clip(proxy) == 1).all() and (clip(online) == 7).all()
    np.testing.assert_array_equal(index(online), index(proxy))  # same frames, from the other file
    missing = _render(
        _project(
            tmp_path,
            "latent",
            Fraction(25),
            '<property name="online">1</property><property name="online_resource">gone.mkv</property>',
        )
    )
    assert (clip(block_centres(missing)) == 1).all()  # no online render: the proxy, and an error in MLT's log


def test_a_proxy_that_cannot_be_opened_makes_no_producer(tmp_path):
    (tmp_path / "broken.mkv").write_text("not a video")
    result = subprocess.run(
        ["melt", "latent:broken.mkv", "-consumer", "xml:out.mlt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=mlt_environment(),
        stdin=subprocess.DEVNULL,
        check=False,
    )
    output = result.stdout + result.stderr
    assert "cannot open the proxy video broken.mkv" in output  # logged through MLT
    assert 'Failed to load "latent:broken.mkv"' in output  # and no half-built producer was returned
