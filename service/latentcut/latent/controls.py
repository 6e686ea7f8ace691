"""A sequence's per-frame input controls and their file: ``PERF.controls.npy`` beside ``PERF.z.npy``.

``translate`` (image widths; x to the right, y downwards: the picture's content moves that way) and
``rotate_deg`` (counterclockwise on screen) set StyleGAN3's input transform per frame, added to the
generator's own ``translate``/``rotate_deg`` settings; ``const_noise`` corrupts StyleGAN2's learned
constant (``latentcut.models.stylegan.input_controls`` says how).

The file holds float32 ``(frames, 4)``, columns ``CONTROL_COLUMNS``; the sequence's ``.z.json`` records
the file's name and hash under ``made.controls``, so a render finds them, checks them and repeats the
performance exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.errors import SidecarError
from latentcut.latent.sidecar import ZSequence, array_sha256, sidecar_paths

__all__ = ["CONTROL_COLUMNS", "InputControls", "controls_path", "load_controls", "save_controls"]

CONTROL_COLUMNS = ("translate_x", "translate_y", "rotate_deg", "const_noise")
_SUFFIX = ".controls.npy"


@dataclass(frozen=True)
class InputControls:
    """One value of each control per frame: ``translate`` ``(n, 2)``, ``rotate_deg`` ``(n,)``, ``const_noise`` ``(n,)``."""

    translate: np.ndarray
    rotate_deg: np.ndarray
    const_noise: np.ndarray

    def __post_init__(self) -> None:
        frames = len(self.rotate_deg)
        if self.translate.shape != (frames, 2) or self.rotate_deg.shape != (frames,) or self.const_noise.shape != (frames,):
            raise ValueError(
                f"controls of {frames} frames need translate (n, 2), rotate_deg (n,), const_noise (n,); "
                f"got {self.translate.shape}, {self.rotate_deg.shape}, {self.const_noise.shape}"
            )

    def __len__(self) -> int:
        return len(self.rotate_deg)

    @classmethod
    def from_array(cls, table: np.ndarray) -> InputControls:
        """Controls from a table ``(n, 4)`` with columns ``CONTROL_COLUMNS``."""
        table = np.asarray(table, np.float32)
        return cls(table[:, 0:2].copy(), table[:, 2].copy(), table[:, 3].copy())

    @classmethod
    def concatenated(cls, parts: Sequence[InputControls]) -> InputControls:
        """The controls of ``parts`` one after the other."""
        return cls.from_array(np.concatenate([part.table() for part in parts]))

    def table(self) -> np.ndarray:
        """The controls as float32 ``(n, 4)``, columns ``CONTROL_COLUMNS``."""
        return np.column_stack([self.translate, self.rotate_deg, self.const_noise]).astype(np.float32)

    def between(self, start: int, stop: int) -> InputControls:
        """The controls of frames ``start`` to ``stop - 1``."""
        return InputControls(self.translate[start:stop], self.rotate_deg[start:stop], self.const_noise[start:stop])

    def uses(self) -> set[str]:
        """Which controls move anything: ``translate``, ``rotate`` and ``const_noise``."""
        used = {"translate": bool(np.any(self.translate)), "rotate": bool(np.any(self.rotate_deg))}
        used["const_noise"] = bool(np.any(self.const_noise))
        return {name for name, moves in used.items() if moves}


def controls_path(sequence_path: str | Path) -> Path:
    """``PERF.controls.npy`` for the sequence ``PERF.z.npy`` (or ``PERF.w.npy``)."""
    array_path = sidecar_paths(sequence_path)[0]
    stem = array_path.name[: -len(".z.npy")] if array_path.name.endswith((".z.npy", ".w.npy")) else array_path.stem
    return array_path.with_name(stem + _SUFFIX)


def save_controls(sequence_path: str | Path, controls: InputControls) -> dict[str, Any]:
    """Write ``controls`` beside the sequence at ``sequence_path`` atomically; return the record for its ``made.controls``."""
    path = controls_path(sequence_path)
    table = controls.table()
    try:
        with atomic_path(path) as tmp, tmp.open("wb") as handle:
            np.save(handle, table, allow_pickle=False)
    except OSError as exc:
        raise SidecarError(f"{path}: cannot write ({exc.strerror or exc}); choose a writable folder") from exc
    return {"file": path.name, "sha256": array_sha256(table), "columns": list(CONTROL_COLUMNS)}


def load_controls(sequence: ZSequence) -> InputControls | None:
    """The controls recorded for ``sequence`` (``made.controls``), checked against its record; None if it has none."""
    record = sequence.meta.made.get("controls")
    if record is None:
        return None
    if not isinstance(record, Mapping) or not isinstance(record.get("file"), str) or "/" in record["file"]:
        raise SidecarError(f"{sequence.path}: made.controls is malformed; re-create the performance")
    path = sequence.path.with_name(record["file"])
    try:
        table = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise SidecarError(
            f"{path}: the input controls of {sequence.path.name} are missing; keep it beside the sequence"
        ) from exc
    except (OSError, ValueError, EOFError) as exc:
        raise SidecarError(f"{path}: not a readable controls array ({exc}); re-create the performance") from exc
    if table.shape != (sequence.meta.frames, len(CONTROL_COLUMNS)) or table.dtype != np.float32:
        raise SidecarError(
            f"{path}: {table.dtype} {table.shape} is not float32 ({sequence.meta.frames}, {len(CONTROL_COLUMNS)}) "
            f"for {sequence.path.name}; the two files do not belong together"
        )
    if not np.isfinite(table).all():
        raise SidecarError(f"{path}: holds NaN or infinity; re-create the performance")
    if array_sha256(table) != record.get("sha256"):
        raise SidecarError(
            f"{path}: contents do not match the sha256 in {sequence.path.name}'s sidecar; re-create the performance"
        )
    return InputControls.from_array(table)
