"""The synthetic registers: reproducible, valid, with a true truth, and as messy as intended."""

from __future__ import annotations

import math
import random
import re
from datetime import date

import pytest

from matching.synthetic import (
    FOUND_STYLE,
    MISSING_STYLE,
    REFERENCE_DATE,
    Style,
    generate,
    generate_registers,
    load_bank,
)
from node.canonical import FIELDS, clean_record

OPTIONAL_COLUMNS = ("consent_match", "consent_contact", "retain_until")

NAME_CHANGES = {
    "variant", "typo", "swap", "father_as_family", "nickname_as_given", "hyphen", "accent",
}  # fmt: skip


@pytest.fixture(scope="module")
def regs():
    return generate(5000, 4000, overlap=0.4, seed=11)


@pytest.fixture(scope="module")
def cells(regs):
    """The filled cells of one column across both registers."""

    def column(name):
        return [r[name] for r in regs.missing + regs.found if r[name]]

    return column


def share(records, regs, label):
    return sum(label in regs.messiness[r["ref"]] for r in records) / len(records)


def within(observed: float, p: float, n: int) -> bool:
    """Observed rate within four standard errors of p (a false alarm about once in 15,000)."""
    return abs(observed - p) <= 4 * math.sqrt(p * (1 - p) / n) + 1e-9


def folded(name: str | None) -> str:
    return (name or "").lower().replace("'", "").replace("’", "")


class TestReproducible:
    def test_the_same_seed_gives_the_same_registers(self):
        assert generate(300, 200, seed=5) == generate(300, 200, seed=5)

    def test_a_different_seed_gives_different_registers(self):
        assert generate(300, 200, seed=5).missing != generate(300, 200, seed=6).missing

    def test_a_random_generator_can_be_passed_instead_of_a_seed(self):
        rng = random.Random(3)  # noqa: S311 - a seeded generator is what is being tested
        assert generate(100, 100, seed=rng) == generate(100, 100, seed=3)

    def test_generate_registers_returns_the_records_and_the_truth(self):
        missing, found, pairs = generate_registers(200, 150, overlap=0.5, seed=1)
        regs = generate(200, 150, overlap=0.5, seed=1)
        assert (missing, found, pairs) == (regs.missing, regs.found, set(regs.true_pairs))


class TestRecordsAreValid:
    def test_every_record_passes_the_canonical_checks(self, regs):
        for record in regs.missing + regs.found:
            row = {k: v or "" for k, v in record.items()}
            _, problems = clean_record(row, None, REFERENCE_DATE)
            assert problems == [], (record, problems)

    def test_records_have_the_canonical_register_fields_in_order(self, regs):
        """Every canonical field but the node's own consent and retention columns, which a
        register may leave out (their empty cells take the node's defaults)."""
        register_fields = tuple(f for f in FIELDS if f not in OPTIONAL_COLUMNS)
        assert all(tuple(r) == register_fields for r in regs.missing + regs.found)

    def test_kinds_and_refs_say_which_register(self, regs):
        assert {r["kind"] for r in regs.missing} == {"missing"}
        assert {r["kind"] for r in regs.found} == {"found"}
        refs = [r["ref"] for r in regs.missing + regs.found]
        assert len(set(refs)) == len(refs)

    def test_empty_cells_are_none_never_empty_strings(self, regs):
        assert all(v != "" for r in regs.missing + regs.found for v in r.values())

    def test_bad_sizes_are_refused(self):
        with pytest.raises(ValueError, match="overlap"):
            generate(10, 10, overlap=1.5)


class TestTruth:
    def test_overlap_is_a_share_of_the_smaller_register(self, regs):
        assert len(regs.true_pairs) == round(0.4 * 4000)

    def test_every_true_pair_names_a_missing_and_a_found_record(self, regs):
        missing = {r["ref"] for r in regs.missing}
        found = {r["ref"] for r in regs.found}
        assert all(m in missing and f in found for m, f in regs.true_pairs)

    def test_each_person_is_on_each_list_at_most_once(self, regs):
        assert len({m for m, _ in regs.true_pairs}) == len(regs.true_pairs)
        assert len({f for _, f in regs.true_pairs}) == len(regs.true_pairs)

    def test_found_order_does_not_give_the_truth_away(self, regs):
        first = {r["ref"] for r in regs.found[: len(regs.true_pairs)]}
        paired = {f for _, f in regs.true_pairs}
        assert 0.2 < len(first & paired) / len(paired) < 0.6

    def test_true_pairs_written_without_name_changes_share_the_family_name(self, regs):
        by_ref = {r["ref"]: r for r in regs.missing + regs.found}
        clean = [
            (by_ref[m], by_ref[f])
            for m, f in regs.true_pairs
            if not NAME_CHANGES & set(regs.messiness[m] + regs.messiness[f])
        ]
        assert len(clean) > 300
        assert all(folded(a["family_name"]) == folded(b["family_name"]) for a, b in clean)

    def test_true_pairs_with_full_dates_are_born_within_a_year(self, regs):
        by_ref = {r["ref"]: r for r in regs.missing + regs.found}
        years = [
            (int(by_ref[m]["birth_date"][:4]), int(by_ref[f]["birth_date"][:4]))
            for m, f in regs.true_pairs
            if by_ref[m]["birth_date"] and by_ref[f]["birth_date"]
        ]
        assert len(years) > 200
        assert all(abs(a - b) <= 2 for a, b in years)


class TestHardNegatives:
    def test_namesakes_share_names_and_district_with_a_different_missing_person(self, regs):
        by_ref = {r["ref"]: r for r in regs.missing + regs.found}
        paired = {f for _, f in regs.true_pairs}
        namesakes = [
            (by_ref[f], by_ref[m])
            for f, (kind, m) in regs.hard_negatives.items()
            if kind == "namesake"
            and not NAME_CHANGES & set(regs.messiness[f] + regs.messiness[m])
            and "drop_given" not in regs.messiness[f] + regs.messiness[m]
        ]
        assert len(namesakes) > 50
        assert not paired & {f["ref"] for f, _ in namesakes}
        for found, missing in namesakes:
            assert folded(found["given_names"]) == folded(missing["given_names"])
            assert folded(found["family_name"]) == folded(missing["family_name"])
            both = regs.messiness[found["ref"]] + regs.messiness[missing["ref"]]
            if (
                found["origin_district"]
                and missing["origin_district"]
                and not {"district_typo", "district_variant"} & set(both)
            ):
                assert folded(found["origin_district"]) == folded(missing["origin_district"])

    def test_namesakes_and_siblings_come_at_the_intended_rates(self, regs):
        others = len(regs.found) - len(regs.true_pairs)
        kinds = [kind for kind, _ in regs.hard_negatives.values()]
        assert within(kinds.count("namesake") / others, 0.15, others)
        assert within(kinds.count("sibling") / others, 0.03, others)

    def test_common_names_are_shared_by_many_people(self, regs):
        names = {}
        for r in regs.missing:
            key = (folded(r["given_names"]), folded(r["family_name"]))
            names[key] = names.get(key, 0) + 1
        assert max(names.values()) >= 8


class TestMessiness:
    @pytest.mark.parametrize(
        ("label", "style_field"),
        [("swap", "swap"), ("typo", "typo"), ("upper", "upper"), ("age", "birth_age"),
         ("birth_year", "birth_year"), ("year_off", "year_off"), ("father_as_family", None)],
    )  # fmt: skip
    @pytest.mark.parametrize("side", ["missing", "found"])
    def test_unconditional_cases_occur_at_the_style_rate(self, regs, label, style_field, side):
        style = MISSING_STYLE if side == "missing" else FOUND_STYLE
        records = getattr(regs, side)
        if style_field is None:  # father-naming traditions (Somali) cannot get this case
            somali = sum(r["languages"] in ("Somali", "Somali;Swahili") for r in records)
            assert 0 < share(records, regs, label) <= style.father_as_family
            assert somali > 0
            return
        assert within(share(records, regs, label), getattr(style, style_field), len(records))

    def test_phones_are_missing_at_the_style_rate(self, regs):
        for records, style in ((regs.missing, MISSING_STYLE), (regs.found, FOUND_STYLE)):
            empty = sum(r["phone"] is None for r in records) / len(records)
            assert within(empty, 1 - style.phone, len(records))

    def test_one_wrong_digit_occurs_at_the_style_rate_among_phones(self, regs):
        with_phone = [r for r in regs.found if r["phone"]]
        observed = share(with_phone, regs, "phone_digit_wrong")
        assert within(observed, FOUND_STYLE.phone_digit_wrong, len(with_phone))

    def test_a_calmer_style_gives_fewer_messy_cases(self):
        calm = Style(variant=0, typo=0, swap=0, drop_given=0, upper=0, lower=0)
        regs = generate(500, 500, seed=2, missing_style=calm, found_style=calm)
        labels = {label for ls in regs.messiness.values() for label in ls}
        assert not {"variant", "typo", "swap", "drop_given", "upper", "lower"} & labels


class TestTheMessIsInTheRecords:
    """Labels aside, the messy cases from record-format.md are visible in the cells."""

    def test_spelling_variants_of_the_same_name_appear(self, cells):
        given = " ".join(cells("given_names"))
        for spellings in (("Mohamed", "Muhammad", "Mohamud"), ("Fatuma", "Fatma")):
            assert all(re.search(rf"\b{s}\b", given) for s in spellings), spellings
        assert "Mwana Isha" in given

    def test_apostrophes_hyphens_accents_and_upper_case_appear(self, cells):
        names = cells("given_names") + cells("family_name")
        assert any("'" in n for n in names)
        assert any("-" in n for n in names)
        assert any(not n.isascii() for n in names)
        assert any(n.isupper() and len(n) > 3 for n in names)

    def test_village_spellings_differ(self, cells):
        villages = set(cells("origin_place"))
        assert {"Lunga Lunga", "Lungalunga"} <= villages

    def test_phones_come_in_local_and_international_forms(self, cells):
        phones = cells("phone")
        assert any(p.startswith("07") for p in phones)
        assert any(p.startswith("+254 7") for p in phones)
        assert any("-" in p for p in phones)
        assert any(p.startswith(("+255", "+256")) for p in phones)

    def test_ages_come_with_the_date_they_were_estimated(self, regs):
        aged = [r for r in regs.found if r["age"]]
        assert aged and all(r["age_on"] and not r["birth_date"] for r in aged)
        assert all(date.fromisoformat(r["age_on"]) <= REFERENCE_DATE for r in aged)

    def test_places_come_from_kenya_tanzania_and_uganda(self, cells):
        assert {"KE", "TZ", "UG"} <= set(cells("origin_country"))


def test_the_bank_has_every_tradition_the_brief_names():
    names = {t.name for t in load_bank().traditions}
    expected = {"coastal", "kikuyu", "luo", "luhya", "kamba", "somali", "ugandan", "tanzanian"}
    assert names == expected
