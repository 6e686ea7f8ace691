"""Attribute vectors (White, "Sampling Generative Networks"): mean differences of labelled latents, bias-corrected or synthetic, and applying them.

An attribute vector is ``mean(latents with it) - mean(latents without it)``, so adding it once moves an
average latent without the attribute to an average one with it; ``AMOUNT`` scales that. Labels that
correlate with the attribute (thick strokes with the digit 0, smiles with women) leak into the plain
difference; ``balanced_difference`` corrects it by replicating every combination of the other labels
to the same count on both sides, which is the same as averaging the per-combination differences.
A model that encodes gives ``synthetic_difference``: encode images and augmented copies of them, and
take the difference. Applied to z, vectors keep each latent's norm (the result is rescaled to it), so
the latent stays on the shell where a Gaussian prior puts its samples, as the paper advises for slerp;
in W they are added as they are.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.errors import InputError, UsageError
from latentcut.latent.frame_lists import frame_numbers

__all__ = [
    "ATTRIBUTE_SUFFIX",
    "SYNTHETIC_AUGMENTATIONS",
    "AttributeUse",
    "Balance",
    "LoadedAttribute",
    "attribute_offsets",
    "attribute_records",
    "augmented_images",
    "balanced_difference",
    "labels_from_json",
    "load_attribute",
    "loaded_attributes",
    "mean_difference",
    "moved_latents",
    "parse_attribute_use",
    "save_attribute",
    "synthetic_difference",
    "with_attributes",
]

ATTRIBUTE_SUFFIX = ".attr.npy"
SYNTHETIC_AUGMENTATIONS = ("flip", "shift", "thicken", "thin", "blur")
_AMOUNT = re.compile(r"^\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*(?::\s*([-+]?[\d.]+(?:e[-+]?\d+)?)\s*)?$", re.IGNORECASE)
_LABELS_MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class AttributeUse:
    """One ``--attribute PATH=AMOUNT``: the vector file and its amount at the first and last frame (equal: constant)."""

    path: Path
    start: float
    end: float


class LoadedAttribute(NamedTuple):
    """An attribute vector read for applying: ``(vector, start, end)`` like the tuples ``with_attributes`` takes, and its file."""

    vector: np.ndarray
    start: float
    end: float
    source: str


@dataclass(frozen=True)
class Balance:
    """How ``balanced_difference`` weighed the pool: each used combination of labels and the frames left out."""

    combinations: tuple[tuple[str, ...], ...]  # label sets that had frames on both sides
    with_counts: tuple[int, ...]  # frames with the attribute, per combination
    without_counts: tuple[int, ...]  # frames without it, per combination
    replicated_to: int  # every combination's side counts as this many frames after replication
    dropped_frames: tuple[int, ...]  # frames whose combination lacks one side, so cannot be balanced


def _checked_frames(latents: np.ndarray, frames: Sequence[int], what: str) -> np.ndarray:
    indices = np.asarray(list(frames), np.int64)
    if len(indices) == 0:
        raise UsageError(f"{what}: no frames given; list at least one, like 3,7,9 or 0-27")
    bad = indices[(indices < 0) | (indices >= len(latents))]
    if len(bad):
        raise UsageError(f"{what}: frame {int(bad[0])} is outside the pool (frames 0-{len(latents) - 1})")
    return indices


def _overlap_checked(with_frames: np.ndarray, without_frames: np.ndarray) -> None:
    both = np.intersect1d(with_frames, without_frames)
    if len(both):
        raise UsageError(f"frame {int(both[0])} is listed both --with and --without; a frame has the attribute or not")


def mean_difference(latents: np.ndarray, with_frames: Sequence[int], without_frames: Sequence[int]) -> np.ndarray:
    """Return the float32 mean of the ``with_frames`` latents minus the mean of the ``without_frames`` ones."""
    pool = np.asarray(latents, np.float64)
    yes = _checked_frames(pool, with_frames, "--with")
    no = _checked_frames(pool, without_frames, "--without")
    _overlap_checked(yes, no)
    return (pool[yes].mean(axis=0) - pool[no].mean(axis=0)).astype(np.float32)


def balanced_difference(
    latents: np.ndarray, with_frames: Sequence[int], without_frames: Sequence[int], labels: Mapping[str, Sequence[int]]
) -> tuple[np.ndarray, Balance]:
    """Return the bias-corrected attribute vector and how the pool was balanced.

    Each frame's combination is the set of ``labels`` (name -> frames) that list it. Replicating every
    combination's frames, on both sides, up to the largest count makes the attribute independent of
    the labels; the difference of the replicated means is the mean over combinations of their own
    differences, computed here exactly. Combinations with frames on one side only are dropped.
    """
    pool = np.asarray(latents, np.float64)
    yes = _checked_frames(pool, with_frames, "--with")
    no = _checked_frames(pool, without_frames, "--without")
    _overlap_checked(yes, no)
    if not labels:
        raise UsageError("--balance-by: the labels file names no labels; give {label: frames, ...}")

    def combination(frame: int) -> tuple[str, ...]:
        return tuple(sorted(name for name, frames in labels.items() if frame in frames))

    groups: dict[tuple[str, ...], tuple[list[int], list[int]]] = {}
    for side, frames in ((0, yes), (1, no)):
        for frame in frames.tolist():
            groups.setdefault(combination(frame), ([], []))[side].append(frame)
    used = sorted(key for key, (w, wo) in groups.items() if w and wo)
    dropped = sorted(frame for key, (w, wo) in groups.items() if not (w and wo) for frame in (*w, *wo))
    if not used:
        raise UsageError(
            "--balance-by: no combination of labels has frames both --with and --without the attribute, so nothing can be balanced"
        )
    differences = [pool[groups[key][0]].mean(axis=0) - pool[groups[key][1]].mean(axis=0) for key in used]
    balance = Balance(
        combinations=tuple(used),
        with_counts=tuple(len(groups[key][0]) for key in used),
        without_counts=tuple(len(groups[key][1]) for key in used),
        replicated_to=max(max(len(groups[key][0]), len(groups[key][1])) for key in used),
        dropped_frames=tuple(dropped),
    )
    return np.mean(differences, axis=0).astype(np.float32), balance


def labels_from_json(path: Path) -> dict[str, list[int]]:
    """Read ``{"label": "0-9,40" or [0, 1, ...], ...}`` (frames per label, as read off a contact sheet)."""
    try:
        with path.open("rb") as handle:
            data = json.loads(handle.read(_LABELS_MAX_BYTES + 1))
    except FileNotFoundError as exc:
        raise InputError(f"{path}: labels file not found") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f'{path}: not a JSON labels file ({exc}); write {{"label": "0-9,40", ...}}') from exc
    if not isinstance(data, dict) or not data:
        raise InputError(f'{path}: expected an object of labels, like {{"zero": "0-9", "one": [10, 11]}}')
    labels: dict[str, list[int]] = {}
    for name, frames in data.items():
        if isinstance(frames, str):
            try:
                labels[name] = frame_numbers(frames)
            except UsageError as exc:
                raise InputError(f"{path}: label {name!r}: {exc}") from exc
        elif isinstance(frames, list) and all(isinstance(f, int) and not isinstance(f, bool) and f >= 0 for f in frames):
            labels[name] = list(frames)
        else:
            raise InputError(f'{path}: label {name!r} must list frames as a string like "0-9,40" or a list of numbers')
    return labels


def augmented_images(images: np.ndarray, augmentation: str) -> np.ndarray:
    """Return uint8 frames ``(n, H, W, C)`` changed by ``augmentation`` (one of ``SYNTHETIC_AUGMENTATIONS``)."""
    frames = np.asarray(images)
    height, width = frames.shape[1:3]
    step = max(1, round(min(height, width) / 16))  # one pixel at 8x8 and 16x16, proportionally more above
    if augmentation == "flip":
        return frames[:, :, ::-1].copy()
    if augmentation == "shift":
        shifted = np.zeros_like(frames)
        offset = max(1, width // 8)
        shifted[:, :, offset:] = frames[:, :, :-offset]
        return shifted
    if augmentation in ("thicken", "thin", "blur"):
        padded = np.pad(frames.astype(np.float32), ((0, 0), (step, step), (step, step), (0, 0)), mode="edge")
        windows = [
            padded[:, step + dy : step + dy + height, step + dx : step + dx + width]
            for dy in range(-step, step + 1)
            for dx in range(-step, step + 1)
        ]
        stack = np.stack(windows)
        reduced = {"thicken": stack.max(axis=0), "thin": stack.min(axis=0), "blur": stack.mean(axis=0)}[augmentation]
        return np.clip(reduced + 0.5, 0, 255).astype(np.uint8)
    raise UsageError(f"unknown augmentation {augmentation!r}; choose one of {', '.join(SYNTHETIC_AUGMENTATIONS)}")


def synthetic_difference(encode: Callable[[np.ndarray], np.ndarray], images: np.ndarray, augmentation: str) -> np.ndarray:
    """Return ``mean(encode(augmented images)) - mean(encode(images))``: the attribute the augmentation adds.

    ``encode`` is a model's encoder (``Encoder.encode``): uint8 images ``(n, H, W, 3)`` to latents ``(n, dim)``.
    """
    plain = np.asarray(encode(images), np.float64)
    changed = np.asarray(encode(augmented_images(images, augmentation)), np.float64)
    return (changed.mean(axis=0) - plain.mean(axis=0)).astype(np.float32)


def save_attribute(path: Path, vector: np.ndarray) -> None:
    """Write ``vector`` as a float32 ``.attr.npy`` atomically."""
    if not path.name.endswith(ATTRIBUTE_SUFFIX):
        raise UsageError(f"{path}: name attribute files NAME{ATTRIBUTE_SUFFIX}")
    with atomic_path(path) as temporary, temporary.open("wb") as handle:
        np.save(handle, np.asarray(vector, np.float32), allow_pickle=False)


def load_attribute(path: Path, latent_dim: int | None) -> np.ndarray:
    """Read an ``.attr.npy`` vector and check it fits latents of ``latent_dim`` (None: of any width)."""
    try:
        vector = np.load(path, allow_pickle=False)
    except FileNotFoundError as exc:
        raise InputError(f"{path}: attribute file not found; make one with `latentcut attribute`") from exc
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not an attribute vector .npy ({exc}); make one with `latentcut attribute`") from exc
    if vector.ndim != 1 or not np.issubdtype(vector.dtype, np.floating) or not np.isfinite(vector).all():
        raise InputError(f"{path}: an attribute is one finite float vector; this holds {vector.dtype} {vector.shape}")
    if latent_dim is not None and len(vector) != latent_dim:
        raise InputError(
            f"{path}: the attribute has dim {len(vector)} but the latents have {latent_dim}; use one made for this model"
        )
    return vector.astype(np.float32)


def loaded_attributes(uses: Sequence[AttributeUse], latent_dim: int) -> list[LoadedAttribute]:
    """Read every ``--attribute`` vector, checked against ``latent_dim``."""
    return [LoadedAttribute(load_attribute(use.path, latent_dim), use.start, use.end, str(use.path)) for use in uses]


def attribute_records(attributes: Sequence[LoadedAttribute]) -> list[dict[str, object]]:
    """What was applied, for a sidecar's ``made``: each vector's file and its amounts."""
    return [{"vector": a.source, "start": a.start, "end": a.end} for a in attributes]


def parse_attribute_use(text: str) -> AttributeUse:
    """Parse ``NAME.attr.npy=AMOUNT`` (constant) or ``NAME.attr.npy=START:END`` (a ramp over the frames)."""
    path, sep, amount = text.rpartition("=")
    match = _AMOUNT.match(amount)
    if not sep or not path or match is None:
        raise UsageError(f"--attribute {text!r}: write NAME{ATTRIBUTE_SUFFIX}=AMOUNT, e.g. thick{ATTRIBUTE_SUFFIX}=1.5 or =0:1.5")
    try:
        start = float(match[1])
        end = float(match[2]) if match[2] is not None else start
    except ValueError as exc:
        raise UsageError(f"--attribute {text!r}: {amount!r} is not a number or START:END") from exc
    return AttributeUse(Path(path), start, end)


def attribute_offsets(vector: np.ndarray, start: float, end: float, frames: int) -> np.ndarray:
    """Return ``(frames, dim)`` offsets: ``vector`` times an amount ramping linearly from ``start`` to ``end``."""
    amounts = np.linspace(start, end, frames) if frames > 1 else np.full(frames, start)
    return (amounts[:, None] * np.asarray(vector, np.float64)[None, :]).astype(np.float32)


def moved_latents(latents: np.ndarray, offsets: Sequence[np.ndarray], *, space: str = "z") -> np.ndarray:
    """Return ``latents`` plus each of ``offsets`` (all ``(n, dim)``): in z each row rescaled to its old norm, in W a plain sum."""
    base = np.asarray(latents, np.float64)
    moved = base.copy()
    for offset in offsets:
        moved += offset
    if space != "z":
        return moved.astype(np.float32)
    norms = np.linalg.norm(base, axis=1, keepdims=True)
    moved_norms = np.linalg.norm(moved, axis=1, keepdims=True)
    # A zero latent (the prior's mean) has no shell to keep: it simply moves.
    scale = np.divide(norms, moved_norms, out=np.ones_like(norms), where=(moved_norms > 0) & (norms > 0))
    return (moved * scale).astype(np.float32)


def with_attributes(
    latents: np.ndarray, uses: Sequence[tuple[np.ndarray, float, float]] | Sequence[LoadedAttribute], *, space: str = "z"
) -> np.ndarray:
    """Return ``latents`` plus each ``(vector, start, end)`` ramped over the frames.

    In z (a Gaussian prior) each row is rescaled to its old norm; W latents (``space`` ``w``/``w+``)
    have no such shell, so there the vectors are simply added.
    """
    if not uses:
        return np.asarray(latents, np.float32)
    offsets = [attribute_offsets(vector, start, end, len(latents)) for vector, start, end, *_ in uses]
    return moved_latents(latents, offsets, space=space)
