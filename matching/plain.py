"""Linking and deduplicating with raw values at hand (the node's own records, ``--plain``).

Candidate pairs come from the match keys, compared unblinded; each pair is then scored on its
fields (compare.py) with weights EM fits to these candidates.
"""

from __future__ import annotations

from collections.abc import Sequence

from .candidates import candidate_pairs
from .compare import compare, fit_plain_scorer
from .keys import KEY_TYPES, match_keys
from .normalise import Person
from .scoring import Scored


def plain_links(
    people_a: Sequence[Person],
    people_b: Sequence[Person] | None = None,
    key_types: Sequence[str] = KEY_TYPES,
) -> list[Scored]:
    """Every candidate pair scored, best first. Without ``people_b``: duplicates within a."""
    by_ref_a = {p.ref: p for p in people_a}
    by_ref_b = by_ref_a if people_b is None else {p.ref: p for p in people_b}
    keys_a = {ref: match_keys(p, key_types) for ref, p in by_ref_a.items()}
    keys_b = (
        None if people_b is None else {r: match_keys(p, key_types) for r, p in by_ref_b.items()}
    )
    pairs = sorted(candidate_pairs(keys_a, keys_b))
    patterns = [compare(by_ref_a[a], by_ref_b[b]) for a, b in pairs]
    scorer = fit_plain_scorer(patterns, sizes=(len(by_ref_a), len(by_ref_b)))
    scored = [
        Scored(a, b, score, scorer.explain(levels))
        for (a, b), levels, score in zip(pairs, patterns, scorer.scores(patterns), strict=True)
    ]
    return sorted(scored, key=lambda s: (-s.score, s.ref_a, s.ref_b))
