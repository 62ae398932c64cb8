"""Candidate pairs: records of two sides that share at least one match key.

Works the same on raw keys (plain path, dedup) and on doubly blinded keys (private path): a key
is an opaque token with a type. For each candidate pair it returns how many keys of each type are
equal and which key types each side has, which is all the scorer needs. A key shared by very many
records on both sides (a common name with a common birth year) is not used to *find* pairs (it
would flood the review queue and memory) but still counts as agreement for pairs found through
other keys. The rule depends only on counts both sides see, so both nodes get the same pairs.

Everything is held as numpy arrays of integer ids, never as per-pair Python objects: a 100,000 ×
100,000 link has tens of millions of key matches, and the join is done in chunks of left records
(their pairs never overlap between chunks) so memory stays bounded by one chunk's matches.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

# Pairs one key may generate (records with it on side A × on side B) before it stops
# generating candidates; 20,000 is, e.g., 140 records on each side sharing one key.
MAX_BLOCK_PAIRS = 20_000
# Key matches joined at once; bounds the join's memory (about 40 bytes per match).
JOIN_CHUNK = 4_000_000

Key = tuple[str, Hashable]  # (key type, token)


@dataclass(frozen=True)
class Candidates:
    """Candidate pairs as arrays: pair i is (ids_left[left[i]], ids_right[right[i]]).

    ``agree[i, t]``: equal keys of type ``key_types[t]`` (capped at 127); ``present_left[r, t]``:
    record r of the left side has keys of type t at all (likewise right).
    """

    key_types: tuple[str, ...]
    ids_left: list[str]
    ids_right: list[str]
    left: np.ndarray  # int32, index into ids_left
    right: np.ndarray  # int32, index into ids_right
    agree: np.ndarray  # int8 (pairs, types)
    present_left: np.ndarray  # bool (left records, types)
    present_right: np.ndarray  # bool (right records, types)
    # int32 per pair: how many records (both sides) hold the rarest agreeing key of the
    # ``rarity_types``; 0 when none agrees. The private path's term frequency: a rare name
    # pair that agrees says more than "Mary Wanjiku". Both nodes see the same counts.
    rarity: np.ndarray | None = None
    # int16 (records, types): how many keys of each type each record has (a peer sees this).
    keys_left: np.ndarray | None = None
    keys_right: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.left)


def _entries(
    side: Mapping[str, Collection[Key]],
    ids: Sequence[str],
    vocabulary: dict[Key, int],
) -> tuple[np.ndarray, np.ndarray]:
    """(record index, key id) per distinct key of each record, sorted by record then key.
    New keys get the next ids in ``vocabulary``."""
    per_record = [side[rid] for rid in ids]
    sizes = np.fromiter((len(keys) for keys in per_record), dtype=np.int64, count=len(ids))
    setdefault = vocabulary.setdefault
    # setdefault(k, len(vocabulary)): len is taken before the call, so a new key gets the next id.
    keys = np.fromiter(
        (setdefault(key, len(vocabulary)) for keys in per_record for key in keys),
        dtype=np.int64,
        count=int(sizes.sum()),
    )
    records = np.repeat(np.arange(len(ids), dtype=np.int64), sizes)
    code = np.unique(records << 32 | keys)
    return (code >> 32).astype(np.int32), (code & 0xFFFFFFFF).astype(np.int32)


def candidate_arrays(
    left: Mapping[str, Collection[Key]],
    right: Mapping[str, Collection[Key]] | None = None,
    key_types: Sequence[str] = (),
    *,
    max_block_pairs: int = MAX_BLOCK_PAIRS,
    rarity_types: Sequence[str] = (),
) -> Candidates:
    """Every pair of records sharing a key that generates candidates, with per-type counts.

    With ``right`` None, pairs within ``left``: each unordered pair once, the smaller id (as a
    string) first. ``key_types`` fixes the order of the count columns; key types not listed
    come after them, sorted.
    """
    self_join = right is None
    ids_left = sorted(left, key=str) if self_join else list(left)
    ids_right = ids_left if self_join else list(right)  # type: ignore[arg-type]
    vocabulary: dict[Key, int] = {}
    rec_l, key_l = _entries(left, ids_left, vocabulary)
    if self_join:
        rec_r, key_r = rec_l, key_l
    else:
        rec_r, key_r = _entries(right, ids_right, vocabulary)  # type: ignore[arg-type]
    # Key types not in key_types come after them, sorted, so both nodes agree on the columns.
    seen_types = sorted({key[0] for key in vocabulary} - set(key_types))
    types = (*key_types, *seen_types)
    column = {t: i for i, t in enumerate(types)}
    n_types = len(types)
    type_of = np.fromiter(
        (column[key[0]] for key in vocabulary), dtype=np.int8, count=len(vocabulary)
    )
    n_keys = len(vocabulary)

    keys_left = np.zeros((len(ids_left), n_types), dtype=np.int16)
    np.add.at(keys_left, (rec_l, type_of[key_l]), 1)
    present_left = keys_left > 0
    if self_join:
        keys_right, present_right = keys_left, present_left
    else:
        keys_right = np.zeros((len(ids_right), n_types), dtype=np.int16)
        np.add.at(keys_right, (rec_r, type_of[key_r]), 1)
        present_right = keys_right > 0

    count_l = np.bincount(key_l, minlength=n_keys).astype(np.int64)
    count_r = np.bincount(key_r, minlength=n_keys).astype(np.int64)
    generating = (count_l * count_r <= max_block_pairs) & (count_r > 0)
    # Right entries grouped by key: the records holding key k are by_key[start[k]:start[k+1]].
    order_r = np.argsort(key_r, kind="stable")
    by_key = rec_r[order_r]
    start = np.zeros(n_keys + 1, dtype=np.int64)
    np.cumsum(count_r, out=start[1:])
    # Sorted (record, key) codes of the right side, to test whether a record has a given key.
    right_codes = rec_r.astype(np.int64) * n_keys + key_r  # sorted: entries are (record, key)
    n_right = len(ids_right)

    out_left: list[np.ndarray] = []
    out_right: list[np.ndarray] = []
    out_agree: list[np.ndarray] = []
    out_rarity: list[np.ndarray] = []
    holders = count_l if self_join else count_l + count_r
    rare_type = np.zeros(n_types, dtype=bool)
    for t in rarity_types:
        if t in column:
            rare_type[column[t]] = True
    fanout = np.where(generating[key_l], count_r[key_l], 0)
    bounds = _chunks(rec_l, fanout)
    for lo, hi in bounds:
        a_rec, a_key, a_fan = rec_l[lo:hi], key_l[lo:hi], fanout[lo:hi]
        total = int(a_fan.sum())
        if total == 0:
            continue
        row = np.repeat(np.arange(hi - lo), a_fan)
        within = np.arange(total) - np.repeat(np.cumsum(a_fan) - a_fan, a_fan)
        pa = a_rec[row].astype(np.int64)
        pb = by_key[start[a_key[row]] + within].astype(np.int64)
        if self_join:
            keep = pa < pb
            pa, pb, row = pa[keep], pb[keep], row[keep]
        pair = pa * n_right + pb
        pair_code, inverse = np.unique(pair, return_inverse=True)
        if not len(pair_code):
            continue
        agree = np.zeros((len(pair_code), n_types), dtype=np.int16)
        np.add.at(agree, (inverse.ravel(), type_of[a_key[row]]), 1)
        rarity = np.full(len(pair_code), np.iinfo(np.int32).max, dtype=np.int64)
        counted = rare_type[type_of[a_key[row]]]
        np.minimum.at(rarity, inverse.ravel()[counted], holders[a_key[row][counted]])
        pl, pr = pair_code // n_right, pair_code % n_right
        # Common keys (not generating) still count as agreement for pairs found otherwise.
        common = ~generating[a_key] & (count_r[a_key] > 0)
        if common.any():
            c_rec, c_key = a_rec[common], a_key[common]
            # Pairs of this chunk whose left record holds each common key.
            first = np.searchsorted(pl, c_rec, side="left")
            last = np.searchsorted(pl, c_rec, side="right")
            n_each = last - first
            if n_each.sum():
                which = np.repeat(np.arange(len(c_rec)), n_each)
                idx = np.repeat(first, n_each) + (
                    np.arange(int(n_each.sum())) - np.repeat(np.cumsum(n_each) - n_each, n_each)
                )
                probe = pr[idx] * n_keys + c_key[which]
                pos = np.searchsorted(right_codes, probe)
                pos = np.minimum(pos, len(right_codes) - 1)
                hit = right_codes[pos] == probe
                np.add.at(agree, (idx[hit], type_of[c_key[which[hit]]]), 1)
                hit_key = c_key[which[hit]]
                counted = rare_type[type_of[hit_key]]
                np.minimum.at(rarity, idx[hit][counted], holders[hit_key[counted]])
        out_left.append(pl.astype(np.int32))
        out_right.append(pr.astype(np.int32))
        out_agree.append(np.minimum(agree, 127).astype(np.int8))
        rarity[rarity == np.iinfo(np.int32).max] = 0
        out_rarity.append(rarity.astype(np.int32))
    if out_left:
        left_index = np.concatenate(out_left)
        right_index = np.concatenate(out_right)
        agree_all = np.concatenate(out_agree)
        rarity_all = np.concatenate(out_rarity)
    else:
        left_index = np.zeros(0, np.int32)
        right_index = np.zeros(0, np.int32)
        agree_all = np.zeros((0, n_types), np.int8)
        rarity_all = np.zeros(0, np.int32)
    return Candidates(
        key_types=types,
        ids_left=ids_left,
        ids_right=ids_right,
        left=left_index,
        right=right_index,
        agree=agree_all,
        present_left=present_left,
        present_right=present_right,
        rarity=rarity_all,
        keys_left=keys_left,
        keys_right=keys_right,
    )


def _chunks(records: np.ndarray, fanout: np.ndarray) -> list[tuple[int, int]]:
    """Split the (record-sorted) left entries into runs of whole records of about JOIN_CHUNK
    matches each, so that no pair spans two chunks."""
    if not len(records):
        return []
    cumulative = np.cumsum(fanout)
    bounds: list[tuple[int, int]] = []
    lo = 0
    while lo < len(records):
        target = (cumulative[lo - 1] if lo else 0) + JOIN_CHUNK
        hi = int(np.searchsorted(cumulative, target, side="right"))
        hi = max(hi, lo + 1)
        # Extend to the end of the record so that its pairs stay in one chunk.
        if hi < len(records):
            hi = int(np.searchsorted(records, records[hi - 1], side="right"))
        bounds.append((lo, hi))
        lo = hi
    return bounds


def candidate_pairs(
    left: Mapping[str, Collection[Key]],
    right: Mapping[str, Collection[Key]] | None = None,
    *,
    max_block_pairs: int = MAX_BLOCK_PAIRS,
) -> dict[tuple[str, str], dict[str, int]]:
    """{(left id, right id): {key type: number of equal keys}}. With ``right`` None, pairs
    within ``left`` (each unordered pair once, the smaller id first). A convenience view of
    ``candidate_arrays`` for small inputs and tests."""
    found = candidate_arrays(left, right, max_block_pairs=max_block_pairs)
    out: dict[tuple[str, str], dict[str, int]] = {}
    for i in range(len(found)):
        counts = found.agree[i]
        out[(found.ids_left[found.left[i]], found.ids_right[found.right[i]])] = {
            found.key_types[t]: int(c) for t, c in enumerate(counts) if c
        }
    return out


def present_types(keys: Iterable[Key]) -> frozenset[str]:
    """The key types a record has at all."""
    return frozenset(key_type for key_type, _ in keys)
