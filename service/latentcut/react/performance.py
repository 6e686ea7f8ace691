"""One performance: read the source, steer a latent per frame, and write the sequence, its proxy and the trimmed input."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.editor.kdenlive_project import Clip, plain_clip, project_clips, write_kdenlive_project
from latentcut.errors import UsageError
from latentcut.latent.controls import InputControls, save_controls
from latentcut.latent.look import Look
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import load_sequence, save_sequence, sidecar_paths
from latentcut.models.generator import Generator, model_ref_of
from latentcut.react.controls import PointControls, controlled_model, scales_record
from latentcut.react.features import DEFAULT_FEATURES, feature_network
from latentcut.react.image_stats import ImageStats
from latentcut.react.source import frame_source, frames
from latentcut.react.steering import Steering, ema_alpha, reference_frames
from latentcut.react.style_mixing import StyleMixing, style_mixing
from latentcut.react.tracker import tracker
from latentcut.render.encode import VideoWriter, encoding_for
from latentcut.render.sequence import render_sequence

__all__ = ["Performance", "ReactSettings", "editor_project", "perform"]

_ANALYSIS_SIZE = 128  # frames are analysed at this size, whatever the proxy's
_REFERENCE_PICTURES = 48
_DEFAULT_BASE_SEED = 0


@dataclass(frozen=True)
class ReactSettings:
    """How the source steers the latents (recorded in the sidecar's ``made``)."""

    features: str = DEFAULT_FEATURES
    layer_weights: str | None = None
    image_stats: bool = True  # colour and optical-flow statistics beside the network's features
    smooth_s: float = 0.2
    gain: float = 1.0
    base_seed: int = _DEFAULT_BASE_SEED
    max_frames: int | None = None
    tracker: str | None = None  # StyleGAN controls follow this tracker (see latentcut.react.tracker)
    layers: tuple[int, ...] | None = None  # W+ layers the source controls (style mixing; see latentcut.react.style_mixing)

    def record(self) -> dict[str, Any]:
        return {
            "features": self.features,
            "layer_weights": self.layer_weights,
            "image_stats": self.image_stats,
            "smooth_s": self.smooth_s,
            "gain": self.gain,
            "tracker": self.tracker,
        }


@dataclass(frozen=True)
class Performance:
    """What a performance wrote, and how fast it ran."""

    sequence: Path
    proxy: Path
    input_video: Path
    frames: int
    fps: Fraction
    steer_frames_per_s: float  # source frames turned into latents per second (reading, features, steering)
    live_frames_per_s: float | None = None  # with a live preview: frames generated per second
    latency_ms: tuple[float, float] | None = None  # with a live preview: median and 95th percentile, source frame to picture
    project: Path | None = None  # OUT.kdenlive: the performance over its source, on two tracks


def _base_latent(base: tuple[Path, int] | None, dim: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    if base is None:
        return gaussian_latents(1, dim, seed)[0], {"seed": seed}
    path, frame = base
    pool = load_sequence(path)
    if not 0 <= frame < pool.meta.frames:
        raise UsageError(f"--base {path}:{frame}: the pool has frames 0-{pool.meta.frames - 1}")
    return np.asarray(pool.latents[frame], np.float32), {"pool": str(path), "pool_id": pool.meta.id, "frame": frame}


def _steering_base(
    model: Generator, base: tuple[Path, int] | None, settings: ReactSettings
) -> tuple[np.ndarray, dict[str, Any], StyleMixing | None]:
    """The z the steering moves around, its record, and with ``layers`` the style mixing into w+."""
    if settings.layers is None:
        return (*_base_latent(base, model.latent_dim, settings.base_seed), None)
    seeded, record = _base_latent(None, model.latent_dim, settings.base_seed)
    mixing, latent, mixed = style_mixing(model, settings.layers, base, seeded)
    return latent, {**(record if base is None else {}), **mixed}, mixing


def perform(
    source_spec: str,
    model: Generator,
    output: Path,
    settings: ReactSettings,
    *,
    base: tuple[Path, int] | None = None,
    proxy_size: tuple[int, int] = (256, 256),
    preview: Callable[[np.ndarray], None] | None = None,
    progress: Callable[[int], None] | None = None,
    project: bool = False,
    look: Look | None = None,
) -> Performance:
    """Steer ``model``'s latents with ``source_spec`` (a video or ``v4l2:/dev/videoN``); write ``output`` and its companions.

    Beside ``OUT.z.npy`` (with ``OUT.z.json``) come ``OUT.mp4``, the proxy of the performance, and
    ``OUT.input.mp4``, the source frames that were used, at the same rate and size: frame ``i`` of
    each belongs to latent ``i``. With ``preview``, each latent is also decoded as it is made and
    handed to ``preview``, which is how the latency from source frame to picture is measured.
    With ``settings.layers`` the sequence is w+ (style mixing); with ``settings.tracker`` the tracked
    point steers the StyleGAN input per frame, kept in ``OUT.controls.npy`` and used by the proxy.
    With ``project``, ``OUT.kdenlive`` (see ``editor_project``) puts both videos on two tracks. ``look``:
    what ``model`` shows (its psi, class ...), recorded in the sidecar so every later render shows the same.
    """
    controlled = controlled_model(model) if settings.tracker is not None else None
    follow = tracker(settings.tracker) if settings.tracker is not None else None
    base_latent, base_record, mixing = _steering_base(model, base, settings)
    renderer = model if mixing is None else mixing.renderer
    source = frame_source(source_spec)
    if source.live and settings.max_frames is None:
        raise UsageError(f"{source_spec}: a camera never ends; give --frames N (or stop with Ctrl-C)")
    array_path = sidecar_paths(output)[0]
    stem = array_path.name[: -len(".z.npy")] if array_path.name.endswith(".z.npy") else array_path.stem
    proxy_path = array_path.with_name(f"{stem}.mp4")
    input_path = array_path.with_name(f"{stem}.input.mp4")

    network = feature_network(settings.features, settings.layer_weights)
    stats = ImageStats() if settings.image_stats else None

    def features_of(frame: np.ndarray, image_stats: ImageStats | None) -> np.ndarray:
        parts = [network(frame[None])[0]]
        if image_stats is not None:
            parts.append(image_stats(frame))
        return np.concatenate(parts)

    reference = reference_frames(_REFERENCE_PICTURES, _ANALYSIS_SIZE)
    calibration_stats = ImageStats() if settings.image_stats else None
    calibration = np.stack([features_of(picture, calibration_stats) for picture in reference])

    latents: list[np.ndarray] = []
    frame_controls: list[InputControls] = []
    latencies: list[float] = []
    steer_seconds = 0.0
    live_started = time.monotonic()
    with frames(source, proxy_size, settings.max_frames) as (fps, stream):
        steering = Steering(
            calibration.mean(axis=0),
            calibration.std(axis=0),
            base_latent,
            settings.gain,
            ema_alpha(settings.smooth_s, float(fps)),
        )
        pointer = None if controlled is None else PointControls(controlled.input_controls, steering.alpha)
        with VideoWriter(input_path, proxy_size, fps, encoding_for(input_path, "proxy")) as input_video:
            for frame in stream:
                arrived = time.monotonic()
                latent = steering.latent(features_of(frame, stats))
                if mixing is not None:
                    latent = mixing.ws(latent).reshape(-1)
                if pointer is not None and follow is not None:
                    frame_controls.append(pointer.controls(follow(frame)))
                steer_seconds += time.monotonic() - arrived
                latents.append(latent)
                input_video.write(frame[None])
                if preview is not None:
                    preview(
                        renderer.render(latent[None], proxy_size)[0]
                        if controlled is None
                        else controlled_model(renderer).render_controlled(latent[None], proxy_size, frame_controls[-1])[0]
                    )
                    latencies.append(time.monotonic() - arrived)
                if progress is not None:
                    progress(1)
    live_seconds = time.monotonic() - live_started
    if not latents:
        raise UsageError(f"{source_spec}: no frames were read")
    made = {
        "how": "performance",
        "source": source_spec,
        "base": base_record,
        **settings.record(),
        "input_video": input_path.name,
    }
    if frame_controls:
        controls_record = save_controls(array_path, InputControls.concatenated(frame_controls))
        made["controls"] = {**controls_record, "tracker": settings.tracker, **scales_record()}
    space = "z" if mixing is None else "w+"
    recorded = look or Look(model_ref_of(model))
    save_sequence(array_path, np.stack(latents), fps=fps, look=dataclasses.replace(recorded, space=space), made=made)
    sequence = load_sequence(array_path)
    # The proxy shows each frame as the sidecar says (with the tracker's input controls): as every later render will.
    render_sequence(sequence, proxy_path, [renderer], preset="proxy", fps=fps, tile_size=proxy_size)
    count = len(latents)
    live = None
    latency = None
    if latencies:
        live = count / live_seconds
        latency = (1000 * float(np.median(latencies)), 1000 * float(np.percentile(latencies, 95)))
    written = editor_project(array_path.with_name(f"{stem}.kdenlive"), proxy_path, input_path, count) if project else None
    return Performance(array_path, proxy_path, input_path, count, fps, count / max(steer_seconds, 1e-9), live, latency, written)


def editor_project(path: Path, proxy: Path, input_video: Path, frames: int) -> Path:
    """Write ``path``, a Kdenlive project: the performance's proxy (a latent clip) on V2 over its input video on V1, frame for frame.

    The profile is the performance's frame rate and size; the conform of the project is the performance's sequence.
    """
    clips: list[Clip] = [*project_clips([proxy], path), plain_clip(input_video)]
    write_kdenlive_project(path, clips, tracks=[[(1, 0, frames - 1)], [(0, 0, frames - 1)]], track_names=("input", "performance"))
    return path
