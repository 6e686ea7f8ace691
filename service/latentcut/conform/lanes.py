"""A conformed timeline's lanes as control columns: each lane's value at every frame, its direction loaded, checked against the model.

The timeline's evaluator (``latentcut.timeline.lanes``) gives each lane's value per timeline frame; here
they become the named columns of ``latentcut.latent.controls``: ``rotate`` becomes ``rotate_deg``; a noise
walk keeps its seed and smoothness in its name and reads the walk at each frame's timeline number
(``noise_frame``); a direction's file is read once, and its vector travels with the controls. A
direction ``latentcut directions`` wrote (W space) moves W: W and w+ latents themselves, z latents after a
StyleGAN's mapping network (``w_direction``); any other ``.attr.npy`` moves the latents in their own space.
A tracked performance's controls add to the lanes.

A renderer that draws one picture per frame of a clip's sidecar (``latentcut online``, where MLT plays
them) takes each source frame's lanes from the timeline frame that shows it (``source_lanes``).

A lane the look's model cannot apply (truncation or a W direction on the CPPN, translate on StyleGAN2,
const_noise on StyleGAN3) is refused in one line naming the lane, the clip and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcut.errors import ConformError, InputError, ProjectError
from latentcut.latent.controls import MODEL_CONTROLS, InputControls, column_neutral
from latentcut.latent.directions import DIRECTIONS_FILE, direction_space, direction_vector
from latentcut.latent.look import Look, LookRun, frame_looks
from latentcut.timeline.model import FrameMap

__all__ = ["LaneSupport", "Lanes", "lane_controls", "merged_controls", "source_lanes", "unsupported_lanes"]

LaneSupport = Callable[[Look], Collection[str] | None]  # the kinds of control a look's model applies; None: cannot tell here
_RENAMED = {"rotate": "rotate_deg"}
_MODEL_KINDS = {name: kind for kind, names in MODEL_CONTROLS.items() for name in names}
_FIXES = {
    "truncation_psi": "needs a StyleGAN model (truncation moves w toward the mapping network's average)",
    "translate": "needs a StyleGAN3 model (its input transform)",
    "rotate": "needs a StyleGAN3 model (its input transform)",
    "const_noise": "needs a StyleGAN2 model (its learned constant)",
    "w_direction": "moves W, which needs a StyleGAN model's mapping network",
}


@dataclass(frozen=True)
class Lanes:
    """A timeline's lanes as controls (None: no lane says anything), and what each column is, for ``--explain`` and the record."""

    controls: InputControls | None
    described: Mapping[str, str]  # control column -> the lane it is, in words
    sources: tuple[dict[str, object], ...] = ()  # each direction: where it came from (``made.controls.directions``)


def _number(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _direction(column: str, look: Look, dim: int, where: Path) -> tuple[str, np.ndarray, str, dict[str, object]]:
    """A ``direction:INDEX:PATH`` lane: its control column's prefix, its vector, its description and where it came from."""
    _, index_text, path_text = column.split(":", 2)
    path, index = Path(path_text), int(index_text)
    listed = path.name == DIRECTIONS_FILE
    try:
        vector = direction_vector(path, index, None)
        space = "w" if listed else direction_space(path)
    except InputError as exc:
        raise ProjectError(f"{where}: a lane's direction: {exc}") from exc
    name = f"{path.name} #{index}" if listed else path.name
    source: dict[str, object] = {"file": str(path), "index": index, "space": space or look.space}
    if space == "w" and look.space == "z":
        return "w_direction", vector, f"direction {name} in W (after the mapping network)", source
    if space == "w" and look.space == "w+" and len(vector) and dim % len(vector) == 0:
        vector = np.tile(vector, dim // len(vector))  # every layer's w moves alike
    if len(vector) != dim:
        raise ProjectError(
            f"{where}: the lane's direction {path} has width {len(vector)}, but the clips' {look.space} latents have {dim}; "
            "choose a direction made for this model"
        )
    return "direction", vector, f"direction {name} in {look.space}", source


def lane_controls(frame_map: FrameMap, look: Look, dim: int, where: Path) -> Lanes:
    """The lanes of ``frame_map`` (``FrameMap.lanes``) as controls for latents of ``dim`` in ``look``'s space (see the module docstring)."""
    columns: list[str] = []
    values: list[np.ndarray] = []
    vectors: list[np.ndarray] = []
    described: dict[str, str] = {}
    sources: list[dict[str, object]] = []
    walks = False
    for lane, lane_values in frame_map.lanes.items():
        kind = lane.split(":")[0]
        if kind == "noise_angle":
            _, seed_text, smooth_text = lane.split(":")
            seed, smooth = int(seed_text), float(smooth_text)
            if not 0 <= seed < 2**59 or not 0 < smooth <= 1000:
                raise ProjectError(
                    f"{where}: a noise walk's seed {seed:.6g} or smoothness {smooth:g} frames is outside 0-2^59 or 0-1000; "
                    "fix it in the Latent controls effect"
                )
            column = f"noise_angle:{seed}:{_number(smooth)}"
            described[column] = f"noise walk (seed {seed}, smoothness {smooth:g} frames), degrees"
            walks = True
        elif kind == "direction":
            prefix, vector, text, source = _direction(lane, look, dim, where)
            column = f"{prefix}:{len(vectors)}"
            vectors.append(vector)
            sources.append(source)
            described[column] = text + ", amount"
        else:
            column = _RENAMED.get(lane, lane)
            described[column] = column
        if column in columns:  # two lanes that name the same column (a noise walk written two ways): they add
            values[columns.index(column)] = values[columns.index(column)] + lane_values
            continue
        columns.append(column)
        values.append(np.asarray(lane_values, np.float64))
    if not columns:
        return Lanes(None, {})
    if walks:
        columns.append("noise_frame")
        values.append(np.arange(frame_map.length, dtype=np.float64))
    directions = None
    if vectors:
        if len({len(v) for v in vectors}) > 1:
            raise ProjectError(
                f"{where}: the lanes' directions have widths {sorted({len(v) for v in vectors})}; one timeline's directions "
                "are of one model: use directions of one space (all W, or all of the clips' own)"
            )
        directions = np.stack(vectors).astype(np.float32)
    table = np.column_stack(values).astype(np.float32)
    return Lanes(InputControls(tuple(columns), table, directions), described, tuple(sources))


def merged_controls(performance: InputControls | None, lanes: InputControls | None) -> InputControls | None:
    """One set of controls from a performance's and the lanes': truncation multiplies, the others add."""
    if performance is None or lanes is None:
        return performance if lanes is None else lanes
    columns = list(performance.columns) + [c for c in lanes.columns if c not in performance.columns]
    table = np.empty((len(lanes), len(columns)), np.float32)
    for index, column in enumerate(columns):
        a, b = performance.column(column), lanes.column(column)
        table[:, index] = a * b if column == "truncation_psi" else a + b - column_neutral(column)
    return InputControls(tuple(columns), table, lanes.directions)


def _kind(column: str) -> str | None:
    """The kind of model control a column needs; None for one that moves latents before any model."""
    return _MODEL_KINDS.get(column) or ("w_direction" if column.startswith("w_direction:") else None)


def unsupported_lanes(
    controls: InputControls,
    looks: Sequence[LookRun] | Look,
    support: LaneSupport,
    frame_map: FrameMap,
    described: Mapping[str, str],
    project: Path,
) -> None:
    """Refuse, in one line naming the lane, the clip and the fix, a lane on frames whose model cannot apply it."""
    runs = [LookRun(0, looks)] if isinstance(looks, Look) else list(looks)
    per_frame = frame_looks(runs, len(controls))
    for number, run in enumerate(runs):
        kinds = support(run.look)
        if kinds is None:
            continue
        for column in controls.columns:
            kind = _kind(column)
            if kind is None or kind in kinds:
                continue
            frames = np.nonzero((per_frame == number) & (controls.column(column) != column_neutral(column)))[0]
            if not len(frames):
                continue
            first = int(frames[0])
            clip = next(
                (p for p in frame_map.placements if p.timeline_start <= first < p.timeline_end_exclusive),
                None,
            )
            on = (
                f"clip {clip.source} (track {clip.track or '-'}, timeline frames {clip.timeline_start}-{clip.timeline_end_exclusive - 1})"
                if clip
                else f"timeline frame {first}"
            )
            spec = run.look.model.spec if run.look.model else "the clips' model"
            raise ConformError(
                f"{project}: the lane {described.get(column, column)} on {on} {_FIXES[kind]}, which {spec} is not; "
                f"take the lane off (or leave it at {column_neutral(column):g}), or cut clips of a model that has it"
            )


def source_lanes(frame_map: FrameMap, lanes: InputControls, source: int, frames: int) -> InputControls | None:
    """The lanes of each of the ``frames`` frames of sidecar ``source``: those of the timeline frame that shows it (neutral where
    none does); None if no frame it shows has lanes.

    A source frame shown at two timeline frames with different lanes (a clip used twice, a slow motion under a
    moving lane) has no one picture: ``ConformError`` naming the frames.
    """
    shown = frame_map.source == source
    timeline, term = np.nonzero(shown)
    if not len(timeline):
        return None
    values = lanes.table().copy()
    walks = [i for i, name in enumerate(lanes.columns) if name.startswith("noise_angle:")]
    if "noise_frame" in lanes.columns and walks:  # where no walk turns a frame, where it is on the walk says nothing
        still = ~np.any(values[:, walks] != 0, axis=1)
        values[still, lanes.columns.index("noise_frame")] = 0
    mine = InputControls(lanes.columns, values, lanes.directions)
    if not mine.steered()[timeline].any():
        return None
    source_frames = frame_map.frame[timeline, term]
    neutral = np.array([column_neutral(name) for name in lanes.columns], np.float32)
    table = np.tile(neutral, (frames, 1))
    order = np.lexsort((timeline, source_frames))
    frame_of, row_of = source_frames[order], timeline[order]
    starts = np.concatenate([[0], np.nonzero(np.diff(frame_of))[0] + 1])
    first_row = np.repeat(row_of[starts], np.diff(np.concatenate([starts, [len(frame_of)]])))
    differs = np.nonzero(np.any(values[row_of] != values[first_row], axis=1))[0]
    if len(differs):
        at = int(differs[0])
        raise ConformError(
            f"{frame_map.sources[source].resource.name}: its frame {int(frame_of[at])} shows at timeline frames "
            f"{int(first_row[at])} and {int(row_of[at])} with different lanes, and one picture per frame of a clip is drawn for "
            "MLT; keep one lane value per clip frame there, or render the conformed edit (latentcut conform, then latentcut "
            "render), which applies each timeline frame's lanes"
        )
    table[frame_of[starts]] = values[row_of[starts]]
    return InputControls(lanes.columns, table, lanes.directions)
