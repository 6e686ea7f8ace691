"""The explorer's output folder: saved transitions (sidecar and proxy), their Kdenlive project, chains exported as one sidecar.

Each saved transition records the look it was seen with (snapshot, psi); an exported chain records each
transition's look for its frames (``look_runs``), so a render of the chain shows each part as the page did.

Every name comes from the page, so each is checked against a strict pattern and the path it makes is
resolved and required to lie directly in the folder before anything is read, written or deleted.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
from latentcut.errors import SidecarError, UsageError
from latentcut.files import read_regular_bytes
from latentcut.latent.journey import chained_latents
from latentcut.latent.look import Look, LookRun
from latentcut.latent.sidecar import JSON_MAX_BYTES, link_tags, load_sequence, save_sequence, sidecar_paths
from latentcut.render.encode import VideoWriter, encoding_for
from latentcut.untrusted_json import JsonRefused, parsed_json

__all__ = ["CHAIN_HOW", "PROJECT_NAME", "SAVED_HOW", "SavedFolder", "SavedTransition", "checked_name"]

PROJECT_NAME = "explore.kdenlive"
SAVED_HOW = "explore"
CHAIN_HOW = "explore-chain"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_SUFFIXES = (".z.npy", ".z.json", ".mp4")


def checked_name(name: Any) -> str:
    """Return ``name`` if it is a plain file stem (letters, digits, ``-`` and ``_``, at most 64); raise ``UsageError``."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise UsageError(
            f"name {str(name)[:80]!r} is refused: use 1 to 64 letters, digits, '-' or '_', starting with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class SavedTransition:
    """One saved transition, as the Saved panel lists it."""

    name: str
    frames: int
    made: Mapping[str, Any]
    has_proxy: bool

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "frames": self.frames, "made": dict(self.made), "proxy": self.has_proxy}


class SavedFolder:
    """The ``--out`` folder of one explorer: every read, write and delete of the page goes through here."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder.resolve()
        self.project = self.folder / PROJECT_NAME
        self._lock = threading.Lock()  # one save, delete or export at a time: the project lists them all

    def path(self, name: Any, suffix: str) -> Path:
        """Return ``folder/name+suffix``, refusing any name whose path would resolve outside the folder."""
        stem = checked_name(name)
        path = (self.folder / f"{stem}{suffix}").resolve()
        if path.parent != self.folder:
            raise UsageError(f"name {stem!r} is refused: {stem}{suffix} resolves outside {self.folder}")
        return path

    def _sidecar(self, name: str) -> dict[str, Any] | None:
        """The ``.z.json`` of ``name`` if it is a readable one: a FIFO, folder or forged file there counts as none."""
        try:
            data = parsed_json(read_regular_bytes(self.path(name, ".z.json"), JSON_MAX_BYTES), max_depth=32)
        except (OSError, JsonRefused):
            return None
        return data if isinstance(data, dict) else None

    def _made(self, name: str) -> dict[str, Any] | None:
        made = (self._sidecar(name) or {}).get("made")
        return made if isinstance(made, dict) else None

    def transitions(self) -> list[SavedTransition]:
        """Return the saved transitions in the order they were saved."""
        found = []
        for json_path in self.folder.glob("*.z.json"):
            name = json_path.name[: -len(".z.json")]
            data = self._sidecar(name) if _NAME.fullmatch(name) else None
            made, frames = (data or {}).get("made"), (data or {}).get("frames")
            if not isinstance(made, dict) or made.get("how") != SAVED_HOW or type(frames) is not int:
                continue
            saved_at: Any = made.get("saved_at")
            if type(saved_at) not in (int, float) or not math.isfinite(saved_at):
                made = {**made, "saved_at": 0.0}
            found.append(SavedTransition(name, frames, made, self.path(name, ".mp4").is_file()))
        return sorted(found, key=lambda t: (float(t.made["saved_at"]), t.name))

    def latents(self, name: Any) -> np.ndarray:
        """Return the latents of saved transition ``name``; raise ``UsageError`` if there is none."""
        made = self._made(checked_name(name))
        if made is None or made.get("how") != SAVED_HOW:
            raise UsageError(f"no saved transition named {name!r} in {self.folder}")
        return np.asarray(load_sequence(self.path(name, ".z.npy")).latents)

    def save(
        self,
        name: Any,
        latents: np.ndarray,
        frames: np.ndarray,
        *,
        fps: Fraction,
        look: Look,
        made: Mapping[str, Any],
    ) -> SavedTransition:
        """Write ``name.z.npy`` (+ ``.z.json``, recording ``look``) and the proxy ``name.mp4`` of ``frames``, then rewrite the project."""
        array_path = self.path(name, ".z.npy")
        video_path = self.path(name, ".mp4")
        with self._lock:
            if any(self.path(name, suffix).exists() for suffix in _SUFFIXES):
                raise UsageError(f"{name!r} is already saved in {self.folder}; delete it first or choose another name")
            record = {**made, "how": SAVED_HOW, "saved_at": time.time()}
            meta = save_sequence(array_path, latents, fps=fps, look=look, made=record)
            sequence = load_sequence(array_path)
            height, width = frames.shape[1:3]
            tags = dict(link_tags(sequence))
            if look.model is not None:
                tags.update(latent_model=look.model.spec, latent_model_sha256=look.model.sha256)
            try:
                with VideoWriter(video_path, (width, height), fps, encoding_for(video_path, "proxy"), tags=tags) as video:
                    video.write(frames)
            except BaseException:
                for path in sidecar_paths(array_path):
                    path.unlink(missing_ok=True)
                raise
            self._write_project()
        return SavedTransition(checked_name(name), meta.frames, record, True)

    def delete(self, name: Any) -> None:
        """Remove a saved transition's files and take it out of the project."""
        with self._lock:
            made = self._made(checked_name(name))
            if made is None or made.get("how") != SAVED_HOW:
                raise UsageError(f"no saved transition named {name!r} in {self.folder}")
            for suffix in _SUFFIXES:
                self.path(name, suffix).unlink(missing_ok=True)
            self._write_project()

    def chain(self, name: Any) -> list[str]:
        """Return the names of the chain that ends with ``name``: its ancestors (through ``continues``) first."""
        names = [checked_name(name)]
        while True:
            made = self._made(names[0])
            parent = made.get("continues") if made else None
            if not isinstance(parent, str) or parent in names or not _NAME.fullmatch(parent):
                return names
            parent_made = self._made(parent)
            if parent_made is None or parent_made.get("how") != SAVED_HOW:
                return names  # the parent was deleted: the chain starts here
            names.insert(0, parent)

    def export_chain(self, name: Any, output: Any) -> tuple[Path, list[str]]:
        """Write the chain ending with ``name`` as one sidecar ``output.z.npy``; return its path and the transitions in it."""
        target = self.path(output, ".z.npy")
        with self._lock:
            existing = self._made(checked_name(output))
            if (existing is not None and existing.get("how") != CHAIN_HOW) or (existing is None and target.exists()):
                raise UsageError(f"{target.name} exists and is not an exported chain; choose another name")
            names = self.chain(name)
            sequences = [load_sequence(self.path(n, ".z.npy")) for n in names]
            try:
                joined = chained_latents([np.asarray(s.latents) for s in sequences])
            except ValueError as exc:
                raise SidecarError(f"{self.folder}: the chain {' -> '.join(names)} does not join up ({exc})") from exc
            # Each transition's frames keep its look (snapshot, psi): the shared frame where two meet is the earlier one's.
            starts = np.cumsum([0, *(s.meta.frames - (index > 0) for index, s in enumerate(sequences[:-1]))])
            runs = [LookRun(int(start), s.meta.look) for start, s in zip(starts, sequences, strict=True)]
            runs = [run for index, run in enumerate(runs) if index == 0 or run.look != runs[index - 1].look]
            first = sequences[0].meta
            save_sequence(
                target,
                joined,
                fps=first.fps or Fraction(25),
                look=first.look,
                look_runs=tuple(runs) if len(runs) > 1 else (),
                made={"how": CHAIN_HOW, "transitions": names, "ids": [s.meta.id for s in sequences]},
            )
        return target, names

    def _write_project(self) -> None:
        videos = [self.path(t.name, ".mp4") for t in self.transitions() if t.has_proxy]
        if not videos:
            self.project.unlink(missing_ok=True)
            return
        write_kdenlive_project(self.project, project_clips(videos, self.project))
