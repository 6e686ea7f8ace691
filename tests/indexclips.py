"""Test media whose every frame shows which clip it is and its own frame index, and the melt render that reads them back.

A frame is an 8 x 6 grid of 8 x 8 pixel blocks, black or white: 16 bits of the frame index, 8 bits of
the clip id, the 16 bits of the index inverted (so that neighbouring frames differ in many blocks),
and 8 bits of a per-clip pattern. FFV1 and lossless H.264 keep the blocks exact; melt's colour
conversions move a block by a few levels at most, a wrong frame or clip by 255 in several blocks.
"""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.latent.sidecar import save_sequence
from latentcut.render.encode import Encoding, VideoWriter
from latentcut.timeline.frames import BLACK

WIDTH, HEIGHT, BLOCK = 64, 48, 8
COLUMNS, ROWS = WIDTH // BLOCK, HEIGHT // BLOCK
MELT_TIMEOUT_S = 300
_LOSSLESS = {
    ".mkv": Encoding("ffv1", "ffv1", "gbrp", ("-level", "3", "-g", "1")),
    ".mp4": Encoding("h264", "libx264rgb", "rgb24", ("-qp", "0", "-g", "1", "-bf", "0")),
    ".mov": Encoding("h264", "libx264rgb", "rgb24", ("-qp", "0", "-g", "1", "-bf", "0")),
}


def frame_bits(clip_id: int, index: int) -> np.ndarray:
    bits = [(index >> b) & 1 for b in range(16)] + [(clip_id >> b) & 1 for b in range(8)]
    bits += [1 - ((index >> b) & 1) for b in range(16)] + [((clip_id * 37 + 11) >> b) & 1 for b in range(8)]
    return np.array(bits, bool)


def clip_frames(clip_id: int, frames: int) -> np.ndarray:
    out = np.empty((frames, HEIGHT, WIDTH, 3), np.uint8)
    for index in range(frames):
        grid = frame_bits(clip_id, index).reshape(ROWS, COLUMNS).repeat(BLOCK, 0).repeat(BLOCK, 1)
        out[index] = (grid * 255)[..., None]
    return out


def write_index_clip(
    video: Path, clip_id: int, frames: int, fps: Fraction, *, sidecar: Path | None = None, tags: dict[str, str] | None = None
) -> np.ndarray:
    """Write ``video`` (lossless) and its sidecar (``<stem>.z.npy`` unless named): z[i] = (clip_id, i, 1, 0)."""
    pixels = clip_frames(clip_id, frames)
    video.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(video, (WIDTH, HEIGHT), fps, _LOSSLESS[video.suffix], tags=tags) as writer:
        writer.write(pixels)
    latents = np.zeros((frames, 4), np.float32)
    latents[:, 0], latents[:, 1], latents[:, 2] = clip_id, np.arange(frames), 1.0
    save_sequence(sidecar or video.with_name(video.stem + ".z.npy"), latents, fps=fps, made={"how": "test index clip"})
    return pixels


def block_centres(frames: np.ndarray) -> np.ndarray:
    """The mean of the 4 x 4 centre of every block: (n, ROWS, COLUMNS) float, robust to chroma subsampling."""
    n = len(frames)
    luma = frames.astype(np.float64).mean(axis=3).reshape(n, ROWS, BLOCK, COLUMNS, BLOCK)
    return luma[:, :, 2:6, :, 2:6].mean(axis=(2, 4))


def melt_frames(project: Path, frames: int) -> np.ndarray:
    """Render the first ``frames`` frames of ``project`` with the real melt (lossless) and decode them."""
    out = project.with_suffix(".melt.mkv")
    subprocess.run(
        [
            "melt",
            str(project),
            "in=0",
            f"out={frames - 1}",
            "-consumer",
            f"avformat:{out}",
            "vcodec=ffv1",
            "pix_fmt=bgr0",
            "an=1",
            "real_time=-1",
            "terminate_on_pause=1",
        ],
        check=True,
        capture_output=True,
        timeout=MELT_TIMEOUT_S,
        cwd=project.parent,
    )
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(out), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
        timeout=MELT_TIMEOUT_S,
    ).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, HEIGHT, WIDTH, 3)


def predicted_centres(frame_map, media_pixels: dict[str, np.ndarray]) -> np.ndarray:
    """What melt must show, from the conform's terms: the weighted sum of the named source frames (black = 0)."""
    out = np.zeros((frame_map.length, ROWS, COLUMNS))
    centres = {key: block_centres(pixels) for key, pixels in media_pixels.items()}
    for k in range(frame_map.source.shape[1]):
        for index, ref in enumerate(frame_map.sources):
            rows = np.nonzero(frame_map.source[:, k] == index)[0]
            out[rows] += frame_map.weight[rows, k, None, None] * centres[str(ref.resource)][frame_map.frame[rows, k]]
    assert not (frame_map.source == BLACK).all()
    return out


def mismatches(frame_map, media_pixels: dict[str, np.ndarray], rendered: np.ndarray, tolerance: float = 10.0) -> list[str]:
    """Frames where melt's picture differs from the conform's prediction, described for an assertion message."""
    expected = predicted_centres(frame_map, media_pixels)
    seen = block_centres(rendered[: frame_map.length])
    if len(seen) != frame_map.length:
        return [f"melt rendered {len(seen)} frames, the conform {frame_map.length}"]
    error = np.abs(seen - expected).max(axis=(1, 2))
    bad = np.nonzero(error > tolerance)[0]
    return [
        f"frame {i}: max block error {error[i]:.0f}; conform terms {list(zip(frame_map.source[i].tolist(), frame_map.frame[i].tolist(), np.round(frame_map.weight[i], 3).tolist(), strict=True))}"
        for i in bad[:8]
    ] + ([f"... {len(bad)} frames in all"] if len(bad) > 8 else [])
