"""A look made real: its model found and checked, loaded only in a form that cannot carry code unless the user named it, and set to the look.

The model of a recorded look (``latentcut.latent.look``) is searched for, in order: at the paths the
sidecar recorded (relative to its folder, then absolute), beside the sidecar, at the spec as written
(from the working folder), in each folder of ``$LATENTCUT_MODEL_PATH`` (``:``-separated) by name, and
then in the sidecar's folder and those folders by content hash, so a model file that was moved or
renamed is found again. A file is taken only if its sha256 is the one recorded, and only in a form
that runs nothing from the file (``load_generator(..., code_allowed=False)``): a built-in model, or a
StyleGAN snapshot through the restricted reader. A model the user types (``--model``, a
``--snapshots`` entry) loads in any form, and wins over the recorded one.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from latentcut.errors import ModelError, UsageError, one_line
from latentcut.files import file_sha256, regular_size
from latentcut.latent.look import Look, LookOptions, ModelRef
from latentcut.latent.sidecar import ZSequence
from latentcut.models.generator import Generator, model_ref_of
from latentcut.models.latent_space import generator_for
from latentcut.models.loading import MODEL_FILE_MAX_BYTES, MODEL_SUFFIXES, builtin_spec, load_generator, looks_like_a_path
from latentcut.models.stylegan.input_controls import ControlledGenerator

__all__ = ["MODEL_PATH_ENV", "LoadedLook", "Looks", "controls_applied", "found_model_file"]

MODEL_PATH_ENV = "LATENTCUT_MODEL_PATH"
_SEARCHED_FILES_MAX = 10_000  # files hashed in one folder when looking for a model by its content


@dataclass(frozen=True)
class LoadedLook:
    """A look and the generator set to render it."""

    look: Look  # what the pictures show: the recorded look with the user's choices, its model as loaded
    generator: Generator


def _declared_folders() -> list[Path]:
    return [Path(part) for part in os.environ.get(MODEL_PATH_ENV, "").split(os.pathsep) if part]


def _named_candidates(ref: ModelRef, folder: Path | None) -> Iterator[Path]:
    yield from (Path(file) for file in ref.files)
    names = dict.fromkeys(Path(p).name for p in (*ref.files, ref.spec))
    if folder is not None:
        yield from (folder / name for name in names)
    yield Path(ref.spec)
    for declared in _declared_folders():
        yield from (declared / name for name in names)


def _hash_candidates(folder: Path | None) -> Iterator[Path]:
    for place in [*([folder] if folder is not None else []), *_declared_folders()]:
        try:
            entries = sorted(place.iterdir())[:_SEARCHED_FILES_MAX]
        except OSError:
            continue
        yield from (entry for entry in entries if entry.suffix.lower() in MODEL_SUFFIXES)


def _sha256_or_none(path: Path) -> str | None:
    try:
        if regular_size(path) > MODEL_FILE_MAX_BYTES:
            return None  # never a model latentcut loads: not read to find out
        return file_sha256(path)
    except OSError:  # absent, a folder, a FIFO, unreadable: not this model
        return None


def found_model_file(ref: ModelRef, folder: Path | None, where: str) -> Path:
    """The file of the model ``ref`` records, whose content hash is ``ref.sha256`` (see the module docstring); ``ModelError`` if none.

    ``folder`` is the recording sidecar's; ``where`` names it in the message.
    """
    seen: set[Path] = set()
    other: Path | None = None
    for named, candidates in ((True, _named_candidates(ref, folder)), (False, _hash_candidates(folder))):
        for candidate in candidates:
            key = candidate.absolute()
            if key in seen:
                continue
            seen.add(key)
            digest = _sha256_or_none(candidate)
            if digest == ref.sha256:
                return candidate
            if digest is not None and named and other is None:
                other = candidate  # where the recorded name points: said in the message
    if other is not None:
        raise ModelError(
            f"{where}: made with {one_line(ref.spec)} (sha256 {ref.sha256[:12]}), but {other} holds other weights and no file "
            f"here holds those; give --model to choose the model, or put the file in {MODEL_PATH_ENV}"
        )
    raise ModelError(
        f"{where}: made with {one_line(ref.spec)} (sha256 {ref.sha256[:12]}), which is not where it was recorded, beside the "
        f"sidecar or in ${MODEL_PATH_ENV}; give --model, or add its folder to {MODEL_PATH_ENV}"
    )


def controls_applied(generator: Generator) -> tuple[str, ...]:
    """The kinds of per-frame control ``generator`` applies (``ControlledGenerator.input_controls``): none for most models."""
    return tuple(generator.input_controls) if isinstance(generator, ControlledGenerator) else ()


class Looks:
    """The generators for looks a command renders: the user's choices over each recorded look, each model loaded once."""

    def __init__(
        self,
        options: LookOptions | None = None,
        *,
        device: str | None = None,
        trust_pickle: bool = False,
        default_model: str | None = "builtin:cppn",
    ) -> None:
        self.options = options or LookOptions()
        self.device = device
        self.trust_pickle = trust_pickle
        self.default_model = default_model
        self._models: dict[tuple[str, bool], Generator] = {}

    def _model(self, spec: str, typed: bool) -> Generator:
        key = (spec, typed)
        if key not in self._models:
            self._models[key] = load_generator(spec, device=self.device, trust_pickle=self.trust_pickle, code_allowed=typed)
        return self._models[key]

    def _recorded_model(self, ref: ModelRef, folder: Path | None, where: str) -> Generator:
        if builtin_spec(ref.spec):
            return self._model(ref.spec, False)  # latentcut's own code; no file to check
        if not looks_like_a_path(ref.spec) and not ref.files:
            raise UsageError(
                f"{where}: made with model {one_line(repr(ref.spec))}, which is neither built in nor a model file here; "
                "give --model to choose the model"
            )
        return self._model(str(found_model_file(ref, folder, where)), False)

    def of_look(self, look: Look, *, folder: Path | None = None, where: str = "", model: str | None = None) -> LoadedLook:
        """``look`` with the user's choices applied, and a generator set to render it.

        The model: ``model`` (a spec the user typed: a ``--snapshots`` entry), else ``--model``, else the
        look's own (found and checked, ``folder`` being its sidecar's), else the default model.
        """
        typed = model or self.options.model
        chosen = look.chosen(self.options, where)
        if typed is not None:
            base = self._model(typed, True)
        elif look.model is not None:
            base = self._recorded_model(look.model, folder, where or "the sequence")
        elif self.default_model is not None:
            base = self._model(self.default_model, False)
        else:
            raise UsageError(f"{where or 'the sequence'}: records no model; give it with --model")
        ref = model_ref_of(base)
        if typed is None and look.model is not None:
            ref = dataclasses.replace(look.model, files=(*ref.files, *look.model.files))  # as recorded, now found here too
        chosen = dataclasses.replace(chosen, model=ref)
        generator = generator_for(base, chosen, precision=self.options.precision, where=where)
        return LoadedLook(chosen, generator)

    def of_sequence(self, sequence: ZSequence, *, model: str | None = None, warn: bool = True) -> LoadedLook:
        """The look ``sequence`` records with the user's choices, and its generator (see ``of_look``).

        With ``warn``, a model whose weights differ from the recorded ones is said in a warning.
        """
        recorded = sequence.meta.look
        loaded = self.of_look(recorded, folder=sequence.path.parent, where=str(sequence.path), model=model)
        other = loaded.look.model
        if warn and model is None and recorded.model is not None and other is not None and recorded.model.sha256 != other.sha256:
            warnings.warn(f"{sequence.path}: made for {recorded.model.spec}, rendering with {other.spec}", stacklevel=2)
        return loaded

    def of_frames(self, sequence: ZSequence, *, model: str | None = None) -> list[LoadedLook]:
        """One loaded look per look run of ``sequence`` (``FrameArrays.look`` indexes them); one for a sequence of one look.

        ``model`` (a ``--snapshots`` entry) or ``--model`` renders every run, with each run's other choices.
        """
        runs = sequence.meta.look_runs
        if len(runs) <= 1:
            return [self.of_sequence(sequence, model=model)]
        return [self.of_look(run.look, folder=sequence.path.parent, where=str(sequence.path), model=model) for run in runs]

    def controls_of(self, look: Look) -> tuple[str, ...] | None:
        """The kinds of per-frame control ``look``'s model applies (see ``controls_applied``); None if the model is not here."""
        try:
            return controls_applied(self.of_look(look, where="the lanes' clips").generator)
        except (ModelError, UsageError):
            return None

    def tile(self, sequence: ZSequence, *, model: str | None = None) -> Generator | list[Generator]:
        """What renders ``sequence``'s frames: its look's generator, or one per look run (see ``of_frames``)."""
        loaded = self.of_frames(sequence, model=model)
        return loaded[0].generator if len(loaded) == 1 else [entry.generator for entry in loaded]
