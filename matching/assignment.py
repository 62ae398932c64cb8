"""The one-to-one step: a record is the same person as at most one record of the other side.

Scores from the field model (scoring.py, plain.py, dedup.py) treat each pair alone; here the
candidates of one record compete, so that a missing person with three look-alike found records
is not all three. Kept apart from the model fit because all three scorers share it.
"""

from __future__ import annotations

import numpy as np

# Scores are rounded so that both nodes print and compare the same numbers.
SCORE_DECIMALS = 4
# Log-odds are capped and summed in fixed point (see one_to_one): e^18 × 2^24 per pair leaves
# room for thousands of candidates of one record within int64.
ODDS_CAP = 18.0
_FIXED = 1 << 24
# Said when other candidates of the same records weigh as much as this pair.
CROWDED = "; another candidate fits as well or better"


def one_to_one(
    log_odds: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    n_left: int,
    n_right: int,
    group_left: np.ndarray | None = None,
    group_right: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each pair's probability given that a record is the same person as at most one record of
    the other side, and whether other candidates of its records weigh at least as much.

    With odds o for a pair and the odds of all candidate pairs of its two records summed
    (S_left, S_right), P(this pair) = o / (1 + S_left + S_right - o): a missing person with
    three look-alike found records cannot be all three. Odds are summed in fixed point, so
    the sums — and the scores — are exactly the same in whatever order a node lists the pairs.

    ``group_left`` / ``group_right`` (a group number per record, from same_person.py) mark
    likely duplicates inside one side: a group is one person, so the records of one group are
    not each other's rivals — among a record's candidates, each group counts once, with its
    strongest pair.
    """
    fixed = np.round(np.exp(np.clip(log_odds, -ODDS_CAP, ODDS_CAP)) * _FIXED).astype(np.int64)
    if group_left is None and group_right is None:
        sum_left = np.zeros(n_left, dtype=np.int64)
        sum_right = np.zeros(n_right, dtype=np.int64)
        np.add.at(sum_left, left, fixed)
        np.add.at(sum_right, right, fixed)
        others = sum_left[left] + sum_right[right] - 2 * fixed
    else:
        of_left = group_left[left] if group_left is not None else left.astype(np.int64)
        of_right = group_right[right] if group_right is not None else right.astype(np.int64)
        others = _rivals(fixed, left, of_right, n_left, n_right) + _rivals(
            fixed, right, of_left, n_right, n_left
        )
    probability = fixed / (float(_FIXED) + fixed + np.maximum(others, 0))
    return np.round(probability, SCORE_DECIMALS), others >= fixed


def _rivals(
    fixed: np.ndarray, record: np.ndarray, group: np.ndarray, n_records: int, n_groups: int
) -> np.ndarray:
    """Per pair: the summed odds of the record's *other* candidate groups, each group at its
    strongest pair."""
    code = record.astype(np.int64) * max(n_groups, 1) + group
    unique, inverse = np.unique(code, return_inverse=True)
    inverse = inverse.ravel()
    strongest = np.zeros(len(unique), dtype=np.int64)
    np.maximum.at(strongest, inverse, fixed)
    total = np.zeros(n_records, dtype=np.int64)
    np.add.at(total, (unique // max(n_groups, 1)).astype(np.int64), strongest)
    rivals: np.ndarray = total[record] - strongest[inverse]
    return rivals
