"""Which model specs a ``--snapshots`` list names: builtin snapshot numbers, ranges, model specs, or a folder of training snapshots."""

from __future__ import annotations

import re
from pathlib import Path

from latentcut.latent.frame_lists import frame_numbers

__all__ = ["snapshot_specs", "training_snapshots"]

_TRAINING_SNAPSHOT = re.compile(r"^network-snapshot-(\d+)\.pkl$")


def training_snapshots(folder: Path) -> list[str]:
    """The ``network-snapshot-NNNNNN.pkl`` files in ``folder`` (a StyleGAN training run), in order of kimg."""
    found = [(int(match[1]), path) for path in folder.iterdir() if (match := _TRAINING_SNAPSHOT.match(path.name))]
    return [str(path) for _, path in sorted(found)]


def snapshot_specs(model: str, snapshots: str | None) -> list[str]:
    """The model specs to decode through: ``model`` alone, or each snapshot ``snapshots`` lists (``0,9,27``, ``0-27``, specs)."""
    if not snapshots:
        return [model]
    specs: list[str] = []
    for item in snapshots.split(","):
        item = item.strip()
        if model.startswith("builtin:") and item.replace("-", "").isdigit():
            specs += [f"{model.split('@')[0]}@{n}" for n in frame_numbers(item)]
        elif item and Path(item).is_dir():
            specs += training_snapshots(Path(item))
        else:
            specs.append(item)
    return specs
