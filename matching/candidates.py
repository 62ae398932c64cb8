"""Candidate pairs: records of two sides that share at least one match key.

Works the same on raw keys (plain path, dedup) and on doubly blinded keys (private path): a key
is an opaque token with a type. For each candidate pair it returns how many keys of each type are
equal, which is all the scorer needs. A key shared by very many records on both sides (a common
name with a common birth year) is not used to *find* pairs (it would flood the review queue and
memory) but still counts as agreement for pairs found through other keys. The rule depends only
on counts both sides see, so both nodes get the same pairs.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping

# Pairs one key may generate (records with it on side A × on side B) before it stops
# generating candidates; 20,000 is, e.g., 140 records on each side sharing one key.
MAX_BLOCK_PAIRS = 20_000

Key = tuple[str, Hashable]  # (key type, token)


def candidate_pairs(
    left: Mapping[Hashable, Iterable[Key]],
    right: Mapping[Hashable, Iterable[Key]] | None = None,
    *,
    max_block_pairs: int = MAX_BLOCK_PAIRS,
) -> dict[tuple[Hashable, Hashable], dict[str, int]]:
    """{(left id, right id): {key type: number of equal keys}}. With ``right`` None, pairs
    within ``left`` (each unordered pair once, as (smaller id, larger id))."""
    self_join = right is None
    left_keys = {rid: frozenset(keys) for rid, keys in left.items()}
    right_keys = left_keys if self_join else {rid: frozenset(k) for rid, k in right.items()}
    index: dict[Key, list[Hashable]] = defaultdict(list)
    for rid, keys in right_keys.items():
        for key in keys:
            index[key].append(rid)
    left_count = Counter(key for keys in left_keys.values() for key in keys)

    pairs: dict[tuple[Hashable, Hashable], Counter[str]] = {}
    common: dict[Hashable, list[Key]] = defaultdict(list)
    for lid, keys in left_keys.items():
        for key in keys:
            others = index.get(key)
            if not others:
                continue
            if left_count[key] * len(others) > max_block_pairs:
                common[lid].append(key)
                continue
            for rid in others:
                if self_join and not lid < rid:
                    continue
                pairs.setdefault((lid, rid), Counter())[key[0]] += 1
    if common:
        for (lid, rid), types in pairs.items():
            for key in common.get(lid, ()):
                if key in right_keys[rid]:
                    types[key[0]] += 1
            if self_join:
                for key in common.get(rid, ()):
                    if key in left_keys[lid] and key not in common.get(lid, ()):
                        types[key[0]] += 1
    return {pair: dict(types) for pair, types in pairs.items()}


def present_types(keys: Iterable[Key]) -> frozenset[str]:
    """The key types a record has at all."""
    return frozenset(key_type for key_type, _ in keys)
