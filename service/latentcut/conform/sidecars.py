"""Finding the z-sequence behind each clip of a timeline, and checking that it belongs to the file MLT plays.

The file MLT plays decides. Lookup order for a clip's media (the first that names a sidecar wins):

1. the played file's own container tags (``latent_sidecar``, relative to the video's folder);
2. a ``latent:sidecar`` property on the timeline producer or its bin clip (relative to the project),
   used only when the file names no sidecar itself (a stale property that disagrees is reported);
3. Kdenlive's own proxies: the same for ``kdenlive:originalurl`` (the clip Kdenlive made a proxy of);
4. ``<stem>.z.npy`` beside the video (or beside the original).

The tags Kdenlive saved in the project (``meta.attr.*``) stand in only for a file that cannot be
read. Media with none of these is ordinary footage: no latent source. Media that carries latentcut's
marks but whose sidecar is missing or does not match is an error naming both files. A bare ``.npy``
takes its frame rate from the project, else from the media, with a warning.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from latentcut.errors import InputError, SidecarError
from latentcut.latent.sidecar import (
    FRAMES_TAG,
    SIDECAR_ID_TAG,
    SIDECAR_SHA256_TAG,
    SIDECAR_TAG,
    ZSequence,
    load_sequence,
    sidecar_paths,
)
from latentcut.media import MediaFacts, media_facts
from latentcut.timeline.kdenlive import SIDECAR_PROPERTY, resolved_path, saved_container_tags
from latentcut.timeline.model import SourceInfo, SourceRef, source_key

__all__ = ["OutsideProjectWarning", "SidecarFinder", "StalePropertyWarning"]


class OutsideProjectWarning(UserWarning):
    """A sidecar resolved outside the project's folder while one with the same name sits beside the project."""


class StalePropertyWarning(UserWarning):
    """The project names one sidecar for a clip, the file it plays another; the file wins."""


@dataclass
class SidecarFinder:
    """Resolves timeline media to loaded, checked z-sequences; one instance per conform (it caches per file)."""

    project: Path
    project_folder: Path
    found: dict[tuple[str, str, str], ZSequence] = field(default_factory=dict)  # source_key -> its sidecar

    def __call__(self, ref: SourceRef) -> SourceInfo | None:
        sequence = self.sequence_for(ref)
        if sequence is None:
            return None
        assert sequence.meta.fps is not None  # _checked refuses a sidecar without a frame rate
        return SourceInfo(fps=sequence.meta.fps, frames=sequence.meta.frames, found=sequence)

    def _facts(self, video: Path) -> MediaFacts | None:
        """The file's own facts, or None when it is missing or unreadable (melt cannot play it either)."""
        if not video.is_file():
            return None
        try:
            return media_facts(video)
        except InputError:
            return None

    def _tags(self, video: Path, props: dict[str, str]) -> dict[str, str]:
        """The file's own container tags; those Kdenlive saved in the project only when the file cannot be read."""
        facts = self._facts(video)
        return dict(facts.tags) if facts is not None else saved_container_tags(props)

    def sequence_for(self, ref: SourceRef) -> ZSequence | None:
        """Return the sidecar of ``ref`` (checked against the clip), or None if the media is not a latent clip."""
        key = source_key(ref)
        if key in self.found:
            return self.found[key]
        props = dict(ref.props)
        candidates = [(ref.resource, props)]
        original = props.get("kdenlive:originalurl")
        if original and original != "-":
            original_props = {k[len("kdenlive:original.") :]: v for k, v in props.items() if k.startswith("kdenlive:original.")}
            candidates.append((resolved_path(original, self.project_folder), original_props))
        explicit = props.get(SIDECAR_PROPERTY)
        explicit_path = resolved_path(explicit, self.project_folder) if explicit else None
        for video, video_props in candidates:
            tags = self._tags(video, video_props)
            if tags.get(SIDECAR_TAG):
                path = video.parent / tags[SIDECAR_TAG]
                if explicit_path is not None and _stem(explicit_path) != _stem(path):
                    warnings.warn(
                        f"{self._where(ref)}: the project names sidecar {explicit} but {video.name} was rendered from "
                        f"{tags[SIDECAR_TAG]}; using the file's (re-save the project to drop the stale property)",
                        StalePropertyWarning,
                        stacklevel=2,
                    )
                return self._checked(ref, path, f"the container tags of {video.name}", tags, video)
        if explicit_path is not None:
            return self._checked(ref, explicit_path, f"its {SIDECAR_PROPERTY} property", {}, ref.resource)
        for video, _ in candidates:
            beside = video.with_name(video.stem + ".z.npy")
            if beside.is_file():
                return self._checked(ref, beside, f"its name ({video.name})", {}, video)
        return None

    def _where(self, ref: SourceRef) -> str:
        return f"{self.project.name}: clip {ref.name!r} ({ref.resource.name})"

    def _checked(self, ref: SourceRef, path: Path, how: str, tags: dict[str, str], video: Path) -> ZSequence:
        where = self._where(ref)
        if not path.is_file() and path.suffix == ".npy" and not path.name.endswith(".z.npy"):
            path_z = path.with_name(path.stem + ".z.npy")
            path = path_z if path_z.is_file() else path
        if not path.is_file():
            raise SidecarError(
                f"{where}: sidecar {path} named by {how} is missing; restore it or re-render the clip with latentcut"
            )
        self._warn_if_outside(where, path)
        bare = not sidecar_paths(path)[1].is_file()
        fps = self._project_fps(ref.props)
        if bare and fps is None:
            facts = self._facts(video)
            fps = facts.fps if facts is not None else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                sequence = load_sequence(path, mmap=True, fps=fps)
            except SidecarError as exc:
                raise SidecarError(f"{where}: {exc}") from exc
        for warning in caught:
            message = f"{where}: {warning.message}"
            if bare and fps is not None:
                message += f"; its frame rate {fps} is taken from {'the project' if self._project_fps(ref.props) else video.name}"
            category = warning.category if issubclass(warning.category, Warning) else UserWarning
            warnings.warn(message, category, stacklevel=3)
        self._match(where, path, sequence, ref, tags, video)
        self.found[source_key(ref)] = sequence
        return sequence

    def _warn_if_outside(self, where: str, path: Path) -> None:
        folder = self.project.parent.resolve()
        resolved = path.resolve()
        if resolved.is_relative_to(folder):
            return
        base = self.project_folder.resolve()
        relative = resolved.relative_to(base) if resolved.is_relative_to(base) else Path(resolved.name)
        beside = folder / relative
        if beside.is_file() and beside.resolve() != resolved:
            warnings.warn(
                f"{where}: sidecar {resolved} is outside the project's folder {folder}, though {beside} sits beside the project; "
                "using the first (the project's root= points there; re-save the project from this folder to use its own)",
                OutsideProjectWarning,
                stacklevel=4,
            )

    def _project_fps(self, props: Mapping[str, str]) -> Fraction | None:
        num, den = props.get("meta.media.frame_rate_num"), props.get("meta.media.frame_rate_den", "1")
        try:
            fps = Fraction(int(num), int(den)) if num else None
        except (ValueError, ZeroDivisionError):
            return None
        return fps if fps is not None and fps > 0 else None

    def _match(self, where: str, path: Path, sequence: ZSequence, ref: SourceRef, tags: dict[str, str], video: Path) -> None:
        meta = sequence.meta
        fix = f"re-render {video.name} from {path.name} (latentcut render), or point the clip at the right sidecar"
        named = tags.get(SIDECAR_TAG, "")
        same_file = not named or _stem(Path(named)) == _stem(path)
        tag_id = tags.get(SIDECAR_ID_TAG) if same_file else None
        tag_sha = tags.get(SIDECAR_SHA256_TAG) if same_file else None
        if tag_sha and meta.id and tag_sha != meta.sha256:
            raise SidecarError(
                f"{where}: {video.name} was rendered from another version of {path.name} (its sha256 {tag_sha[:12]}, "
                f"the sidecar's {meta.sha256[:12]}); {fix}"
            )
        if tag_id and meta.id and tag_id != meta.id:
            raise SidecarError(f"{where}: {video.name} belongs to sidecar id {tag_id}, not {path.name} ({meta.id}); {fix}")
        if meta.fps is None:
            raise SidecarError(
                f"{where}: {path.name} has no frame rate, and neither the project nor {video.name} gives one; add its .z.json"
            )
        media_fps = self._project_fps(dict(ref.props))
        if media_fps is not None and media_fps != meta.fps:
            raise SidecarError(f"{where}: {video.name} plays at {media_fps} fps but {path.name} is {meta.fps} fps; {fix}")
        frames = int(tags[FRAMES_TAG]) if tags.get(FRAMES_TAG, "").isdigit() else None
        if frames is None:
            facts = self._facts(video)
            frames = facts.frames if facts is not None and facts.frames > 0 else None
        if frames is not None and frames != meta.frames:
            raise SidecarError(f"{where}: {video.name} has {frames} frames but {path.name} has {meta.frames}; {fix}")


def _stem(path: Path) -> str:
    """``a.z.npy``, ``a.npy`` and ``a.z.json`` all name the sidecar ``a``."""
    name = path.name
    for suffix in (".z.npy", ".z.json", ".npy"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name
