"""Kdenlive and MLT commands: ``project new``, ``online``, ``kdenlive`` and ``beats``."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from latentcut.cli import options
from latentcut.errors import UsageError
from latentcut.timebase import fps_text

__all__ = ["register"]


def register(sub: Any) -> None:
    """Add ``project``, ``online``, ``kdenlive`` and ``beats``."""
    p = options.command(
        sub,
        "project",
        run_project,
        "write a Kdenlive project with latent clips (proxies linked to their sidecars), or add its preview track",
        "latentcut project new my-edit.kdenlive clips/*.mp4 --timeline",
    )
    p.add_argument(
        "action",
        choices=("new", "preview"),
        help="new: write a new project; preview: add a top track 'latent preview' playing the preview that "
        "latentcut watch --preview keeps (run it while Kdenlive has the project closed)",
    )
    p.add_argument("output", type=Path, metavar="PROJECT.kdenlive")
    p.add_argument("clips", type=Path, nargs="*", metavar="PROXY", help="new: proxy videos rendered by latentcut render")
    p.add_argument("--timeline", action="store_true", help="also lay the clips end to end on the first video track")
    p.add_argument(
        "--explode",
        action="store_true",
        help="one clip per latent on the first video track (a held proxy: one clip per held block), to curate by deleting",
    )

    p = options.command(
        sub,
        "online",
        run_online,
        "render the whole project with MLT, every latent clip from its online render",
        "latentcut online my-edit.kdenlive -o final.mov",
    )
    p.add_argument("project", type=Path, metavar="PROJECT")
    p.add_argument("-o", "--output", type=Path, required=True, help=".mov (ProRes 4444), .mkv (FFV1) or .mp4 (H.264)")
    options.add_look_options(p, model_help="model for missing online clip renders (default: each sidecar's own)")
    p.add_argument("--full-length", action="store_true", help="include Kdenlive's trailing black")
    p.add_argument(
        "--size", type=options.size, help="render the latent clips and the project at WxH instead of the project's profile size"
    )
    options.add_device_option(p)

    p = options.command(
        sub,
        "kdenlive",
        run_kdenlive,
        "start Kdenlive with the latent MLT module and latentcut's profiles available",
        "latentcut kdenlive my-edit.kdenlive",
    )
    p.add_argument("project", type=Path, nargs="?", metavar="PROJECT")

    p = options.command(
        sub,
        "beats",
        run_beats,
        "put Kdenlive guides on the beats or onsets of the project's own audio (as melt mixes it), or markers on one clip",
        "latentcut beats my-edit.kdenlive -o my-edit-beats.kdenlive --every 4",
    )
    p.add_argument("project", type=Path, metavar="PROJECT.kdenlive")
    p.add_argument(
        "-o", "--output", type=Path, required=True, metavar="OUT.kdenlive", help="the project with the guides (or markers)"
    )
    found = p.add_mutually_exclusive_group()
    found.add_argument("--beats", dest="find", action="store_const", const="beat", help="at the beats (the default)")
    found.add_argument("--onsets", dest="find", action="store_const", const="onset", help="at every onset (hit, note, click)")
    p.add_argument(
        "--every", type=int, default=1, metavar="N", help="only every Nth beat or onset, from the first (4: once a bar)"
    )
    p.add_argument(
        "--markers", metavar="CLIP", help="mark the bin clip CLIP (name, file name or bin id) at its own beats, instead of guides"
    )


def run_beats(args: argparse.Namespace) -> None:
    from latentcut.editor.kdenlive_project import Marker, bin_clip_media, with_clip_markers, with_guides
    from latentcut.editor.soundtrack import beat_times, frames_at, onset_times, rendered_soundtrack
    from latentcut.timeline.mlt_xml import read_mlt_document

    if args.every < 1:
        raise UsageError(f"--every {args.every}: give 1 or more")
    if args.output.resolve() == args.project.resolve():
        raise UsageError(f"{args.output}: would overwrite the project; write the guides to a new name")
    if args.output.suffix != ".kdenlive":
        raise UsageError(f"{args.output}: a Kdenlive project ends in .kdenlive")
    what = args.find or "beat"
    document = read_mlt_document(args.project)
    source = bin_clip_media(document, args.markers) if args.markers else args.project
    soundtrack = rendered_soundtrack(source, cwd=args.project.parent)
    times = (beat_times if what == "beat" else onset_times)(soundtrack)
    frames = frames_at(times, document.fps)[:: args.every]
    marks = [Marker(int(frame), f"{what} {number}") for number, frame in enumerate(frames, start=1)]
    if args.markers:
        with_clip_markers(document, args.output, args.markers, marks)
    else:
        with_guides(document, args.output, marks)
    tempo = f" ({60 / float(np.median(np.diff(times))):.1f} per minute)" if len(times) > 1 else ""
    where = f"markers on {args.markers}" if args.markers else "guides"
    print(f"wrote {args.output}: {len(marks)} {where} at {what}s{tempo}, every {args.every}")


def run_project(args: argparse.Namespace) -> None:
    from latentcut.editor.kdenlive_project import project_clips, write_kdenlive_project
    from latentcut.latent.sidecar import load_sequence

    if args.output.suffix != ".kdenlive":
        raise UsageError(f"{args.output}: a Kdenlive project ends in .kdenlive")
    if args.action == "preview":
        _add_preview_track(args)
        return
    if not args.clips:
        raise UsageError("project new: give the proxy videos to put in the project (PROXY ...)")
    clips = project_clips(args.clips, args.output)
    cuts, names = None, []
    if args.explode:
        from latentcut.conform.holds import hold_of
        from latentcut.latent.curation import exploded_cuts, exploded_names

        sequences = [load_sequence(clip.sidecar, mmap=True) for clip in clips]
        cuts = exploded_cuts([clip.frames for clip in clips], [hold_of(sequence) for sequence in sequences])
        names = [
            name
            for index, sequence in enumerate(sequences)
            for name in exploded_names(sequence, [f for i, f, _ in cuts if i == index])
        ]
    profile = write_kdenlive_project(args.output, clips, timeline=args.timeline, cuts=cuts, cut_names=names)
    where = f"in the bin{' and end to end on V1' if args.timeline else ''}"
    if cuts is not None:
        where = f"in the bin and cut into {len(cuts)} one-latent clips on V1"
    print(
        f"wrote {args.output}: {len(clips)} latent clips {where}; profile {profile or 'custom'} "
        f"({clips[0].size[0]}x{clips[0].size[1]} at {fps_text(clips[0].fps)} fps)"
    )


def _add_preview_track(args: argparse.Namespace) -> None:
    from latentcut.editor.kdenlive_project import PREVIEW_TRACK_NAME, with_preview_track
    from latentcut.timeline.kdenlive import preview_file

    project, preview = args.output, preview_file(args.output)
    if args.clips or args.timeline or args.explode:
        raise UsageError("project preview takes only the project: drop the proxies, --timeline and --explode")
    if not project.is_file():
        raise UsageError(f"{project}: project file not found")
    if not preview.is_file():
        raise UsageError(
            f"{preview}: not made yet; make it first with latentcut watch {project} --preview --once (a daemon running)"
        )
    frames, added = with_preview_track(project, preview)
    what = f"added the top track '{PREVIEW_TRACK_NAME}'" if added else f"the '{PREVIEW_TRACK_NAME}' clip now spans the timeline"
    print(f"wrote {project}: {what}, {preview.name} over {frames} frames; open it in Kdenlive (hide the track with its eye)")


def run_online(args: argparse.Namespace) -> None:
    from latentcut.editor.online import online_render

    started = time.monotonic()
    result = online_render(args.project, args.output, options.looks(args).tile, full_length=args.full_length, size=args.size)
    made = f"; rendered {len(result.rendered)} online clips first" if result.rendered else ""
    print(
        f"wrote {result.path}: {result.frames} frames through MLT, {len(result.online_files)} latent clips online{made} "
        f"({time.monotonic() - started:.1f} s)"
    )


def run_kdenlive(args: argparse.Namespace) -> None:
    from latentcut.editor.mlt_module import kdenlive_environment

    if shutil.which("kdenlive") is None:
        raise UsageError("Kdenlive is not installed; on Debian/Ubuntu: sudo apt-get install kdenlive")
    command = ["kdenlive", *([str(args.project)] if args.project else [])]
    os.execvpe(command[0], command, kdenlive_environment())  # noqa: S606 - this command becomes Kdenlive
