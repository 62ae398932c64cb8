"""Linking and deduplicating with raw values at hand (the node's own records, ``--plain``).

Candidate pairs come from the match keys, compared unblinded; each pair is then scored on its
fields (compare.py) with weights EM fits to these candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import em
from .assignment import CROWDED, one_to_one
from .candidates import candidate_pairs
from .compare import COMPARISONS, LEVELS, NAMES, PlainScorer, compare, fit_plain_scorer
from .dedup import dedup_links
from .keys import KEY_TYPES, match_keys
from .normalise import Person
from .same_person import same_person_groups
from .scoring import M_ROUNDS, U_ROUNDS, Scored, confident_m, non_best_u


def plain_links(
    people_a: Sequence[Person],
    people_b: Sequence[Person] | None = None,
    key_types: Sequence[str] = KEY_TYPES,
) -> list[Scored]:
    """Every candidate pair scored, best first. Without ``people_b``: duplicates within a,
    with dedup.py's own model."""
    if people_b is None:
        return dedup_links(people_a, key_types)
    by_ref_a = {p.ref: p for p in people_a}
    by_ref_b = by_ref_a if people_b is None else {p.ref: p for p in people_b}
    keys_a = {ref: match_keys(p, key_types) for ref, p in by_ref_a.items()}
    keys_b = (
        None if people_b is None else {r: match_keys(p, key_types) for r, p in by_ref_b.items()}
    )
    pairs = sorted(candidate_pairs(keys_a, keys_b))
    patterns = [compare(by_ref_a[a], by_ref_b[b]) for a, b in pairs]
    sizes = (len(by_ref_a), len(by_ref_b))
    if people_b is None or not pairs:
        scorer = fit_plain_scorer(patterns, sizes=sizes)
        scored = [
            Scored(a, b, score, scorer.explain(levels))
            for (a, b), levels, score in zip(pairs, patterns, scorer.scores(patterns), strict=True)
        ]
    else:
        groups = (
            same_person_groups(keys_a, sorted({a for a, _ in pairs}), key_types),
            same_person_groups(keys_b, sorted({b for _, b in pairs}), key_types),
        )
        scored = _link_scores(pairs, patterns, sizes, groups)
    return sorted(scored, key=lambda s: (-s.score, s.ref_a, s.ref_b))


def _link_scores(
    pairs: Sequence[tuple[str, str]],
    patterns: Sequence[Sequence[int]],
    sizes: tuple[int, int],
    groups: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> list[Scored]:
    """Between two registers: as the private scorer does, u from the pairs that are not the
    best candidate of either record, m from the pairs the other comparisons make confident,
    then each record is at most one person on the other side, likely duplicates inside one
    side counting as one (assignment.one_to_one, same_person.py)."""
    array = np.array(patterns, dtype=np.int16).reshape(-1, len(COMPARISONS))
    unique, inverse, counts = np.unique(array, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    index_a = {ref: i for i, ref in enumerate(sorted({a for a, _ in pairs}))}
    index_b = {ref: i for i, ref in enumerate(sorted({b for _, b in pairs}))}
    left = np.array([index_a[a] for a, _ in pairs], dtype=np.int64)
    right = np.array([index_b[b] for _, b in pairs], dtype=np.int64)
    scorer = fit_plain_scorer(patterns, sizes=sizes)
    model = scorer.model
    m_start = [c.m for c in COMPARISONS]
    prior_start = em.expected_match_share(*sizes, len(array))
    u_hat = None
    for _ in range(U_ROUNDS):
        found = non_best_u(model, unique, inverse, left, right, list(LEVELS))
        if found is None:
            break
        u_hat = found
        model = em.fit_counted(
            unique, counts, LEVELS, NAMES, m_start=m_start, u_start=u_hat, fix_u=True,
            prior_start=prior_start, pool_levels=True,
        )  # fmt: skip
    # As the private scorer does (scoring.confident_m): each comparison's m from the pairs the
    # other comparisons make confident, then only the match share is fitted.
    for _ in range(M_ROUNDS if u_hat is not None else 0):
        m_hat = confident_m(model, unique, inverse, left, right, list(LEVELS), m_start)
        if m_hat is None:
            break
        model = em.fit_counted(
            unique, counts, LEVELS, NAMES, m_start=m_hat, u_start=u_hat, fix_u=True,
            fix_m=True, prior_start=prior_start, pool_levels=True,
        )  # fmt: skip
    scorer = PlainScorer(model)
    odds = np.array([model.log_odds(p) for p in unique.tolist()])[inverse]
    scores, crowded = one_to_one(odds, left, right, len(index_a), len(index_b), *groups)
    words = [scorer.explain(p) for p in unique.tolist()]
    return [
        Scored(a, b, s, words[p] + (CROWDED if c else ""))
        for (a, b), s, p, c in zip(
            pairs, scores.tolist(), inverse.tolist(), crowded.tolist(), strict=True
        )
    ]
