"""A sequence's per-frame controls and their file: named columns in ``PERF.controls.npy`` beside ``PERF.z.npy``, directions in ``PERF.directions.npy``.

A column is one control, a value per frame; where a sequence has no column its neutral value holds:

    truncation_psi          the psi the picture shows, times the look's (1: none); StyleGAN
    translate_x/_y          StyleGAN3's input transform, in image widths (x to the right, y downwards:
    rotate_deg              the content moves that way) and degrees counterclockwise, added to the look's (0)
    const_noise             StyleGAN2's learned constant corrupted (``latentcut.models.stylegan.input_controls``; 0)
    noise_angle:SEED:SMOOTH degrees each latent turns toward a smooth noise walk (``latentcut.latent.honing``:
                            seed, sigma in frames), any model (0); the walk is read at ``noise_frame``
    noise_frame             where each frame is on its noise walks (the conformed timeline's frame number)
    direction:K             an amount along direction K (row K of the directions), added to the latents in
                            their own space (z keeps each latent's norm, as ``--attribute``), any model (0)
    w_direction:K           an amount along direction K in W, added after a StyleGAN's mapping network
                            (z latents moved by a W direction), before truncation (0)

Columns that go to the model (``MODEL_CONTROLS`` by kind) need a model that has them; the others move
the latents before any model sees them. The ``.z.json`` records the file's name, hash and columns under
``made.controls`` (and the directions' file and hash under ``made.controls.directions``), so a render
finds them, checks them and repeats the frames exactly. A file written before columns were named
(a tracked performance) has the four columns ``PERFORMANCE_COLUMNS``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.errors import SidecarError
from latentcut.latent.attributes import moved_latents
from latentcut.latent.honing import turned, walk_directions
from latentcut.latent.sidecar import ZSequence, array_sha256, sidecar_paths

__all__ = [
    "MAX_CONTROL_COLUMNS",
    "MODEL_CONTROLS",
    "PERFORMANCE_COLUMNS",
    "InputControls",
    "checked_columns",
    "column_neutral",
    "controls_path",
    "directions_path",
    "load_controls",
    "save_controls",
]

PERFORMANCE_COLUMNS = ("translate_x", "translate_y", "rotate_deg", "const_noise")
MAX_CONTROL_COLUMNS = 256
# The controls a model applies, by kind (what ``ControlledGenerator.input_controls`` lists), and the columns of each.
MODEL_CONTROLS = {
    "truncation_psi": ("truncation_psi",),
    "translate": ("translate_x", "translate_y"),
    "rotate": ("rotate_deg",),
    "const_noise": ("const_noise",),
}
_SUFFIX = ".controls.npy"
_DIRECTIONS_SUFFIX = ".directions.npy"
_NOISE = re.compile(r"noise_angle:(\d{1,18}):(\d{1,4}(?:\.\d{1,6})?)")
_DIRECTION = re.compile(r"(w_)?direction:(\d{1,4})")
_MAX_SMOOTH = 1000.0


def column_neutral(column: str) -> float:
    """The value of ``column`` that changes nothing: 1 for truncation, 0 for every other."""
    return 1.0 if column == "truncation_psi" else 0.0


def checked_columns(columns: Sequence[Any], directions: int = 0) -> tuple[str, ...]:
    """``columns`` if each is a known column (see the module docstring), once, with directions among ``directions``; else ValueError."""
    names = tuple(columns)
    for name in names:
        if type(name) is not str:
            raise ValueError(f"control column {str(name)[:40]!r} is not a name")
    if not names or len(names) > MAX_CONTROL_COLUMNS or len(set(names)) != len(names):
        raise ValueError(f"controls need 1-{MAX_CONTROL_COLUMNS} distinct columns")
    for name in names:
        noise, direction = _NOISE.fullmatch(name), _DIRECTION.fullmatch(name)
        known = name in ("truncation_psi", "noise_frame", *PERFORMANCE_COLUMNS)
        if noise is not None and not 0 < float(noise.group(2)) <= _MAX_SMOOTH:
            raise ValueError(f"control column {name!r}: a noise walk's smoothness is above 0 and at most {_MAX_SMOOTH:g} frames")
        if direction is not None and int(direction.group(2)) >= directions:
            raise ValueError(f"control column {name!r} names a direction, but {directions} travel with the controls")
        if not (known or noise or direction):
            raise ValueError(f"control column {name[:60]!r} is not one this latentcut knows; upgrade it")
    if any(_NOISE.fullmatch(name) for name in names) and "noise_frame" not in names:
        raise ValueError("noise_angle columns need a noise_frame column (where each frame is on the walk)")
    return names


@dataclass(frozen=True, eq=False)
class InputControls:
    """The values of named control columns per frame (see the module docstring), and the directions their direction columns use.

    ``values`` float32 ``(n, len(columns))``; ``directions`` float32 ``(k, dim)`` or None.
    """

    columns: tuple[str, ...]
    values: np.ndarray
    directions: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.columns):
            raise ValueError(
                f"controls of columns {list(self.columns)} need (n, {len(self.columns)}) values, got {self.values.shape}"
            )

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def from_array(cls, table: np.ndarray, columns: Sequence[str] = PERFORMANCE_COLUMNS) -> InputControls:
        """Controls from a table ``(n, len(columns))``."""
        return cls(tuple(columns), np.asarray(table, np.float32).reshape(len(table), len(columns)))

    @classmethod
    def performance(cls, translate: np.ndarray, rotate_deg: np.ndarray, const_noise: np.ndarray) -> InputControls:
        """A tracked performance's controls: translate ``(n, 2)``, rotate_deg ``(n,)``, const_noise ``(n,)``."""
        return cls.from_array(np.column_stack([translate, rotate_deg, const_noise]))

    @classmethod
    def concatenated(cls, parts: Sequence[InputControls]) -> InputControls:
        """The controls of ``parts`` (of the same columns, without directions) one after the other."""
        return cls(parts[0].columns, np.concatenate([part.values for part in parts]).astype(np.float32))

    def table(self) -> np.ndarray:
        """The values as float32 ``(n, len(columns))``."""
        return np.asarray(self.values, np.float32)

    def column(self, name: str) -> np.ndarray:
        """The values of column ``name`` per frame; its neutral value where the controls have no such column."""
        if name in self.columns:
            return self.values[:, self.columns.index(name)]
        return np.full(len(self), column_neutral(name), np.float32)

    @property
    def translate(self) -> np.ndarray:
        return np.column_stack([self.column("translate_x"), self.column("translate_y")])

    @property
    def rotate_deg(self) -> np.ndarray:
        return self.column("rotate_deg")

    @property
    def const_noise(self) -> np.ndarray:
        return self.column("const_noise")

    @property
    def truncation_psi(self) -> np.ndarray:
        return self.column("truncation_psi")

    def between(self, start: int, stop: int) -> InputControls:
        """The controls of frames ``start`` to ``stop - 1``."""
        return InputControls(self.columns, self.values[start:stop], self.directions)

    def rows(self, indices: np.ndarray) -> InputControls:
        """The controls of the frames at ``indices``."""
        return InputControls(self.columns, self.values[indices], self.directions)

    def steered(self) -> np.ndarray:
        """``(n,)`` bool: the frames some column changes (``noise_frame`` alone changes nothing)."""
        moving = [name for name in self.columns if name != "noise_frame"]
        if not moving:
            return np.zeros(len(self), bool)
        neutral = np.array([column_neutral(name) for name in moving], np.float32)
        return np.any(self.values[:, [self.columns.index(name) for name in moving]] != neutral, axis=1)

    def uses(self) -> set[str]:
        """The kinds of control that change some frame: ``MODEL_CONTROLS``' kinds, ``w_direction``, and ``noise`` and ``direction``."""
        used = set()
        for name in self.columns:
            if name == "noise_frame" or not np.any(self.column(name) != column_neutral(name)):
                continue
            kind = next((k for k, names in MODEL_CONTROLS.items() if name in names), None)
            used.add(kind or name.split(":")[0].replace("noise_angle", "noise"))
        return used

    def model_part(self) -> InputControls | None:
        """The columns the model applies (its ``MODEL_CONTROLS`` and ``w_direction`` columns); None if they change nothing."""
        names = [n for n in self.columns if any(n in group for group in MODEL_CONTROLS.values()) or n.startswith("w_direction:")]
        part = InputControls(tuple(names), self.values[:, [self.columns.index(n) for n in names]], self.directions)
        return part if names and part.steered().any() else None

    def w_offsets(self) -> np.ndarray | None:
        """``(n, w_dim)`` float32: the W each frame's ``w_direction`` columns add (None: none)."""
        offsets = self._offsets("w_direction:")
        return None if offsets is None else offsets.astype(np.float32)

    def _offsets(self, prefix: str) -> np.ndarray | None:
        named = [(name, int(name[len(prefix) :])) for name in self.columns if name.startswith(prefix)]
        if not named or self.directions is None:
            return None
        offsets = np.zeros((len(self), self.directions.shape[1]))
        for name, index in named:
            offsets += self.column(name).astype(np.float64)[:, None] * self.directions[index].astype(np.float64)[None, :]
        return offsets

    def key_rows(self) -> np.ndarray:
        """``(n, m)`` float32: everything of these controls that decides a picture, one row per frame, to key pictures by."""
        parts = [self.values]
        offsets = self.w_offsets()
        if offsets is not None:
            parts.append(offsets)
        return np.ascontiguousarray(np.concatenate(parts, axis=1), "<f4")

    def moved(self, latents: np.ndarray, space: str) -> np.ndarray:
        """``latents`` (one per frame) turned along their noise walks, then moved along their ``direction`` columns.

        In z a direction keeps each latent's norm; a frame neither moves is returned as it is.
        """
        out = np.asarray(latents, np.float32)
        for name in self.columns:
            noise = _NOISE.fullmatch(name)
            angle = self.column(name)
            if noise is None or not np.any(angle):
                continue
            rows = np.nonzero(angle)[0]
            walk = walk_directions(
                self.column("noise_frame")[rows].astype(np.int64), out.shape[1], float(noise.group(2)), int(noise.group(1))
            )
            out = out.copy()
            out[rows] = turned(out[rows], walk, np.radians(angle[rows].astype(np.float64)))
        offsets = self._offsets("direction:")
        if offsets is not None and np.any(offsets):
            rows = np.nonzero(np.any(offsets != 0, axis=1))[0]
            out = out.copy()
            out[rows] = moved_latents(out[rows], [offsets[rows]], space=space)
        return out


def _stem(sequence_path: str | Path) -> Path:
    array_path = sidecar_paths(sequence_path)[0]
    stem = array_path.name[: -len(".z.npy")] if array_path.name.endswith((".z.npy", ".w.npy")) else array_path.stem
    return array_path.with_name(stem)


def controls_path(sequence_path: str | Path) -> Path:
    """``PERF.controls.npy`` for the sequence ``PERF.z.npy`` (or ``PERF.w.npy``)."""
    stem = _stem(sequence_path)
    return stem.with_name(stem.name + _SUFFIX)


def directions_path(sequence_path: str | Path) -> Path:
    """``PERF.directions.npy`` for the sequence ``PERF.z.npy``: the directions its controls' direction columns use."""
    stem = _stem(sequence_path)
    return stem.with_name(stem.name + _DIRECTIONS_SUFFIX)


def _saved(path: Path, array: np.ndarray) -> dict[str, Any]:
    try:
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            np.save(handle, array, allow_pickle=False)
    except OSError as exc:
        raise SidecarError(f"{path}: cannot write ({exc.strerror or exc}); choose a writable folder") from exc
    return {"file": path.name, "sha256": array_sha256(array)}


def save_controls(sequence_path: str | Path, controls: InputControls, **sources: Any) -> dict[str, Any]:
    """Write ``controls`` beside the sequence at ``sequence_path`` atomically; return the record for its ``made.controls``.

    ``sources`` go into the directions' record (where each direction came from).
    """
    record = {**_saved(controls_path(sequence_path), controls.table()), "columns": list(controls.columns)}
    if controls.directions is not None:
        record["directions"] = {**_saved(directions_path(sequence_path), np.asarray(controls.directions, np.float32)), **sources}
    return record


def _loaded(sequence: ZSequence, record: Mapping[str, Any], what: str) -> np.ndarray:
    if not isinstance(record.get("file"), str) or "/" in record["file"] or "\\" in record["file"]:
        raise SidecarError(f"{sequence.path}: made.controls is malformed; re-create the performance or conform again")
    path = sequence.path.with_name(record["file"])
    try:
        array = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise SidecarError(f"{path}: the {what} of {sequence.path.name} are missing; keep it beside the sequence") from exc
    except (OSError, ValueError, EOFError) as exc:
        raise SidecarError(f"{path}: not a readable {what} array ({exc}); re-create the performance or conform again") from exc
    if array.dtype != np.float32 or array.ndim != 2 or not np.isfinite(array).all():
        raise SidecarError(f"{path}: is not a finite float32 table of {what}; re-create the performance or conform again")
    if array_sha256(array) != record.get("sha256"):
        raise SidecarError(
            f"{path}: contents do not match the sha256 in {sequence.path.name}'s sidecar; re-create the performance or conform again"
        )
    return array


def load_controls(sequence: ZSequence) -> InputControls | None:
    """The controls recorded for ``sequence`` (``made.controls``), checked against its record; None if it has none."""
    record = sequence.meta.made.get("controls")
    if record is None:
        return None
    if not isinstance(record, Mapping):
        raise SidecarError(f"{sequence.path}: made.controls is malformed; re-create the performance or conform again")
    directions = None
    if record.get("directions") is not None:
        if not isinstance(record["directions"], Mapping):
            raise SidecarError(f"{sequence.path}: made.controls.directions is malformed; conform the project again")
        directions = _loaded(sequence, record["directions"], "directions")
    try:
        columns = checked_columns(record.get("columns", PERFORMANCE_COLUMNS), 0 if directions is None else len(directions))
    except ValueError as exc:
        raise SidecarError(f"{sequence.path}: made.controls.columns: {exc}") from exc
    table = _loaded(sequence, record, "input controls")
    if table.shape != (sequence.meta.frames, len(columns)):
        raise SidecarError(
            f"{sequence.path.with_name(record['file'])}: {table.shape} is not ({sequence.meta.frames}, {len(columns)}) "
            f"for {sequence.path.name}; the two files do not belong together"
        )
    return InputControls(columns, table, directions)
