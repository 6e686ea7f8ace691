"""The StyleGAN input controls of a conformed timeline: each frame's, from the clips it shows, mixed with the latents' weights.

A clip whose sidecar records input controls (a tracked performance, ``latentcut react --tracker``) gives
its frames their rows; a clip without them gives zeros (no change to the model's input). A frame that
mixes several clips (a dissolve) gets ``sum_k w_k * controls_k`` with the weights its latents blend with
(normalised to 1, so two clips at MLT's weight ``w`` give ``(1 - w) * a + w * b``); a slow motion that
interpolates latents interpolates the controls linearly too. Controls steer one picture per frame, so
a ``--blend pixel`` conform (two pictures) refuses them, as does a timeline that mixes them with clips
of another model, or StyleGAN3 controls (translate, rotate) with StyleGAN2 ones (const_noise).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latentcut.conform.latents import Conformed
from latentcut.errors import ConformError
from latentcut.latent.controls import PERFORMANCE_COLUMNS, InputControls, load_controls
from latentcut.latent.sidecar import ZSequence

__all__ = ["conformed_controls"]

_STYLEGAN3 = {"translate", "rotate"}


def _checked(controls: Sequence[InputControls | None], sequences: Sequence[ZSequence], blend: str) -> None:
    """Refuse, in one line naming the files, a timeline whose controls would steer the wrong picture or model."""
    steered = [(sequence, table) for sequence, table in zip(sequences, controls, strict=True) if table is not None]
    for sequence, table in steered:
        other = [name for name in table.columns if name not in PERFORMANCE_COLUMNS]
        if other:
            raise ConformError(
                f"{sequence.path.name} carries lanes of its own ({', '.join(other[:3])}: a conformed sequence), which do not "
                "carry into another timeline; cut the clips it was conformed from instead, with their lanes in this project"
            )
    first = steered[0][0]
    if blend == "pixel":
        raise ConformError(
            f"{first.path.name} carries StyleGAN input controls (a tracked performance), which steer one picture per frame, "
            "but --blend pixel keeps two; conform with --blend slerp or lerp"
        )
    kinds = [(sequence, "StyleGAN3" if table.uses() & _STYLEGAN3 else "StyleGAN2") for sequence, table in steered if table.uses()]
    for sequence, kind in kinds[1:]:
        if kind != kinds[0][1]:
            raise ConformError(
                f"{kinds[0][0].path.name} carries {kinds[0][1]} input controls but {sequence.path.name} {kind} ones; "
                "one timeline with input controls needs one model: cut performances of the same model together"
            )
    model = first.meta.model
    for sequence in sequences:
        if model is not None and sequence.meta.model is not None and sequence.meta.model.sha256 != model.sha256:
            raise ConformError(
                f"{first.path.name} carries input controls for {model.spec}, but {sequence.path.name} was made with "
                f"{sequence.meta.model.spec}; one timeline with input controls needs one model: cut clips of {model.spec} only"
            )


def conformed_controls(result: Conformed, sequences: Sequence[ZSequence], *, blend: str = "slerp") -> InputControls | None:
    """The input controls of every frame of ``result`` (see the module docstring); None when no clip has any."""
    controls = [load_controls(sequence) for sequence in sequences]
    if all(table is None for table in controls):
        return None
    _checked(controls, sequences, blend)
    tables = [
        None if table is None else np.column_stack([table.column(name) for name in PERFORMANCE_COLUMNS]).astype(np.float64)
        for table in controls
    ]
    out = np.zeros((len(result.source), len(PERFORMANCE_COLUMNS)), np.float64)
    for term in range(result.source.shape[1]):
        source, frame, weight = result.source[:, term], result.frame[:, term], result.weight[:, term]
        for index, table in enumerate(tables):
            rows = np.nonzero(source == index)[0]
            if table is None or not len(rows):
                continue
            values = table[frame[rows]]
            if result.fraction is not None:
                # Slow motion placed between source frames: the controls move on as the latents do.
                part = result.fraction[rows, term]
                following = table[np.minimum(frame[rows] + 1, len(table) - 1)]
                values = values + part[:, None] * (following - values)
            out[rows] += weight[rows, None] * values
    return InputControls.from_array(out.astype(np.float32))
