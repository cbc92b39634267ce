"""Realistic platform updates with one field broken at a time, for parsers that must
either cope or raise MalformedUpdate whatever they are given."""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

WEIRD = [None, "", "x", 0, -1, 1.5, True, [], {}, [1], {"id": 1}, 10**20]


def mangled(samples: list[dict], per_field: int, seed: int = 20251123) -> Iterator[Any]:
    """Each sample with one field (at any depth) deleted or replaced by `per_field` values
    of other types, one at a time: (path, replacement, the broken copy)."""
    rng = random.Random(seed)
    for sample in samples:
        for path in _paths(sample):
            for replacement in [*rng.sample(WEIRD, per_field), "delete"]:
                raw = copy.deepcopy(sample)
                holder = raw
                for step in path[:-1]:
                    holder = holder[step]
                if replacement == "delete":
                    del holder[path[-1]]
                else:
                    holder[path[-1]] = copy.deepcopy(replacement)
                yield path, replacement, raw


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    if isinstance(value, dict):
        for key, inner in value.items():
            yield (*prefix, key)
            yield from _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield (*prefix, i)
            yield from _paths(inner, (*prefix, i))
