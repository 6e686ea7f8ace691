"""Turning a frame map into latents: gathering source rows (memory-mapped), blending them, holding gaps, recording provenance."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from latentcut.atomic import atomic_path
from latentcut.errors import ConformError, SidecarError
from latentcut.latent.curation import Origin
from latentcut.latent.interpolation import slerp_rows
from latentcut.latent.sidecar import ZSequence, load_sequence, sidecar_paths
from latentcut.timeline.model import BLACK, NONE, OPAQUE, FrameMap

__all__ = [
    "BLENDS",
    "GAP_POLICIES",
    "Conformed",
    "PixelBlend",
    "conformed",
    "latent_chunks",
    "partner_path",
    "pixel_blend",
    "pixel_weight",
    "write_provenance",
]

BLENDS = ("slerp", "lerp", "pixel")  # pixel: both pictures kept, the renderer cross-fades the decoded images
GAP_POLICIES = ("black", "hold", "error")
CHUNK_FRAMES = 8192


@dataclass(frozen=True)
class Conformed:
    """The per-frame result of a conform, before latents are gathered."""

    map: FrameMap
    source: np.ndarray  # (frames, K) source index, or -1 (none / black): the terms whose latents blend
    frame: np.ndarray  # (frames, K) source frame
    weight: np.ndarray  # (frames, K) float64 latent weights, normalised to sum 1 per frame
    opacity: np.ndarray  # (frames,) float32: how much of the picture the latents make; the rest is black
    gap: np.ndarray  # (frames,) bool: no latent source here; latents held from ``held_from``
    held_from: np.ndarray  # (frames,) int64: the frame a gap copies its latent from, -1 elsewhere
    fraction: np.ndarray | None = None  # (frames, K): slow motion placed between source frames, else None


def _runs_text(mask: np.ndarray, limit: int = 6) -> str:
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    parts = [f"{s}" if e - s == 1 else f"{s}-{e - 1}" for s, e in zip(starts[:limit], ends[:limit], strict=True)]
    return ", ".join(parts) + (f" and {len(starts) - limit} more" if len(starts) > limit else "")


def conformed(frame_map: FrameMap, *, gaps: str = "black") -> Conformed:
    """Return the latent terms of every frame, with gaps filled by the declared policy.

    black: a gap shows black (opacity 0) and holds the latent of the nearest latent frame before it
    (after it, at the start) so the array stays continuous; hold: the same latent, shown (opacity 1);
    error: refuse, naming the gap frames.
    """
    if gaps not in GAP_POLICIES:
        raise ConformError(f"gap policy {gaps!r} is not one of {', '.join(GAP_POLICIES)}")
    latent = frame_map.source >= 0
    weight = np.where(latent, frame_map.weight.astype(np.float64), 0.0)
    total = weight.sum(axis=1)
    gap: np.ndarray = np.asarray(~latent.any(axis=1))
    # A frame faded fully to black keeps its latents; with every weight 0, its first latent term stands for it.
    faded_out = ~gap & (total <= 0)
    weight[faded_out] = np.where(np.cumsum(latent[faded_out], axis=1) == 1, latent[faded_out], False)
    total = np.where(faded_out, 1.0, total)
    if gap.all():
        raise ConformError("no frame of the timeline comes from a clip with a sidecar; nothing to conform")
    if gaps == "error" and gap.any():
        raise ConformError(
            f"frames {_runs_text(gap)} have no latent source (gaps, titles, colour clips, footage); "
            "use --gaps black or --gaps hold to fill them"
        )
    frames = np.arange(len(gap))
    anchor = np.where(~gap, frames, -1)
    before = np.maximum.accumulate(anchor)
    after = np.minimum.accumulate(np.where(~gap, frames, len(gap))[::-1])[::-1]
    held_from = np.where(gap, np.where(before >= 0, before, after), -1)
    rows = np.where(gap, held_from, frames)
    source = np.where(latent, frame_map.source, NONE)[rows]
    norm_weight = (weight / np.where(total > 0, total, 1.0)[:, None])[rows]
    opacity = np.where(gap, 1.0 if gaps == "hold" else 0.0, np.where(faded_out, 0.0, np.clip(total, 0.0, 1.0))).astype(np.float32)
    fraction = None if frame_map.frame_fraction is None else frame_map.frame_fraction[rows].astype(np.float64)
    return Conformed(frame_map, source, frame_map.frame[rows], norm_weight, opacity, gap, held_from.astype(np.int64), fraction)


def _gathered(
    source: np.ndarray, frame: np.ndarray, sequences: Sequence[ZSequence], dim: int, fraction: np.ndarray | None = None
) -> np.ndarray:
    out = np.zeros((len(source), dim), np.float32)
    for index in np.unique(source[source >= 0]).tolist():
        rows = np.nonzero(source == index)[0]
        latents = sequences[index].latents
        out[rows] = latents[frame[rows]]
        if fraction is not None:
            between = rows[fraction[rows] > 0]
            if len(between):
                following = np.minimum(frame[between] + 1, len(latents) - 1)
                out[between] = slerp_rows(out[between], np.asarray(latents[following], np.float32), fraction[between])
    return out


def _folded(
    src: np.ndarray,
    frm: np.ndarray,
    wgt: np.ndarray,
    frac: np.ndarray | None,
    sequences: Sequence[ZSequence],
    dim: int,
    blend: str,
) -> np.ndarray:
    """Blend the terms of each row in order: ``z = term0``, then ``z = blend(z, term_k, w_k / (w_0 + ... + w_k))``."""
    latents = _gathered(src[:, 0], frm[:, 0], sequences, dim, None if frac is None else frac[:, 0])
    accumulated = wgt[:, 0].copy()
    for k in range(1, src.shape[1]):
        present = np.nonzero(src[:, k] >= 0)[0]
        if not len(present):
            continue
        term = _gathered(src[present, k], frm[present, k], sequences, dim, None if frac is None else frac[present, k])
        share = wgt[present, k] / np.maximum(accumulated[present] + wgt[present, k], 1e-12)
        if blend == "slerp":
            latents[present] = slerp_rows(latents[present], term, share)
        else:
            latents[present] = (1.0 - share)[:, None] * latents[present] + share[:, None] * term
        accumulated[present] += wgt[present, k]
    return latents


def pixel_weight(result: Conformed) -> np.ndarray:
    """Per frame, the weight of the partner picture a pixel blend cross-fades in (0 where there is one latent term)."""
    partner = np.where(result.source[:, 1:] >= 0, result.weight[:, 1:], 0.0).sum(axis=1) if result.source.shape[1] > 1 else None
    return np.zeros(len(result.source), np.float32) if partner is None else np.clip(partner, 0.0, 1.0).astype(np.float32)


def latent_chunks(
    result: Conformed,
    sequences: Sequence[ZSequence],
    *,
    blend: str = "slerp",
    chunk_frames: int = CHUNK_FRAMES,
    part: str = "all",
) -> Iterator[np.ndarray]:
    """Yield the conformed latents in consecutive chunks of rows (float32), reading only the source rows used.

    Several terms blend in order: ``z = term0``, then ``z = blend(z, term_k, w_k / (w_0 + ... + w_k))``,
    which for two terms is exactly ``blend(z0, z1, w1)``, MLT's weight for the incoming picture.
    With ``blend`` "pixel" the terms stay apart: ``part`` "all" or "first" yields the first term,
    "partner" the others (slerped together); a renderer cross-fades the two pictures by ``pixel_weight``.
    """
    if blend not in BLENDS:
        raise ConformError(f"blend {blend!r} is not one of {', '.join(BLENDS)}")
    dims = {sequence.meta.dim for sequence in sequences}
    if len(dims) != 1:
        names = ", ".join(f"{s.path.name} ({s.meta.dim})" for s in sequences)
        raise ConformError(f"the clips' sidecars have different latent sizes: {names}; one timeline needs one model")
    dim = dims.pop()
    for start in range(0, len(result.source), chunk_frames):
        rows = slice(start, start + chunk_frames)
        src, frm, wgt = result.source[rows], result.frame[rows], result.weight[rows]
        frac = None if result.fraction is None else result.fraction[rows]
        if blend != "pixel":
            yield _folded(src, frm, wgt, frac, sequences, dim, blend)
        elif part != "partner" or src.shape[1] == 1:
            yield _gathered(src[:, 0], frm[:, 0], sequences, dim, None if frac is None else frac[:, 0])
        else:
            rest = src[:, 1:]
            alone = rest[:, 0] < 0  # one latent term: the partner is the picture itself, at weight 0
            rest_src = np.where(alone[:, None], np.where(np.arange(rest.shape[1]) == 0, src[:, :1], NONE), rest)
            rest_frm = np.where(alone[:, None], frm[:, :1], frm[:, 1:])
            rest_wgt = np.where(alone[:, None], 1.0, wgt[:, 1:])
            rest_frac = None if frac is None else np.where(alone[:, None], frac[:, :1], frac[:, 1:])
            yield _folded(rest_src, rest_frm, rest_wgt, rest_frac, sequences, dim, "slerp")


def partner_path(output: Path) -> Path:
    """``cut.z.npy`` -> ``cut.partner.z.npy``: the second picture of a ``--blend pixel`` conform."""
    array = sidecar_paths(output)[0]
    return array.with_name(array.name[: -len(".z.npy")] + ".partner.z.npy")


@dataclass(frozen=True)
class PixelBlend:
    """What a renderer needs to cross-fade as MLT does: the partner latent of every frame and its weight."""

    partner: np.ndarray  # (frames, dim) float32, possibly memory-mapped
    weight: np.ndarray  # (frames,) float32: picture = (1 - weight) * render(z) + weight * render(partner)


def pixel_blend(sequence: ZSequence) -> PixelBlend | None:
    """The pixel blend recorded with a conformed sequence (``--blend pixel``), or None for a latent blend."""
    made = sequence.meta.made or {}
    if made.get("blend") != "pixel":
        return None
    partner = load_sequence(partner_path(sequence.path), mmap=True)
    provenance = sequence.path.with_name(sequence.path.name[: -len(".z.npy")] + ".provenance.npz")
    try:
        with np.load(provenance, allow_pickle=False) as archive:
            weight = np.asarray(archive["pixel_weight"], np.float32)
    except (OSError, KeyError, ValueError) as exc:
        raise SidecarError(
            f"{provenance}: cannot read the pixel blend weights ({exc}); conform again with --blend pixel"
        ) from exc
    if not (len(weight) == len(partner.latents) == len(sequence.latents)):
        raise SidecarError(f"{sequence.path}: its partner and weights do not have {len(sequence.latents)} frames; conform again")
    return PixelBlend(partner.latents, weight)


def write_provenance(path: Path, result: Conformed, sequences: Sequence[ZSequence], origin: Origin | None = None) -> None:
    """Write ``<out>.provenance.npz`` atomically and byte-for-byte reproducibly (fixed zip timestamps, no pickle).

    Arrays: ``sidecar_id``, ``sidecar_path``, ``media`` (per source); per frame and term ``source`` (index,
    -1 none, -2 black, -3 another picture with no latent), ``source_frame``, ``weight`` (MLT's weight, black included); per frame ``opacity``,
    ``gap``, ``held_from``; and ``blend_partner``/``partner_frame``/``partner_weight``, the second term; ``pixel_weight``, the
    partner's share for a pixel blend; the pixel-only compositions MLT draws (``composite_service``/``_geometry``/``_luma``,
    per frame ``composite`` (index, -1 none) and ``composite_progress``); with ``origin``, ``pool_id``, ``pool_sidecar``
    and per frame ``pool_frame``, the pool number of the frame shown (-1 none).
    """
    fmap = result.map
    arrays = {
        "sidecar_id": np.array([s.meta.id for s in sequences], dtype=str),
        "sidecar_path": np.array([str(s.path) for s in sequences], dtype=str),
        "media": np.array([str(ref.resource) for ref in fmap.sources], dtype=str),
        "source": fmap.source.astype(np.int32),
        "source_frame": fmap.frame.astype(np.int64),
        "weight": fmap.weight.astype(np.float32),
        "opacity": result.opacity,
        "gap": result.gap,
        "held_from": result.held_from,
        "blend_partner": (result.source[:, 1] if result.source.shape[1] > 1 else np.full(len(result.source), NONE)).astype(
            np.int32
        ),
        "partner_frame": (result.frame[:, 1] if result.frame.shape[1] > 1 else np.zeros(len(result.frame))).astype(np.int64),
        "partner_weight": (result.weight[:, 1] if result.weight.shape[1] > 1 else np.zeros(len(result.weight))).astype(
            np.float32
        ),
        "black": np.int32(BLACK),
        "opaque": np.int32(OPAQUE),
        "pixel_only": fmap.pixel_only if fmap.pixel_only is not None else np.zeros(len(result.gap), bool),
        "pixel_weight": pixel_weight(result),
        "composite": fmap.composite if fmap.composite is not None else np.full(len(result.gap), -1, np.int32),
        "composite_progress": fmap.progress if fmap.progress is not None else np.zeros(len(result.gap), np.float32),
        "composite_service": np.array([c.service for c in fmap.composites], dtype=str),
        "composite_geometry": np.array([c.geometry for c in fmap.composites], dtype=str),
        "composite_luma": np.array([c.luma for c in fmap.composites], dtype=str),
    }
    if origin is not None:
        arrays.update(pool_id=np.array(origin.pool_id), pool_sidecar=np.array(origin.pool_sidecar), pool_frame=origin.frames)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue())
