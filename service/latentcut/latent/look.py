"""How latents become pictures, as data: the model (spec, content hash, where its file lay), the latent space, truncation and how much of it the latents carry, class, noise, StyleGAN3's input transform.

A sidecar's ``.z.json`` records the look its sequence was made and looked at with::

    "space": "w",
    "model": {"spec": "../models/G.pkl", "sha256": "9f2c...", "file": "../models/G.pkl", "file_absolute": "/art/models/G.pkl"},
    "look": {"truncation_psi": 0.7, "psi_in_latents": 0.7, "class": 3, "noise_mode": "random", "noise_seed": 4,
             "translate": [0.1, 0.0], "rotate_deg": 5.0}

``model.file`` is the model file's path relative to the sidecar's folder, so the sidecar finds its model
from any working folder (``latentcut.models.looks`` also looks beside the sidecar, at ``file_absolute``, in
the folders of ``$LATENTCUT_MODEL_PATH``, and there by content hash). ``look`` lists only what was chosen;
what it leaves out is the renderer's default (psi 1, the model's own noise). A sidecar written before
``look`` existed reads as it always did, and a W sequence from ``latentcut map`` carries the psi its
``made`` records. A sequence whose frames use several looks (an explorer chain across snapshots) lists
them as ``look_runs``: ``[{"start": 0, "model": ..., "look": ...}, ...]``, each up to the next one's start.

A command applies the recorded look unless the user chose otherwise (``Look.chosen``), and nothing
applies twice: ``--truncation-psi P`` is the psi the pictures show, so latents already truncated by ``q``
are truncated by ``P / q`` more, not by ``P`` again.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.errors import UsageError, one_line

__all__ = [
    "LATENT_SPACES",
    "MAX_PSI",
    "NOISE_MODES",
    "Look",
    "LookOptions",
    "LookRun",
    "ModelRef",
    "frame_looks",
    "look_from_json",
    "look_runs_from_json",
    "look_runs_json",
]

LATENT_SPACES = ("z", "w", "w+")  # z: the model's input; w / w+: a StyleGAN's intermediate latents (one w, or one per layer)
NOISE_MODES = ("const", "random", "none")
MAX_PSI = 100.0
_MAX_SEED = 2**63 - 1
_MAX_TEXT = 4096  # a spec or a path


@dataclass(frozen=True)
class ModelRef:
    """Which model: the spec a user passes to ``--model``, its weights' hash, and where its file lay (absolute paths, newest first).

    Two references to the same weights are equal wherever their files lay.
    """

    spec: str
    sha256: str
    files: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self, folder: Path | None = None) -> dict[str, Any]:
        """The ``model`` object of a ``.z.json`` in ``folder``: the file relative to it, and absolute."""
        data: dict[str, Any] = {"spec": self.spec, "sha256": self.sha256}
        if self.files:
            data["file"] = os.path.relpath(self.files[0], folder) if folder is not None else self.files[0]
            data["file_absolute"] = self.files[0]
        return data

    @classmethod
    def from_json(cls, data: Any, folder: Path) -> ModelRef:
        """The reference a ``.z.json`` in ``folder`` records; ``ValueError`` naming the bad field."""
        if not isinstance(data, Mapping):
            raise ValueError("model is not an object")
        spec, sha256 = _text(data, "spec"), _text(data, "sha256")
        files = []
        if data.get("file") is not None:
            files.append(os.path.normpath(folder / _text(data, "file")))
        if data.get("file_absolute") is not None:
            files.append(os.path.normpath(_text(data, "file_absolute")))
        return cls(spec, sha256, tuple(dict.fromkeys(files)))


@dataclass(frozen=True)
class LookOptions:
    """What a command line chose of the look (None: as the sequence records it, else the renderer's default)."""

    model: str | None = None  # a spec the user typed: code may run to load it
    truncation_psi: float | None = None  # the psi the pictures show
    class_index: int | None = None
    noise_mode: str | None = None
    noise_seed: int | None = None
    translate: tuple[float, float] | None = None  # StyleGAN3's input transform, in image widths
    rotate_deg: float | None = None
    precision: str | None = None  # how a StyleGAN computes on CUDA (fp32, fp16, bf16): not part of the picture, never recorded


@dataclass(frozen=True)
class Look:
    """Everything besides the latents that decides their pictures (see the module docstring); None: not chosen."""

    model: ModelRef | None = None
    space: str = "z"
    truncation_psi: float | None = None  # the psi the pictures show (1: none)
    psi_in_latents: float = 1.0  # how much of it the latents already carry (W latents mapped with a psi)
    class_index: int | None = None
    noise_mode: str | None = None
    noise_seed: int | None = None
    translate: tuple[float, float] | None = None
    rotate_deg: float | None = None

    def __post_init__(self) -> None:
        _checked_settings(self)

    @property
    def psi_to_apply(self) -> float | None:
        """The truncation still to apply to the latents for the pictures to show ``truncation_psi`` (None: not chosen)."""
        if self.truncation_psi is None:
            return None if self.psi_in_latents == 1.0 else 1.0
        if self.psi_in_latents == 1.0:
            return self.truncation_psi
        return self.truncation_psi / self.psi_in_latents  # psi_in_latents 0 is refused by ``chosen``

    def settings_json(self) -> dict[str, Any]:
        """The ``look`` object of a ``.z.json``: only what was chosen."""
        data: dict[str, Any] = {
            "truncation_psi": self.truncation_psi,
            "psi_in_latents": None if self.psi_in_latents == 1.0 else self.psi_in_latents,
            "class": self.class_index,
            "noise_mode": self.noise_mode,
            "noise_seed": self.noise_seed,
            "translate": None if self.translate is None else list(self.translate),
            "rotate_deg": self.rotate_deg,
        }
        return {key: value for key, value in data.items() if value is not None}

    def chosen(self, options: LookOptions, where: str = "") -> Look:
        """This look with the user's ``options`` applied over it (the model is the caller's: see ``latentcut.models.looks``).

        A choice that cannot apply is one line, never a silent double application: a class for latents
        already mapped through another class's mapping network, a psi for latents truncated to nothing.
        """
        prefix = f"{where}: " if where else ""
        if options.class_index is not None and self.space != "z" and options.class_index != self.class_index:
            mapped = f"class {self.class_index}" if self.class_index is not None else "the class it was mapped with"
            raise UsageError(
                f"{prefix}its {self.space} latents went through the mapping network with {mapped}, so they carry it; "
                f"drop --class, or map the z-sequence again with --class {options.class_index}"
            )
        if options.truncation_psi is not None and self.psi_in_latents == 0.0 and options.truncation_psi != 0.0:
            raise UsageError(
                f"{prefix}its latents were truncated with psi 0 (every w is the average), so no psi brings them back; "
                "map the z-sequence again with the psi you want"
            )
        changes: dict[str, Any] = {
            "truncation_psi": options.truncation_psi,
            "class_index": options.class_index,
            "noise_mode": options.noise_mode,
            "noise_seed": options.noise_seed,
            "translate": options.translate,
            "rotate_deg": options.rotate_deg,
        }
        return dataclasses.replace(self, **{name: value for name, value in changes.items() if value is not None})

    def describe(self) -> str:
        """The look in a few words, for a printed line: ``builtin:cppn@3, psi 0.7``."""
        parts = [self.model.spec if self.model else "no model recorded"]
        if self.space != "z":
            parts.append(f"{self.space} space")
        if self.truncation_psi is not None:
            carried = f" (latents carry {self.psi_in_latents:g})" if self.psi_in_latents != 1.0 else ""
            parts.append(f"psi {self.truncation_psi:g}{carried}")
        if self.class_index is not None:
            parts.append(f"class {self.class_index}")
        if self.noise_mode is not None:
            parts.append(f"noise {self.noise_mode}" + (f" {self.noise_seed}" if self.noise_seed is not None else ""))
        if self.translate is not None or self.rotate_deg is not None:
            parts.append(f"translate {self.translate or (0, 0)} rotate {self.rotate_deg or 0:g} deg")
        return ", ".join(parts)


@dataclass(frozen=True)
class LookRun:
    """The frames from ``start`` to the next run's start use ``look``."""

    start: int
    look: Look


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if type(value) is not str or not value or len(value) > _MAX_TEXT:
        raise ValueError(f"{key} {one_line(repr(value), 60)} is not a text of 1-{_MAX_TEXT} characters")
    return value


def _number(value: Any, what: str, bound: float) -> float:
    if type(value) not in (int, float) or not math.isfinite(value) or abs(value) > bound:
        raise ValueError(f"{what} {one_line(repr(value), 40)} is not a number within +-{bound:g}")
    return float(value)


def _whole(value: Any, what: str, high: int) -> int:
    if type(value) is not int or not 0 <= value <= high:
        raise ValueError(f"{what} {one_line(repr(value), 40)} is not a whole number in 0..{high}")
    return value


def _checked_settings(look: Look) -> None:
    if look.space not in LATENT_SPACES:
        raise UsageError(f"latent space {look.space!r} is not one of {', '.join(LATENT_SPACES)}")
    if look.noise_mode is not None and look.noise_mode not in NOISE_MODES:
        raise UsageError(f"noise mode {look.noise_mode!r} is not one of {', '.join(NOISE_MODES)}")
    for name in ("truncation_psi", "psi_in_latents", "rotate_deg"):
        value = getattr(look, name)
        if value is not None and not (math.isfinite(value) and abs(value) <= (MAX_PSI if "psi" in name else 1e6)):
            raise UsageError(f"{name} {value} is not a finite number{' within +-100' if 'psi' in name else ''}")
    if look.translate is not None and not np.isfinite(look.translate).all():
        raise UsageError(f"translate {look.translate} is not two finite numbers")


def look_from_json(data: Mapping[str, Any], folder: Path) -> Look:
    """The look a ``.z.json`` in ``folder`` records (``space``, ``model``, ``look``); ``ValueError`` naming the bad field.

    A W sequence from ``latentcut map`` written before ``look`` existed carries the psi and class its ``made`` records.
    """
    model = ModelRef.from_json(data["model"], folder) if data.get("model") is not None else None
    space = data.get("space", "z")
    if space not in LATENT_SPACES:
        raise ValueError(f"space {one_line(repr(space), 40)} is not one of {', '.join(LATENT_SPACES)}")
    settings = data.get("look")
    made = data.get("made")
    if settings is None and isinstance(made, Mapping) and made.get("how") == "mapped":
        psi = _number(made.get("truncation_psi", 1.0), "made.truncation_psi", MAX_PSI)
        settings = {"truncation_psi": psi, "psi_in_latents": psi, "class": made.get("class")}
    if settings is None:
        return Look(model, space)
    if not isinstance(settings, Mapping):
        raise ValueError("look is not an object")
    unknown = set(settings) - {"truncation_psi", "psi_in_latents", "class", "noise_mode", "noise_seed", "translate", "rotate_deg"}
    if unknown:
        raise ValueError(f"look holds {one_line(repr(sorted(unknown)), 60)}, which this latentcut does not know; upgrade it")

    def given(key: str) -> Any:
        return settings.get(key)

    translate = given("translate")
    if translate is not None and not (isinstance(translate, list) and len(translate) == 2):
        raise ValueError(f"look.translate {one_line(repr(translate), 40)} is not [dx, dy]")
    noise_mode = given("noise_mode")
    if noise_mode is not None and noise_mode not in NOISE_MODES:
        raise ValueError(f"look.noise_mode {one_line(repr(noise_mode), 40)} is not one of {', '.join(NOISE_MODES)}")
    return Look(
        model=model,
        space=space,
        truncation_psi=None
        if given("truncation_psi") is None
        else _number(given("truncation_psi"), "look.truncation_psi", MAX_PSI),
        psi_in_latents=1.0
        if given("psi_in_latents") is None
        else _number(given("psi_in_latents"), "look.psi_in_latents", MAX_PSI),
        class_index=None if given("class") is None else _whole(given("class"), "look.class", 2**31),
        noise_mode=noise_mode,
        noise_seed=None if given("noise_seed") is None else _whole(given("noise_seed"), "look.noise_seed", _MAX_SEED),
        translate=None
        if translate is None
        else (_number(translate[0], "look.translate", 1e6), _number(translate[1], "look.translate", 1e6)),
        rotate_deg=None if given("rotate_deg") is None else _number(given("rotate_deg"), "look.rotate_deg", 1e6),
    )


def look_runs_json(runs: Sequence[LookRun], folder: Path | None) -> list[dict[str, Any]]:
    """The ``look_runs`` list of a ``.z.json`` in ``folder``."""
    out = []
    for run in runs:
        entry: dict[str, Any] = {"start": run.start, "space": run.look.space}
        if run.look.model is not None:
            entry["model"] = run.look.model.to_json(folder)
        if run.look.settings_json():
            entry["look"] = run.look.settings_json()
        out.append(entry)
    return out


def look_runs_from_json(data: Any, folder: Path, frames: int) -> tuple[LookRun, ...]:
    """The runs a ``look_runs`` list records: starting at frame 0, in order, within ``frames``; ``ValueError`` otherwise."""
    if data is None:
        return ()
    if not isinstance(data, list) or not 1 <= len(data) <= frames:
        raise ValueError(f"look_runs is not a list of 1-{frames} runs")
    runs: list[LookRun] = []
    for entry in data:
        if not isinstance(entry, Mapping):
            raise ValueError("a look run is not an object")
        start = _whole(entry.get("start"), "look_runs.start", max(frames - 1, 0))
        if (not runs and start != 0) or (runs and start <= runs[-1].start):
            raise ValueError("look_runs do not start at frame 0 and rise")
        runs.append(LookRun(start, look_from_json(entry, folder)))
    return tuple(runs)


def frame_looks(runs: Sequence[LookRun], frames: int) -> np.ndarray:
    """The index into ``runs`` of every frame's look, ``(frames,)`` int64."""
    index = np.zeros(frames, np.int64)
    for number, run in enumerate(runs):
        index[run.start :] = number
    return index
