"""Which model specs a ``--snapshots`` list names: builtin snapshot numbers, ranges, or model specs."""

from __future__ import annotations

from latentcut.latent.frame_lists import frame_numbers

__all__ = ["snapshot_specs"]


def snapshot_specs(model: str, snapshots: str | None) -> list[str]:
    """The model specs to decode through: ``model`` alone, or each snapshot ``snapshots`` lists (``0,9,27``, ``0-27``, specs)."""
    if not snapshots:
        return [model]
    specs: list[str] = []
    for item in snapshots.split(","):
        item = item.strip()
        if model.startswith("builtin:") and item.replace("-", "").isdigit():
            specs += [f"{model.split('@')[0]}@{n}" for n in frame_numbers(item)]
        else:
            specs.append(item)
    return specs
