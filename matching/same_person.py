"""Likely duplicates inside one side of a link, from its keys alone: the one-to-one step's groups.

A rural missing list often holds the same person twice (two relatives report). The one-to-one
step says a record is at most one person of the other side, so a found person with two reports of
themselves would see each report as the other's rival and get about 0.5 for both. Grouping a
side's likely duplicates first lets the one-to-one step treat each group as one person.

Only key types and token equality are used (as for scoring), so both nodes — each holding both
sides' doubly blinded keys — find the same groups. The rule is strict on purpose (a wrongly merged
pair of namesakes would lose their rivalry): two name sounds, a birth year within one, the same
district or village, and no place that differs.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np

from .candidates import MAX_BLOCK_PAIRS, Key, candidate_arrays
from .fields import FIELDS, field_levels, fields_for

__all__ = ["likely_same_person", "same_person_groups"]


def _level(field: str, words: str) -> int:
    return FIELDS[field].words.index(words)


def likely_same_person(levels: np.ndarray, fields: Sequence[str]) -> np.ndarray:
    """Pairs (rows of field levels) that are very likely one person registered twice."""
    col = {f: i for i, f in enumerate(fields)}
    n = len(levels)
    if "names" not in col or "birth" not in col:
        return np.zeros(n, dtype=bool)
    names = levels[:, col["names"]] >= _level("names", "two names sound the same, in any order")
    birth = levels[:, col["birth"]] >= _level("birth", "birth year within a year")
    place = np.zeros(n, dtype=bool)
    differs = np.zeros(n, dtype=bool)
    for field in ("district", "village"):
        if field in col:
            place |= levels[:, col[field]] == len(FIELDS[field].words) - 1
            differs |= levels[:, col[field]] == 0
    return names & birth & place & ~differs


def same_person_groups(
    side: Mapping[str, Collection[Key]],
    ids: Sequence[str],
    key_types: Sequence[str],
    *,
    max_block_pairs: int = MAX_BLOCK_PAIRS,
) -> np.ndarray:
    """A group number per record of ``ids`` (in that order): records joined by a chain of likely
    duplicate pairs share one. Deterministic: a group is numbered by its smallest index."""
    key_types = tuple(key_types)
    group = np.arange(len(ids), dtype=np.int64)
    if len(ids) < 2:
        return group
    found = candidate_arrays(side, None, key_types, max_block_pairs=max_block_pairs)
    if not len(found):
        return group
    t = len(key_types)
    both = found.present_left[found.left, :t] & found.present_right[found.right, :t]
    fields = fields_for(key_types)
    levels = field_levels(key_types, found.agree, both, fields)
    same = likely_same_person(levels, fields)
    position = {rid: i for i, rid in enumerate(ids)}
    # Records of the side that are not in ids (no candidate pair) are left out.
    to_ids = np.array([position.get(rid, -1) for rid in found.ids_left], dtype=np.int64)
    a, b = to_ids[found.left[same]], to_ids[found.right[same]]
    kept = (a >= 0) & (b >= 0)
    a, b = a[kept], b[kept]
    return union_pairs(group, a, b)


def union_pairs(group: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``group`` (each record's group, at first its own index) with the pairs (a[i], b[i])
    joined: union-find by smallest index, repeated until stable (chains are short, two or
    three)."""
    changed = True
    while changed:
        low = np.minimum(group[a], group[b])
        before = group.copy()
        np.minimum.at(group, a, low)
        np.minimum.at(group, b, low)
        group = group[group]
        changed = not np.array_equal(before, group)
    return group
