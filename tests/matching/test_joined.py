"""matching/joined.py: candidates joined elsewhere (a Spark cluster) score as the local path.

The engine hands back per-pair and per-record counts in whatever order its shuffle produced;
these tests guard that the scorer's result does not depend on that order, and that the groups
of likely duplicates built from pre-joined pairs are same_person_groups' own.
"""

from __future__ import annotations

import numpy as np
import pytest

from matching import (
    KEY_TYPES,
    candidate_arrays,
    load_lexicon,
    match_keys,
    normalise,
    score_candidates,
)
from matching import score_key_candidates as local_link
from matching.joined import joined_candidates, joined_groups
from matching.same_person import same_person_groups
from matching.scoring import RARITY_TYPES
from matching.shared import without_shared
from matching.synthetic import generate_registers


@pytest.fixture(scope="module")
def sides():
    missing, found, _ = generate_registers(400, 400, seed=3)
    lexicon = load_lexicon()
    keys = [
        {r["ref"]: match_keys(normalise(r, lexicon)) for r in side} for side in (missing, found)
    ]
    return keys[0], keys[1]


def _groups(side, ids):
    found = candidate_arrays(side, None, KEY_TYPES)
    position = np.array([ids.index(rid) for rid in found.ids_left])
    present = np.zeros((len(ids), found.present_left.shape[1]), dtype=bool)
    present[position] = found.present_left
    return joined_groups(
        len(ids), position[found.left], position[found.right], found.agree, present, KEY_TYPES
    )


def test_groups_from_pre_joined_pairs_are_same_person_groups(sides):
    for side in sides:
        ids = list(side)
        expected = same_person_groups(side, ids, KEY_TYPES)
        assert (expected != np.arange(len(ids))).any()  # the registers hold duplicates
        assert np.array_equal(_groups(side, ids), expected)


def test_pre_joined_candidates_in_any_order_score_as_the_local_path(sides):
    # The engine sets a side's shared phones aside before its join, as the local path does.
    left, right = (without_shared(side) for side in sides)
    c = candidate_arrays(left, right, KEY_TYPES, rarity_types=RARITY_TYPES)
    shuffle = np.random.default_rng(7).permutation(len(c))
    rebuilt = joined_candidates(
        c.ids_left, c.ids_right, c.key_types, c.left[shuffle], c.right[shuffle],
        c.agree[shuffle].astype(np.int64), c.rarity[shuffle], c.keys_left, c.keys_right,
    )  # fmt: skip
    groups = (_groups(left, c.ids_left), _groups(right, c.ids_right))
    scored = score_candidates(rebuilt, KEY_TYPES, min_score=0.25, groups=groups)
    expected = local_link(left, right, KEY_TYPES, min_score=0.25)
    assert len(expected) > 100
    assert set(scored) == set(expected)


def test_no_pairs_leave_every_record_its_own_group():
    none = np.zeros(0, dtype=np.int64)
    groups = joined_groups(3, none, none, np.zeros((0, 1)), np.ones((3, 1), bool), KEY_TYPES)
    assert groups.tolist() == [0, 1, 2]
