"""The demo a new user runs first: samples and their contact sheet, journeys one by one and in a batch, a retimed journey, lanes, a snapshot grid.

The lanes project keyframes what ``builtin:cppn`` can apply (it has no truncation, no mapping network,
no input transform): a direction in z (from sample 0 toward sample 40, as ``latentcut attribute`` makes
one) and a noise walk around the spring journey. A StyleGAN snapshot takes truncation and W-direction
lanes the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.conform.project import conform_project
from latentcut.editor.kdenlive_project import project_clips, with_lanes, write_kdenlive_project
from latentcut.latent.attributes import save_attribute
from latentcut.latent.journey import journey_latents, keyframes_from_indices
from latentcut.latent.retime import retimed
from latentcut.latent.sampling import gaussian_latents
from latentcut.latent.sidecar import ModelRef, load_sequence, save_sequence
from latentcut.models.cppn import CPPN_LATENT_DIM
from latentcut.models.loading import load_generator
from latentcut.render.sequence import PROXY_SIZE, render_sequence
from latentcut.render.sheet import rendered_tiles, write_sheet
from latentcut.workflows.journey_batch import BatchPlan, write_journey_batch

__all__ = ["run_demo"]

ProgressFactory = Callable[[int, str], tuple[Callable[[int], None], Callable[[], None]]]

_FPS = Fraction(25)
_SEED = 2018
_SAMPLES = 48
_KEYS = (5, 17, 33)  # frames of the samples that the journeys travel through
_FRAMES_PER_SEGMENT = 50  # two seconds from keyframe to keyframe at 25 fps
_GRID_SNAPSHOTS = (0, 9, 18, 27)
_GRID_TILE = 128
_SHEET_COLUMNS = 8
_BATCH = 3  # journeys in the demo's batch, chained
_RETIME_MEASURE = 48  # px: the size the retimed journey's frames are measured at
_DIRECTION = (0, 40)  # the lanes' direction: from this sample toward that one
_LANES = {
    "amount": "0=0;50~=0.8;100=0",  # toward sample 40 and back, eased
    "direction": "lanes-direction.attr.npy",
    "noise_angle": "0=0;30=15;70=15;100=0",  # degrees of a noise walk around the journey
    "noise_seed": str(_SEED),
    "noise_smooth": "12",
}


def run_demo(output_dir: Path, *, device: str | None = None, progress: ProgressFactory | None = None) -> list[tuple[Path, str]]:
    """Write the demo files into ``output_dir``; return ``(path, description)`` for each file made."""
    output_dir.mkdir(parents=True, exist_ok=True)
    model = load_generator("builtin:cppn", device=device)
    ref = ModelRef(model.spec, model.sha256)
    made: list[tuple[Path, str]] = []

    def render(seq_path: Path, video: Path, models: list, what: str, **options: object) -> None:
        sequence = load_sequence(seq_path)
        update, close = progress(sequence.meta.frames, video.name) if progress else (None, lambda: None)
        try:
            result = render_sequence(sequence, video, models, preset="proxy", fps=_FPS, progress=update, **options)  # type: ignore[arg-type]
        finally:
            close()
        made.append((video, f"{what}: {result.frames} frames {result.frame_size[0]}x{result.frame_size[1]}"))

    samples = output_dir / "samples.z.npy"
    latents = gaussian_latents(_SAMPLES, CPPN_LATENT_DIM, _SEED)
    save_sequence(
        samples, latents, fps=_FPS, model=ref, seed=_SEED, made={"how": "sampled", "prior": "gaussian", "count": _SAMPLES}
    )
    made.append((samples, f"{_SAMPLES} random latents (seed {_SEED}) with samples.z.json"))
    render(
        samples,
        output_dir / "samples.mp4",
        [model],
        "proxy of the samples, frame numbers burned in",
        tile_size=(PROXY_SIZE, PROXY_SIZE),
        frame_numbers=True,
    )

    sheet = write_sheet(
        output_dir / "samples.png",
        list(rendered_tiles(model, latents, (_GRID_TILE, _GRID_TILE))),
        [str(i) for i in range(_SAMPLES)],
        _SHEET_COLUMNS,
    )
    made.append((sheet[0], f"contact sheet of the {_SAMPLES} samples, each labelled with its frame number"))

    keys = keyframes_from_indices(latents, _KEYS)
    for interpolation in ("slerp", "spring", "lerp"):
        path = output_dir / f"journey-{interpolation}.z.npy"
        save_sequence(
            path,
            journey_latents(keys, _FRAMES_PER_SEGMENT, interpolation),
            fps=_FPS,
            model=ref,
            made={
                "how": "journey",
                "source": samples.name,
                "keys": list(_KEYS),
                "interpolation": interpolation,
                "frames_per_segment": _FRAMES_PER_SEGMENT,
            },
        )
        made.append((path, f"{interpolation} journey through samples {', '.join(map(str, _KEYS))}"))
        render(
            path,
            path.with_name(f"journey-{interpolation}.mp4"),
            [model],
            f"proxy of the {interpolation} journey",
            tile_size=(PROXY_SIZE, PROXY_SIZE),
        )

    proxies = [output_dir / name for name in ("journey-slerp.mp4", "journey-spring.mp4", "journey-lerp.mp4", "samples.mp4")]
    project = output_dir / "demo.kdenlive"
    write_kdenlive_project(project, project_clips(proxies, project), timeline=True)
    made.append((project, "Kdenlive project: the three journeys and the samples, as latent clips on V1"))

    spring = load_sequence(output_dir / "journey-spring.z.npy")
    size = (_RETIME_MEASURE, _RETIME_MEASURE)
    even = retimed(np.asarray(spring.latents), lambda z: model.render(z, size), keep_ease=True)  # at rest at both ends
    retimed_path = output_dir / "journey-retimed.z.npy"
    save_sequence(
        retimed_path,
        even.latents,
        fps=_FPS,
        model=ref,
        made={
            "how": "retimed",
            "source": spring.path.name,
            "interpolation": "spring",
            "keep_ease": True,
            "cv_before": even.cv_before,
            "cv_after": even.cv_after,
        },
    )
    made.append(
        (
            retimed_path,
            f"the spring journey at constant perceptual speed between its departure and arrival "
            f"(CV {even.cv_before:.3f} -> {even.cv_after:.3f})",
        )
    )
    render(
        retimed_path,
        output_dir / "journey-retimed.mp4",
        [model],
        "proxy of the retimed journey",
        tile_size=(PROXY_SIZE, PROXY_SIZE),
    )

    direction = output_dir / str(_LANES["direction"])
    save_attribute(direction, latents[_DIRECTION[1]] - latents[_DIRECTION[0]])
    laned = output_dir / "lanes.kdenlive"
    spring_proxy = output_dir / "journey-spring.mp4"
    write_kdenlive_project(laned, project_clips([spring_proxy], laned), timeline=True)
    with_lanes(laned, laned, [_LANES])
    made.append(
        (laned, f"Kdenlive project: the spring journey with lanes: a direction toward sample {_DIRECTION[1]}, a noise walk")
    )
    conformed = conform_project(laned, output_dir / "lanes.z.npy")
    made.append((output_dir / "lanes.z.npy", f"the lanes project conformed: {', '.join(conformed.lanes.values())} per frame"))
    render(
        output_dir / "lanes.z.npy",
        output_dir / "lanes.mp4",
        [model],
        "proxy of the journey with its lanes",
        tile_size=(PROXY_SIZE, PROXY_SIZE),
    )

    batch = write_journey_batch(
        load_sequence(samples),
        output_dir / "journeys",
        BatchPlan(count=_BATCH, frames_per_segment=_FRAMES_PER_SEGMENT // 2, seed=_SEED, chain=True),
        model,
        fps=_FPS,
        timeline=True,
    )
    for proxy, batch_keys in zip(batch.proxies, batch.keys, strict=True):
        made.append((proxy, f"batch journey {' -> '.join(map(str, batch_keys))}"))
    made.append((batch.project, f"Kdenlive project: the {_BATCH} chained journeys as latent clips, end to end on V1"))
    made.append((batch.sheets[0], "contact sheet: first, middle and last frame of each batch journey"))

    snapshots = [load_generator(f"builtin:cppn@{n}", device=device) for n in _GRID_SNAPSHOTS]
    render(
        output_dir / "journey-spring.z.npy",
        output_dir / "snapshot-grid.mp4",
        snapshots,
        f"spring journey through snapshots {', '.join(map(str, _GRID_SNAPSHOTS))}, labelled 2x2 grid",
        tile_size=(_GRID_TILE, _GRID_TILE),
        grid=(2, 2),
    )
    return made
