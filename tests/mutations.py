"""Hostile inputs for the tests: a template text with 1-3 of its value slots replaced, case after case."""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence


def mutated(template: str, slots: Sequence[tuple[int, int]], values: Sequence[str], cases: int, seed: int) -> Iterator[str]:
    """``cases`` copies of ``template``, each with 1-3 of the ``slots`` (start, end) replaced by one of ``values``."""
    rng = random.Random(seed)
    for _ in range(cases):
        text = template
        for start, end in sorted(rng.sample(list(slots), rng.randint(1, 3)), reverse=True):
            text = text[:start] + rng.choice(values) + text[end:]
        yield text
