"""Test media whose every frame shows which clip it is and its own frame index, and the melt render that reads them back.

A frame is an 8 x 6 grid of 8 x 8 pixel blocks, black or white: 16 bits of the frame index, 8 bits of
the clip id, the 16 bits of the index inverted (so that neighbouring frames differ in many blocks),
and 8 bits of a per-clip pattern. FFV1 and lossless H.264 keep the blocks exact; melt's colour
conversions move a block by a few levels at most, a wrong frame or clip by 255 in several blocks.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from latentcut.latent.sidecar import save_sequence
from latentcut.programs import on_a_display, run_melt, run_program
from latentcut.render.encode import Encoding, VideoWriter

WIDTH, HEIGHT, BLOCK = 64, 48, 8
COLUMNS, ROWS = WIDTH // BLOCK, HEIGHT // BLOCK
MELT_TIMEOUT_S = 300
DECODE_STALL_S = 60.0  # ffmpeg decoding to its output file writes every frame as it goes
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
    index = np.arange(frames)[:, None]
    low, pattern = np.arange(16), np.arange(8)
    bits = np.concatenate(
        [
            (index >> low) & 1,
            np.broadcast_to((clip_id >> pattern) & 1, (frames, 8)),
            1 - ((index >> low) & 1),
            np.broadcast_to(((clip_id * 37 + 11) >> pattern) & 1, (frames, 8)),
        ],
        axis=1,
    )  # frame_bits of every frame at once
    grid = bits.astype(np.uint8).reshape(frames, ROWS, COLUMNS).repeat(BLOCK, 1).repeat(BLOCK, 2) * 255
    return np.repeat(grid[..., None], 3, axis=3)


def write_index_clip(
    video: Path, clip_id: int, frames: int, fps: Fraction, *, sidecar: Path | None = None, tags: dict[str, str] | None = None
) -> np.ndarray:
    """Write ``video`` (lossless) and its sidecar (``<stem>.z.npy`` unless named): z[i] = (clip_id, i, 1, 0)."""
    pixels = clip_frames(clip_id, frames)
    video.parent.mkdir(parents=True, exist_ok=True)
    with VideoWriter(video, (WIDTH, HEIGHT), fps, _LOSSLESS[video.suffix.lower()], tags=tags) as writer:
        writer.write(pixels)
    latents = np.zeros((frames, 4), np.float32)
    latents[:, 0], latents[:, 1], latents[:, 2] = clip_id, np.arange(frames), 1.0
    save_sequence(sidecar or video.with_name(video.stem + ".z.npy"), latents, fps=fps, made={"how": "test index clip"})
    return pixels


def block_centres(frames: np.ndarray) -> np.ndarray:
    """The mean of the 4 x 4 centre of every block: (n, ROWS, COLUMNS) float, robust to chroma subsampling."""
    centres = frames.reshape(len(frames), ROWS, BLOCK, COLUMNS, BLOCK, 3)[:, :, 2:6, :, 2:6]
    return centres.mean(axis=(2, 4, 5), dtype=np.float64)  # no float copy of whole frames: long clips have thousands


def profile_file(project: Path) -> Path:
    """Write the project's own ``<profile>`` as an MLT profile file (melt's default consumer would run at 25 fps)."""
    from lxml import etree

    root = etree.parse(str(project), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    profile = root.find("profile")
    keys = (
        "width",
        "height",
        "progressive",
        "sample_aspect_num",
        "sample_aspect_den",
        "display_aspect_num",
        "display_aspect_den",
    )
    lines = ["description=project"] + [
        f"{k}={profile.get(k)}" for k in (*keys, "frame_rate_num", "frame_rate_den") if profile.get(k)
    ]
    lines.append(f"colorspace={profile.get('colorspace') or 709}")
    path = project.with_suffix(".profile")
    path.write_text("\n".join(lines) + "\n")
    return path


def melt_frames(project: Path, frames: int, *, env: dict[str, str] | None = None, qt: bool = False) -> np.ndarray:
    """Render the first ``frames`` frames of ``project`` with the real melt (lossless) in the project's profile, and decode them.

    ``qt``: the project uses Qt services (``qtblend``), which MLT loads only with a display: a virtual one then.
    """
    out = project.with_suffix(".melt.mkv")
    command = [
        "melt",
        "-profile",
        str(profile_file(project).resolve()),
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
    ]
    command = on_a_display(command) if qt else command
    run_melt(command, output=out, timeout_s=MELT_TIMEOUT_S, cwd=project.parent, env=env, check=True)
    return rgb_frames(out, (WIDTH, HEIGHT))


def rgb_frames(path: Path, size: tuple[int, int]) -> np.ndarray:
    """Every frame of a video as RGB ``(n, height, width, 3)`` uint8, decoded by the system ffmpeg."""
    command = ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    raw = run_program(command, stall_s=DECODE_STALL_S, timeout_s=MELT_TIMEOUT_S, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, size[1], size[0], 3)


def track_hidden(project: Path, track_name: str) -> Path:
    """A copy of ``project`` with the video track Kdenlive names ``track_name`` hidden, as the editor's eye button hides it."""
    from lxml import etree

    tree = etree.parse(str(project), etree.XMLParser(resolve_entities=False, no_network=True))
    root = tree.getroot()
    named = [t.get("id") for t in root.iter("tractor") if t.xpath("property[@name='kdenlive:track_name']/text()") == [track_name]]
    assert len(named) == 1, f"{project}: {len(named)} tracks named {track_name!r}"
    uses = [track for track in root.iter("track") if track.get("producer") == named[0]]
    assert uses, f"{project}: track {track_name!r} is not in any tractor"
    for track in uses:
        track.set("hide", "video")
    copy = project.with_name(f"{project.stem}.without-{track_name}{project.suffix}")
    tree.write(str(copy), encoding="utf-8", xml_declaration=True)
    return copy


def predicted_centres(frame_map, media_pixels: dict[str, np.ndarray]) -> np.ndarray:
    """What melt must show, from the conform's terms: the weighted sum of the named source frames (black = 0)."""
    out = np.zeros((frame_map.length, ROWS, COLUMNS))
    centres = {key: block_centres(pixels) for key, pixels in media_pixels.items()}
    for k in range(frame_map.source.shape[1]):
        for index, ref in enumerate(frame_map.sources):
            rows = np.nonzero(frame_map.source[:, k] == index)[0]
            out[rows] += frame_map.weight[rows, k, None, None] * centres[str(ref.resource)][frame_map.frame[rows, k]]
    return out


def mismatches(frame_map, media_pixels: dict[str, np.ndarray], rendered: np.ndarray, tolerance: float = 10.0) -> list[str]:
    """Frames where melt's picture differs from the conform's prediction, described for an assertion message.

    Two pixel laws are accepted for fades: compositing (``v * l``, alpha fades and dissolves) and MLT's
    ``brightness`` level, which scales limited-range luma so that white becomes ``v * l - 18.6 * (1 - l)``.
    Frames with nothing at all (no track, not even black) show melt's test card and are not compared;
    nor are frames the conform lists as pixel-only (titles, images, geometry, brightness above 1).
    """
    expected = predicted_centres(frame_map, media_pixels)
    black = np.where(frame_map.source == -2, frame_map.weight, 0.0).sum(axis=1)[:, None, None]
    expected_level = np.maximum(0.0, expected - 255.0 * 16.0 / 219.0 * black)
    seen = block_centres(rendered[: frame_map.length])
    if len(seen) != frame_map.length:
        return [f"melt rendered {len(seen)} frames, the conform {frame_map.length}"]
    error = np.minimum(np.abs(seen - expected).max(axis=(1, 2)), np.abs(seen - expected_level).max(axis=(1, 2)))
    nothing = (frame_map.source == -1).all(axis=1)
    error[frame_map.pixel_only | nothing] = 0
    bad = np.nonzero(error > tolerance)[0]
    described = []
    for i in bad[:8]:
        terms = list(
            zip(frame_map.source[i].tolist(), frame_map.frame[i].tolist(), np.round(frame_map.weight[i], 3).tolist(), strict=True)
        )
        described.append(f"frame {i}: max block error {error[i]:.0f}; conform terms {terms}")
    return described + ([f"... {len(bad)} frames in all"] if len(bad) > 8 else [])


def blend_shares(frame_map, media_pixels: dict[str, np.ndarray], rendered: np.ndarray) -> list[tuple[int, float, float]]:
    """(frame, the conform's weight of the second picture, the share of it melt shows) at every frame blending two clips.

    The share is read from the blocks where the two source frames differ (white in one, black in the other), so
    it is exact to 8-bit rounding (1/255); frames the conform lists as pixel-only are left out.
    """
    centres = {key: block_centres(pixels) for key, pixels in media_pixels.items()}
    seen = block_centres(rendered[: frame_map.length])
    refs = [str(ref.resource) for ref in frame_map.sources]
    shares = []
    for t in range(frame_map.length):
        source, frame, weight = frame_map.source[t], frame_map.frame[t], frame_map.weight[t]
        if len(source) < 2 or min(source[0], source[1]) < 0 or frame_map.pixel_only[t] or not 0 < weight[1] < 1:
            continue
        a, b = centres[refs[source[0]]][frame[0]], centres[refs[source[1]]][frame[1]]
        differ = np.abs(b - a) > 100
        if differ.any():
            shares.append((t, float(weight[1]), float(((seen[t] - a)[differ] / (b - a)[differ]).mean())))
    return shares


_PLAYABLE = {"avformat", "avformat-novalidate", "timewarp", "latent", ""}
_IMAGES = {"qimage", "pixbuf"}


def _fps_of(props: dict[str, str], profile_fps: Fraction) -> Fraction:
    num, den = props.get("meta.media.frame_rate_num"), props.get("meta.media.frame_rate_den", "1")
    return Fraction(int(num), int(den)) if num and int(num) > 0 else profile_fps


def swap_media(project: Path, work: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """Copy ``project`` into ``work`` with a 64x48 profile (same frame rate) and every media file it plays replaced.

    Each video becomes an index-coded clip with the frame rate the project records for it and enough
    frames for every use, with a sidecar where the project looks for one. Images become grey pictures.
    Returns the copy and the pixels of each media file by absolute path.
    """

    from lxml import etree
    from PIL import Image

    from latentcut.timeline.clock import frames_from_mlt_time
    from latentcut.timeline.mlt_xml import Service, read_mlt_string

    tree = etree.parse(str(project), etree.XMLParser(resolve_entities=False, no_network=True))
    root = tree.getroot()
    root.attrib.pop("root", None)
    profile = root.find("profile")
    full = f" {profile.get('width')} {profile.get('height')} "
    for prop in root.iter("property"):
        if prop.get("name") in ("rect", "geometry") and prop.text and full in prop.text:
            prop.text = prop.text.replace(full, f" {WIDTH} {HEIGHT} ")  # full-frame geometry stays full-frame
    profile.attrib.update(
        {
            "width": str(WIDTH),
            "height": str(HEIGHT),
            "display_aspect_num": "4",
            "display_aspect_den": "3",
            "sample_aspect_num": "1",
            "sample_aspect_den": "1",
        }
    )
    for element in root.iter("producer", "chain"):
        props = {p.get("name"): p for p in element.findall("property")}
        service = props["mlt_service"].text if "mlt_service" in props else ""
        resource = props["resource"].text if "resource" in props else ""
        is_black = element.get("id") == "black_track" or (
            props.get("kdenlive:playlistid") is not None and props["kdenlive:playlistid"].text == "black_track"
        )
        if service in ("color", "colour") and not is_black:
            # A colour clip becomes an index-coded clip, so that mixes between colour clips test something.
            props["mlt_service"].text = "avformat"
            props["resource"].text = f"colour/{element.get('id')}.mkv"
        elif resource and resource.startswith("/"):
            # Absolute media paths from the author's machine are moved under work/abs/.
            props["resource"].text = "abs" + resource
        for name in ("warp_resource", "kdenlive:originalurl"):
            if name in props and (props[name].text or "").startswith("/"):
                props[name].text = "abs" + props[name].text
        if service == "timewarp" and "resource" in props and ":/" in (props["resource"].text or ""):
            speed, _, path = props["resource"].text.partition(":")
            props["resource"].text = f"{speed}:abs{path}"
    target = work / project.name
    work.mkdir(parents=True, exist_ok=True)
    tree.write(str(target), encoding="utf-8", xml_declaration=True)
    text = target.read_text(encoding="utf-8")
    document = read_mlt_string(text.encode(), target)
    needs: dict[Path, dict] = {}
    for service in document.services.values():
        if not isinstance(service, Service):
            continue
        props = service.props
        kind = service.service
        resource = (
            props.get("warp_resource") or props.get("resource", "").split(":", 1)[-1]
            if kind == "timewarp"
            else props.get("resource", "")
        )
        if not resource or resource in ("black", "0") or kind not in _PLAYABLE | _IMAGES:
            continue
        path = work / resource
        entry = needs.setdefault(
            path, {"fps": _fps_of(props, document.fps), "frames": 1, "image": kind in _IMAGES, "sidecars": set(), "tags": {}}
        )
        speed = abs(float(props.get("warp_speed") or 1.0))
        length = frames_from_mlt_time(props["length"], document.fps) if "length" in props else 0
        if "out" in props:
            length = max(length, frames_from_mlt_time(props["out"], document.fps) + 1)
        entry["frames"] = max(entry["frames"], int(np.ceil(length * speed * entry["fps"] / document.fps)) + 2)
        if props.get("latent:sidecar"):
            entry["sidecars"].add(work / props["latent:sidecar"])
        for key in ("meta.attr.latent_sidecar.markup", "meta.attr.LATENT_SIDECAR.markup"):
            if props.get(key):
                entry["tags"] = {"latent_sidecar": props[key]}
        original = props.get("kdenlive:originalurl")
        if original and original != "-" and (work / original) != path:
            needs.setdefault(work / original, dict(entry, sidecars=set(), tags={}))
    pixels: dict[str, np.ndarray] = {}
    for clip_id, (path, need) in enumerate(sorted(needs.items()), start=1):
        path.parent.mkdir(parents=True, exist_ok=True)
        if need["image"]:
            Image.new("RGB", (WIDTH, HEIGHT), (128, 128, 128)).save(path)
            continue
        suffix_ok = path.suffix.lower() in _LOSSLESS
        video = path if suffix_ok else path.with_name(path.name + ".mkv")
        tagged = need["tags"].get("latent_sidecar")
        sidecar = (path.parent / tagged) if tagged else None
        if sidecar is not None and not sidecar.name.endswith(".z.npy"):
            sidecar = sidecar.with_name(sidecar.stem + ".z.npy")
        pixels[str(path)] = write_index_clip(
            video, clip_id, need["frames"], need["fps"], sidecar=sidecar, tags=need["tags"] or None
        )
        if not suffix_ok:
            video.rename(path)  # melt probes the content, not the name; the .mkv suffix only chose the encoder
            path.with_name(path.name + ".z.npy").rename(path.with_name(path.stem + ".z.npy"))
            path.with_name(path.name + ".z.json").rename(path.with_name(path.stem + ".z.json"))
        for extra in need["sidecars"]:
            name = extra if extra.name.endswith(".z.npy") else extra.with_name(extra.stem + ".z.npy")
            latents = np.load(path.with_name(path.stem + ".z.npy")) if not tagged else np.load(sidecar)
            save_sequence(name, latents, fps=need["fps"], made={"how": "test index clip"})
    return target, pixels
