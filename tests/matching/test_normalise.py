"""Normalisation: the messy cases of record-format.md, each as a row of a table."""

from __future__ import annotations

import pytest

from matching import Birth, load_lexicon
from matching.errors import LexiconError
from matching.normalise import birth, name_tokens, phone_number, place_name
from matching.text import fold


@pytest.mark.parametrize(
    ("written", "folded"),
    [
        ("Hélène", "helene"),
        ("Ng'ombeni", "ngombeni"),
        ("Ng’ombeni", "ngombeni"),
        ("Achieng'", "achieng"),
        ("Njoroge-Kamau", "njoroge kamau"),
        ("M. Ali", "m ali"),
        ("  ZAWADI  ", "zawadi"),
        ("Straße", "strasse"),
        ("Øyvind", "oyvind"),
    ],
)
def test_fold_gives_comparable_ascii(written, folded):
    assert fold(written) == folded


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Mohamed", "Muhammad"),
        ("Mohammed", "Mohamud"),
        ("Fatuma", "Fatma"),
        ("Abdul Rahman", "Abdulrahman"),
        ("Abdul-Rahman", "Abdurahman"),
        ("Mwana Isha", "Mwanaisha"),
        ("Ng'ombeni", "NGOMBENI"),
        ("Hélène", "Helene"),
        ("Mr. Juma", "juma"),
        ("Bi Zainabu", "Zainab"),
        ("Sheikh Omar", "Omari"),
    ],
)
def test_spellings_of_one_name_give_the_same_tokens(lexicon, one, other):
    assert name_tokens(one, lexicon) == name_tokens(other, lexicon)


@pytest.mark.parametrize(
    ("written", "tokens"),
    [
        ("Mwanaisha Zawadi", ("mwanaisha", "aisha", "zawadi")),
        ("Ali bin Hassan", ("ali", "hassan")),
        ("Grace  Wanjiru", ("grace", "wanjiru")),
        ("J. Mwakio", ("mwakio",)),
        ("Mama", ("mama",)),  # an honorific alone is kept: it is all the register wrote
        ("", ()),
    ],
)
def test_name_tokens(lexicon, written, tokens):
    assert name_tokens(written, lexicon) == tokens


def test_given_and_family_swapped_give_the_same_names(person):
    assert set(person(given_names="Zawadi", family_name="Kahindi").names) == set(
        person(given_names="Kahindi", family_name="Zawadi").names
    )


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Lunga Lunga", "Lungalunga"),
        ("Lunga-Lunga", "lunga lunga"),
        ("Kwale County", "Kwale"),
        ("Kwale District", "KWALE"),
        ("Msambweni", "Msambueni"),
        ("Shimba Hills", "Shimba-Hills"),
    ],
)
def test_spellings_of_one_place_give_the_same_name(lexicon, one, other):
    assert place_name(one, lexicon) == place_name(other, lexicon)


@pytest.mark.parametrize(
    ("written", "country", "canonical"),
    [
        ("0712 345 678", None, "+254712345678"),
        ("+254 712 345 678", None, "+254712345678"),
        ("0712-345-678", "KE", "+254712345678"),
        ("254712345678", None, "+254712345678"),
        ("00254712345678", None, "+254712345678"),
        ("712345678", None, "+254712345678"),
        ("(0712) 345.678", None, "+254712345678"),
        ("0788 123 456", "RW", "+250788123456"),
        ("+250 788 123 456", "KE", "+250788123456"),
        ("0772 100 200", "UG", "+256772100200"),
        ("12", None, None),
        ("", None, None),
    ],
)
def test_phone_formats_give_one_canonical_number(written, country, canonical):
    assert phone_number(written, country) == canonical


@pytest.mark.parametrize(
    ("birth_date", "age", "age_on", "expected"),
    [
        ("2008-03-14", None, None, Birth(2008, 2008, 3, 14)),
        ("2008-03", None, None, Birth(2008, 2008, 3, None)),
        ("2008", None, None, Birth(2008, 2008, None, None)),
        ("2007-13-05", None, None, Birth(2007, 2007, 5, 13)),  # month 13: day and month swapped
        (None, "15", "2024-11-02", Birth(2008, 2009)),
        (None, "16", "2025-03-01", Birth(2008, 2009)),
        (None, "15.5", "2024-11-02", Birth(2008, 2009)),
        (None, "15", None, None),  # an age without its date says nothing about the birth year
        ("2010", "3", "2024-01-01", Birth(2010, 2010)),  # a written birth date wins
        ("not a date", None, None, None),
    ],
)
def test_birth_dates_and_ages(birth_date, age, age_on, expected):
    assert birth(birth_date, age, age_on) == expected


def test_day_and_month_swapped_compare_equal():
    assert Birth(2007, 2007, 11, 5).day_month() == Birth(2007, 2007, 5, 11).day_month()


class TestAdminVariantFiles:
    def test_an_admin_file_adds_spellings_to_a_bundled_group(self, tmp_path):
        """A new spelling joins the bundled group and keeps its first spelling."""
        extra = tmp_path / "name_variants.txt"
        extra.write_text("# our register\nMuhamadi, Mohamed\nKazungu, Kazungo\n", "utf-8")
        lexicon = load_lexicon(name_variants=extra)
        assert name_tokens("Muhamadi", lexicon) == name_tokens("Mohammed", lexicon)
        assert name_tokens("Kazungo", lexicon) == ("kazungu",)

    def test_a_missing_admin_file_is_no_error(self, tmp_path):
        assert load_lexicon(name_variants=tmp_path / "none.txt") == load_lexicon()

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("Mohamed\n", "two or more spellings"),
            ("Mohamed, , Ali\n", "two or more spellings"),
            (b"\xff\xfe bad", "not UTF-8"),
        ],
    )
    def test_a_malformed_admin_file_is_refused_with_its_line(self, tmp_path, content, message):
        extra = tmp_path / "place_variants.txt"
        if isinstance(content, bytes):
            extra.write_bytes(content)
        else:
            extra.write_text(content, "utf-8")
        with pytest.raises(LexiconError, match=message):
            load_lexicon(place_variants=extra)
