"""Match keys: deterministic, versioned, and equal for the same person written differently."""

from __future__ import annotations

import json

import pytest

from matching import CANDIDATE_KEY_TYPES, KEY_TYPES, KEYSET_VERSION, KeySetError, match_keys
from matching import normalise as normalise_record
from matching.keys import year_bands, year_windows
from matching.normalise import Birth


def test_keys_of_the_sample_register_match_the_golden_vectors(lexicon, sample_sides, golden_keys):
    """Keys must not change without a new KEYSET_VERSION: peers' keys would stop meeting.

    If this fails after an intended change, bump KEYSET_VERSION and regenerate the file with
    `.venv/bin/python tests/matching/make_golden.py`.
    """
    golden = json.loads(golden_keys.read_text("utf-8"))
    assert golden["keyset"] == KEYSET_VERSION
    assert tuple(golden["key_types"]) == KEY_TYPES
    missing, found = sample_sides
    computed = {
        r["ref"]: [list(k) for k in match_keys(normalise_record(r, lexicon))]
        for r in missing + found
    }
    assert computed == golden["keys"]


def test_keys_are_sorted_unique_and_typed(person):
    keys = match_keys(person(given_names="Zawadi Zawadi", family_name="Mwakio", birth_date="2008"))
    assert keys == sorted(set(keys))
    assert {t for t, _ in keys} <= set(KEY_TYPES)


def test_an_unknown_key_type_is_refused(person):
    with pytest.raises(KeySetError, match="unknown match key type"):
        match_keys(person(given_names="Zawadi"), ["no_such_key"])


def test_every_candidate_key_type_has_a_function_and_known_components(person):
    from matching.fields import components

    record = person(
        given_names="Mwanaisha Zawadi",
        family_name="Mwakio",
        birth_date="2008-03-14",
        origin_place="Lunga Lunga",
        origin_district="Kwale",
        mother_name="Fatuma Said",
        father_name="Juma Mwakio",
        phone="0712345678",
        sex="F",
    )
    for key_type in CANDIDATE_KEY_TYPES:
        assert match_keys(record, [key_type]), key_type
        assert components(key_type)


@pytest.mark.parametrize(
    ("one", "other", "share"),
    [
        (Birth(2008, 2008), Birth(2008, 2008), 2),
        (Birth(2008, 2008), Birth(2009, 2009), 1),
        (Birth(2009, 2009), Birth(2008, 2008), 1),
        (Birth(2007, 2007), Birth(2009, 2009), 0),
        (Birth(2008, 2009), Birth(2010, 2010), 1),  # an age: two possible years, then one off
    ],
)
def test_birth_years_one_apart_share_a_window(one, other, share):
    assert len(set(year_windows(one)) & set(year_windows(other))) == share


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (
            {"given_names": "Zawadi", "family_name": "Kahindi", "birth_date": "2009-04-12"},
            {"given_names": "Kahindi", "family_name": "Zawadi", "birth_date": "2009"},
        ),
        (
            {"given_names": "Mohamed", "family_name": "Ali", "birth_date": "2006"},
            {"given_names": "Muhammad", "family_name": "Ali Hassan", "birth_date": "2005"},
        ),
        (
            {
                "given_names": "Fatuma",
                "family_name": "Ng'ombeni",
                "age": "15",
                "age_on": "2024-11-02",
            },
            {
                "given_names": "Fatma",
                "family_name": "Ngombeni",
                "age": "16",
                "age_on": "2025-03-01",
            },
        ),
        (
            {
                "given_names": "Grace Wanjiru",
                "family_name": "Njoroge-Kamau",
                "father_name": "Peter Njoroge",
                "origin_district": "Kiambu",
            },
            {"given_names": "Wanjiru", "family_name": "Peter", "origin_district": "Kiambu"},
        ),
        (
            {"given_names": "Abdul Rahman", "birth_date": "2007-11-05", "origin_district": "Kwale"},
            {
                "given_names": "Abdulrahman",
                "birth_date": "2007-05-11",
                "origin_district": "Kwale County",
            },
        ),
        ({"phone": "0712 345 678"}, {"phone": "+254-712-345678"}),
    ],
)
def test_the_same_person_written_differently_shares_a_key(person, one, other):
    assert set(match_keys(person(**one))) & set(match_keys(person(**other)))


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Charo", "hCaro"),  # transposed
        ("Bwika", "wBika"),
        ("Mwendwa", "Mendwa"),  # a letter left out
        ("Khaemba", "Khkemba"),  # a letter wrong
        ("Nakato", "Nakkato"),  # doubled
        ("Wanjiku", "Wanjikyu"),  # one letter too many
    ],
)
def test_a_name_one_letter_off_still_meets_when_another_name_and_the_district_agree(
    person, one, other
):
    a = person(given_names=one, family_name="Kahindi", origin_district="Kwale")
    b = person(given_names="Kahindi", family_name=other, origin_district="Kwale")  # swapped too
    shared = {t for t, _ in set(match_keys(a)) & set(match_keys(b))}
    assert "near_mph_dist" in shared


@pytest.mark.parametrize(
    ("one", "other"),
    [("Shimba Hills", "Shiimba Hills"), ("Pangani", "Pangany"), ("Lurambi", "Lulambi")],
)
def test_a_village_misspelt_in_vowels_doubles_or_sound_alike_letters_keeps_its_skeleton(
    person, one, other
):
    a = person(given_names="Amina", family_name="Juma", origin_place=one)
    b = person(given_names="Amina", family_name="Juma", origin_place=other)
    shared = {t for t, _ in set(match_keys(a)) & set(match_keys(b))}
    assert "pair_mph_vsk" in shared


@pytest.mark.parametrize(("one", "other", "meet"), [(2008, 2011, True), (2008, 2014, False)])
def test_estimated_ages_up_to_three_years_off_share_a_band_and_six_apart_never(one, other, meet):
    assert bool(set(year_bands(Birth(one, one))) & set(year_bands(Birth(other, other)))) == meet


def test_different_people_with_different_names_share_no_key(person):
    one = person(given_names="Esther", family_name="Achieng", birth_date="2007-02-03")
    other = person(given_names="Mary", family_name="Wambui", birth_date="1999-01-01")
    assert not set(match_keys(one)) & set(match_keys(other))


def test_no_record_has_more_keys_than_the_protocol_carries(person):
    from protocol.messages import MAX_KEYS_PER_RECORD

    crowded = person(
        given_names="Mwanaisha Zawadi Mapenzi Khadija",
        family_name="Mwakio Ng'ombeni",
        other_names="Isha;Zawi;Mwana;Tuma",
        father_name="Abdulrahman Kahindi Bakari",
        mother_name="Fatuma Said",
        age="15",
        age_on="2025-01-01",
        origin_place="Lunga Lunga",
        origin_district="Kwale",
        phone="0712345678",
        sex="F",
    )
    assert len(match_keys(crowded)) <= MAX_KEYS_PER_RECORD
