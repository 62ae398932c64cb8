"""The plain path: comparing two normalised records field by field, with fuzzy similarities.

Used where the raw values are at hand: duplicates within the node's own register (``tafuta
dedup``) and ``tafuta link --plain``. Candidate pairs come from the same match keys as the private
path (unblinded); each pair is then compared on every field at a few graded levels, EM weighs the
levels, and every level has words for the explanation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jellyfish
import numpy as np
from rapidfuzz.distance import JaroWinkler, Levenshtein

from . import em
from .assignment import SCORE_DECIMALS
from .normalise import Birth, Person

MISSING = em.MISSING


@dataclass(frozen=True)
class Comparison:
    """One field comparison: a function to levels 0..n-1 (or MISSING) and words per level."""

    name: str
    compare: Callable[[Person, Person], int]
    words: tuple[str, ...]  # per level, lowest first; "" says nothing at that level
    m: tuple[float, ...]  # expected share of true matches at each level (EM's anchor)


def _token_similarity(a: str, b: str) -> float:
    if a == b:
        return 1.0
    similarity = JaroWinkler.similarity(a, b)
    if jellyfish.metaphone(a) == jellyfish.metaphone(b):
        similarity = max(similarity, 0.95)
    return similarity


def _best_cover(short: Sequence[str], long: Sequence[str]) -> float:
    """Mean over the shorter list's tokens of their best similarity in the longer list."""
    return sum(max(_token_similarity(s, t) for t in long) for s in short) / len(short)


def _names(a: Person, b: Person) -> int:
    if not a.names or not b.names:
        return MISSING
    # Compare the fewer names against all of the other's, and the father's names: registers
    # drop given names, swap given and family names, and use the father's name as family name.
    short, long = (a, b) if len(a.names) <= len(b.names) else (b, a)
    similarity = max(
        _best_cover(short.names, long.names + long.father),
        _best_cover(short.names + short.father, long.names) if short.father else 0.0,
    )
    return _level(similarity, (0.80, 0.92, 0.995))


def _parents(field: str) -> Callable[[Person, Person], int]:
    def compare(a: Person, b: Person) -> int:
        x, y = getattr(a, field), getattr(b, field)
        if not x or not y:
            return MISSING
        # Every name of the shorter one must be found in the other: a shared Christian name
        # ("Grace …") or the family name a father passes on is not the same parent.
        short, long = (x, y) if len(x) <= len(y) else (y, x)
        return _level(_best_cover(short, long), (0.85, 0.95))

    return compare


def _level(similarity: float, steps: Sequence[float]) -> int:
    return sum(similarity >= step for step in steps)


# Birth years further apart than this are "far apart": estimated ages on found registers are
# up to four years off (issue 11), different people of one name often much more.
FAR_YEARS = 4


def _birth(a: Person, b: Person) -> int:
    x, y = a.birth, b.birth
    if x is None or y is None:
        return MISSING
    gap = max(x.year_lo - y.year_hi, y.year_lo - x.year_hi, 0)
    if gap > FAR_YEARS:
        return 0
    if gap > 1:  # an estimated age is often this far off
        return 1
    if gap == 1:
        return 2
    if x.exact_year is not None and x.exact_year == y.exact_year:
        if x.day_month() and x.day_month() == y.day_month():
            return 4
        if _conflict(x, y):
            return 2
    return 3


def _conflict(x: Birth, y: Birth) -> bool:
    """Same year but month (or day) written differently, not just swapped."""
    if x.month and y.month and x.month != y.month:
        return not (x.day_month() and x.day_month() == y.day_month())
    return bool(x.day and y.day and x.day != y.day)


def _place(field: str) -> Callable[[Person, Person], int]:
    def compare(a: Person, b: Person) -> int:
        x, y = getattr(a, field), getattr(b, field)
        if not x or not y:
            return MISSING
        return 2 if x == y else int(JaroWinkler.similarity(x, y) >= 0.9)

    return compare


def _phone(a: Person, b: Person) -> int:
    if not a.phone or not b.phone:
        return MISSING
    return 2 if a.phone == b.phone else int(Levenshtein.distance(a.phone, b.phone) <= 1)


def _sex(a: Person, b: Person) -> int:
    if not a.sex or not b.sex or "X" in (a.sex, b.sex):
        return MISSING
    return int(a.sex == b.sex)


COMPARISONS: tuple[Comparison, ...] = (
    Comparison(
        "names",
        _names,
        ("names differ", "names partly alike", "names sound alike", "same names, in any order"),
        (0.04, 0.16, 0.3, 0.5),
    ),
    Comparison(
        "birth",
        _birth,
        (
            "birth years far apart",
            "birth years 2–4 apart",
            "birth date close but not equal",
            "same birth year",
            "same birth date",
        ),
        (0.02, 0.1, 0.13, 0.45, 0.3),
    ),
    Comparison(
        "place",
        _place("place"),
        ("home village differs", "home village spelled alike", "same home village"),
        (0.15, 0.1, 0.75),
    ),
    Comparison(
        "district",
        _place("district"),
        ("home district differs", "", "same home district"),
        (0.1, 0.001, 0.899),
    ),
    Comparison(
        "mother",
        _parents("mother"),
        ("mother's name differs", "mother's name alike", "mother's name sounds the same"),
        (0.2, 0.1, 0.7),
    ),
    Comparison(
        "father",
        _parents("father"),
        ("father's name differs", "father's name alike", "father's name sounds the same"),
        (0.2, 0.1, 0.7),
    ),
    Comparison(
        "phone",
        _phone,
        ("phone number differs", "phone number one digit apart", "same phone number"),
        (0.2, 0.05, 0.75),
    ),
    Comparison("sex", _sex, ("sex differs", ""), (0.03, 0.97)),
)
NAMES = tuple(c.name for c in COMPARISONS)
LEVELS = tuple(len(c.words) for c in COMPARISONS)


def compare(a: Person, b: Person) -> tuple[int, ...]:
    """Comparison levels of two records, one per entry of COMPARISONS."""
    return tuple(c.compare(a, b) for c in COMPARISONS)


@dataclass(frozen=True)
class PlainScorer:
    model: em.Model

    def scores(self, patterns: Sequence[Sequence[int]]) -> list[float]:
        if not patterns:
            return []
        array = np.array(patterns, dtype=np.int16)
        return [round(float(p), SCORE_DECIMALS) for p in self.model.probabilities(array)]

    def explain(self, levels: Sequence[int]) -> str:
        agreeing: list[tuple[float, str]] = []
        differing: list[str] = []
        for comparison, weights, level in zip(COMPARISONS, self.model.weights, levels, strict=True):
            if level == MISSING or not comparison.words[level]:
                continue
            if level == 0:
                differing.append(comparison.words[0])
            else:
                agreeing.append((-weights[level], comparison.words[level]))
        return "; ".join([w for _, w in sorted(agreeing)] + differing) or "no evidence"


def fit_plain_scorer(
    patterns: Sequence[Sequence[int]], sizes: tuple[int, int] | None = None
) -> PlainScorer:
    array = np.array(patterns, dtype=np.int16).reshape(-1, len(COMPARISONS))
    sizes = sizes or (len(array), len(array))
    return PlainScorer(
        em.fit(
            array,
            LEVELS,
            NAMES,
            m_start=[c.m for c in COMPARISONS],
            prior_start=em.expected_match_share(*sizes, len(array)),
        )
    )
