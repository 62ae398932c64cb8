"""Field-level agreement derived from which key types agree and which differ (fields.py)."""

from __future__ import annotations

import numpy as np
import pytest

from matching import KEY_TYPES
from matching.fields import FIELDS, MISSING, components, field_levels, fields_for

FIELD_NAMES = fields_for(KEY_TYPES)


def _words(agree: dict[str, int], both: set[str]) -> dict[str, str]:
    """Each known field's words for one pair: agreeing key types with counts, types both have."""
    agree_row = np.array([[agree.get(t, 0) for t in KEY_TYPES]], dtype=np.int8)
    both_row = np.array([[t in both or t in agree for t in KEY_TYPES]], dtype=bool)
    levels = field_levels(KEY_TYPES, agree_row, both_row, FIELD_NAMES)[0]
    return {
        f: FIELDS[f].words[lv] or "undetermined"
        for f, lv in zip(FIELD_NAMES, levels, strict=True)
        if lv != MISSING
    }


@pytest.mark.parametrize(
    ("agree", "both", "field", "words"),
    [
        # A key that agrees: all its components agree.
        ({"dob_dist": 1}, set(), "birth", "same birth date"),
        ({"dob_dist": 1}, set(), "district", "same home district"),
        # Names and district agree; the names + year key differs: the years differ.
        ({"pair_mph_dist": 1}, {"pair_mph_yw"}, "birth", "birth years more than a year apart"),
        # Date and district agree; the one-name + date key differs: no name sounds the same.
        ({"dob_dist": 1}, {"nam_mph_dob"}, "names", "no name sounds the same"),
        # Two shared year windows per shared name pair: the same year; one: a year apart.
        ({"pair_mph_dist": 1, "pair_mph_yw": 2}, set(), "birth", "same birth year"),
        ({"pair_mph_dist": 1, "pair_mph_yw": 1}, set(), "birth", "birth year within a year"),
        ({"pair_mph_dist": 2, "pair_mph_yw": 4}, set(), "birth", "same birth year"),
        # Names agree but the names + village key differs: the village differs.
        ({"pair_mph_yw": 2}, {"pair_mph_place"}, "village", "home village differs"),
        ({"phone": 1}, set(), "phone", "same phone number"),
        ({"pair_mph_yw": 2}, {"phone"}, "phone", "phone number differs"),
        ({"pair_mph_yw": 2}, {"pair_mph_mother"}, "mother", "mother's name differs"),
        # A name one letter off, another name's sound and the district agree.
        ({"near_mph_dist": 1}, set(), "names", "two names alike (one a letter off)"),
        # Names agree, the six-year bands do not: the years are far apart (estimated ages are
        # rarely that far off); bands agree but year windows do not: two or three years apart.
        ({"pair_mph_dist": 1}, {"pair_mph_y6"}, "birth", "birth years far apart"),
        (
            {"pair_mph_dist": 1, "pair_mph_y6": 1},
            {"pair_mph_yw"},
            "birth",
            "birth years more than a year apart",
        ),
        # The village's skeleton agrees but not its spelling; or not even the skeleton.
        ({"pair_mph_vsk": 1}, {"pair_mph_place"}, "village", "home village spelled alike"),
        ({"pair_mph_yw": 2}, {"pair_mph_vsk"}, "village", "home village differs"),
        # The phone agrees, and the phone with the sex too (the same sex) or not (a sibling).
        ({"phone": 1, "phone_sex": 1}, set(), "sex", "same sex"),
        ({"phone": 1}, {"phone_sex"}, "sex", "sex differs"),
        ({"phone": 1}, {"phone_sex"}, "phone", "same phone number"),
    ],
)
def test_what_the_key_types_say_about_a_field(agree, both, field, words):
    assert _words(agree, both)[field] == words


def test_a_field_neither_key_type_covers_on_both_sides_is_not_mentioned():
    assert "village" not in _words({"pair_mph_yw": 2}, set())


def test_a_field_no_key_decides_is_unknown_not_a_level_of_its_own():
    """Both have a names + village key and no key decides the village (the names differ): the
    village stays unknown, so the names' difference is not counted a second time."""
    assert "village" not in _words({"dob_dist": 1}, {"pair_mph_place"})


def test_names_no_key_agrees_on_are_undetermined_which_is_evidence():
    """Only the phone agrees; both records have names (a names + district key each) and no
    name key agrees: that is said, as a level below every agreement."""
    assert _words({"phone": 1}, {"pair_mph_dist"}) == {
        "names": "undetermined",
        "phone": "same phone number",
    }


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_every_key_type_in_use_says_something_about_a_field(key_type):
    assert components(key_type)
    assert fields_for([key_type])


def names_level(t: int, shared: int, fewest: int) -> str:
    """The names words for one pair whose only keys in common are ``shared`` of key type ``t``,
    the record with fewer having ``fewest`` of them."""
    agree = np.zeros((1, len(KEY_TYPES)), dtype=np.int8)
    agree[0, t] = shared
    both = np.zeros((1, len(KEY_TYPES)), dtype=bool)
    both[0, t] = True
    least = np.zeros((1, len(KEY_TYPES)), dtype=np.int16)
    least[0, t] = fewest
    levels = field_levels(KEY_TYPES, agree, both, FIELD_NAMES, least)[0]
    return FIELDS["names"].words[levels[FIELD_NAMES.index("names")]]


@pytest.mark.parametrize(
    ("shared", "fewest", "words"),
    [
        (1, 1, "all names sound the same, in any order"),  # two names each
        (1, 3, "two names sound the same, in any order"),  # one of three name pairs
        (3, 3, "three or more names sound the same, in any order"),
        (3, 6, "three or more names sound the same, in any order"),  # three of four names
        # Two names of four (or three and a father's name): one pair of six, the others differ.
        (1, 4, "two names sound the same, more names differ"),
        (1, 6, "two names sound the same, more names differ"),
    ],
)
def test_names_all_sound_the_same_when_every_name_pair_of_the_shorter_record_agrees(
    shared, fewest, words
):
    assert names_level(KEY_TYPES.index("pair_mph_dist"), shared, fewest) == words


@pytest.mark.parametrize(
    ("shared", "fewest", "near_agreeing", "near_most", "words"),
    [
        # Every deletion-neighbourhood key of the longer record agrees: the same names.
        (1, 1, 14, 14, "the same two names, in any order"),
        (3, 3, 32, 42, "the same three or more names, in any order"),  # 3 in 4 or more
        # One of two six-letter names a letter off: 8 of 14 agree; they only sound the same.
        (1, 1, 8, 14, "all names sound the same, in any order"),
        # Not all names sound the same: the spelling of the two that do is not graded.
        (1, 3, 14, 14, "two names sound the same, in any order"),
        # No district on one side, so no near keys: the sound is all that is known.
        (1, 1, 0, 0, "all names sound the same, in any order"),
    ],
)
def test_the_share_of_agreeing_deletion_neighbours_tells_the_same_names_from_names_sounding_alike(
    shared, fewest, near_agreeing, near_most, words
):
    pair, near = KEY_TYPES.index("pair_mph_dist"), KEY_TYPES.index("near_mph_dist")
    agree = np.zeros((1, len(KEY_TYPES)), dtype=np.int8)
    agree[0, pair], agree[0, near] = shared, near_agreeing
    both = np.zeros((1, len(KEY_TYPES)), dtype=bool)
    both[0, pair], both[0, near] = True, near_most > 0
    least = np.zeros((1, len(KEY_TYPES)), dtype=np.int16)
    least[0, pair], least[0, near] = fewest, near_agreeing
    most = np.zeros((1, len(KEY_TYPES)), dtype=np.int16)
    most[0, pair], most[0, near] = max(fewest, shared), near_most
    levels = field_levels(KEY_TYPES, agree, both, FIELD_NAMES, least, most)[0]
    assert FIELDS["names"].words[levels[FIELD_NAMES.index("names")]] == words


def test_more_names_agreeing_rank_higher_and_the_same_spelling_above_the_same_sound():
    words = FIELDS["names"].words
    assert (
        words.index("a name sounds the same")
        < words.index("two names sound the same, more names differ")
        < words.index("two names sound alike, spelled differently")
        < words.index("two names alike (one a letter off)")
        < words.index("two names sound the same, in any order")
        < words.index("all names sound the same, in any order")
        < words.index("three or more names sound the same, in any order")
        < words.index("the same two names, in any order")
        < words.index("the same three or more names, in any order")
        == len(words) - 1
    )


@pytest.mark.parametrize(
    ("shared", "fewest", "words"),
    [
        # One name pair each, two six-year bands each, both shared: all names (no district).
        (2, 2, "all names sound the same, in any order"),
        # Three name pairs x two bands on the record with fewer keys, one pair shared.
        (2, 6, "two names sound the same, in any order"),
    ],
)
def test_birth_band_keys_tell_all_names_for_records_without_a_place(shared, fewest, words):
    """Keys of names x six-year bands: (name pairs) x (bands) per record, (shared pairs) x
    (shared bands) agreeing — equal to the fewer keys only when every name pair is shared."""
    assert names_level(KEY_TYPES.index("pair_mph_y6"), shared, fewest) == words
