"""The names level graded from key *counts*: how many of each record's names agree.

``fields.py`` derives from which key types agree that two names sound the same; the number of
keys of a type each record has and the number that agree (both nodes see both, per key type)
say more: whether every name pair of the record with fewer names is shared ("all names"),
whether three or more names are, whether the names are spelled alike and not only sounding
alike (the deletion-neighbourhood keys), and whether two shared names are a small part of two
longer names (docs/matching.md § 3, items 7, 10 and 13). Integer arithmetic only, symmetric in
the two sides, so both nodes get the same levels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Components that take one value per record: a key of "names2" with one of these agrees on as
# many keys as the two records share name pairs.
_SINGLE = ("district", "village", "villagex", "date", "mother")


def shared_pairs(
    key_types: Sequence[str], comps_of: Sequence[tuple[str, ...]], agree: np.ndarray
) -> np.ndarray:
    """Name pairs both records share, where a names2 key with a one-valued component agrees
    (0 where not known)."""
    out = np.zeros(len(agree), dtype=np.int16)
    for t, cs in enumerate(comps_of):
        if len(cs) == 2 and cs[0].startswith("names2:") and cs[1] in _SINGLE:
            out = np.maximum(out, agree[:, t])
    return out


# Names levels as fields._names gives them (undetermined counted), and where graded_names
# moves them.
_A_NAME, _TWO_ALIKE, _TWO, _THREE = 3, 4, 5, 6
_NAMES_LEVEL = {
    _A_NAME: 3, _TWO_ALIKE: 6, _TWO: 7, _THREE: 9,
}  # fmt: skip
_TWO_OTHERS_DIFFER, _TWO_SPELLED_APART = 4, 5
_ALL_TWO, _ALL_THREE, _SAME_TWO, _SAME_THREE = 8, 9, 10, 11
# Two name sounds shared, and at most this share (numerator, denominator) of the name pairs of
# the record with fewer: both records have more names, which differ.
FEW_PAIRS_SHARED = (1, 4)


def graded_names(
    level: np.ndarray,
    comps_of: Sequence[tuple[str, ...]],
    agree: np.ndarray,
    fewest: np.ndarray | None,
    most: np.ndarray | None,
    undetermined: int,
    near_comparable: np.ndarray | None = None,
) -> np.ndarray:
    """The names level graded by how many of each record's names agree, from key counts.

    Sharing two of two names is weaker evidence than sharing three, and sharing two names when
    each record has three or four more is weaker still (a family name and a common given name):
    the number of name-pair keys each record has (both nodes see it) tells them apart.

    Two names that sound the same (equal Metaphone codes) but where no deletion-neighbourhood
    key agrees although one could (``near_comparable``: both have the district or village it
    carries, and it agrees) are spelled differently, beyond one letter: "Amina" and "Amani"
    (both AMN). Among different people that is common, among two records of one person rare
    (docs/matching.md § 3, item 14).
    """
    out = level.copy()
    for old, new in _NAMES_LEVEL.items():
        out[level == old] = new
    if fewest is None:
        return out
    shared = shared_pairs((), comps_of, agree)
    num, den = FEW_PAIRS_SHARED
    few = np.zeros(len(agree), dtype=bool)
    for t, cs in enumerate(comps_of):
        if len(cs) == 2 and cs[0].startswith("names2:") and cs[1] in _SINGLE:
            count = agree[:, t].astype(np.int32)
            few |= (count > 0) & (count * den <= fewest[:, t].astype(np.int32) * num)
    out[(level == _TWO) & few] = _TWO_OTHERS_DIFFER
    if near_comparable is not None:
        near_agree = np.zeros(len(agree), dtype=bool)
        for t, cs in enumerate(comps_of):
            if cs[0].startswith("near2:"):
                near_agree |= agree[:, t] > 0
        apart = (out == _NAMES_LEVEL[_TWO]) & near_comparable & ~near_agree
        out[apart] = _TWO_SPELLED_APART
    every = _all_names(comps_of, agree, fewest) & (level >= undetermined)
    out[every] = np.where(shared[every] >= 2, _ALL_THREE, _ALL_TWO)
    if most is not None:
        alike = _spelled_alike(comps_of, agree, most)
        out[alike & (out == _ALL_TWO)] = _SAME_TWO
        out[alike & (out == _ALL_THREE)] = _SAME_THREE
    return out


# A pair of name sounds agreeing with at least this share of the deletion-neighbourhood keys
# agreeing (numerator, denominator; integer arithmetic, the same on both nodes): identical names
# share all of a name's neighbours, one letter apart only one or two.
SPELLED_ALIKE = (3, 4)


def _spelled_alike(
    comps_of: Sequence[tuple[str, ...]], agree: np.ndarray, most: np.ndarray
) -> np.ndarray:
    """Pairs whose agreeing ``near2`` keys are at least SPELLED_ALIKE of the keys of that type
    the record with more of them has."""
    out = np.zeros(len(agree), dtype=bool)
    num, den = SPELLED_ALIKE
    for t, cs in enumerate(comps_of):
        if cs[0].startswith("near2:"):
            count = agree[:, t].astype(np.int32)
            out |= (count > 0) & (count * den >= most[:, t].astype(np.int32) * num)
    return out


def _all_names(
    comps_of: Sequence[tuple[str, ...]], agree: np.ndarray, fewest: np.ndarray
) -> np.ndarray:
    """Pairs where some name-pair key type agrees on every key of that type the record with
    fewer keys has.

    With a one-valued component (a district) that is every name pair of that record. With a
    many-valued one (birth-year windows or six-year bands) too: a record has (name pairs) x
    (windows) keys of the type and a pair agrees on (shared pairs) x (shared windows), which is
    at most (fewer name pairs) x (fewer windows) <= the fewer keys — equal only when every name
    pair of the record with fewer is shared. That is what tells "all names" for records with no
    district, village or parents (sparse found records), where only the birth keys carry names.
    """
    out = np.zeros(len(agree), dtype=bool)
    for t, cs in enumerate(comps_of):
        if len(cs) == 2 and cs[0].startswith("names2:"):
            out |= (agree[:, t] > 0) & (agree[:, t] >= fewest[:, t])
    return out
