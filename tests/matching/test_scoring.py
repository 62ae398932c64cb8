"""Scoring: monotone in evidence, the same on both nodes, explained in words, and right on the
hand-labelled sample in both modes."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from matching import (
    DEFAULT_THRESHOLD,
    KEY_TYPES,
    Agreement,
    fit_key_scorer,
    score_key_candidates,
)
from matching.explain import explain
from node.linking import dedup_records, link_records

from .conftest import SAMPLE_AMBIGUOUS, SAMPLE_TRUE_PAIRS

ALL = frozenset(KEY_TYPES)


def _agreements(seed: int, n: int = 300) -> list[Agreement]:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    out = []
    for _ in range(n):
        present_a = frozenset(t for t in KEY_TYPES if rng.random() < 0.8)
        present_b = frozenset(t for t in KEY_TYPES if rng.random() < 0.7)
        both = sorted(present_a & present_b)
        agree = {t: rng.choice((1, 2)) for t in both if rng.random() < 0.4}
        out.append(Agreement(agree or {both[0]: 1} if both else {}, present_a, present_b))
    return out


SCORER = fit_key_scorer(_agreements(1), sizes=(200, 200))

levels = st.sampled_from((-1, 0, 1, 2))


@settings(max_examples=200, deadline=None)
@given(st.lists(levels, min_size=len(KEY_TYPES), max_size=len(KEY_TYPES)), st.data())
def test_more_agreement_never_lowers_the_score(pattern, data):
    """Raising any one key type's level (missing or differing -> agreeing -> agreeing on
    several keys) never lowers the score."""
    i = data.draw(st.integers(0, len(KEY_TYPES) - 1))
    higher = list(pattern)
    higher[i] = data.draw(st.sampled_from([lv for lv in (1, 2) if lv > max(pattern[i], 0)] or [2]))
    assert SCORER.model.probability(higher) >= SCORER.model.probability(pattern)


def test_scores_are_probabilities():
    scores = SCORER.scores(_agreements(2, 50))
    assert all(0 <= s <= 1 for s in scores)


def test_both_nodes_fit_the_same_weights_whatever_the_order():
    """Node A lists pairs by its refs, node B by its own: the fit must not depend on order."""
    agreements = _agreements(3)
    shuffled = agreements[:]
    random.Random(4).shuffle(shuffled)  # noqa: S311 - test data, not secrets
    mirrored = [Agreement(a.agree, a.present_b, a.present_a) for a in shuffled]
    one = fit_key_scorer(agreements, sizes=(300, 250))
    other = fit_key_scorer(mirrored, sizes=(300, 250))
    assert one.model == other.model
    assert one.scores(agreements) == other.scores(agreements)


def test_the_two_sides_of_a_link_give_each_pair_the_same_score(lexicon, sample_sides):
    from matching import match_keys, normalise

    missing, found = sample_sides
    keys_a = {r["ref"]: match_keys(normalise(r, lexicon)) for r in missing}
    keys_b = {r["ref"]: match_keys(normalise(r, lexicon)) for r in found}
    from_a = {(s.ref_a, s.ref_b): s.score for s in score_key_candidates(keys_a, keys_b)}
    from_b = {(s.ref_b, s.ref_a): s.score for s in score_key_candidates(keys_b, keys_a)}
    assert from_a == from_b


def test_an_empty_link_scores_nothing():
    assert score_key_candidates({}, {}) == []


class TestExplanation:
    def test_agreeing_facts_come_first_then_what_differs(self):
        text = explain(["pair_mph_yw", "pair_sdx_dist"], ["phone", "gvn_mph_mother"])
        assert text == (
            "two names sound the same, in any order; birth year within a year; "
            "same home district; phone number differs; given name or mother's name differs"
        )

    def test_a_field_already_vouched_for_is_not_said_to_differ(self):
        text = explain(["pair_mph_yw"], ["pair_sdx_dist"])
        assert text.endswith("home district differs")
        assert "names differ" not in text

    def test_every_scored_pair_has_words(self, sample_sides):
        missing, found = sample_sides
        for result in link_records(missing, found, threshold=0):
            assert result.evidence and result.evidence != "no evidence"


class TestSampleRegister:
    """The hand-labelled sample: missing against found, in both modes."""

    def _check(self, results):
        suggested = {(r.ref_a, r.ref_b) for r in results}
        assert suggested >= SAMPLE_TRUE_PAIRS
        assert suggested - SAMPLE_TRUE_PAIRS <= SAMPLE_AMBIGUOUS
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        assert all(r.score >= DEFAULT_THRESHOLD for r in results)

    def test_private_mode_finds_every_true_pair_and_nothing_else(self, sample_sides):
        self._check(link_records(*sample_sides))

    def test_plain_mode_finds_every_true_pair_and_nothing_else(self, sample_sides):
        self._check(link_records(*sample_sides, plain=True))

    def test_dedup_finds_the_same_person_registered_twice(self, sample_sides):
        missing, found = sample_sides
        duplicates = dedup_records(missing + found)
        pairs = {tuple(sorted((r.ref_a, r.ref_b))) for r in duplicates}
        assert ("KW-2024-0116", "NB-2024-0504") in pairs
        assert not any("NB-2024-0509" in pair for pair in pairs)
