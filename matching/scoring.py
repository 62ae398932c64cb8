"""Scoring candidate pairs from which match-key types agree: the private path's scorer.

This is all a node knows about a peer's record: for a candidate pair (own record, peer pseudonym)
the key types with an equal doubly blinded key (and how many), and the key types each side has at
all (sent in the clear with the blinded keys). ``fields.py`` turns that into one comparison level
per *field* — names, birth, district, village, phone, mother: agrees (at some strength), differs,
or unknown. EM fits Fellegi-Sunter weights to those field levels, under the usual conditional
independence across fields (which holds far better for fields than for key types that share a
name component). Both nodes see the same candidate pairs, derive the same levels and fit EM on the
same sorted pattern counts, so they give each pair the same score.

``DEFAULT_THRESHOLD`` is the score at which a pair enters the review queue.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import em
from .assignment import CROWDED, SCORE_DECIMALS, one_to_one
from .candidates import MAX_BLOCK_PAIRS, Candidates, Key, candidate_arrays
from .fields import FIELDS, MISSING, field_levels, fields_for, rarity_levels
from .keys import KEY_TYPES
from .same_person import same_person_groups
from .shared import without_shared
from .strata import MIN_NON_BEST, below_best, with_name_strata

# Chosen from the benchmarks in docs/matching.md: the review queue favours recall (a person is
# checked by a caseworker before anything happens), but not at the cost of flooding the queue.
DEFAULT_THRESHOLD = 0.25
# Scores are rounded so both nodes print and compare the same number.
# How strongly EM's match share and match distribution are held to their starts (em.fit). Over
# fields (unlike over correlated key types) the data pins both down well, so the pull is weak.
PRIOR_STRENGTH = 0.1
M_STRENGTH = 0.25
# Pairs' worth of pull of u toward FIELDS' defaults: decides a link of a dozen pairs, is lost in
# one of thousands.
U_STRENGTH = 20.0
# Rounds of "estimate u from the non-best pairs, refit"; the fewest such pairs to use them is
# strata.MIN_NON_BEST.
U_ROUNDS = 2
# Name-pair keys whose holders measure how common the agreeing names are: the broadest ones
# (a six-year band, a district), so that "rare" is about the names, not a village or a year.
RARITY_TYPES = ("pair_mph_y6", "pair_mph_dist")
# Rounds of "estimate each field's m from the pairs the *other* fields make confident, refit";
# how confident (log-odds without the field, and the best candidate of both its records by
# them), and the fewest such pairs to use them.
M_ROUNDS = 2
M_FIXED = True
M_HAT_STRENGTH = 1.0
M_CONFIDENT = 3.0
MIN_CONFIDENT = 30
# Pairs' worth of FIELDS' m anchors added to the confident pairs' counts: a level no
# confident pair shows (a district typo) is rare among matches, not impossible.
M_ANCHOR_PAIRS = 100
_DENSE_CODES = 1 << 22  # counting sort up to 4 M codes (32 MB); np.unique beyond
_RADIX = 16  # levels + 1 fit in 4 bits: a pattern of up to 15 fields is one int64


class Scored(NamedTuple):
    """A scored candidate pair: both ids, score (0–1) and the reason in words. A named tuple:
    a 100k × 100k link returns hundreds of thousands of them."""

    ref_a: str
    ref_b: str
    score: float
    evidence: str


@dataclass(frozen=True)
class Agreement:
    """What the scorer may know of one candidate pair: how many keys of each type are equal, and
    which key types each side has."""

    agree: Mapping[str, int]
    present_a: frozenset[str]
    present_b: frozenset[str]


def _arrays(
    agreements: Sequence[Agreement], key_types: Sequence[str]
) -> tuple[np.ndarray, np.ndarray]:
    agree = np.array(
        [[min(a.agree.get(t, 0), 127) for t in key_types] for a in agreements], dtype=np.int8
    ).reshape(-1, len(key_types))
    both = np.array(
        [[t in a.present_a and t in a.present_b for t in key_types] for a in agreements],
        dtype=bool,
    ).reshape(-1, len(key_types))
    return agree, both


@dataclass(frozen=True)
class KeyScorer:
    """Scores and explains candidate pairs with weights fitted to one link's candidates."""

    model: em.Model
    key_types: tuple[str, ...]
    fields: tuple[str, ...]

    def levels(self, agree: np.ndarray, both: np.ndarray) -> np.ndarray:
        """Field levels of pairs given as (pairs, key types) arrays."""
        return field_levels(self.key_types, agree, both, self.fields)

    def pattern_levels(self, agreement: Agreement) -> tuple[int, ...]:
        return tuple(int(x) for x in self.levels(*_arrays([agreement], self.key_types))[0])

    def score(self, agreement: Agreement) -> float:
        return self.scores([agreement])[0]

    def scores(self, agreements: Sequence[Agreement]) -> list[float]:
        if not agreements:
            return []
        levels = self.levels(*_arrays(agreements, self.key_types))
        return [round(float(p), SCORE_DECIMALS) for p in self.model.probabilities(levels)]

    def explain(self, agreement: Agreement) -> str:
        return self.explain_levels(self.pattern_levels(agreement))

    def explain_levels(self, levels: Sequence[int]) -> str:
        """What speaks for the pair, strongest first, then what speaks against it."""
        facts = []
        for field, weights, level in zip(self.fields, self.model.weights, levels, strict=True):
            if level == MISSING or not FIELDS[field].words[level]:
                continue
            facts.append((weights[level], FIELDS[field].words[level]))
        pro = [words for w, words in sorted(facts, key=lambda f: -f[0]) if w > 0]
        con = [words for w, words in sorted(facts, key=lambda f: f[0]) if w <= 0]
        return "; ".join(pro + con) or "no evidence"


def _fit(
    levels: np.ndarray,
    key_types: tuple[str, ...],
    fields: tuple[str, ...],
    sizes: tuple[int, int],
    left: np.ndarray | None = None,
    right: np.ndarray | None = None,
) -> tuple[KeyScorer, np.ndarray, np.ndarray]:
    """Fit the weights over the distinct field patterns; returns the scorer, the distinct
    patterns and each pair's index into them.

    How often *non-matches* agree (u) is estimated first, from the pairs that are not the best
    candidate of either of their records: a record has at most one true match on the other
    side, so those pairs are nearly all non-matches — whether the candidates are mostly
    matches (two overlapping clean registers) or mostly look-alikes (namesakes in a big
    register), where a plain latent-class EM picks the wrong split. EM then fits the match
    distribution (m, held toward FIELDS' anchors) and the match share with u fixed. "Best" is
    by the current model, twice over; every step uses only the pairs' levels and which records
    they join, so both nodes get the same numbers.
    """
    code = np.zeros(len(levels), dtype=np.int64)
    for f in range(len(fields)):
        code = code * _RADIX + (levels[:, f].astype(np.int64) + 1)
    if _RADIX ** len(fields) <= _DENSE_CODES:
        # Counting sort: tens of millions of pairs, a few hundred distinct patterns.
        all_counts = np.bincount(code, minlength=_RADIX ** len(fields))
        unique_code = np.flatnonzero(all_counts)
        counts = all_counts[unique_code]
        lookup = np.zeros(len(all_counts), dtype=np.int64)
        lookup[unique_code] = np.arange(len(unique_code))
        inverse = lookup[code]
    else:
        unique_code, inverse, counts = np.unique(code, return_inverse=True, return_counts=True)
        inverse = inverse.ravel()
    unique = np.zeros((len(unique_code), len(fields)), dtype=np.int16)
    rest = unique_code.copy()
    for f in reversed(range(len(fields))):
        unique[:, f] = rest % _RADIX - 1
        rest //= _RADIX
    n_levels = [len(FIELDS[f].words) for f in fields]
    m_start = [FIELDS[f].m for f in fields]
    prior_start = em.expected_match_share(sizes[0], sizes[1], len(levels))
    u_prior = [FIELDS[f].u for f in fields]

    def fit(u_start: Sequence[Sequence[float] | np.ndarray], fix_u: bool) -> em.Model:
        return em.fit_counted(
            unique,
            counts,
            n_levels,
            fields,
            m_start=m_start,
            u_start=u_start,
            fix_u=fix_u,
            prior_start=prior_start,
            prior_strength=PRIOR_STRENGTH,
            m_strength=M_STRENGTH,
            u_prior=u_prior,
            u_strength=U_STRENGTH,
            pool_levels=True,
        )

    model = fit([FIELDS[f].u for f in fields], False)
    if left is not None and right is not None and len(levels):
        u_hat = None
        for _ in range(U_ROUNDS):
            found = non_best_u(model, unique, inverse, left, right, n_levels)
            if found is None:
                break
            u_hat = found
            model = fit(u_hat, True)
        for _ in range(M_ROUNDS if u_hat is not None else 0):
            m_hat = confident_m(model, unique, inverse, left, right, n_levels, m_start)
            if m_hat is None:
                break
            model = em.fit_counted(
                unique, counts, n_levels, fields, m_start=m_hat, u_start=u_hat, fix_u=True,
                fix_m=M_FIXED, m_strength=M_HAT_STRENGTH, prior_start=prior_start,
                prior_strength=PRIOR_STRENGTH, pool_levels=True,
            )  # fmt: skip
    return KeyScorer(model=model, key_types=key_types, fields=fields), unique, inverse


def confident_m(
    model: em.Model,
    unique: np.ndarray,
    inverse: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    n_levels: Sequence[int],
    anchors: Sequence[Sequence[float]],
) -> list[np.ndarray] | None:
    """Each field's level frequencies among the pairs the *other* fields make confident.

    EM's latent "match" class drifts toward look-alikes when fields are not independent
    (namesakes share names, district and often age), which makes "birth years far apart" look
    common among matches. Under conditional independence, the pairs that the other fields
    alone call a match (log-odds ≥ M_CONFIDENT, and the best candidate of both their records
    by that score) show a field's distribution among true matches without selecting on the
    field itself. Uses only levels and record indices: the same on both nodes.
    """
    weights = [np.array((0.0, *w)) for w in model.weights]  # index 0 is MISSING
    full = np.full(len(unique), math.log(model.prior / (1 - model.prior)))
    per_field = [weights[f][unique[:, f] + 1] for f in range(len(n_levels))]
    for part in per_field:
        full = full + part
    m_hat = []
    for f, n in enumerate(n_levels):
        without = (full - per_field[f])[inverse]
        best_left = np.full(int(left.max()) + 1, -np.inf)
        best_right = np.full(int(right.max()) + 1, -np.inf)
        np.maximum.at(best_left, left, without)
        np.maximum.at(best_right, right, without)
        sure = (without >= M_CONFIDENT) & (without >= best_left[left])
        sure &= without >= best_right[right]
        if sure.sum() < MIN_CONFIDENT:
            return None
        per_pattern = np.bincount(inverse[sure], minlength=len(unique)).astype(float)
        seen = np.array([per_pattern[unique[:, f] == lv].sum() for lv in range(n)])
        seen = seen + M_ANCHOR_PAIRS * np.asarray(anchors[f]) + 0.5
        m_hat.append(seen / seen.sum())
    return m_hat


def non_best_u(
    model: em.Model,
    unique: np.ndarray,
    inverse: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    n_levels: Sequence[int],
) -> list[np.ndarray] | None:
    """Level frequencies among pairs scoring below the best candidate of both their records."""
    non_best = below_best(model, unique, inverse, left, right)
    if non_best.sum() < MIN_NON_BEST:
        return None
    per_pattern = np.bincount(inverse[non_best], minlength=len(unique)).astype(float)
    u_hat = []
    for f, n in enumerate(n_levels):
        seen = np.array([per_pattern[unique[:, f] == lv].sum() for lv in range(n)]) + 0.5
        u_hat.append(seen / seen.sum())
    return u_hat


def fit_key_scorer(
    agreements: Iterable[Agreement],
    key_types: Sequence[str] = KEY_TYPES,
    *,
    sizes: tuple[int, int] | None = None,
) -> KeyScorer:
    """Estimate weights by EM from the candidate pairs themselves; no labelled data needed.

    ``sizes`` are the record counts of both sides (both nodes know both), for EM's start. The
    pairs carry no record ids, so this is step 1 of ``_fit`` alone, and the scorer's scores are
    the field model's, before the one-to-one step of ``score_candidates``.
    """
    key_types = tuple(key_types)
    fields = fields_for(key_types)
    agreements = list(agreements)
    levels = field_levels(key_types, *_arrays(agreements, key_types), fields)
    sizes = sizes or (len(levels), len(levels))
    return _fit(levels, key_types, fields, sizes)[0]


@dataclass(frozen=True)
class FittedPatterns:
    """Candidate pairs as field patterns, with the model fitted to them: each pair's pattern
    (``unique[inverse]``), each pattern's log-odds and the model that gave them."""

    fields: tuple[str, ...]
    unique: np.ndarray
    inverse: np.ndarray
    pattern_odds: np.ndarray
    models: list[em.Model]


def fit_patterns(candidates: Candidates, key_types: Sequence[str] = KEY_TYPES) -> FittedPatterns:
    """Field levels of every candidate pair and the weights fitted to them, before the
    one-to-one step: what ``score_candidates`` scores, and what benchmarks/ceiling.py compares
    with the labels."""
    key_types = tuple(key_types)
    fields = fields_for(key_types)
    t = len(key_types)
    both = (
        candidates.present_left[candidates.left, :t]
        & candidates.present_right[candidates.right, :t]
    )
    fewest = most = None
    if candidates.keys_left is not None and candidates.keys_right is not None:
        counts_left = candidates.keys_left[candidates.left, :t]
        counts_right = candidates.keys_right[candidates.right, :t]
        fewest = np.minimum(counts_left, counts_right)
        most = np.maximum(counts_left, counts_right)
        del counts_left, counts_right
    levels = field_levels(key_types, candidates.agree, both, fields, fewest, most)
    del both, fewest, most
    if "rarity" in fields and candidates.rarity is not None:
        levels[:, fields.index("rarity")] = rarity_levels(candidates.rarity)
    sizes = (len(candidates.ids_left), len(candidates.ids_right))
    scorer, unique, inverse = _fit(
        levels, key_types, fields, sizes, candidates.left, candidates.right
    )
    del levels
    if "names" in fields and len(unique):
        pattern_odds, models = with_name_strata(
            scorer.model, unique, inverse, candidates.left, candidates.right, fields
        )
    else:
        pattern_odds = np.array([scorer.model.log_odds(p) for p in unique.tolist()])
        models = [scorer.model] * len(unique)
    return FittedPatterns(fields, unique, inverse, pattern_odds, models)


def score_candidates(
    candidates: Candidates,
    key_types: Sequence[str] = KEY_TYPES,
    *,
    min_score: float = 0.0,
    groups: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
    keep: Iterable[tuple[str, str]] = (),
) -> list[Scored]:
    """Score and explain candidate pairs found by ``candidate_arrays``, best first; only pairs
    scoring at least ``min_score`` are returned (all are used to fit the weights), and the
    candidates among ``keep`` (left id, right id) whatever their score: pairs people already
    decided on, whose score both nodes must keep showing alike. ``groups``: likely duplicates
    inside each side (same_person.same_person_groups), for one_to_one."""
    key_types = tuple(key_types)
    if not len(candidates):
        return []
    fitted = fit_patterns(candidates, key_types)
    fields, unique, inverse = fitted.fields, fitted.unique, fitted.inverse
    pattern_odds, models = fitted.pattern_odds, fitted.models
    scores, crowded = one_to_one(
        pattern_odds[inverse], candidates.left, candidates.right,
        len(candidates.ids_left), len(candidates.ids_right), *groups,
    )  # fmt: skip
    chosen = np.flatnonzero((scores >= min_score) | _pair_mask(candidates, keep))
    # Best first; ties by the ids as strings, so the order is the same on every run.
    rank_left = _string_rank(candidates.ids_left)
    rank_right = _string_rank(candidates.ids_right)
    a, b = candidates.left[chosen], candidates.right[chosen]
    order = np.lexsort((rank_right[b], rank_left[a], -scores[chosen]))
    words = [
        KeyScorer(model, key_types, fields).explain_levels(tuple(int(x) for x in p))
        for model, p in zip(models, unique, strict=True)
    ]
    words += [w + CROWDED for w in words]  # index + len(unique): other candidates weigh more
    ids_left, ids_right = candidates.ids_left, candidates.ids_right
    picked = chosen[order]
    phrase = inverse[picked] + crowded[picked] * len(unique)
    return [
        Scored(ids_left[i], ids_right[j], s, words[p])
        for i, j, s, p in zip(
            candidates.left[picked].tolist(),
            candidates.right[picked].tolist(),
            scores[picked].tolist(),
            phrase.tolist(),
            strict=True,
        )
    ]


def _pair_mask(candidates: Candidates, pairs: Iterable[tuple[str, str]]) -> np.ndarray:
    """True for the candidates that are among ``pairs``."""
    index_left = {k: i for i, k in enumerate(candidates.ids_left)}
    index_right = {k: i for i, k in enumerate(candidates.ids_right)}
    width = len(candidates.ids_right)
    wanted = [
        index_left[a] * width + index_right[b]
        for a, b in pairs
        if a in index_left and b in index_right
    ]
    codes = candidates.left.astype(np.int64) * width + candidates.right
    return np.isin(codes, np.array(wanted, dtype=np.int64))


def _string_rank(ids: Sequence[str]) -> np.ndarray:
    order = sorted(range(len(ids)), key=lambda i: str(ids[i]))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    return rank


def score_key_candidates(
    left: Mapping[str, Collection[Key]],
    right: Mapping[str, Collection[Key]],
    key_types: Sequence[str] = KEY_TYPES,
    *,
    max_block_pairs: int = MAX_BLOCK_PAIRS,
    min_score: float = 0.0,
    keep: Iterable[tuple[str, str]] = (),
) -> list[Scored]:
    """Find, score and explain every candidate pair between two sides' keys, best first.

    Keys are (key type, token); tokens are opaque — doubly blinded keys between nodes, raw
    values in tests. Both nodes calling this on the same two key sets (each its own side as
    ``left`` or ``right``) get the same pairs with the same scores: only key types and equality
    are used, and EM sees the patterns sorted. Likely duplicates inside each side count as one
    person in the one-to-one step (same_person.py). ``min_score`` drops lower-scoring pairs from the
    result (not from the fit), which is what keeps a 100k × 100k link's output small. A phone
    many records of one side hold (a shelter's) is set aside first (shared.py).
    """
    left, right = without_shared(left), without_shared(right)
    candidates = candidate_arrays(
        left, right, tuple(key_types), max_block_pairs=max_block_pairs,
        rarity_types=[t for t in RARITY_TYPES if t in key_types],
    )  # fmt: skip
    if not len(candidates):
        return []
    groups = (
        same_person_groups(left, candidates.ids_left, key_types, max_block_pairs=max_block_pairs),
        same_person_groups(right, candidates.ids_right, key_types, max_block_pairs=max_block_pairs),
    )
    return score_candidates(candidates, key_types, min_score=min_score, groups=groups, keep=keep)
