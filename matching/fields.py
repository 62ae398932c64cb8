"""From agreeing match-key types to field-level agreement: what the private scorer compares.

A key type is a known combination of field *components* — ``pair_mph_yw`` is "two name sounds
(Metaphone)" and "birth-year window", ``dob_dist`` is "full birth date" and "home district". Key
types travel in the clear with every blinded key, so both nodes know, per candidate pair, which
key types agree (and on how many keys) and which key types both sides have. From that alone:

* a key that agrees means **every component of it agrees**;
* a key type both sides have but on which no key agrees, while every component but one is known to
  agree from other keys, means **the remaining component differs** (the key is the cross product
  of its components' values, so with the others equal, only that one can differ);
* anything else is **unknown** — never guessed.

Implications between components are used both ways: two equal name sounds include one equal name
sound, an equal date includes an equal birth year (and a differing year a differing date).

The counts say a little more: ``pair_…_yw`` agreeing on two keys per shared name pair means the
same birth year (two shared year windows), on one key a year apart.

The result is one comparison level per *field* (names, birth, district, village, phone, mother,
sex),
which is what Fellegi-Sunter's conditional independence is about: fields, not the correlated key
types built from them. Everything is numpy over all pairs at once and symmetric in the two sides.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .errors import KeySetError
from .name_counts import graded_names, shared_pairs

MISSING = -1

_HEADS = {"pair": "names2", "nam": "name1", "fam": "family1", "gvn": "given1", "near": "near2"}
_PARTS = {
    "yw": "year",
    "y6": "band",
    "vsk": "villagex",
    "yr": "yearx",
    "dob": "date",
    "place": "village",
    "dist": "district",
    "fp2": "famprefix",
    "mother": "mother",
}
_SPECIAL = {
    "phone": ("phone",),
    "dob_place": ("date", "village"),
    "dob_dist": ("date", "district"),
    "phone_sex": ("phone", "sex"),
}


def components(key_type: str) -> tuple[str, ...]:
    """The field components a key type combines, e.g. ('names2:mph', 'year')."""
    if key_type in _SPECIAL:
        return _SPECIAL[key_type]
    head, encoder, *rest = [*key_type.split("_"), ""]
    rest = [part for part in rest if part]
    if head not in _HEADS or not encoder or any(part not in _PARTS for part in rest):
        raise KeySetError(f"match key type {key_type!r} is not made of known parts")
    return (f"{_HEADS[head]}:{encoder}", *(_PARTS[p] for p in rest))


@dataclass(frozen=True)
class Field:
    """One compared field: words per level (lowest first), EM's anchor for true matches (m)
    and where EM starts for non-matches (u)."""

    name: str
    words: tuple[str, ...]
    m: tuple[float, ...]
    u: tuple[float, ...]


# Levels are ordered by how strongly they speak for a match; EM's weights are made monotone in
# this order. "" means the level is not worth saying.
FIELDS: dict[str, Field] = {
    f.name: f
    for f in (
        Field(
            "names",
            (
                "no name sounds the same",
                "no two names sound the same",
                "",  # undetermined
                "a name sounds the same",
                "two names sound the same, more names differ",
                "two names sound alike, spelled differently",
                "two names alike (one a letter off)",
                "two names sound the same, in any order",
                "all names sound the same, in any order",  # each has one or two names
                "three or more names sound the same, in any order",
                "the same two names, in any order",  # spelled alike
                "the same three or more names, in any order",
            ),
            (0.02, 0.06, 0.07, 0.15, 0.01, 0.01, 0.06, 0.44, 0.05, 0.04, 0.06, 0.06),
            (0.12, 0.12, 0.3, 0.23, 0.05, 0.05, 0.04, 0.13, 0.005, 0.002, 0.002, 0.001),
        ),
        Field(
            "birth",
            (
                "birth years far apart",
                "birth years more than a year apart",
                "birth date differs",
                "",
                "birth year within a year",
                "same birth year, birth date differs",
                "same birth year",
                "same birth date",
            ),
            (0.01, 0.04, 0.05, 0.1, 0.12, 0.05, 0.3, 0.33),
            (0.2, 0.1, 0.15, 0.25, 0.13, 0.05, 0.1, 0.02),
        ),
        Field(
            "district",
            ("home district differs", "", "same home district"),
            (0.08, 0.12, 0.8),
            (0.3, 0.4, 0.3),
        ),
        Field(
            "village",
            ("home village differs", "", "home village spelled alike", "same home village"),
            (0.12, 0.15, 0.08, 0.65),
            (0.3, 0.45, 0.05, 0.2),
        ),
        Field(
            "phone",
            ("phone number differs", "", "same phone number"),
            (0.3, 0.0, 0.7),
            (0.95, 0.0, 0.05),
        ),
        Field(
            "rarity",
            (
                "the names that agree are common",
                "",
                "the names that agree are uncommon",
                "the names that agree are rare",
            ),
            (0.2, 0.25, 0.25, 0.3),
            (0.5, 0.3, 0.15, 0.05),
        ),
        Field(
            "mother",
            ("mother's name differs", "", "mother's name sounds the same"),
            (0.15, 0.15, 0.7),
            (0.4, 0.5, 0.1),
        ),
        Field(
            "sex",
            ("sex differs", "", "same sex"),
            (0.03, 0.1, 0.87),
            (0.4, 0.1, 0.5),
        ),
    )
}
# Where each field's "undetermined" level sits: both records have the field (some key type with
# it is on both sides) but no key tells whether it agrees. Below every agreement, above every
# known difference; a field one side lacks stays MISSING (weight 0).
UNDETERMINED = {
    "names": 2, "birth": 3, "rarity": 1, "district": 1, "village": 1, "phone": 1, "mother": 1,
    "sex": 1,
}  # fmt: skip
# The fields whose "undetermined" level is used. For names it is an observation: both records
# have names and no name key agrees. For the others it is not: every key with a birth year,
# district, village, mother or phone also carries two name sounds, a name sound or a birth date,
# so "no key tells" mostly repeats that those do not agree — which the names level already
# counts. As a level of its own, EM weighed it a second time (district undetermined −4.2 on
# eastafrica-10k, a pair sharing one name sound and a village, with the same phone, scored
# 0.002), so these fields stay unknown there (weight 0), as when one side lacks them.
UNDETERMINED_USED = ("names",)


def fields_for(key_types: Sequence[str]) -> tuple[str, ...]:
    """The fields a key set can say something about, in FIELDS order."""
    comps = {c.split(":")[0] for t in key_types for c in components(t)}
    wanted = {
        "names": {"names2", "name1", "near2"},
        "birth": {"year", "yearx", "date", "band"},
        "district": {"district"},
        "village": {"village", "villagex"},
        "phone": {"phone"},
        "mother": {"mother"},
        "sex": {"sex"},
        "rarity": {"names2"},
    }
    return tuple(name for name in FIELDS if wanted[name] & comps)


def field_levels(
    key_types: Sequence[str],
    agree: np.ndarray,
    both: np.ndarray,
    fields: Sequence[str],
    fewest: np.ndarray | None = None,
    most: np.ndarray | None = None,
) -> np.ndarray:
    """(pairs, fields) int8 comparison levels (MISSING = unknown).

    ``most[i, t]``, when given: the larger of the two records' numbers of keys of type t. Where
    all names sound the same, the share of the deletion-neighbourhood (``near2``) keys that
    agree, out of the record with more of them, grades the spelling: at least ``SPELLED_ALIKE``
    means the same names (in practice spelled identically: one letter wrong in one of two
    six-letter names leaves 8 of 14 agreeing), below it they only sound alike ("Mwakyo" /
    "Mwakio", "Mary" / "Maria").

    ``fewest[i, t]``, when given: the smaller of the two records' numbers of keys of type t
    (both nodes see how many keys of each type a record has). A name-pair key type agreeing on
    all of them means every name pair of the record with fewer is shared (name_counts.py): all
    its names sound the same, whether it has two names or four.

    ``agree[i, t]``: equal keys of ``key_types[t]`` for pair i; ``both[i, t]``: both records
    have keys of that type. Columns beyond ``len(key_types)`` are ignored.
    """
    n = len(agree)
    comps_of = [components(t) for t in key_types]
    names = sorted({c for cs in comps_of for c in cs})
    col = {c: i for i, c in enumerate(names)}
    yes = np.zeros((n, len(names)), dtype=bool)
    no = np.zeros((n, len(names)), dtype=bool)
    agreeing = agree[:, : len(key_types)] > 0
    for t, cs in enumerate(comps_of):
        for c in cs:
            yes[:, col[c]] |= agreeing[:, t]

    def implied(table: np.ndarray, stronger: str, weaker: str) -> None:
        if stronger in col and weaker in col:
            table[:, col[weaker]] |= table[:, col[stronger]]

    for c in names:  # two equal name sounds include one equal name sound (same encoder)
        if c.startswith(("names2:", "near2:")):
            implied(yes, c, "name1:" + c.split(":")[1])
    implied(yes, "date", "yearx")
    implied(yes, "date", "year")
    implied(yes, "yearx", "year")
    implied(yes, "year", "band")
    implied(yes, "village", "villagex")
    for t, cs in enumerate(comps_of):
        differs = both[:, t] & ~agreeing[:, t]
        if not differs.any():
            continue
        for c in cs:
            others = [col[o] for o in cs if o != c]
            known = differs & (yes[:, others].all(axis=1) if others else True)
            no[:, col[c]] |= known
    for c in names:  # no shared name sound means no shared pair of name sounds
        if c.startswith("name1:"):
            implied(no, c, "names2:" + c.split(":")[1])
    implied(no, "year", "yearx")
    implied(no, "year", "date")
    implied(no, "yearx", "date")
    implied(no, "band", "year")
    implied(no, "band", "yearx")
    implied(no, "band", "date")
    implied(no, "villagex", "village")
    no &= ~yes  # an approximation never outranks a key that agrees

    out = np.full((n, len(fields)), MISSING, dtype=np.int8)
    for f, name in enumerate(fields):
        level = _LEVELS[name](key_types, comps_of, agree, yes, no, col)
        undetermined = UNDETERMINED[name]
        level = np.where(level >= undetermined, level + 1, level)
        types = [
            t
            for t, cs in enumerate(comps_of)
            if any(_FIELD_OF.get(c.split(":")[0]) == name for c in cs)
        ]
        if types and name in UNDETERMINED_USED:
            comparable = both[:, types].any(axis=1)
            level[(level == MISSING) & comparable] = undetermined
        if name == "names":
            level = graded_names(
                level,
                comps_of,
                agree,
                fewest,
                most,
                undetermined,
                _near_comparable(comps_of, both, yes, col),
            )
        out[:, f] = level
    return out


def _near_comparable(
    comps_of: Sequence[tuple[str, ...]], both: np.ndarray, yes: np.ndarray, col: dict[str, int]
) -> np.ndarray:
    """Pairs for which some deletion-neighbourhood (``near2``) key type could agree: both records
    have it and its other component (the district, the village) agrees. There, no such key
    agreeing means no name of one record is spelled as, or one letter from, a name of the other
    that sounds the same."""
    out = np.zeros(len(both), dtype=bool)
    for t, cs in enumerate(comps_of):
        if cs[0].startswith("near2:") and all(c in col for c in cs[1:]):
            out |= both[:, t] & yes[:, [col[c] for c in cs[1:]]].all(axis=1)
    return out


_FIELD_OF = {
    "names2": "names",
    "name1": "names",
    "year": "birth",
    "yearx": "birth",
    "band": "birth",
    "near2": "names",
    "villagex": "village",
    "date": "birth",
    "district": "district",
    "village": "village",
    "phone": "phone",
    "mother": "mother",
    "sex": "sex",
}


def _any(table: np.ndarray, col: dict[str, int], prefix: str) -> np.ndarray:
    cols = [i for c, i in col.items() if c.split(":")[0] == prefix]
    if not cols:
        return np.zeros(len(table), dtype=bool)
    return np.asarray(table[:, cols].any(axis=1))


def _names(
    key_types: Sequence[str],
    comps_of: Sequence[tuple[str, ...]],
    agree: np.ndarray,
    yes: np.ndarray,
    no: np.ndarray,
    col: dict[str, int],
) -> np.ndarray:
    level = np.full(len(agree), MISSING, dtype=np.int8)
    level[_any(no, col, "names2")] = 1
    level[_any(no, col, "name1")] = 0
    level[_any(yes, col, "name1")] = 2
    level[_any(yes, col, "near2")] = 3
    level[_any(yes, col, "names2")] = 4
    level[shared_pairs(key_types, comps_of, agree) >= 2] = 5
    return level


def _birth(
    key_types: Sequence[str],
    comps_of: Sequence[tuple[str, ...]],
    agree: np.ndarray,
    yes: np.ndarray,
    no: np.ndarray,
    col: dict[str, int],
) -> np.ndarray:
    n = len(agree)
    level = np.full(n, MISSING, dtype=np.int8)

    def has(table: np.ndarray, c: str) -> np.ndarray:
        return table[:, col[c]] if c in col else np.zeros(n, dtype=bool)

    # Year windows shared: a "names2 + year" key agrees on (shared pairs) x (shared windows).
    pairs = np.maximum(shared_pairs(key_types, comps_of, agree), 1)
    windows = np.zeros(n, dtype=np.int16)
    for t, cs in enumerate(comps_of):
        if "year" in cs:
            per = (
                agree[:, t]
                if len(cs) == 1
                else agree[:, t] // (pairs if cs[0].startswith("names2:") else 1)
            )
            windows = np.maximum(windows, per)
    date_no = has(no, "date")
    level[date_no] = 2
    level[has(no, "year") | has(no, "yearx")] = 1
    level[has(no, "band")] = 0
    year = has(yes, "year")
    level[year] = 3
    same_year = (year & (windows >= 2)) | has(yes, "yearx")
    level[same_year & date_no] = 4
    level[same_year & ~date_no] = 5
    level[has(yes, "date")] = 6
    return level


LevelFunction = Callable[
    [Sequence[str], Sequence[tuple[str, ...]], np.ndarray, np.ndarray, np.ndarray, dict[str, int]],
    np.ndarray,
]


def _village(
    key_types: Sequence[str],
    comps_of: Sequence[tuple[str, ...]],
    agree: np.ndarray,
    yes: np.ndarray,
    no: np.ndarray,
    col: dict[str, int],
) -> np.ndarray:
    out = np.full(len(agree), MISSING, dtype=np.int8)
    for component in ("villagex", "village"):
        if component in col:
            out[no[:, col[component]]] = 0
    for component, level in (("villagex", 1), ("village", 2)):
        if component in col:
            out[yes[:, col[component]]] = level
    return out


def _simple(component: str) -> LevelFunction:
    def level(
        key_types: Sequence[str],
        comps_of: Sequence[tuple[str, ...]],
        agree: np.ndarray,
        yes: np.ndarray,
        no: np.ndarray,
        col: dict[str, int],
    ) -> np.ndarray:
        out = np.full(len(agree), MISSING, dtype=np.int8)
        cols = [i for c, i in col.items() if c.split(":")[0] == component]
        if cols:
            out[no[:, cols].any(axis=1)] = 0
            out[yes[:, cols].any(axis=1)] = 1
        return out

    return level


def _unknown(
    key_types: Sequence[str],
    comps_of: Sequence[tuple[str, ...]],
    agree: np.ndarray,
    yes: np.ndarray,
    no: np.ndarray,
    col: dict[str, int],
) -> np.ndarray:
    """Not derived from key types: ``rarity`` comes from key counts (``rarity_levels``)."""
    return np.full(len(agree), MISSING, dtype=np.int8)


# Holders (records of both sides) of the rarest agreeing name-pair key, at the upper bound of
# each rarity level: a key only the pair itself holds is rare.
RARITY_BOUNDS = (3, 8, 30)


def rarity_levels(holders: np.ndarray) -> np.ndarray:
    """Rarity levels from Candidates.rarity: rare (2–3 holders), uncommon (4–8), between
    (9–30, undetermined), common (more); MISSING when no name-pair key agrees."""
    level = np.full(len(holders), MISSING, dtype=np.int8)
    level[holders > RARITY_BOUNDS[2]] = 0
    level[(holders > RARITY_BOUNDS[1]) & (holders <= RARITY_BOUNDS[2])] = 1
    level[(holders > RARITY_BOUNDS[0]) & (holders <= RARITY_BOUNDS[1])] = 2
    level[(holders > 0) & (holders <= RARITY_BOUNDS[0])] = 3
    return level


_LEVELS = {
    "names": _names,
    "rarity": _unknown,
    "birth": _birth,
    "district": _simple("district"),
    "village": _village,
    "phone": _simple("phone"),
    "mother": _simple("mother"),
    "sex": _simple("sex"),
}
