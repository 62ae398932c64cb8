"""Names strata: the private scorer's u counted again among pairs whose names agree on two
names, and among pairs whose names all agree (docs/matching.md § 3, items 8 and 9).

Fellegi–Sunter assumes the fields independent given match status. Among different people that
is far from true once their names agree: two records sharing two or all names are namesakes and
relatives of one community, who share district, village and age band much more often than two
records sharing one name sound. So each stratum keeps the register-wide m and match share but
gets its own u, counted from its pairs that are nobody's best candidate: conditional
independence given match status *and* the stratum. Only levels and record indices are used, so
both nodes compute the same models.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import em
from .fields import FIELDS

# The fewest pairs that are nobody's best candidate from which to count a u (here per stratum;
# scoring.py uses it for the register-wide u too).
MIN_NON_BEST = 50
# Pairs' worth of the register-wide u that the u of pairs in a names stratum is pulled toward
# (same_names_model).
SAME_NAMES_U_PAIRS = 50.0
# The names strata whose other fields get their own u (same_names_model), lowest and highest
# names level of each: pairs agreeing on two names and pairs agreeing on all of them are
# namesakes and relatives of one community far more often than pairs sharing one name sound.
NAME_STRATA = (
    ("two names sound the same, more names differ", "two names sound the same, in any order"),
    ("all names sound the same, in any order", "the same three or more names, in any order"),
)


def _stratum_levels(stratum: tuple[str, str]) -> tuple[int, int]:
    words = FIELDS["names"].words
    return words.index(stratum[0]), words.index(stratum[1])


def below_best(
    model: em.Model,
    unique: np.ndarray,
    inverse: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
) -> np.ndarray:
    """Which pairs score below the best candidate of both their records under ``model``: the
    pairs that are almost all non-matches, from which u can be counted without labels."""
    pattern_odds = np.array([model.log_odds(p) for p in unique.tolist()])
    odds = pattern_odds[inverse]
    best_left = np.full(int(left.max()) + 1, -np.inf)
    best_right = np.full(int(right.max()) + 1, -np.inf)
    np.maximum.at(best_left, left, odds)
    np.maximum.at(best_right, right, odds)
    below: np.ndarray = (odds < best_left[left]) & (odds < best_right[right])
    return below


def same_names_model(
    model: em.Model,
    unique: np.ndarray,
    inverse: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    fields: Sequence[str],
    stratum: tuple[str, str] = NAME_STRATA[-1],
) -> em.Model | None:
    """The model for pairs whose names level is in ``stratum`` (by default: all names sound
    the same): the same m and match share, but u of every other field counted among such pairs
    alone.

    Different people whose names agree on two or all names are not random people of the
    register: they are namesakes and relatives (common names in one community), who share
    district, village and age band far more often than two random candidates do, so "same
    district" says less for them and "birth years far apart" more. u is counted from such pairs
    that are nobody's best candidate, pulled toward the register-wide u by SAME_NAMES_U_PAIRS
    pairs' worth. Conditional independence of the other fields is assumed given match status
    *and* the stratum. Uses only levels and record indices: the same on both nodes.
    """
    names = list(fields).index("names")
    low, high = _stratum_levels(stratum)
    in_stratum = (unique[:, names] >= low) & (unique[:, names] <= high)
    non_best = below_best(model, unique, inverse, left, right) & in_stratum[inverse]
    if non_best.sum() < MIN_NON_BEST:
        return None
    per_pattern = np.bincount(inverse[non_best], minlength=len(unique)).astype(float)
    all_pairs = np.bincount(inverse, minlength=len(unique)).astype(float) * in_stratum
    u_all, weights_all = list(model.u), list(model.weights)
    for f, name in enumerate(fields):
        if f == names:
            continue
        n = len(FIELDS[name].words)
        seen = np.array([per_pattern[unique[:, f] == lv].sum() for lv in range(n)])
        u = (seen + SAME_NAMES_U_PAIRS * np.asarray(model.u[f])) / (seen.sum() + SAME_NAMES_U_PAIRS)
        pairs = np.array([all_pairs[unique[:, f] == lv].sum() for lv in range(n)])
        u_all[f] = tuple(float(x) for x in u)
        weights_all[f] = em._monotone(np.log(np.asarray(model.m[f]) / u), pairs)
    return em.Model(
        names=model.names, prior=model.prior, m=model.m, u=tuple(u_all),
        weights=tuple(weights_all), iterations=model.iterations,
    )  # fmt: skip


def with_name_strata(
    model: em.Model,
    unique: np.ndarray,
    inverse: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    fields: Sequence[str],
) -> tuple[np.ndarray, list[em.Model]]:
    """Per pattern: log-odds and the model that gives them — each NAME_STRATA stratum's own
    model (same_names_model, fitted from the register-wide ``model``) where the names level is
    in it and the stratum has enough pairs, ``model`` elsewhere."""
    models = [model] * len(unique)
    names = unique[:, list(fields).index("names")]
    for stratum in NAME_STRATA:
        own = same_names_model(model, unique, inverse, left, right, fields, stratum)
        if own is None:
            continue
        low, high = _stratum_levels(stratum)
        for i in np.flatnonzero((names >= low) & (names <= high)).tolist():
            models[i] = own
    odds = np.array([m.log_odds(p) for m, p in zip(models, unique.tolist(), strict=True)])
    return odds, models
