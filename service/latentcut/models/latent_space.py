"""A generator set to render a look's latent space (z, w, w+) and StyleGAN settings, checked against the model; z mapped to W."""

from __future__ import annotations

from typing import Any

import numpy as np

from latentcut.errors import ModelError, UsageError, one_line
from latentcut.latent.look import Look
from latentcut.latent.sidecar import ZSequence
from latentcut.models.generator import Generator, weights_sha256

__all__ = ["checked_weights", "generator_for", "look_changes", "mapped_sequence", "rendered_look"]

_MAP_CHUNK = 1024  # frames mapped per call: bounds memory for long sequences


def look_changes(look: Look, precision: str | None = None) -> dict[str, Any]:
    """The StyleGAN settings ``look`` changes (what it leaves unchosen keeps the generator's), with ``precision``."""
    named = {
        "truncation_psi": look.psi_to_apply,
        "class_index": look.class_index,
        "precision": precision,
        "noise_mode": look.noise_mode,
        "noise_seed": look.noise_seed,
        "translate": look.translate,
        "rotate_deg": look.rotate_deg,
    }
    return {name: value for name, value in named.items() if value is not None}


def checked_weights(generator: Generator, look: Look, where: str) -> None:
    """Refuse ``generator`` for latents whose ``look`` records other weights: a spec names a file, and a file can change.

    A renderer that is handed a spec (the daemon, its previews) checks it; ``latentcut.models.looks``
    finds a recorded model by its hash in the first place.
    """
    weights = weights_sha256(generator)
    recorded = look.model
    if recorded is not None and recorded.sha256 and recorded.sha256 != weights:
        raise ModelError(
            f"{where}: its latents were made with weights of sha256 {recorded.sha256[:12]}, and {one_line(generator.spec)} "
            f"here has other weights ({weights[:12]}); serve the model the latents were made with, or name the model to "
            "render with (--model) where the job is sent"
        )


def generator_for(generator: Generator, look: Look, *, precision: str | None = None, where: str = "") -> Generator:
    """Return ``generator`` set to render latents in ``look``'s space with its settings; refuse what the model cannot do.

    A StyleGAN network renders z (through its mapping network), w or w+ (without it). Other models
    (the CPPN, TorchScript, ...) have no mapping network and no ``w_avg``: they render z only, and
    refuse ``w``/``w+`` sequences and truncation in one line naming ``where``.
    """
    space = look.space  # one of LATENT_SPACES: a Look holds no other
    changes = look_changes(look, precision)
    configured = getattr(generator, "configured", None)
    if callable(configured):
        view: Any = generator if not changes and getattr(generator, "space", "z") == space else configured(space=space, **changes)
        if space == "z" and view.c_dim > 0 and view.settings.class_index is None:
            raise UsageError(f"{generator.spec} is a conditional model with {view.c_dim} classes; choose one with --class N")
        return view
    prefix = f"{where}: " if where else ""
    if space != "z":
        raise ModelError(
            f"{prefix}the sequence holds {space} latents, but {generator.spec} has no mapping network (W space belongs to "
            "StyleGAN models); render it with the StyleGAN snapshot it was mapped with (--model G.pkl)"
        )
    # Options that change nothing (psi 1, no shift or turn) are harmless on any model; others need StyleGAN.
    neutral: dict[str, Any] = {"truncation_psi": 1.0, "translate": (0.0, 0.0), "rotate_deg": 0.0}
    names = {"truncation_psi": "--truncation-psi", "class_index": "--class", "translate": "--translate", "rotate_deg": "--rotate"}
    for option, name in names.items():
        if option in changes and (option not in neutral or changes[option] != neutral[option]):
            raise UsageError(f"{prefix}{name} needs a StyleGAN model; {generator.spec} has no mapping network")
    return generator


def rendered_look(generator: Generator) -> Look:
    """The look ``generator`` renders with, every setting chosen: what another machine sets its copy of the model to.

    A model without StyleGAN settings renders z latents as they are.
    """
    settings = getattr(generator, "settings", None)
    if settings is None:
        return Look()
    return Look(
        space=settings.space,
        truncation_psi=settings.truncation_psi,
        class_index=settings.class_index,
        noise_mode=settings.noise_mode,
        noise_seed=settings.noise_seed,
        translate=settings.translate,
        rotate_deg=settings.rotate_deg,
    )


def mapped_sequence(
    generator: Generator, sequence: ZSequence, *, truncation_psi: float = 1.0, class_index: int | None = None
) -> np.ndarray:
    """Return the W latents ``(frames, w_dim)`` of a z-sequence through ``generator``'s mapping network, truncated by ``psi``."""
    if sequence.meta.space != "z":
        raise UsageError(f"{sequence.path}: holds {sequence.meta.space} latents already; map takes a z-sequence")
    configured = getattr(generator, "configured", None)
    if not callable(configured):
        raise ModelError(
            f"{generator.spec}: has no mapping network (W space belongs to StyleGAN models); map with a StyleGAN snapshot .pkl"
        )
    mapper = configured(space="z", truncation_psi=truncation_psi, class_index=class_index, truncation_cutoff=None)
    if sequence.meta.dim != mapper.latent_dim:
        raise ModelError(
            f"{sequence.path}: latents have dim {sequence.meta.dim} but {generator.spec} takes z of {mapper.latent_dim}; "
            "use the model the sequence was made for"
        )
    chunks = [mapper.mapped(sequence.latents[start : start + _MAP_CHUNK]) for start in range(0, sequence.meta.frames, _MAP_CHUNK)]
    return np.concatenate(chunks).astype(np.float32)
