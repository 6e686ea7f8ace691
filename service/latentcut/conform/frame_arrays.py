"""What each output frame is, as one value every renderer takes: its latent (or two cross-faded in pixels), opacity, controls (lanes) and look.

``FrameArrays`` holds it, one array per kind and a row per frame. The conform produces it
(``conformed_frames``, from a conform in memory: what the watcher sends) and a saved sequence gives it
back (``sequence_frames``: a conformed edit's opacity and pixel blend from its provenance and partner,
its lanes or a performance's input controls, an explorer chain's looks), so ``latentcut render``, ``online``, the
daemon, its workers, Ray actors and previews all render the same frames through
``latentcut.render.range_frames.render_range``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from latentcut.conform.latents import latent_chunks, pixel_blend, pixel_weight
from latentcut.conform.project import ConformResult, provenance_path
from latentcut.errors import SidecarError, one_line
from latentcut.latent.controls import PERFORMANCE_COLUMNS, InputControls, load_controls
from latentcut.latent.look import frame_looks
from latentcut.latent.sidecar import ZSequence

__all__ = ["FrameArrays", "conformed_frames", "sequence_frames"]


@dataclass(frozen=True, eq=False)
class FrameArrays:
    """The per-frame arrays some frames are rendered from, a row per frame: what a render, a job, a lease and a range carry.

    Frame ``i`` is ``(1 - blend_weight[i]) * G(latents[i]) + blend_weight[i] * G(blend_latents[i])``, mixed in
    pixels, then faded toward black by ``opacity[i]`` (0: a gap or a fade's end, black without a call to the
    model). Without a cross-fade both blend arrays are None. ``controls``: values per frame of the named
    ``control_columns`` (lanes and input controls: ``latentcut.latent.controls``), whose direction columns
    use the rows of ``directions``; None, or every value neutral: none. ``look``: which of the render's
    looks each frame uses (an explorer chain across snapshots); None: the one look.
    """

    latents: np.ndarray  # (n, dim) float32
    opacity: np.ndarray  # (n,) float32 in 0..1
    blend_latents: np.ndarray | None = None  # (n, dim) float32: the picture being cross-faded to
    blend_weight: np.ndarray | None = None  # (n,) float32 in 0..1: its share of the mix
    controls: np.ndarray | None = None  # (n, len(control_columns)) float32
    look: np.ndarray | None = None  # (n,) int64: index of each frame's look
    control_columns: tuple[str, ...] = PERFORMANCE_COLUMNS
    directions: np.ndarray | None = None  # (k, dim) float32: the directions of the ``direction``/``w_direction`` columns

    @classmethod
    def plain(cls, latents: np.ndarray) -> FrameArrays:
        """Every latent shown as it is: opaque, no cross-fade, no controls, one look."""
        return cls(latents, np.ones(len(latents), np.float32))

    @property
    def blended(self) -> bool:
        return self.blend_latents is not None

    @property
    def frames(self) -> int:
        return len(self.latents)

    @property
    def nbytes(self) -> int:
        arrays = (self.latents, self.opacity, self.blend_latents, self.blend_weight, self.controls, self.look, self.directions)
        return sum(a.nbytes for a in arrays if a is not None)

    @property
    def plain_latents(self) -> bool:
        """True if every frame is its latent's picture as it is (opaque, no cross-fade, no controls): holds and picks may apply."""
        controls = self.input_controls()
        return (
            bool(np.all(self.opacity == 1)) and self.blend_latents is None and (controls is None or not controls.steered().any())
        )

    def input_controls(self) -> InputControls | None:
        """The frames' controls as one value (columns, values, directions); None without any."""
        if self.controls is None:
            return None
        return InputControls(self.control_columns, self.controls, self.directions)

    def with_controls(self, controls: InputControls | None) -> FrameArrays:
        """These frames with ``controls`` (one row per frame), or with none."""
        if controls is None:
            return dataclasses.replace(self, controls=None, control_columns=PERFORMANCE_COLUMNS, directions=None)
        return dataclasses.replace(
            self, controls=controls.table(), control_columns=controls.columns, directions=controls.directions
        )

    def rows(self, indices: np.ndarray | slice) -> FrameArrays:
        """The arrays of the frames at ``indices`` only."""

        def of(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[indices]

        return FrameArrays(
            self.latents[indices],
            self.opacity[indices],
            of(self.blend_latents),
            of(self.blend_weight),
            of(self.controls),
            of(self.look),
            self.control_columns,
            self.directions,
        )


def conformed_frames(conform: ConformResult) -> FrameArrays:
    """The frames of a conform in memory: its latents (with the pixel blend's partners), opacity, input controls and looks."""
    result, sequences, blend = conform.result, conform.sequences, conform.blend
    latents = np.concatenate(list(latent_chunks(result, sequences, blend=blend)))
    blend_latents = blend_weight = None
    if blend == "pixel":  # the renderer cross-fades the two pictures with MLT's weight
        blend_latents = np.concatenate(list(latent_chunks(result, sequences, blend="pixel", part="partner")))
        blend_weight = pixel_weight(result)
    looks = frame_looks(conform.look_runs, len(latents)) if conform.look_runs else None
    return FrameArrays(latents, result.opacity.astype(np.float32), blend_latents, blend_weight, look=looks).with_controls(
        conform.controls
    )


def _conformed_opacity(sequence: ZSequence) -> np.ndarray:
    provenance = provenance_path(sequence.path)
    try:
        with np.load(provenance, allow_pickle=False) as archive:
            opacity = np.asarray(archive["opacity"], np.float32)
    except FileNotFoundError as exc:
        raise SidecarError(
            f"{provenance}: missing, and it holds the gaps and fades of {sequence.path.name}; conform the project again"
        ) from exc
    except (OSError, KeyError, ValueError) as exc:
        raise SidecarError(
            f"{provenance}: cannot read the opacity of each frame ({one_line(exc)}); conform the project again"
        ) from exc
    if opacity.shape != (sequence.meta.frames,) or not np.isfinite(opacity).all():
        raise SidecarError(
            f"{provenance}: does not hold one opacity per frame of {sequence.path.name}; conform the project again"
        )
    return np.clip(opacity, 0.0, 1.0)


def sequence_frames(sequence: ZSequence) -> FrameArrays:
    """The frames a saved sequence asks for: a conformed edit's gaps, fades and pixel blend, a performance's controls, each frame's look.

    A sequence that is none of these: each latent's picture, opaque.
    """
    made: Mapping[str, object] = sequence.meta.made
    opacity = _conformed_opacity(sequence) if made.get("how") == "conformed" else np.ones(sequence.meta.frames, np.float32)
    pair = pixel_blend(sequence)
    runs = sequence.meta.look_runs
    return FrameArrays(
        sequence.latents,
        opacity,
        None if pair is None else pair.partner,
        None if pair is None else pair.weight,
        look=frame_looks(runs, sequence.meta.frames) if len(runs) > 1 else None,
    ).with_controls(load_controls(sequence))
