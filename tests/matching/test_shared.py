"""A phone many records of one side hold (a shelter's) is set aside before scoring (shared.py)."""

from __future__ import annotations

from matching import load_lexicon, match_keys, normalise
from matching.scoring import score_key_candidates
from matching.shared import SHARED_HOLDERS, without_shared

SHELTER = ("phone", "254733200300")


def _found(n: int, men: int = 0) -> dict[str, list[tuple[str, str]]]:
    """n found records with the shelter's phone, the first ``men`` of them men."""
    return {
        f"F{i}": [
            ("pair_mph_dist", f"NAME{i}|kwale"),
            SHELTER,
            ("phone_sex", f"{SHELTER[1]}|{'M' if i < men else 'F'}"),
        ]
        for i in range(n)
    }


def test_a_phone_held_by_many_records_of_one_side_is_dropped_from_that_side():
    side = without_shared(_found(SHARED_HOLDERS))
    assert all(SHELTER not in keys for keys in side.values())
    assert all(("pair_mph_dist", f"NAME{i}|kwale") in side[f"F{i}"] for i in range(5))


def test_the_phone_with_the_sex_goes_with_a_shared_phone_however_few_share_that_sex():
    side = without_shared(_found(SHARED_HOLDERS + 5, men=2))
    assert all(not any(t.startswith("phone") for t, _ in keys) for keys in side.values())


def test_a_family_phone_on_a_few_records_stays():
    side = _found(SHARED_HOLDERS - 1)
    assert without_shared(side) is side


def test_a_found_record_with_the_shelters_phone_does_not_look_like_a_different_phone():
    """The same person, the found record written with the shelter's phone: without the rule the
    phones "differ"; with it the phone is unknown, as if not written."""
    lexicon = load_lexicon()
    person = {"ref": "M1", "kind": "missing", "given_names": "Amina Zawadi",
              "family_name": "Baya", "birth_date": "2008-04-02", "origin_district": "Kwale",
              "phone": "0712 345 678"}  # fmt: skip
    found = {**person, "ref": "F0", "kind": "found", "phone": "+254 733 200 300"}
    others = [{"ref": f"F{i}", "kind": "found", "given_names": f"Other{i}",
               "family_name": "Kazungu", "phone": "+254 733 200 300"}
              for i in range(1, SHARED_HOLDERS + 1)]  # fmt: skip
    left = {"M1": match_keys(normalise(person, lexicon))}
    right = {r["ref"]: match_keys(normalise(r, lexicon)) for r in [found, *others]}
    [scored] = [s for s in score_key_candidates(left, right) if s.ref_b == "F0"]
    assert "phone" not in scored.evidence
