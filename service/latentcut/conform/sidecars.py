"""Finding the z-sequence behind each clip of a timeline, and checking that it belongs to that clip.

Lookup order for a clip's media (the first that names a sidecar wins):

1. a ``latent:sidecar`` property on the timeline producer or its bin clip (relative to the project);
2. the proxy's container tags (``latent_sidecar``, relative to the video's folder): as Kdenlive saved
   them in the project (``meta.attr.latent_sidecar.markup``), else read from the file itself;
3. Kdenlive's own proxies: the same two steps for ``kdenlive:originalurl`` (the clip Kdenlive made a
   proxy of);
4. ``<stem>.z.npy`` beside the video (or beside the original).

Media with none of these is ordinary footage: no latent source. Media that carries latentcut's marks
but whose sidecar is missing or does not match is an error naming both files.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from latentcut.errors import SidecarError
from latentcut.latent.sidecar import FRAMES_TAG, SIDECAR_ID_TAG, SIDECAR_SHA256_TAG, SIDECAR_TAG, ZSequence, load_sequence
from latentcut.render.encode import container_tags, video_frame_count_and_size
from latentcut.timeline.frames import SourceInfo, SourceRef, source_key

__all__ = ["SidecarFinder"]


def _project_tags(props: dict[str, str], prefix: str = "meta.attr.") -> dict[str, str]:
    """Container tags as Kdenlive stored them: ``meta.attr.<key>.markup``, keys lower-cased (Matroska upper-cases them)."""
    tags = {}
    for name, value in props.items():
        if name.startswith(prefix) and name.endswith(".markup") and ".stream." not in name:
            tags[name[len(prefix) : -len(".markup")].lower()] = value
    return tags


@dataclass
class SidecarFinder:
    """Resolves timeline media to loaded, checked z-sequences; one instance per conform (it caches per file)."""

    project: Path
    project_folder: Path
    found: dict[tuple[str, str, str], ZSequence] = field(default_factory=dict)  # source_key -> its sidecar
    _tags: dict[Path, dict[str, str]] = field(default_factory=dict)

    def __call__(self, ref: SourceRef) -> SourceInfo | None:
        sequence = self.sequence_for(ref)
        if sequence is None:
            return None
        assert sequence.meta.fps is not None  # _match refuses a sidecar without a frame rate
        return SourceInfo(fps=sequence.meta.fps, frames=sequence.meta.frames)

    def _file_tags(self, media: Path) -> dict[str, str]:
        if media not in self._tags:
            self._tags[media] = container_tags(media) if media.is_file() else {}
        return self._tags[media]

    def sequence_for(self, ref: SourceRef) -> ZSequence | None:
        """Return the sidecar of ``ref`` (checked against the clip), or None if the media is not a latent clip."""
        props = dict(ref.props)
        media = ref.resource
        explicit = props.get("latent:sidecar")
        if explicit:
            path = Path(explicit) if Path(explicit).is_absolute() else self.project_folder / explicit
            return self._checked(ref, path, "its latent:sidecar property", self._tags_of(media, props))
        candidates = [(media, props)]
        original = props.get("kdenlive:originalurl")
        if original and original != "-":
            original_path = Path(original) if Path(original).is_absolute() else self.project_folder / original
            original_props = {k[len("kdenlive:original.") :]: v for k, v in props.items() if k.startswith("kdenlive:original.")}
            candidates.append((original_path, original_props))
        for video, video_props in candidates:
            tags = self._tags_of(video, video_props)
            if tags.get(SIDECAR_TAG):
                return self._checked(ref, video.parent / tags[SIDECAR_TAG], f"the container tags of {video.name}", tags)
        for video, video_props in candidates:
            beside = video.with_name(video.stem + ".z.npy")
            if beside.is_file():
                return self._checked(ref, beside, f"its name ({video.name})", self._tags_of(video, video_props))
        return None

    def _tags_of(self, video: Path, props: dict[str, str]) -> dict[str, str]:
        tags = _project_tags(props)
        return tags if SIDECAR_TAG in tags else {**tags, **self._file_tags(video)}

    def _checked(self, ref: SourceRef, path: Path, how: str, tags: dict[str, str]) -> ZSequence:
        key = source_key(ref)
        if key in self.found:
            return self.found[key]
        where = f"{self.project.name}: clip {ref.name!r} ({ref.resource.name})"
        if not path.is_file() and path.suffix == ".npy" and not path.name.endswith(".z.npy"):
            path_z = path.with_name(path.stem + ".z.npy")
            path = path_z if path_z.is_file() else path
        if not path.is_file():
            raise SidecarError(
                f"{where}: sidecar {path} named by {how} is missing; restore it or re-render the clip with latentcut"
            )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                sequence = load_sequence(path, mmap=True, fps=self._media_fps(ref.props))
            except SidecarError as exc:
                raise SidecarError(f"{where}: {exc}") from exc
        for warning in caught:
            warnings.warn(f"{where}: {warning.message}", type(warning.message), stacklevel=3)
        self._match(where, path, sequence, ref, tags)
        self.found[key] = sequence
        return sequence

    def _media_fps(self, props: dict) -> Fraction | None:
        num, den = props.get("meta.media.frame_rate_num"), props.get("meta.media.frame_rate_den", "1")
        try:
            return Fraction(int(num), int(den)) if num else None
        except (ValueError, ZeroDivisionError):
            return None

    def _match(self, where: str, path: Path, sequence: ZSequence, ref: SourceRef, tags: dict[str, str]) -> None:
        meta = sequence.meta
        fix = f"re-render {ref.resource.name} from {path.name} (latentcut render), or point the clip at the right sidecar"
        named = tags.get(SIDECAR_TAG, "")
        same_file = not named or Path(named).name in (path.name, path.name.replace(".z.npy", ".npy"))
        tag_id = tags.get(SIDECAR_ID_TAG) if same_file else None
        tag_sha = tags.get(SIDECAR_SHA256_TAG) if same_file else None
        if tag_sha and meta.id and tag_sha != meta.sha256:
            raise SidecarError(
                f"{where}: {ref.resource.name} was rendered from another version of {path.name} (sha256 differs); {fix}"
            )
        if tag_id and meta.id and tag_id != meta.id:
            raise SidecarError(f"{where}: {ref.resource.name} belongs to sidecar id {tag_id}, not {path.name} ({meta.id}); {fix}")
        media_fps = self._media_fps(dict(ref.props))
        if meta.fps is None:
            raise SidecarError(
                f"{where}: {path.name} has no frame rate and the project does not give the clip's; add its .z.json"
            )
        if media_fps is not None and media_fps != meta.fps:
            raise SidecarError(f"{where}: {ref.resource.name} plays at {media_fps} fps but {path.name} is {meta.fps} fps; {fix}")
        frames = int(tags[FRAMES_TAG]) if tags.get(FRAMES_TAG, "").isdigit() else None
        if frames is None and ref.resource.is_file():
            frames = video_frame_count_and_size(ref.resource)[0] or None
        if frames is not None and frames != meta.frames:
            raise SidecarError(f"{where}: {ref.resource.name} has {frames} frames but {path.name} has {meta.frames}; {fix}")
