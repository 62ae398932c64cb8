"""Scoring candidate pairs from which match-key types agree: the private path's scorer.

This is all a node knows about a peer's record: for a candidate pair (own record, peer pseudonym)
the key types with an equal doubly blinded key, and the key types each side has at all (sent in
the clear with the blinded keys). Per key type the comparison is *agrees on several keys* (2: the
same birth year gives two equal year-window keys, three shared names three equal pairs),
*agrees* (1), *differs* (0, both sides have keys of this type but none equal) or *missing* (-1,
one side has none). EM turns
these patterns into Fellegi-Sunter weights; both nodes see the same candidate pairs and so fit
the same weights and give each pair the same score.

``DEFAULT_THRESHOLD`` is the score at which a pair enters the review queue.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import em
from .candidates import MAX_BLOCK_PAIRS, Key, candidate_pairs, present_types
from .explain import explain, key_type_facts
from .keys import KEY_TYPES

# Chosen from the benchmarks in docs/matching.md: the review queue favours recall (a person is
# checked by a caseworker before anything happens), but not at the cost of flooding the queue.
DEFAULT_THRESHOLD = 0.25
# EM's anchor for how often a true match agrees on a key type when both sides have one: the
# key types' recall in docs/matching.md is 0.5–0.9.
KEY_M = (0.25, 0.35, 0.4)  # differs, agrees on one key, on several
LEVELS = len(KEY_M)
# Scores are rounded so both nodes print and compare the same number.
SCORE_DECIMALS = 4


@dataclass(frozen=True)
class Scored:
    """A scored candidate pair: both ids, score (0–1) and the reason in words."""

    ref_a: Hashable
    ref_b: Hashable
    score: float
    evidence: str


@dataclass(frozen=True)
class Agreement:
    """What the scorer may know of a candidate pair: how many keys of each type are equal, and
    which key types each side has."""

    agree: Mapping[str, int]
    present_a: frozenset[str]
    present_b: frozenset[str]

    def levels(self, key_types: Sequence[str]) -> tuple[int, ...]:
        return tuple(
            min(self.agree[t], LEVELS - 1)
            if self.agree.get(t)
            else (0 if t in self.present_a and t in self.present_b else em.MISSING)
            for t in key_types
        )


@dataclass(frozen=True)
class KeyScorer:
    """Scores and explains candidate pairs with weights fitted to one link's candidates."""

    model: em.Model
    key_types: tuple[str, ...]

    def score(self, agreement: Agreement) -> float:
        return round(self.model.probability(agreement.levels(self.key_types)), SCORE_DECIMALS)

    def scores(self, agreements: Sequence[Agreement]) -> list[float]:
        if not agreements:
            return []
        patterns = np.array([a.levels(self.key_types) for a in agreements], dtype=np.int16)
        return [round(float(p), SCORE_DECIMALS) for p in self.model.probabilities(patterns)]

    def explain(self, agreement: Agreement) -> str:
        """Agreeing key types strongest first, then the fields that differ."""
        levels = agreement.levels(self.key_types)
        weighted = sorted(
            (-self.model.weights[i][level], t)
            for i, (t, level) in enumerate(zip(self.key_types, levels, strict=True))
            if level > 0
        )
        differing = [t for t, level in zip(self.key_types, levels, strict=True) if level == 0]
        return explain([t for _, t in weighted], differing)


def fit_key_scorer(
    agreements: Iterable[Agreement],
    key_types: Sequence[str] = KEY_TYPES,
    *,
    sizes: tuple[int, int] | None = None,
) -> KeyScorer:
    """Estimate weights by EM from the candidate pairs themselves; no labelled data needed.

    ``sizes`` are the record counts of both sides (both nodes know them), for EM's start.
    """
    key_types = tuple(key_types)
    for t in key_types:
        key_type_facts(t)  # refuses a key type the explanation cannot describe
    patterns = np.array([a.levels(key_types) for a in agreements], dtype=np.int16)
    n_pairs = len(patterns)
    sizes = sizes or (n_pairs, n_pairs)
    model = em.fit(
        patterns.reshape(-1, len(key_types)),
        [LEVELS] * len(key_types),
        key_types,
        m_start=[KEY_M] * len(key_types),
        prior_start=em.expected_match_share(*sizes, n_pairs),
    )
    return KeyScorer(model=model, key_types=key_types)


def score_key_candidates(
    left: Mapping[Hashable, Iterable[Key]],
    right: Mapping[Hashable, Iterable[Key]],
    key_types: Sequence[str] = KEY_TYPES,
    *,
    max_block_pairs: int = MAX_BLOCK_PAIRS,
) -> list[Scored]:
    """Find, score and explain every candidate pair between two sides' keys, best first.

    Keys are (key type, token); tokens are opaque — doubly blinded keys between nodes, raw
    values in tests. Both nodes calling this on the same two key sets (each its own side as
    ``left`` or ``right``) get the same pairs with the same scores: only key types and equality
    are used, and EM sees the patterns sorted.
    """
    left = {i: list(keys) for i, keys in left.items()}
    right = {i: list(keys) for i, keys in right.items()}
    pairs = candidate_pairs(left, right, max_block_pairs=max_block_pairs)
    ordered = sorted(pairs, key=lambda pair: (str(pair[0]), str(pair[1])))
    agreements = [
        Agreement(pairs[(a, b)], present_types(left[a]), present_types(right[b]))
        for a, b in ordered
    ]
    scorer = fit_key_scorer(agreements, key_types, sizes=(len(left), len(right)))
    scored = [
        Scored(a, b, score, scorer.explain(agreement))
        for (a, b), agreement, score in zip(
            ordered, agreements, scorer.scores(agreements), strict=True
        )
    ]
    return sorted(scored, key=lambda s: (-s.score, str(s.ref_a), str(s.ref_b)))
