"""A folder of named W-space directions: one attribute vector per direction, and ``directions.json`` naming them in order.

    DIR/sefa-00.attr.npy ... sefa-NN.attr.npy    unit vectors, strongest first (usable as --attribute FILE=AMOUNT)
    DIR/directions.json                         {"method", "space": "w", "model": {spec, sha256}, "directions":
                                                 [{"name", "file", "strength"}, ...]}

A lane (the ``latent_controls`` filter's ``direction`` and ``direction_index``) names either one
``.attr.npy`` or ``directions.json`` and an index into it. The vectors live in W: they move W (and w+)
sequences, not z.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.errors import InputError, UsageError
from latentcut.files import read_regular_bytes
from latentcut.latent.attributes import ATTRIBUTE_SUFFIX, load_attribute, save_attribute
from latentcut.untrusted_json import JsonRefused, parsed_json

__all__ = ["DIRECTIONS_FILE", "checked_direction_spaces", "direction_space", "direction_vector", "save_directions"]

DIRECTIONS_FILE = "directions.json"
_MAX_BYTES = 1 << 20


def save_directions(
    folder: Path, method: str, vectors: np.ndarray, strengths: Sequence[float], *, model: dict[str, Any]
) -> list[Path]:
    """Write one ``<method>-NN.attr.npy`` per row of ``vectors`` and ``directions.json`` into ``folder``; return the vector files."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    entries = []
    for index, (vector, strength) in enumerate(zip(np.asarray(vectors, np.float32), strengths, strict=True)):
        name = f"{method}-{index:02d}"
        path = folder / f"{name}{ATTRIBUTE_SUFFIX}"
        save_attribute(path, vector)
        files.append(path)
        entries.append({"name": name, "file": path.name, "strength": float(strength)})
    record = {"method": method, "space": "w", "model": model, "directions": entries}
    with atomic_path(folder / DIRECTIONS_FILE) as temporary:
        temporary.write_text(json.dumps(record, indent=1) + "\n")
    return files


def _record(path: Path) -> dict[str, Any]:
    try:
        data = parsed_json(read_regular_bytes(path, _MAX_BYTES), max_depth=8)  # a lane names it: a file from anywhere
    except FileNotFoundError as exc:
        raise InputError(f"{path}: directions file not found; make one with `latentcut directions`") from exc
    except (OSError, UnicodeDecodeError, JsonRefused) as exc:
        raise InputError(f"{path}: not a directions file ({exc}); make one with `latentcut directions`") from exc
    if not isinstance(data, dict) or not isinstance(data.get("directions"), list):
        raise InputError(f"{path}: not a directions file (no list of directions); make one with `latentcut directions`")
    return data


def direction_vector(path: Path, index: int, latent_dim: int | None) -> np.ndarray:
    """The direction ``path`` names: an ``.attr.npy`` itself, or entry ``index`` of a ``directions.json`` (of ``latent_dim``; None: any)."""
    if path.name.endswith(ATTRIBUTE_SUFFIX):
        return load_attribute(path, latent_dim)
    entries = _record(path)["directions"]
    if not 0 <= index < len(entries):
        raise InputError(f"{path}: direction {index} asked for, but it holds {len(entries)} (0-{len(entries) - 1})")
    return load_attribute(path.parent / str(entries[index].get("file", "")), latent_dim)


def direction_space(vector_file: Path) -> str | None:
    """The latent space a ``directions.json`` beside ``vector_file`` records for it; None for any other attribute vector."""
    listing = vector_file.parent / DIRECTIONS_FILE
    if not listing.is_file():
        return None
    record = _record(listing)
    files = {str(entry.get("file")) for entry in record["directions"] if isinstance(entry, dict)}
    return str(record.get("space", "w")) if vector_file.name in files else None


def checked_direction_spaces(files: Sequence[Path], space: str) -> None:
    """Refuse W-space directions on latents of another space (z), in one line naming the file and the fix."""
    for path in files:
        wanted = direction_space(path)
        if wanted is not None and wanted != space:
            raise UsageError(
                f"{path}: a direction in {wanted.upper()} space, but these latents are {space}; "
                "map them first (latentcut map SEQ.z.npy -o SEQ-w.z.npy --model G.pkl) and apply it there"
            )
