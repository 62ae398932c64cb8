"""Scoring candidates that were joined elsewhere (a distributed engine), as arrays.

``score_key_candidates`` finds the candidate pairs itself (``candidate_arrays``) and groups each
side's likely duplicates (``same_person_groups``), both from the full key sets in memory. For
registers of tens of millions the join runs on a cluster instead (node/scale/), which hands back
what those two steps would have computed, as integer arrays: per candidate pair the number of
equal keys of each type and the rarity of the rarest agreeing name key; per record how many keys
of each type it has; and per side the pairs *within* it that share a key, with their per-type
counts. ``joined_candidates`` and ``joined_groups`` turn those into exactly what
``score_candidates`` takes, so the scores and the evidence are the local path's, pair for pair.

Additive and pure: nothing here is used by the local path.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .candidates import Candidates
from .fields import field_levels, fields_for
from .same_person import likely_same_person, union_pairs

__all__ = ["joined_candidates", "joined_groups"]


def joined_candidates(
    ids_left: list[str],
    ids_right: list[str],
    key_types: Sequence[str],
    left: np.ndarray,
    right: np.ndarray,
    agree: np.ndarray,
    rarity: np.ndarray,
    keys_left: np.ndarray,
    keys_right: np.ndarray,
) -> Candidates:
    """A ``Candidates`` from pre-joined arrays (same meaning as ``candidate_arrays``' fields).

    ``agree`` is (pairs, types) with any integer type and is capped at 127 here, as
    ``candidate_arrays`` does; ``keys_left`` / ``keys_right`` are (records, types) counts of
    distinct keys; ``key_types`` names the columns (the scorer's types first, then any others,
    sorted)."""
    return Candidates(
        key_types=tuple(key_types),
        ids_left=ids_left,
        ids_right=ids_right,
        left=np.asarray(left, dtype=np.int32),
        right=np.asarray(right, dtype=np.int32),
        agree=np.minimum(np.asarray(agree), 127).astype(np.int8),
        present_left=np.asarray(keys_left) > 0,
        present_right=np.asarray(keys_right) > 0,
        rarity=np.asarray(rarity, dtype=np.int32),
        keys_left=np.asarray(keys_left, dtype=np.int16),
        keys_right=np.asarray(keys_right, dtype=np.int16),
    )


def joined_groups(
    n_records: int,
    first: np.ndarray,
    second: np.ndarray,
    agree: np.ndarray,
    present: np.ndarray,
    key_types: Sequence[str],
) -> np.ndarray:
    """``same_person_groups`` from the pairs within one side that share a key generating
    candidates (``first`` and ``second``: record indices, each unordered pair once, in either
    order), ``agree`` their per-type equal-key counts (all shared keys, as in
    ``candidate_arrays``) and ``present`` (records, types) which key types each record has.

    Group numbers are the smallest record index of the group, as there."""
    key_types = tuple(key_types)
    group = np.arange(n_records, dtype=np.int64)
    if n_records < 2 or not len(first):
        return group
    t = len(key_types)
    a = np.asarray(first, dtype=np.int64)
    b = np.asarray(second, dtype=np.int64)
    both = present[a, :t] & present[b, :t]
    fields = fields_for(key_types)
    capped = np.minimum(np.asarray(agree), 127).astype(np.int8)
    levels = field_levels(key_types, capped, both, fields)
    same = likely_same_person(levels, fields)
    a, b = a[same], b[same]
    return union_pairs(group, a, b)
