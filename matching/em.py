"""Fellegi-Sunter weights estimated by EM from unlabelled comparison patterns.

A candidate pair is a vector of comparison levels (0 = disagree … top = full agreement, -1 =
missing on one side). EM splits the pairs into matches and non-matches assuming the comparisons
are independent within each class, and gives each level a weight log(m/u).

Both nodes of a link must get the same weights from the same pairs, so the fit is deterministic
and order-free: patterns are counted and sorted before fitting, the start values are fixed, and
weak pseudo-counts (a prior of a few pairs) keep tiny inputs — a dozen candidate pairs — from
collapsing to 0/1 probabilities. Weights are then made monotone: a higher level never weighs less
than a lower one, and full agreement never weighs less than a missing value, so more agreement can
never lower a score.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MISSING = -1
_EPS = 1e-6


@dataclass(frozen=True)
class Model:
    """A fitted Fellegi-Sunter model: prior match rate and per-level weights (natural log)."""

    names: tuple[str, ...]
    prior: float
    m: tuple[tuple[float, ...], ...]
    u: tuple[tuple[float, ...], ...]
    weights: tuple[tuple[float, ...], ...]
    iterations: int

    def log_odds(self, levels: Sequence[int]) -> float:
        total = math.log(self.prior / (1 - self.prior))
        for weights, level in zip(self.weights, levels, strict=True):
            if level != MISSING:
                total += weights[level]
        return total

    def probability(self, levels: Sequence[int]) -> float:
        return _sigmoid(self.log_odds(levels))

    def probabilities(self, patterns: np.ndarray) -> np.ndarray:
        """Vectorised ``probability`` over an (n, k) array of levels."""
        odds = np.full(len(patterns), math.log(self.prior / (1 - self.prior)))
        for k, weights in enumerate(self.weights):
            table = np.array((0.0, *weights))  # index 0 is MISSING
            odds += table[patterns[:, k] + 1]
        return np.asarray(1.0 / (1.0 + np.exp(-odds)))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def fit(
    patterns: np.ndarray,
    levels: Sequence[int],
    names: Sequence[str],
    *,
    m_start: Sequence[Sequence[float] | np.ndarray] | None = None,
    prior_start: float = 0.05,
    prior_strength: float = 1.0,
    strength: float = 4.0,
    m_strength: float = 0.25,
    max_iterations: int = 500,
    tolerance: float = 1e-9,
    pool_levels: bool = False,
) -> Model:
    """EM over an (n, k) integer array of comparison levels (MISSING = -1).

    ``m_start`` gives the start and the anchor of the match distribution per comparison; by
    default full agreement 0.9 and the rest spread over lower levels. The anchor weighs as
    ``m_strength`` × the pairs EM currently calls matches (at least ``strength``): without it EM on
    correlated comparisons happily calls some large group of non-matches "the matches" (say,
    every pair sharing a common mother's name), because nothing in the data forbids it. How
    often true matches agree is a property of register quality, stable across data sets; how
    often non-matches agree (u) and how many matches there are is what each link must learn,
    and those are estimated freely. The non-match start is the observed level frequencies,
    which non-matches dominate.
    """
    k = len(levels)
    patterns = np.asarray(patterns, dtype=np.int16).reshape(-1, k)
    if len(patterns):
        unique, counts = np.unique(patterns, axis=0, return_counts=True)
    else:
        unique, counts = np.zeros((0, k), dtype=np.int16), np.zeros(0, dtype=np.int64)
    return fit_counted(
        unique,
        counts,
        levels,
        names,
        m_start=m_start,
        prior_start=prior_start,
        prior_strength=prior_strength,
        strength=strength,
        m_strength=m_strength,
        max_iterations=max_iterations,
        tolerance=tolerance,
        pool_levels=pool_levels,
    )


def fit_counted(
    unique: np.ndarray,
    counts: np.ndarray,
    levels: Sequence[int],
    names: Sequence[str],
    *,
    m_start: Sequence[Sequence[float] | np.ndarray] | None = None,
    u_start: Sequence[Sequence[float] | np.ndarray] | None = None,
    fix_u: bool = False,
    fix_m: bool = False,
    u_prior: Sequence[Sequence[float]] | None = None,
    u_strength: float | None = None,
    prior_start: float = 0.05,
    prior_strength: float = 1.0,
    strength: float = 4.0,
    m_strength: float = 0.25,
    max_iterations: int = 500,
    tolerance: float = 1e-9,
    pool_levels: bool = False,
) -> Model:
    """``fit`` over distinct patterns (sorted, as ``np.unique`` gives them) and their counts.

    Millions of candidate pairs have a few hundred distinct patterns; fitting over those is what
    makes EM cheap, and sorting them is what makes it the same on both nodes.
    """
    k = len(levels)
    unique = np.asarray(unique, dtype=np.int16).reshape(-1, k)
    counts = np.asarray(counts).astype(float)
    m0 = [np.asarray(m_start[i], dtype=float) if m_start else _default_m(n) for i, n in
          enumerate(levels)]  # fmt: skip
    u0 = []
    for i, n in enumerate(levels):
        observed = np.array([counts[unique[:, i] == lv].sum() for lv in range(n)]) + 1.0
        u0.append(observed / observed.sum())
    m = [x.copy() for x in m0]
    # The non-match start: given (where candidates may be mostly matches, as when two clean
    # registers overlap a lot), else the observed level frequencies.
    u = [np.asarray(x, dtype=float) for x in u_start] if u_start else [x.copy() for x in u0]
    prior = prior_start
    iteration = 0
    for iteration in range(1, max_iterations + 1):  # noqa: B007 - reported in the model
        log_m = np.zeros(len(unique))
        log_u = np.zeros(len(unique))
        for i in range(k):
            present = unique[:, i] != MISSING
            log_m[present] += np.log(m[i][unique[present, i]])
            log_u[present] += np.log(u[i][unique[present, i]])
        odds = math.log(prior / (1 - prior)) + log_m - log_u
        g = 1.0 / (1.0 + np.exp(-np.clip(odds, -700, 700)))
        gm, gu = counts * g, counts * (1 - g)
        anchor = max(strength, m_strength * float(gm.sum()))
        # λ is pulled toward its start: with correlated comparisons the likelihood is nearly
        # flat in it, and a link's size gives a good guess (see expected_match_share).
        weight = prior_strength * counts.sum() + 1.0
        new_prior = (gm.sum() + weight * prior_start) / (counts.sum() + weight)
        change = abs(new_prior - prior)
        for i, n in enumerate(levels):
            column = unique[:, i]
            am = np.array([gm[column == lv].sum() for lv in range(n)]) + anchor * m0[i]
            au = np.array([gu[column == lv].sum() for lv in range(n)]) + (
                u_strength * np.asarray(u_prior[i]) if u_prior else strength * u0[i]
            )
            new_m = np.clip(am / am.sum(), _EPS, 1 - _EPS)
            new_u = np.clip(au / au.sum(), _EPS, 1 - _EPS)
            change = max(
                change, float(np.abs(new_m - m[i]).max()), float(np.abs(new_u - u[i]).max())
            )
            if fix_u:
                new_u = u[i]
            if fix_m:
                new_m = m[i]
            m[i], u[i] = new_m, new_u
        prior = float(np.clip(new_prior, _EPS, 1 - _EPS))
        if change < tolerance:
            break
    if (
        not fix_u
        and not fix_m
        and sum(float(np.dot(m[i] - u[i], np.arange(n))) for i, n in enumerate(levels)) < 0
    ):
        # EM found the classes the wrong way round: matches agree more, by definition.
        m, u, prior = u, m, 1 - prior
    seen = [np.array([counts[unique[:, i] == lv].sum() for lv in range(n)]) for i, n in
            enumerate(levels)]  # fmt: skip
    weights = tuple(
        _monotone(np.log(m[i] / u[i]), seen[i] if pool_levels else None) for i in range(k)
    )
    return Model(
        names=tuple(names),
        prior=prior,
        m=tuple(tuple(float(x) for x in v) for v in m),
        u=tuple(tuple(float(x) for x in v) for v in u),
        weights=weights,
        iterations=iteration,
    )


def _default_m(n: int) -> np.ndarray:
    if n == 1:
        return np.array([1.0])
    rest = np.arange(1, n, dtype=float)
    rest = 0.1 * rest / rest.sum()
    return np.array([*rest, 0.9])


def _monotone(weights: np.ndarray, seen: np.ndarray | None = None) -> tuple[float, ...]:
    """Non-decreasing in level, and full agreement at least 0 (= a missing value).

    Without ``seen`` a level's weight is lifted to the best weight below it. With ``seen`` (the
    pairs observed at each level) weights that go down with the level are pooled instead
    (isotonic regression, each level weighing as its pairs), so a level seen in a handful of
    pairs cannot lift every level above it to its own extreme weight.
    """
    if seen is None:
        out = np.maximum.accumulate(weights)
        out[-1] = max(out[-1], 0.0)
        return tuple(float(x) for x in out)
    blocks: list[list[float]] = []  # [mean, weight, size]
    for w, n in zip(weights.tolist(), (np.asarray(seen, float) + 1.0).tolist(), strict=True):
        blocks.append([w, n, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean2, n2, size2 = blocks.pop()
            mean1, n1, size1 = blocks[-1]
            blocks[-1] = [(mean1 * n1 + mean2 * n2) / (n1 + n2), n1 + n2, size1 + size2]
    out = np.concatenate([np.full(size, mean) for mean, _, size in blocks])
    out[-1] = max(out[-1], 0.0)
    return tuple(float(x) for x in out)


def expected_match_share(n_left: int, n_right: int, n_pairs: int) -> float:
    """A start for the share of candidate pairs that are matches.

    Each record matches at most one on the other side, and about half of the smaller side is
    a reasonable middle between "all found" and "none found"; both nodes know both sizes, so
    both get the same start.
    """
    if n_pairs == 0:
        return 0.05
    return float(np.clip(0.5 * min(n_left, n_right) / n_pairs, 0.01, 0.9))
