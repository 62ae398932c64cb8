"""Scoring: monotone in evidence, the same on both nodes, explained in words, and right on the
hand-labelled sample in both modes."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from matching import (
    DEFAULT_THRESHOLD,
    KEY_TYPES,
    Agreement,
    fit_key_scorer,
    load_lexicon,
    match_keys,
    normalise,
    score_key_candidates,
)
from matching.assignment import one_to_one
from matching.candidates import candidate_arrays
from matching.fields import FIELDS, MISSING, fields_for, rarity_levels
from matching.same_person import same_person_groups
from matching.strata import NAME_STRATA, same_names_model
from matching.synthetic import generate_registers
from node.records.linking import dedup_records, link_records

FIELD_NAMES = fields_for(KEY_TYPES)
TWO_NAMES = FIELDS["names"].words.index("two names sound the same, in any order")


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


@st.composite
def field_patterns(draw):
    return [draw(st.integers(MISSING, len(FIELDS[f].words) - 1)) for f in FIELD_NAMES]


@settings(max_examples=300, deadline=None)
@given(field_patterns(), st.data())
def test_more_agreement_never_lowers_the_score(pattern, data):
    """Raising any one field's level (unknown or differing -> agreeing -> agreeing more
    strongly) never lowers the score."""
    i = data.draw(st.integers(0, len(FIELD_NAMES) - 1))
    top = len(FIELDS[FIELD_NAMES[i]].words) - 1
    undetermined_or_better = [lv for lv in range(top + 1) if lv > pattern[i]]
    higher = list(pattern)
    higher[i] = data.draw(st.sampled_from(undetermined_or_better or [top]))
    if pattern[i] == MISSING:  # from unknown, only agreement is more evidence
        higher[i] = top
    assert SCORER.model.probability(higher) >= SCORER.model.probability(pattern)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(-20, 20), min_size=2, max_size=12), st.floats(0, 10))
def test_a_pair_with_more_evidence_never_scores_lower_against_the_same_rivals(odds, extra):
    """The one-to-one step: raising a pair's own log-odds never lowers its score."""
    n = len(odds)
    left = np.zeros(n, dtype=np.int64)  # all pairs share one left record: rivals
    right = np.arange(n, dtype=np.int64)
    before, _ = one_to_one(np.array(odds), left, right, 1, n)
    raised = np.array(odds)
    raised[0] += extra
    after, _ = one_to_one(raised, left, right, 1, n)
    assert after[0] >= before[0]


def test_a_record_cannot_be_two_people_at_once():
    """Two look-alike candidates of one record share its probability; alone, one keeps it."""
    alone, _ = one_to_one(np.array([3.0]), np.array([0]), np.array([0]), 1, 1)
    shared, crowded = one_to_one(np.array([3.0, 3.0]), np.array([0, 0]), np.array([0, 1]), 1, 2)
    assert shared[0] == shared[1] < alone[0]
    assert crowded.all()


def test_one_person_reported_twice_on_one_side_is_not_their_own_rival():
    """A found person with two reports of themselves on the missing list: grouped as one
    person, both pairs keep the probability one pair alone would have."""
    odds, left, right = np.array([3.0, 3.0]), np.array([0, 1]), np.array([0, 0])
    alone, _ = one_to_one(np.array([3.0]), np.array([0]), np.array([0]), 1, 1)
    split, _ = one_to_one(odds, left, right, 2, 1)
    grouped, crowded = one_to_one(odds, left, right, 2, 1, np.array([0, 0]), None)
    assert split[0] < 0.6 < grouped[0] == grouped[1] == alone[0]
    assert not crowded.any()


def test_without_groups_the_grouped_one_to_one_is_the_plain_one():
    rng = np.random.default_rng(5)
    odds = rng.normal(0, 4, 40)
    left, right = rng.integers(0, 8, 40), rng.integers(0, 9, 40)
    keep = np.unique(left * 9 + right, return_index=True)[1]  # one pair per (left, right)
    odds, left, right = odds[keep], left[keep], right[keep]
    plain = one_to_one(odds, left, right, 8, 9)
    singletons = one_to_one(odds, left, right, 8, 9, np.arange(8), np.arange(9))
    assert np.array_equal(plain[0], singletons[0]) and np.array_equal(plain[1], singletons[1])


def test_likely_duplicates_inside_a_side_are_grouped_from_keys_alone(lexicon):
    records = {
        "M1": {"given_names": "Amina Zawadi", "family_name": "Mwakio", "birth_date": "2008-03-02",
               "origin_place": "Lunga Lunga", "origin_district": "Kwale"},
        "M2": {"given_names": "Amina", "family_name": "Mwakio", "birth_date": "2008",
               "origin_place": "Lungalunga", "origin_district": "Kwale"},
        "M3": {"given_names": "Amina", "family_name": "Mwakio", "birth_date": "2008",
               "origin_place": "Vanga", "origin_district": "Kwale"},  # a namesake elsewhere
    }  # fmt: skip
    keys = {ref: match_keys(normalise({"ref": ref, **r}, lexicon)) for ref, r in records.items()}
    groups = same_person_groups(keys, ["M1", "M2", "M3"], KEY_TYPES)
    assert groups[0] == groups[1] != groups[2]


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
    missing, found = sample_sides
    keys_a = {r["ref"]: match_keys(normalise(r, lexicon)) for r in missing}
    keys_b = {r["ref"]: match_keys(normalise(r, lexicon)) for r in found}
    from_a = {(s.ref_a, s.ref_b): s.score for s in score_key_candidates(keys_a, keys_b)}
    from_b = {(s.ref_b, s.ref_a): s.score for s in score_key_candidates(keys_b, keys_a)}
    assert from_a == from_b


def test_both_nodes_score_a_larger_link_identically(lexicon):
    """With enough pairs for the non-match estimate and rivals for the one-to-one step: each
    node lists its own records first, in its own order, and still gets the same numbers."""
    missing, found, _ = generate_registers(400, 400, seed=7)
    keys_a = {r["ref"]: match_keys(normalise(r, lexicon)) for r in missing}
    keys_b = {r["ref"]: match_keys(normalise(r, lexicon)) for r in found}
    shuffled_b = dict(random.Random(5).sample(sorted(keys_b.items()), len(keys_b)))  # noqa: S311
    from_a = {
        (s.ref_a, s.ref_b): (s.score, s.evidence) for s in score_key_candidates(keys_a, keys_b)
    }
    from_b = {
        (s.ref_b, s.ref_a): (s.score, s.evidence) for s in score_key_candidates(shuffled_b, keys_a)
    }
    assert len(from_a) > 300
    assert from_a == from_b


def test_an_empty_link_scores_nothing():
    assert score_key_candidates({}, {}) == []


@pytest.mark.parametrize("min_score", [0.0, 0.25, 0.9])
def test_min_score_only_drops_pairs_below_it(lexicon, min_score):
    missing, found, _ = generate_registers(200, 200, seed=3)
    keys_a = {r["ref"]: match_keys(normalise(r, lexicon)) for r in missing}
    keys_b = {r["ref"]: match_keys(normalise(r, lexicon)) for r in found}
    everything = score_key_candidates(keys_a, keys_b)
    kept = score_key_candidates(keys_a, keys_b, min_score=min_score)
    assert kept == [s for s in everything if s.score >= min_score]


class TestExplanation:
    def _scorer_words(self, **levels):
        pattern = [levels.get(f, MISSING) for f in FIELD_NAMES]
        return SCORER.explain_levels(pattern)

    def test_agreeing_facts_come_first_then_what_differs(self):
        agreeing = {
            "names": "all names sound the same, in any order",
            "birth": "same birth date",
            "district": "same home district",
        }
        levels = {f: FIELDS[f].words.index(w) for f, w in agreeing.items()}
        text = self._scorer_words(**levels, mother=0)
        facts = text.split("; ")
        assert set(facts[:3]) == set(agreeing.values())
        assert facts[3:] == ["mother's name differs"]

    def test_an_unknown_or_undetermined_field_is_not_mentioned(self):
        text = self._scorer_words(names=TWO_NAMES, district=1)
        assert text == "two names sound the same, in any order"

    def test_every_level_of_every_field_has_words_or_is_undetermined(self):
        from matching.fields import UNDETERMINED

        for name, field in FIELDS.items():
            for level, words in enumerate(field.words):
                assert bool(words) != (level == UNDETERMINED[name]), (name, level)

    def test_every_scored_pair_has_words(self, sample_sides):
        missing, found = sample_sides
        for result in link_records(missing, found, threshold=0):
            assert result.evidence and result.evidence != "no evidence"


class TestSampleRegister:
    """The hand-labelled sample: missing against found, in both modes."""

    def _check(self, results, truth):
        true_pairs, ambiguous = truth
        suggested = {(r.ref_a, r.ref_b) for r in results}
        assert suggested >= true_pairs
        assert suggested - true_pairs <= ambiguous
        assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)
        assert all(r.score >= DEFAULT_THRESHOLD for r in results)

    def test_private_mode_finds_every_true_pair_and_nothing_else(self, sample_sides, sample_truth):
        self._check(link_records(*sample_sides), sample_truth)

    def test_plain_mode_finds_every_true_pair_and_nothing_else(self, sample_sides, sample_truth):
        self._check(link_records(*sample_sides, plain=True), sample_truth)

    def test_dedup_finds_the_same_person_registered_twice(self, sample_sides):
        missing, found = sample_sides
        duplicates = dedup_records(missing + found)
        pairs = {tuple(sorted((r.ref_a, r.ref_b))) for r in duplicates}
        assert ("KW-2024-0116", "NB-2024-0504") in pairs
        assert not any("NB-2024-0509" in pair for pair in pairs)


def test_keys_made_in_worker_processes_equal_keys_made_in_one(lexicon):
    """Large registers are keyed on all cores; the keys must be the very same."""
    from node.records.linking import record_keys

    missing, _, _ = generate_registers(300, 10, seed=11)
    one = record_keys(missing, lexicon, workers=1)
    pooled = record_keys(missing, lexicon, workers=2, parallel_from=0)
    assert pooled == one
    assert list(pooled) == list(one)


def test_a_name_pair_held_by_few_records_is_rare_and_by_many_common():
    """The private path's term frequency: holders of the rarest agreeing name-pair key."""
    left = {"a": [("pair_mph_dist", "RARE|kwale")], "b": [("pair_mph_dist", "COMMON|kwale")]}
    right = {f"r{i}": [("pair_mph_dist", "COMMON|kwale")] for i in range(40)}
    right["x"] = [("pair_mph_dist", "RARE|kwale")]
    found = candidate_arrays(left, right, ("pair_mph_dist",), rarity_types=("pair_mph_dist",))
    pairs = zip(found.left.tolist(), found.right.tolist(), strict=True)
    holders = dict(zip(pairs, found.rarity.tolist(), strict=True))
    rare = holders[(0, found.ids_right.index("x"))]
    common = holders[(1, 0)]
    assert (rare, common) == (2, 41)
    assert rarity_levels(np.array([rare, common])).tolist() == [3, 0]


def _level(field: str, words: str) -> int:
    return FIELDS[field].words.index(words)


def test_among_pairs_whose_names_all_agree_a_shared_district_says_less_than_among_all_pairs():
    """Different people whose names all agree are namesakes and relatives of one community:
    they share a district far more often than two random candidates do (same_names_model)."""
    n = 200
    same = {"names": _level("names", "the same three or more names, in any order"),
            "birth": _level("birth", "same birth date"),
            "district": _level("district", "same home district")}  # fmt: skip
    all_names = "three or more names sound the same, in any order"
    namesake = {"names": _level("names", all_names),
                "birth": _level("birth", "birth years more than a year apart"),
                "district": _level("district", "same home district")}  # fmt: skip
    stranger = {"names": _level("names", "a name sounds the same"),
                "district": _level("district", "home district differs")}  # fmt: skip
    kinds = [same, namesake, stranger]
    unique = np.array(
        [[kind.get(f, MISSING) for f in FIELD_NAMES] for kind in kinds], dtype=np.int16
    )
    records = np.arange(n)
    left = np.concatenate([records, records, records])
    right = np.concatenate([records, (records + 1) % n, (records + 2) % n])
    inverse = np.repeat(np.arange(3), n)
    model = fit_key_scorer(_agreements(2), sizes=(n, n)).model
    namesakes_model = same_names_model(model, unique, inverse, left, right, FIELD_NAMES)
    assert namesakes_model is not None
    district, shared = FIELD_NAMES.index("district"), same["district"]
    assert namesakes_model.weights[district][shared] < model.weights[district][shared]
    assert namesakes_model.m == model.m and namesakes_model.prior == model.prior


def test_among_pairs_agreeing_on_two_names_a_shared_district_says_less_than_among_all_pairs():
    """Pairs sharing two names (not all) are relatives and namesakes of one community too: their
    stratum gets its own u (strata.NAME_STRATA), and the pairs sharing one name sound are not in
    it."""
    n = 200
    two = "two names sound the same, in any order"
    same = {"names": _level("names", two),
            "birth": _level("birth", "same birth date"),
            "district": _level("district", "same home district")}  # fmt: skip
    namesake = {"names": _level("names", two),
                "birth": _level("birth", "birth years more than a year apart"),
                "district": _level("district", "same home district")}  # fmt: skip
    stranger = {"names": _level("names", "a name sounds the same"),
                "district": _level("district", "home district differs")}  # fmt: skip
    unique = np.array(
        [[kind.get(f, MISSING) for f in FIELD_NAMES] for kind in (same, namesake, stranger)],
        dtype=np.int16,
    )
    records = np.arange(n)
    left = np.concatenate([records, records, records])
    right = np.concatenate([records, (records + 1) % n, (records + 2) % n])
    inverse = np.repeat(np.arange(3), n)
    model = fit_key_scorer(_agreements(2), sizes=(n, n)).model
    two_names = same_names_model(model, unique, inverse, left, right, FIELD_NAMES, NAME_STRATA[0])
    assert two_names is not None
    district, shared = FIELD_NAMES.index("district"), same["district"]
    assert two_names.weights[district][shared] < model.weights[district][shared]
    assert two_names.m == model.m and two_names.prior == model.prior


def test_a_brother_sharing_the_family_phone_is_told_apart_by_his_sex():
    """A family phone is on the missing girl's record and on her brother's: the phone with the
    sex (``phone_sex``) says the brother shares the phone but not the sex."""
    lexicon = load_lexicon()
    family = {"family_name": "Baya", "origin_place": "Tiwi", "phone": "0712 345 678"}
    girl = {"ref": "M1", "kind": "missing", "given_names": "Amina", "sex": "F",
            "birth_date": "2008-04-02", "origin_district": "Kwale", **family}  # fmt: skip
    found = {
        "ref": "F1",
        "kind": "found",
        "given_names": "Amina",
        "sex": "F",
        "age": "17",
        **family,
    }
    brother = {
        "ref": "F2",
        "kind": "found",
        "given_names": "Juma",
        "sex": "M",
        "age": "15",
        **family,
    }
    left = {"M1": match_keys(normalise(girl, lexicon))}
    right = {r["ref"]: match_keys(normalise(r, lexicon)) for r in (found, brother)}
    scored = {s.ref_b: s for s in score_key_candidates(left, right)}
    assert "same sex" in scored["F1"].evidence
    assert "sex differs" in scored["F2"].evidence
    assert scored["F2"].score < scored["F1"].score
