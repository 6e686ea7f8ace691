"""The sidecar format: a z-sequence ``<stem>.z.npy`` and its metadata ``<stem>.z.json``, written atomically, loaded with checks.

A z-sequence is a float32 array ``(frames, dim)``, one latent vector per frame. The ``.z.json`` beside
it says what the array is (see ``SidecarMeta``) and the look its pictures have (``latentcut.latent.look``);
its ``sha256`` is the hash of the array's raw little-endian float32 bytes in C order, so it does not
depend on how the ``.npy`` header is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import queue
import threading
import uuid
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from tokenize import TokenError
from typing import Any, Literal

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.errors import SidecarError, UsageError, one_line
from latentcut.files import FileTooLargeError, NotRegularFileError, open_regular, read_regular_bytes
from latentcut.latent.look import Look, LookRun, ModelRef, look_from_json, look_runs_from_json, look_runs_json
from latentcut.timebase import fps_from_text, fps_text
from latentcut.untrusted_json import JsonRefused, parsed_json

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "BareSequenceWarning",
    "ModelRef",  # owned by latentcut.latent.look; here too, where sidecars have always offered it
    "SidecarMeta",
    "ZSequence",
    "array_sha256",
    "cache_dir",
    "link_tags",
    "load_sequence",
    "save_sequence",
    "save_sequence_chunks",
    "sidecar_paths",
]

CACHE_ENV = "LATENTCUT_CACHE_DIR"
_VERIFIED_FILE = "verified-sidecars.json"
_VERIFIED_MAX = 10_000
_VERIFIED_MEMO: dict[str, Any] = {}  # the cache file, read once per process
FORMAT_NAME = "latentcut.z-sequence"
FORMAT_VERSION = 1
_HASH_CHUNK_ROWS = 4096
JSON_MAX_BYTES = 16 << 20  # a .z.json is a few KB; a conform of thousands of clips stays far below this
_JSON_MAX_DEPTH = 32  # latentcut writes 4 levels ("made" -> "sources" -> one source)
_JSON_MAX_INT_DIGITS = 40  # a seed of 128 bits has 39 digits


class BareSequenceWarning(UserWarning):
    """A plain ``.npy`` without ``.z.json`` was given; its metadata comes from elsewhere."""


@dataclass(frozen=True)
class SidecarMeta:
    """What a ``.z.json`` says about its z-sequence."""

    id: str  # random hex id, fixed for the life of the sequence
    sha256: str  # hash of the array bytes (see module docstring)
    frames: int
    dim: int
    fps: Fraction | None  # None only for a bare .npy given without --fps
    look: Look = field(default_factory=Look)  # the model, latent space (z, w, w+), psi ... its pictures have
    seed: int | None = None
    made: Mapping[str, Any] = field(default_factory=dict)  # how: sampled / journey / neighbours / conformed, and its inputs
    look_runs: tuple[LookRun, ...] = ()  # frames using several looks (an explorer chain across snapshots); empty: ``look``

    @property
    def space(self) -> str:
        """``z`` (input latents), ``w`` (StyleGAN intermediate latents) or ``w+`` (one w per layer, dim = num_ws * w_dim)."""
        return self.look.space

    @property
    def model(self) -> ModelRef | None:
        return self.look.model

    def to_json(self, folder: Path | None = None) -> dict[str, Any]:
        """Return the JSON object written to ``.z.json`` in ``folder`` (model files are recorded relative to it)."""
        data = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "id": self.id,
            "sha256": self.sha256,
            "frames": self.frames,
            "dim": self.dim,
            "dtype": "float32",
            "fps": fps_text(self.fps) if self.fps is not None else None,
            "space": self.space,
            "model": self.model.to_json(folder) if self.model else None,
            "seed": self.seed,
            "made": dict(self.made),
        }
        if self.look.settings_json():
            data["look"] = self.look.settings_json()
        if self.look_runs:
            data["look_runs"] = look_runs_json(self.look_runs, folder)
        return data


@dataclass(frozen=True)
class ZSequence:
    """A loaded z-sequence: the latents (possibly memory-mapped, read-only) and their metadata."""

    latents: np.ndarray
    meta: SidecarMeta
    path: Path


def sidecar_paths(path: str | Path) -> tuple[Path, Path]:
    """Return ``(array path, json path)`` for ``clip.z.npy``, ``clip.z.json`` or a bare ``clip.npy``.

    >>> sidecar_paths("a/clip.z.npy")
    (PosixPath('a/clip.z.npy'), PosixPath('a/clip.z.json'))
    """
    p = Path(path)
    name = p.name
    for suffix in (".z.npy", ".z.json", ".w.npy", ".w.json"):
        if name.endswith(suffix):
            stem, kind = name[: -len(suffix)], suffix[:2]  # .w.npy / .w.json: W latents (latentcut map)
            return p.with_name(stem + kind + ".npy"), p.with_name(stem + kind + ".json")
    if name.endswith(".npy"):
        return p, p.with_name(name[:-4] + ".z.json")
    raise SidecarError(f"{p}: not a z-sequence name; use <name>.z.npy (or a plain .npy)")


def array_sha256(latents: np.ndarray) -> str:
    """Return the sha256 of the array's little-endian float32 bytes in C order, reading it in chunks."""
    digest = hashlib.sha256()
    for start in range(0, len(latents), _HASH_CHUNK_ROWS):
        chunk = np.ascontiguousarray(latents[start : start + _HASH_CHUNK_ROWS], dtype="<f4")
        digest.update(chunk.tobytes())
    return digest.hexdigest()


# Container tags that tie a rendered video to the sidecar it was rendered from (MLT: meta.attr.<tag>.markup).
SIDECAR_TAG = "latent_sidecar"
SIDECAR_ID_TAG = "latent_sidecar_id"
SIDECAR_SHA256_TAG = "latent_sidecar_sha256"
FRAMES_TAG = "latent_frames"
DIM_TAG = "latent_dim"  # the latent size, for the MLT module (which reads tags, never the .z.json)
COMMENT_TAG = "comment"  # the same said for a person: editors show it (Kdenlive 22.12 in Clip Properties' file info)


def link_tags(sequence: ZSequence) -> dict[str, str]:
    """Return the container tags that link a video rendered from ``sequence`` back to it, and a comment saying so."""
    meta = sequence.meta
    return {
        SIDECAR_TAG: sequence.path.name,
        SIDECAR_ID_TAG: meta.id,
        SIDECAR_SHA256_TAG: meta.sha256,
        FRAMES_TAG: str(meta.frames),
        DIM_TAG: str(meta.dim),
        COMMENT_TAG: f"latents: {sequence.path.name}, {meta.frames} frames of {meta.dim}, sha256 {meta.sha256}, id {meta.id}",
    }


def cache_dir() -> Path:
    """Where latentcut keeps caches: ``$LATENTCUT_CACHE_DIR``, else ``$XDG_CACHE_HOME/latentcut``, else ``~/.cache/latentcut``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "latentcut"


def _stat_key(path: Path) -> str:
    # ctime too: an in-place edit that restores the mtime (touch -d, os.utime) still changes the ctime.
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"


def _verified() -> dict[str, str]:
    path = cache_dir() / _VERIFIED_FILE
    if _VERIFIED_MEMO.get("path") != path:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        _VERIFIED_MEMO.update(path=path, entries=data if isinstance(data, dict) else {})
    return _VERIFIED_MEMO["entries"]


def _already_verified(path: Path, sha256: str) -> bool:
    """True if this exact file (same size, mtime, ctime and inode) was checked before and had this sha256."""
    try:
        return _verified().get(str(path.resolve())) == f"{_stat_key(path)}:{sha256}"
    except OSError:
        return False


def _remember_verified(path: Path, sha256: str) -> None:
    # Best effort: a cache that cannot be written only costs the next load a re-check.
    try:
        entries = _verified()
        entries[str(path.resolve())] = f"{_stat_key(path)}:{sha256}"
        entries = dict(list(entries.items())[-_VERIFIED_MAX:])
        with atomic_path(cache_dir() / _VERIFIED_FILE) as tmp:
            tmp.write_text(json.dumps(entries), encoding="utf-8")
    except OSError:
        return


def _check_latents(latents: np.ndarray, where: Path, first_frame: int = 0) -> None:
    if latents.ndim != 2 or latents.shape[0] == 0 or latents.shape[1] == 0:
        raise SidecarError(f"{where}: shape {latents.shape} is not (frames, dim) with frames, dim > 0")
    if latents.dtype != np.float32:
        raise SidecarError(f"{where}: dtype {latents.dtype} is not float32; convert it with np.asarray(a, np.float32)")
    bad = _first_non_finite_row(latents)
    if bad is not None:
        raise SidecarError(f"{where}: frame {first_frame + bad} holds NaN or infinity; replace or cut that frame")


def _first_non_finite_row(latents: np.ndarray) -> int | None:
    for start in range(0, len(latents), _HASH_CHUNK_ROWS):
        rows = np.isfinite(latents[start : start + _HASH_CHUNK_ROWS]).all(axis=1)
        if not rows.all():
            return start + int(np.argmin(rows))
    return None


def save_sequence(
    path: str | Path,
    latents: np.ndarray,
    *,
    fps: Fraction,
    space: str | None = None,
    model: ModelRef | None = None,
    seed: int | None = None,
    made: Mapping[str, Any] | None = None,
    sequence_id: str | None = None,
    look: Look | None = None,
    look_runs: tuple[LookRun, ...] = (),
) -> SidecarMeta:
    """Write ``latents`` to ``path`` (``.z.npy``) and its ``.z.json``, each atomically; return the metadata.

    The look recorded is ``look`` (default: none chosen) with ``space`` and ``model``, where given, in
    place of its own. ``w+`` latents may be given as ``(frames, num_ws, w_dim)``: the file keeps that
    shape, the json's ``dim`` is ``num_ws * w_dim``, and ``load_sequence`` returns them one flat row per frame.
    """
    latents = np.asarray(latents)
    array_path = sidecar_paths(path)[0]
    frame_shape = None
    if latents.ndim == 3 and (space or (look.space if look else "z")) == "w+":
        frame_shape = latents.shape[1:]
        latents = latents.reshape(len(latents), -1)
    if latents.ndim != 2:
        _check_latents(latents, array_path)
    chunks = (latents[start : start + _HASH_CHUNK_ROWS] for start in range(0, len(latents), _HASH_CHUNK_ROWS))
    return save_sequence_chunks(
        path,
        chunks,
        frames=len(latents),
        dim=latents.shape[1],
        fps=fps,
        space=space,
        model=model,
        seed=seed,
        made=made,
        sequence_id=sequence_id,
        frame_shape=frame_shape,
        look=look,
        look_runs=look_runs,
    )


class _ChunkWriter:
    """Hashes and writes chunks in a second thread while the caller makes the next one (both release the GIL)."""

    _JOIN_TIMEOUT_S = 600.0

    def __init__(self, handle: Any, digest: Any) -> None:
        self._handle, self._digest = handle, digest
        self._chunks: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="latentcut-write", daemon=True)

    def _run(self) -> None:
        while (chunk := self._chunks.get()) is not None:
            if self._error is None:
                try:
                    self._digest.update(chunk.data)
                    self._handle.write(chunk.data)
                except BaseException as exc:  # handed to the producing thread, which re-raises it
                    self._error = exc

    def __enter__(self) -> _ChunkWriter:
        self._thread.start()
        return self

    def put(self, chunk: np.ndarray) -> None:
        if self._error is not None:
            raise self._error
        self._chunks.put(chunk)

    def __exit__(self, *exc: object) -> None:
        self._chunks.put(None)
        self._thread.join(self._JOIN_TIMEOUT_S)
        if self._error is not None and exc[0] is None:
            raise self._error


def save_sequence_chunks(
    path: str | Path,
    chunks: Iterable[np.ndarray],
    *,
    frames: int,
    dim: int,
    fps: Fraction,
    space: str | None = None,
    model: ModelRef | None = None,
    seed: int | None = None,
    made: Mapping[str, Any] | None = None,
    sequence_id: str | None = None,
    id_from_content: str | None = None,
    frame_shape: tuple[int, ...] | None = None,
    look: Look | None = None,
    look_runs: tuple[LookRun, ...] = (),
) -> SidecarMeta:
    """Write a z-sequence given as consecutive row chunks, without holding it whole; return the metadata.

    The array is written first and the json second, each under a temporary name renamed into place,
    so a crash in between leaves a json that does not match (``load_sequence`` says so), never a json
    describing an array that is not there. With ``id_from_content`` the id is derived from that text
    and the array's hash, so the same input always gives byte-identical files.
    """
    array_path, json_path = sidecar_paths(path)
    if not array_path.name.endswith((".z.npy", ".w.npy")):
        raise SidecarError(
            f"{array_path}: sidecars are written as <name>.z.npy (or <name>.w.npy for W latents); choose such a name"
        )
    if space is not None and space not in ("z", "w", "w+"):
        raise SidecarError(f"{array_path}: latent space {space!r} is not 'z', 'w' or 'w+'")
    look = look or Look()
    look = dataclasses.replace(look, space=space or look.space, model=model or look.model)
    if look_runs and (look_runs[0].start != 0 or look_runs[-1].start >= frames):
        raise SidecarError(
            f"{array_path}: look runs from frame {look_runs[0].start} to {look_runs[-1].start} do not fit {frames} frames"
        )
    if frame_shape is not None and math.prod(frame_shape) != dim:
        raise SidecarError(f"{array_path}: frame shape {frame_shape} does not hold {dim} values")
    if frames < 1 or dim < 1:
        raise SidecarError(f"{array_path}: shape ({frames}, {dim}) is not (frames, dim) with frames, dim > 0")
    digest = hashlib.sha256()
    try:
        with atomic_path(array_path) as tmp, tmp.open("wb") as handle:
            # Written as plain file writes, chunk by chunk: the whole array is never in memory, nor mapped.
            shape = (frames, *frame_shape) if frame_shape is not None else (frames, dim)
            np.lib.format.write_array_header_1_0(handle, {"descr": "<f4", "fortran_order": False, "shape": shape})
            with _ChunkWriter(handle, digest) as writer:
                written = 0
                for chunk in chunks:
                    chunk = np.asarray(chunk)
                    if chunk.ndim != 2 or chunk.shape[1] != dim:
                        raise SidecarError(f"{array_path}: a chunk of shape {chunk.shape} does not fit ({frames}, {dim})")
                    _check_latents(chunk, array_path, first_frame=written)
                    writer.put(np.ascontiguousarray(chunk, dtype="<f4"))
                    written += len(chunk)
            if written != frames:
                raise SidecarError(f"{array_path}: {written} frames were produced for {frames} announced")
        sha256 = digest.hexdigest()
        if id_from_content is not None:
            sequence_id = hashlib.sha256(f"{id_from_content}\n{sha256}".encode()).hexdigest()[:32]
        meta = SidecarMeta(
            id=sequence_id or uuid.uuid4().hex,
            sha256=sha256,
            frames=frames,
            dim=dim,
            fps=fps,
            look=look,
            seed=seed,
            made=dict(made or {}),
            look_runs=tuple(look_runs),
        )
        with atomic_path(json_path) as tmp:
            tmp.write_text(
                json.dumps(meta.to_json(json_path.parent.absolute()), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
    except OSError as exc:
        raise SidecarError(f"{array_path}: cannot write ({exc.strerror or exc}); choose a writable folder") from exc
    return meta


def _meta_from_json(data: Any, json_path: Path) -> SidecarMeta:
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise SidecarError(f'{json_path}: not a latentcut sidecar (no "format": "{FORMAT_NAME}")')
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise SidecarError(
            f"{json_path}: sidecar version {one_line(repr(version))} is newer than this latentcut reads; upgrade it"
        )
    folder = json_path.parent.absolute()
    try:
        frames = int(data["frames"])
        return SidecarMeta(
            id=str(data["id"]),
            sha256=str(data["sha256"]),
            frames=frames,
            dim=int(data["dim"]),
            fps=fps_from_text(data["fps"]) if data.get("fps") else None,
            look=look_from_json(data, folder),
            seed=int(data["seed"]) if data.get("seed") is not None else None,
            made=dict(data.get("made") or {}),
            look_runs=look_runs_from_json(data.get("look_runs"), folder, frames),
        )
    except (KeyError, TypeError, ValueError, OverflowError, UsageError) as exc:
        raise SidecarError(f"{json_path}: a field is missing or malformed ({one_line(exc)}); re-create the sidecar") from exc


def _read_array(array_path: Path, mmap: bool) -> np.ndarray:
    """Read (or memory-map) the ``.npy`` at ``array_path``, a regular file whose header fits its real size."""
    try:
        with open_regular(array_path) as handle:
            version = np.lib.format.read_magic(handle)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(handle)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(handle)
            else:
                raise ValueError(f"npy format version {version} is not 1.0 or 2.0")
            if dtype.hasobject:
                raise ValueError("it holds Python objects, not numbers")
            offset = handle.tell()
            needed = offset + math.prod(shape) * dtype.itemsize
            actual = os.fstat(handle.fileno()).st_size
            if actual < needed:
                raise SidecarError(
                    f"{array_path}: its header says {'x'.join(map(str, shape))} {dtype} ({needed:,} bytes) but the file "
                    f"has {actual:,} bytes; it is truncated or forged; re-create it"
                )
            if mmap and math.prod(shape) > 0:
                order: Literal["C", "F"] = "F" if fortran_order else "C"
                # Mapped through the descriptor already checked to be a regular file, never reopened by name.
                return np.memmap(handle, dtype=dtype, mode="r", offset=offset, shape=shape, order=order)
            handle.seek(0)
            return np.lib.format.read_array(handle, allow_pickle=False)
    except FileNotFoundError as exc:
        raise SidecarError(f"{array_path}: z-sequence not found; check the path or re-render its sidecar") from exc
    except NotRegularFileError as exc:
        raise SidecarError(f"{array_path}: {exc.strerror}") from exc
    # numpy parses a header with ast and tokenize: a forged one raises any of these.
    except (OSError, ValueError, EOFError, SyntaxError, TokenError, TypeError, KeyError, MemoryError, RecursionError) as exc:
        raise SidecarError(f"{array_path}: not a readable .npy array ({one_line(exc)}); re-create it") from exc


def _read_json_bytes(json_path: Path) -> bytes | None:
    """The ``.z.json`` beside a z-sequence, or None if there is none; refused if not a regular file or too large."""
    try:
        return read_regular_bytes(json_path, JSON_MAX_BYTES)
    except FileNotFoundError:
        return None
    except FileTooLargeError as exc:
        raise SidecarError(f"{json_path}: {exc.strerror} (a sidecar's metadata); re-create the sidecar") from exc
    except NotRegularFileError as exc:
        raise SidecarError(f"{json_path}: {exc.strerror}") from exc
    except OSError as exc:
        raise SidecarError(f"{json_path}: not readable ({exc.strerror or exc}); check its permissions") from exc


def load_sequence(
    path: str | Path,
    *,
    mmap: bool = False,
    verify_hash: bool = True,
    fps: Fraction | None = None,
) -> ZSequence:
    """Load and check a z-sequence: shape, dtype, finite values, and agreement with its ``.z.json``.

    A bare ``.npy`` (no ``.z.json``) is accepted with a ``BareSequenceWarning``; ``fps`` then fills in
    the frame rate. With ``mmap`` the array is memory-mapped read-only instead of read whole.
    A file that passed these checks before, unchanged since (same size, mtime, ctime and inode), is not
    read again: the cache of verified sidecars lives in ``cache_dir()``.
    """
    array_path, json_path = sidecar_paths(path)
    latents = _read_array(array_path, mmap)
    plus = (
        latents.ndim == 3 and 0 not in latents.shape
    )  # w+ latents (frames, num_ws, w_dim): one flat row per frame, as every latent tool takes them
    if plus:
        latents = latents.reshape(len(latents), -1)
    if latents.ndim != 2 or latents.dtype != np.float32:
        _check_latents(latents, array_path)
    json_bytes = _read_json_bytes(json_path)
    if json_bytes is None:
        _check_latents(latents, array_path)
        warnings.warn(
            f"{array_path}: no {json_path.name} beside it; model, seed and fps are unknown "
            f"(fps {'from the command line' if fps else 'not set'})",
            BareSequenceWarning,
            stacklevel=2,
        )
        digest = array_sha256(latents) if verify_hash else ""
        space = "w+" if plus else "z"
        meta = SidecarMeta(
            id="", sha256=digest, frames=len(latents), dim=latents.shape[1], fps=fps, look=Look(space=space), made={"how": "bare"}
        )
        return ZSequence(latents, meta, array_path)
    try:
        data = parsed_json(json_bytes, max_depth=_JSON_MAX_DEPTH, max_int_digits=_JSON_MAX_INT_DIGITS)
    except JsonRefused as exc:
        raise SidecarError(f"{json_path}: {exc}; re-create the sidecar") from exc
    meta = _meta_from_json(data, json_path)
    if plus and meta.space != "w+":
        raise SidecarError(
            f"{array_path}: a 3-D array is w+ latents, but {json_path.name} says space {meta.space!r}; re-create the sidecar"
        )
    if (meta.frames, meta.dim) != latents.shape:
        raise SidecarError(
            f"{array_path}: array is {latents.shape[0]}x{latents.shape[1]} but {json_path.name} says "
            f"{meta.frames}x{meta.dim}; the two files do not belong together"
        )
    if verify_hash and _already_verified(array_path, meta.sha256):
        return ZSequence(latents, meta, array_path)
    _check_latents(latents, array_path)
    if verify_hash and array_sha256(latents) != meta.sha256:
        raise SidecarError(
            f"{array_path}: contents do not match the sha256 in {json_path.name}; the array was changed "
            "after it was written; restore it or re-save it with latentcut"
        )
    if verify_hash:
        _remember_verified(array_path, meta.sha256)
    return ZSequence(latents, meta, array_path)
