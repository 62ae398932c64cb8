"""Duplicates inside one register (``tafuta dedup``), with a model of their own.

Linking a missing list with a found register expects many matches: a large share of both sides
may be the same people. Inside one register a person is rarely there twice (issue 11's field
set: 248 duplicate pairs in 6,248 records), so fitting the link's model to a register's own
candidates made every look-alike a near-certain duplicate: pairs whose district, village and
phone all differed scored 0.9996. Here:

* **how often non-duplicates agree (u)** is counted from the candidate pairs that are not the
  best candidate of either record — nearly all of them are different people;
* **how often duplicates agree (m)** is anchored on ``DUPLICATE_M`` and held firmly: a register
  has too few duplicates to learn it from;
* **how many duplicates there are** starts from ``DUPLICATE_SHARE`` of the records and is held
  there firmly, then EM refines it;
* how common the agreeing names are in the register moves the odds (term frequency);
* mother's, father's name and phone count once, at the strongest: siblings share all three;
* a record is one person registered at most once more: the one-to-one step over both ends of
  each pair (``assignment.one_to_one`` with one index for both).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import em
from .assignment import CROWDED, one_to_one
from .candidates import candidate_arrays
from .compare import LEVELS, NAMES, PlainScorer, compare
from .compare import _token_similarity as token_similarity
from .keys import KEY_TYPES, match_keys
from .normalise import Person
from .scoring import Scored, non_best_u

__all__ = ["DEDUP_THRESHOLD", "DUPLICATE_SHARE", "dedup_links"]

# The score from which `tafuta dedup` and the duplicates page list a pair. Higher than the review
# queue's DEFAULT_THRESHOLD on purpose: that one is low so that no missing person is lost; a
# duplicates list is cleanup work, where each wrong pair costs a caseworker's time and a wrong
# merge would lose a person.
DEDUP_THRESHOLD = 0.8

# How often a duplicate — one person written down twice, often by two relatives — agrees on
# each comparison of compare.COMPARISONS (names, birth, village, district, mother, father, phone,
# sex): names and birth nearly always alike, a phone often the reporter's own. Stricter than a
# link's anchors: a missing person and their found record are written by different people in
# different places, two reports of one missing person far less so. Siblings — same family name,
# parents, village and phone — are what these anchors must keep apart.
DUPLICATE_M = (
    (0.005, 0.04, 0.3, 0.655),
    (0.02, 0.03, 0.15, 0.5, 0.3),
    (0.1, 0.1, 0.8),
    (0.05, 0.001, 0.949),
    (0.1, 0.1, 0.8),
    (0.1, 0.1, 0.8),
    (0.4, 0.05, 0.55),
    (0.01, 0.99),
)
# Where non-duplicates' agreement (u) starts and is pulled, U_STRENGTH pairs' worth: what a
# register's candidate pairs of different people show (names and district often alike,
# a phone almost never); decides a small register, is lost in a large one, where u is counted
# from the pairs that are nobody's best candidate.
DUPLICATE_U = (
    (0.5, 0.4, 0.05, 0.05),
    (0.6, 0.2, 0.17, 0.02, 0.01),
    (0.65, 0.01, 0.34),
    (0.45, 0.001, 0.549),
    (0.94, 0.01, 0.05),
    (0.63, 0.02, 0.35),
    (0.999, 0.0005, 0.0005),
    (0.17, 0.83),
)
U_STRENGTH = 20.0
# Term frequency, as the private scorer's name rarity: a rare name pair registered twice is more
# likely one person than "Mary Wanjiku" twice. Holders of the rarest agreeing key of these types,
# against the register's typical holders, in log-odds within ±RARITY_CAP.
RARITY_TYPES = ("pair_mph_y6", "pair_mph_dist")
RARITY_CAP = 1.5
# Share of a register's records that have a duplicate: a few percent in the field.
DUPLICATE_SHARE = 0.03
# How firmly the duplicate share and the m anchors are held (pairs' worth, relative to the
# pairs EM calls duplicates): a register's few duplicates cannot outvote them.
PRIOR_STRENGTH = 1.0
M_STRENGTH = 20.0


def dedup_links(people: Sequence[Person], key_types: Sequence[str] = KEY_TYPES) -> list[Scored]:
    """Every candidate pair of likely duplicates within ``people``, scored, best first."""
    by_ref = {p.ref: p for p in people}
    keys = {ref: match_keys(p, key_types) for ref, p in by_ref.items()}
    found = candidate_arrays(keys, None, key_types, rarity_types=RARITY_TYPES)
    if not len(found):
        return []
    ids = found.ids_left
    order = np.lexsort((found.right, found.left))
    pairs = [
        (ids[i], ids[j])
        for i, j in zip(found.left[order].tolist(), found.right[order].tolist(), strict=True)
    ]
    assert found.rarity is not None  # asked for with rarity_types
    holders = found.rarity[order]
    patterns = np.array([_compare(by_ref[a], by_ref[b]) for a, b in pairs], dtype=np.int16).reshape(
        -1, len(NAMES)
    )
    unique, inverse, counts = np.unique(patterns, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    index = {ref: i for i, ref in enumerate(sorted(by_ref, key=str))}
    first = np.array([index[a] for a, _ in pairs], dtype=np.int64)
    second = np.array([index[b] for _, b in pairs], dtype=np.int64)
    share = min(0.5, DUPLICATE_SHARE * len(by_ref) / 2 / len(pairs))
    m_start = list(DUPLICATE_M)

    def fit(u_start: list[np.ndarray] | None = None) -> em.Model:
        return em.fit_counted(
            unique, counts, LEVELS, NAMES, m_start=m_start, u_start=u_start or DUPLICATE_U,
            fix_u=u_start is not None, u_prior=DUPLICATE_U, u_strength=U_STRENGTH,
            prior_start=share, prior_strength=PRIOR_STRENGTH, m_strength=M_STRENGTH,
            pool_levels=True,
        )  # fmt: skip

    model = fit()
    # Both ends of a pair are records of one register: one index for both.
    u_hat = non_best_u(model, unique, inverse, first, second, list(LEVELS))
    if u_hat is not None:
        model = fit(u_hat)
    odds = np.array([_log_odds(model, p) for p in unique.tolist()])[inverse]
    odds = odds + _rarity(holders)
    n = len(index)
    scores, crowded = _one_person_once(odds, first, second, n)
    scorer = PlainScorer(model)
    words = [scorer.explain(p) for p in unique.tolist()]
    scored = [
        Scored(a, b, s, words[p] + (CROWDED if c else ""))
        for (a, b), s, p, c in zip(
            pairs, scores.tolist(), inverse.tolist(), crowded.tolist(), strict=True
        )
    ]
    return sorted(scored, key=lambda s: (-s.score, s.ref_a, s.ref_b))


_NAMES = NAMES.index("names")
_BIRTH = NAMES.index("birth")
_WITHIN_A_YEAR, _SAME_YEAR = 2, 3


def _estimated(person: Person) -> bool:
    """The birth year comes from an estimated age (two possible years), not a written date."""
    return person.birth is not None and person.birth.exact_year is None


def _compare(a: Person, b: Person) -> tuple[int, ...]:
    """compare.compare, with the names level capped by the given names alone: siblings share
    the family name (and the father's), so only their own given names tell them apart; and
    "same birth year" only from written years: two registrations of one person estimate the
    age independently (each two possible years, often a year or more off), so overlapping
    estimated years say no more than "within a year"."""
    levels = list(compare(a, b))
    if levels[_BIRTH] == _SAME_YEAR and (_estimated(a) or _estimated(b)):
        levels[_BIRTH] = _WITHIN_A_YEAR
    similarity = _given_similarity(a, b)
    if similarity is not None and levels[_NAMES] != em.MISSING:
        cap = 0 if similarity < 0.8 else 1 if similarity < 0.92 else levels[_NAMES]
        levels[_NAMES] = min(levels[_NAMES], cap)
    return tuple(levels)


def _given_similarity(a: Person, b: Person) -> float | None:
    """How alike the two records' own given names are, leaving out every family and father's
    name of either (a swapped or father's-name family name must not count as a given name)."""
    family = {*a.family, *b.family, *a.father, *b.father}
    x = [t for t in (*a.given, *a.other) if t not in family]
    y = [t for t in (*b.given, *b.other) if t not in family]
    if not x or not y:
        return None
    short, long = (x, y) if len(x) <= len(y) else (y, x)
    return max(token_similarity(s, t) for s in short for t in long)


# Comparisons that say "same family" more than "same person": siblings share them all, so
# their weights must not add up (they are far from independent). Only the strongest counts.
FAMILY = ("mother", "father", "phone")


def _log_odds(model: em.Model, levels: Sequence[int]) -> float:
    """The model's log-odds with the family comparisons counted once, at the strongest."""
    total = float(np.log(model.prior / (1 - model.prior)))
    family = []
    for name, weights, level in zip(NAMES, model.weights, levels, strict=True):
        if level == em.MISSING:
            continue
        if name in FAMILY:
            family.append(weights[level])
        else:
            total += weights[level]
    if family:
        total += max(family) if max(family) > 0 else min(family)
    return total


def _rarity(holders: np.ndarray) -> np.ndarray:
    """Term frequency: log(typical / this pair's holders of its rarest agreeing name-pair key),
    within ±RARITY_CAP; 0 where no name-pair key agrees."""
    out = np.zeros(len(holders))
    agreeing = holders > 0
    if agreeing.any():
        typical = float(np.median(holders[agreeing]))
        out[agreeing] = np.clip(np.log(typical / holders[agreeing]), -RARITY_CAP, RARITY_CAP)
    return out


def _one_person_once(
    odds: np.ndarray, first: np.ndarray, second: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """one_to_one where both ends index the same records: a pair's rivals are every other
    candidate pair touching either of its two records."""
    both_ends = np.concatenate([first, second])
    mirrored = np.concatenate([second, first])
    scores, crowded = one_to_one(np.concatenate([odds, odds]), both_ends, mirrored, n, n)
    # Each pair appears twice (a, b) and (b, a); the rivals of (a, b) on a's side are a's other
    # pairs, on b's side b's other pairs — the mirrored copy holds the same numbers.
    half = len(odds)
    return scores[:half], crowded[:half]
