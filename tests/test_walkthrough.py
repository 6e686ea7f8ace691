"""README's first hour, verbatim: the commands of its walkthrough section run in order, at small sizes, and do what it says.

The commands are read out of README.md, so the two cannot drift. ``SMALLER`` and ``ADDED`` are the
substitutions README.md states under the block (fewer latents, shorter journeys, smaller pictures);
each must still match the README's text. The ``# Kdenlive:`` lines are the artist's edits, made here
on the project file as Kdenlive saves it: the clips at even places on V1 are kept and the first of
them is copied once more.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from latentcut.latent.sidecar import load_sequence

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Walkthrough: the first hour"
SMALLER = (
    ("--count 600", "--count 150"),
    ("--count 200", "--count 12"),
    ("--count 20 ", "--count 2 "),
    ("--seconds 6", "--seconds 0.2"),
    ("--seconds 4", "--seconds 0.2"),
    ("--snapshots 0-27 --grid 7x4", "--snapshots 0,27 --grid 2x1"),
    ("--size 128x128", "--size 16x16"),
    ("--size 1024x1024", "--size 32x32"),
)
ADDED = {
    "render": ("--size", "32x32"),
    "journeys": ("--size", "32x32"),
    "sheet": ("--tile", "32x32"),
    "retime": ("--measure-size", "16", "--check-size", "32"),
}


def walkthrough_lines() -> list[str]:
    """The lines of the walkthrough's shell block, as README.md has them."""
    text = README.read_text()
    section = text[text.index(SECTION) :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, f"{README}: no ```sh block under {SECTION!r}"
    return [line.strip() for line in block[1].splitlines() if line.strip()]


def smaller(line: str, used: set[str]) -> list[str]:
    """The command ``line`` runs in the test: the README's substitutions made, small sizes added."""
    for old, new in SMALLER:
        if old in line + " ":
            line = (line + " ").replace(old, new).rstrip()
            used.add(old)
    args = shlex.split(line, comments=True)
    assert args[0] == "latentcut", line
    extra = ADDED.get(args[1], ())
    if extra and extra[0] not in args:
        args += extra
    return args[1:]


def edited_in_kdenlive(project: Path) -> list[int]:
    """Make the artist's edit on ``project`` as Kdenlive saves it; return which V1 clips (by place) the edit shows."""
    tree = etree.parse(str(project))
    v1 = tree.getroot().xpath("//playlist[@id='trV1a']")[0]
    entries = v1.findall("entry")
    for entry in entries:
        v1.remove(entry)
    kept = list(range(0, len(entries), 2))
    shown = [kept[0], *kept]
    for place in shown:
        v1.append(etree.fromstring(etree.tostring(entries[place])))
    tree.write(str(project), encoding="utf-8", xml_declaration=True)
    return shown


@pytest.mark.slow
def test_the_readme_walkthrough_runs_in_order_and_does_what_it_says(run_cli, tmp_path, decode_video):
    lines = walkthrough_lines()
    assert sum(line.startswith("latentcut ") for line in lines) >= 15, lines
    used: set[str] = set()
    edits: dict[str, list[int]] = {}
    for step, line in enumerate(lines, 1):
        if line.startswith("# Kdenlive:"):
            project = re.search(r"open (\S+\.kdenlive)", line)
            assert project is not None, line
            edits[project[1]] = edited_in_kdenlive(tmp_path / project[1])
            continue
        if line.startswith("#"):
            continue
        result = run_cli(*smaller(line, used), timeout_s=600)
        assert result.returncode == 0, f"README walkthrough step {step}, `{line}`, failed:\n{result.stderr}"
    assert used == {old for old, _ in SMALLER}, (
        f"substitutions that no longer match README.md: {sorted(set(dict(SMALLER)) - used)}"
    )
    # The curation kept one latent per kept clip (a held block each), by its pool number.
    assert set(edits) == {"pool.kdenlive", "story.kdenlive"}
    curated = load_sequence(tmp_path / "curated.z.npy")
    np.testing.assert_array_equal(curated.latents, np.load(tmp_path / "pool.z.npy")[edits["pool.kdenlive"]])
    assert curated.meta.made["origin"]["frames"] == edits["pool.kdenlive"]
    parents = load_sequence(tmp_path / "more.z.npy").meta.made["parents"]["frames"]
    assert set(parents) <= set(edits["pool.kdenlive"])
    for name in ("pool.png", "more.png", "near.png", "trips/journeys.png", "trip-grid.mp4", "trip-even.mp4"):
        assert (tmp_path / name).is_file(), name
    # The story is the edit: its clips in the order the edit shows them, rendered frame for frame.
    clips = ["trip-even", "trips/journey-001", "trips/journey-002"]
    expected = np.concatenate([np.load(tmp_path / f"{clips[place]}.z.npy") for place in edits["story.kdenlive"]])
    np.testing.assert_array_equal(np.load(tmp_path / "story.z.npy"), expected)
    assert len(decode_video(tmp_path / "story.mov", (32, 32))) == len(expected)
