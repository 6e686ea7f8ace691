"""A range's frames: the model's pictures of its latents, cross-faded and shaded, the same for `render`, `online`, the daemon, its workers and Ray.

A frame is the model's picture of its latent, moved first by its controls' noise walks and directions,
and through the controls the model applies (truncation, W directions, StyleGAN's input transform:
``latentcut.latent.controls``, ``latentcut.models.stylegan.input_controls``); on a pixel cross-fade, the mix
``(1 - w) * G(a) + w * G(b)`` of two pictures, as MLT mixes two clips, both with the frame's controls;
then faded toward black by its opacity. Frames at opacity 0
are black without a call to the model. Each distinct picture is made once: a held latent, a frame
repeated by slow motion or a duplicated clip costs one call to the model, however often it shows, and a
``FrameMemo`` keeps recent pictures for the next ranges of the same render. What a range is rendered
from is a ``latentcut.conform.frame_arrays.FrameArrays``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from latentcut.conform.frame_arrays import FrameArrays
from latentcut.errors import RenderError
from latentcut.latent.controls import InputControls
from latentcut.models.generator import Generator
from latentcut.models.stylegan.input_controls import ControlledGenerator

__all__ = ["FrameMemo", "checked_controls", "render_range", "shaded_frames"]

MEMO_BYTES = 256 << 20  # recent pictures a render keeps for repeats in later ranges


class FrameMemo:
    """The pictures a render made recently, by model and latent (and controls), the least recently used dropped past ``max_bytes``."""

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._bytes = 0

    def get(self, key: bytes) -> np.ndarray | None:
        frame = self._frames.get(key)
        if frame is not None:
            self._frames.move_to_end(key)
        return frame

    def put(self, key: bytes, frame: np.ndarray) -> None:
        if key in self._frames or frame.nbytes > self.max_bytes:
            return
        self._frames[key] = frame
        self._bytes += frame.nbytes
        while self._bytes > self.max_bytes:
            _, dropped = self._frames.popitem(last=False)
            self._bytes -= dropped.nbytes


def shaded_frames(frames: np.ndarray, opacity: np.ndarray) -> np.ndarray:
    """Apply per-frame opacity toward black in pixels (the conform's fades and gaps); all opaque: ``frames`` as they are."""
    # Only the faded frames are computed in floats: at 1024x1024 the whole range would cost more than a GPU takes to render it.
    faded = np.nonzero(opacity < 1.0)[0]
    if not len(faded):
        return frames
    shaded = frames.copy()
    shade = opacity[faded].astype(np.float32)[:, None, None, None]
    shaded[faded] = (frames[faded] * shade + 0.5).astype(np.uint8)
    return shaded


def checked_controls(generator: Generator, controls: InputControls | None, where: str = "") -> ControlledGenerator | None:
    """``generator`` if ``controls`` (the part a model applies: ``InputControls.model_part``) move anything, None if none do.

    A model that lacks a control the frames use: ``RenderError`` naming it and the fix.
    """
    if controls is None or not controls.steered().any():
        return None
    prefix = f"{where}: " if where else ""
    kinds = set(generator.input_controls) if isinstance(generator, ControlledGenerator) else set()
    missing = controls.uses() - kinds
    if missing:
        raise RenderError(
            f"{prefix}{generator.spec} cannot apply {' or '.join(sorted(missing))}, which the frames carry (a lane, or a tracked "
            "performance's input controls); render with a StyleGAN snapshot that has it (truncation and W directions: "
            "StyleGAN2 or 3; translate, rotate: StyleGAN3; const_noise: StyleGAN2)"
        )
    assert isinstance(generator, ControlledGenerator)
    return generator


def _distinct_pictures(
    generator: Generator, size: tuple[int, int], latents: np.ndarray, controls: InputControls | None, memo: FrameMemo | None
) -> np.ndarray:
    """The pictures of ``latents`` (through the model's ``controls``, one row each), each distinct row rendered once (or taken from ``memo``)."""
    width, height = size
    if controls is not None and not controls.steered().any():
        controls = None  # these frames' controls are neutral: the pictures of their latents as they are
    rows = np.ascontiguousarray(latents, "<f4")
    if controls is not None:
        rows = np.ascontiguousarray(np.concatenate([rows, controls.key_rows()], axis=1))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    # In the order they first appear: without repeats the model gets the very batch it would have (models are not
    # exactly batch-invariant: one level here and there), so a render, the daemon and a worker make the same pictures.
    order = np.argsort(first, kind="stable")
    distinct, first, inverse = distinct[order], first[order], np.argsort(order)[inverse.ravel()]
    prefix = f"{generator.sha256}|{generator.spec}|{width}x{height}|".encode()
    pictures = np.empty((len(distinct), height, width, 3), np.uint8)
    missing = []
    for index, key in enumerate(distinct):
        known = memo.get(prefix + key.tobytes()) if memo is not None else None
        if known is None:
            missing.append(index)
        else:
            pictures[index] = known
    if missing:
        wanted = first[np.asarray(missing, np.int64)]
        if controls is None:
            made = generator.render(np.asarray(latents[wanted]), size)
        else:
            controlled = checked_controls(generator, controls)
            assert controlled is not None  # controls that move something, on a model checked to have them
            made = controlled.render_controlled(np.asarray(latents[wanted]), size, controls.rows(wanted))
        pictures[missing] = made
        if memo is not None:
            for index, picture in zip(missing, made, strict=True):
                memo.put(prefix + distinct[index].tobytes(), picture.copy())
    return pictures[inverse]


def _one_look(generator: Generator, size: tuple[int, int], arrays: FrameArrays, memo: FrameMemo | None) -> np.ndarray:
    """The pictures of ``arrays``' frames, all visible, through one generator: each moved, steered and cross-faded as it asks."""
    controls = arrays.input_controls()
    space = str(getattr(generator, "space", "z"))
    latents = np.asarray(arrays.latents) if controls is None else controls.moved(arrays.latents, space)
    model = None if controls is None else controls.model_part()
    checked_controls(generator, model)  # a model without them: one line, before any picture is made
    frames = _distinct_pictures(generator, size, latents, model, memo)
    if arrays.blend_latents is not None and arrays.blend_weight is not None:
        mixed = np.nonzero(arrays.blend_weight > 0)[0]
        if len(mixed):
            weight = arrays.blend_weight[mixed].astype(np.float32)[:, None, None, None]
            partners = np.asarray(arrays.blend_latents[mixed])
            if controls is not None:  # the picture cross-faded to shows the frame's lanes too
                partners = controls.rows(mixed).moved(partners, space)
            steering = None if model is None else model.rows(mixed)
            other = _distinct_pictures(generator, size, partners, steering, memo).astype(np.float32)
            frames[mixed] = (frames[mixed].astype(np.float32) * (1 - weight) + other * weight + 0.5).astype(np.uint8)
    return frames


def render_range(
    generator: Generator | Sequence[Generator], size: tuple[int, int], arrays: FrameArrays, memo: FrameMemo | None = None
) -> np.ndarray:
    """Return the frames ``(n, height, width, 3)`` uint8 of ``arrays``' ``n`` frames, cross-faded and shaded as they ask.

    ``generator``: one, or one per look, each frame through the one its ``arrays.look`` names. Controls
    at their neutral values are no control at all; on a pixel cross-fade both pictures take the frame's
    controls. ``memo`` keeps the pictures for later ranges of the same render.
    """
    generators = [generator] if isinstance(generator, Generator) else list(generator)
    width, height = size
    frames = np.zeros((len(arrays.latents), height, width, 3), np.uint8)
    visible = arrays.opacity > 0
    looks = arrays.look if arrays.look is not None and len(generators) > 1 else np.zeros(len(visible), np.int64)
    if len(looks) and looks.max() >= len(generators):
        raise RenderError(f"frames ask for look {int(looks.max())}, but the render has {len(generators)}")
    for index, model in enumerate(generators):
        rows = np.nonzero(visible & (looks == index))[0]
        if len(rows) == len(frames):
            frames = _one_look(model, size, arrays, memo)  # every frame: taken as it is, not copied again
        elif len(rows):
            frames[rows] = _one_look(model, size, arrays.rows(rows), memo)
    return shaded_frames(frames, arrays.opacity)
