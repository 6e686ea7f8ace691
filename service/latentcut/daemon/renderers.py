"""The daemon's own renderers, one per device it was given (``--device cuda:0,cuda:1``), and the names their ranges are credited to."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

__all__ = ["LOCAL", "renderer_names"]

LOCAL = "local"  # the one renderer of a daemon given one device (or none: the model's default)


def renderer_names(devices: Sequence[str | None]) -> tuple[str, ...]:
    """One name per device, in order, as ``done_by`` and ``latentcut status`` show them.

    One device: ``local``. Several: ``local:cuda:0``, ``local:cuda:1`` ...; a device given twice
    (``cpu,cpu``: two renderers sharing it) is numbered, ``local:cpu.1``, ``local:cpu.2`` (names
    keep to the characters a worker name may have).
    """
    if len(devices) <= 1:
        return (LOCAL,)
    counts = Counter(devices)
    seen: Counter[str | None] = Counter()
    names = []
    for device in devices:
        seen[device] += 1
        name = f"{LOCAL}:{device or 'default'}"
        names.append(f"{name}.{seen[device]}" if counts[device] > 1 else name)
    return tuple(names)
