"""The East-African development set: reproducible, valid records, and the truth it claims."""

from __future__ import annotations

import random
import sys
from datetime import date
from pathlib import Path

import pytest
from rapidfuzz.distance import DamerauLevenshtein

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from east_africa import DUP_MISSING, OVERLAP, generate, typo

from node.canonical import clean_record


@pytest.fixture(scope="module")
def data():
    return generate(3000, 3000, seed=5)


def test_the_same_seed_gives_the_same_lists():
    one, two = generate(300, 300, seed=2), generate(300, 300, seed=2)
    assert one.missing == two.missing and one.found == two.found


def test_every_record_is_a_valid_canonical_record(data):
    for record in data.missing + data.found:
        _, problems = clean_record(record, None, date(2026, 1, 1))
        assert problems == [], record


def test_true_pairs_join_a_missing_record_to_a_found_one(data):
    refs_missing = {r["ref"] for r in data.missing}
    refs_found = {r["ref"] for r in data.found}
    assert all(m in refs_missing and f in refs_found for m, f in data.true_pairs)


def test_about_the_declared_share_of_found_people_is_missing_and_of_missing_is_duplicated(data):
    found_in_truth = {f for _, f in data.true_pairs}
    assert abs(len(found_in_truth) / len(data.found) - OVERLAP) < 0.05
    within_missing = [p for p in data.duplicates if p[0].startswith("M")]
    assert abs(len(within_missing) / len(data.missing) - DUP_MISSING) < 0.015


def test_missing_lists_write_dates_and_found_registers_mostly_estimated_ages(data):
    dated = sum(bool(r["birth_date"]) for r in data.missing) / len(data.missing)
    aged = sum(bool(r["age"]) for r in data.found) / len(data.found)
    assert dated > 0.8 and aged > 0.7


def test_planted_namesakes_differ_in_some_field_their_missing_namesake_has(data):
    found = {r["ref"]: r for r in data.found}
    missing = {r["ref"]: r for r in data.missing}
    namesakes = [(f, m) for f, (kind, m) in data.hard_negatives.items() if kind == "namesake"]
    assert namesakes
    compared = ("birth_date", "origin_place", "mother_name", "father_name", "phone")
    for f, m in namesakes:
        differing = [
            c for c in compared if found[f][c] and missing[m][c] and found[f][c] != missing[m][c]
        ]
        alike = [c for c in compared if found[f][c] and found[f][c] == missing[m][c]]
        assert differing or not alike, (found[f], missing[m])


@pytest.mark.parametrize("seed", range(20))
def test_a_typo_changes_a_word_by_one_edit_and_names_its_kind(seed):
    word, kind = typo(random.Random(seed), "Mwendwa")  # noqa: S311 - seeded test data
    assert kind
    assert DamerauLevenshtein.distance(word.lower(), "mwendwa") == 1
