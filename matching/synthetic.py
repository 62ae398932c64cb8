"""Synthetic East-African-style registers with a known truth, for choosing match keys, testing
and benchmarking the linker, and the demo network. No real person is in them.

Real missing-person and victim registers cannot be shared, so the linker is tuned and measured on
registers generated here. They are built to be as hard as the field (record-format.md):

* a **missing** register (rural NGO, reported by family: full names, parents, a birth date, the
  family's phone) and a **found** register (urban shelter or authority: names as the person gave
  them, an estimated age, fewer parents and phones, sometimes the shelter's own phone);
* the same person is written differently on each side: spelling variants (Mohamed / Muhammad),
  typos, given and family names swapped, a given name left out, the father's name as family name,
  nicknames, case, apostrophes, hyphens, accents, an age instead of a birth date, day and month
  swapped, a birth year off by one, village spellings, phone formats or one digit wrong, and many
  empty cells;
* different people share names: names are drawn by rank (Zipf), and on purpose some found people
  are **namesakes** of a missing person (same names, same district, birth year within two) or
  **siblings** (same family name, parents, village and phone).

Everything is a pure function of its arguments and seed: ``generate(...)`` (or the tuple-returning
``generate_registers(...)``) gives the same registers for the same seed, on any machine. Names and
places come from ``matching/data/synthetic_*.txt``, independent of the matcher's own variant lists.
About 7 s for 100k records per side on the 2-core benchmark machine (pure Python, one thread).

    >>> regs = generate(1000, 800, overlap=0.4, seed=7)
    >>> len(regs.true_pairs)
    320
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TypeVar

from .namebank import NameBank, load_bank
from .synthetic_people import REFERENCE_DATE
from .synthetic_people import Draw as _Draw
from .synthetic_people import Person as _Person
from .synthetic_people import below as _below
from .synthetic_people import choice as _choice
from .synthetic_people import typo as _typo

T = TypeVar("T")

__all__ = [
    "FOUND_STYLE",
    "MISSING_STYLE",
    "REFERENCE_DATE",
    "NameBank",
    "Registers",
    "Style",
    "generate",
    "generate_registers",
    "load_bank",
]


FIELDS = (
    "ref", "kind", "given_names", "family_name", "other_names", "sex", "birth_date", "age",
    "age_on", "origin_place", "origin_district", "origin_country", "mother_name", "father_name",
    "last_seen_date", "last_seen_place", "phone", "languages", "notes",
)  # fmt: skip

# Where the found register's people were found (destination towns of trafficking in the region).
FOUND_PLACES = (
    "Nairobi", "Mombasa", "Eastleigh", "Kampala", "Dar es Salaam", "Malindi", "Nakuru", "Kisumu",
    "Thika", "Arusha", "Mtwapa", "Ukunda", "Busia", "Namanga", "Zanzibar", "Jinja",
)  # fmt: skip
SHELTER_PHONES = ("0722 000 111", "+254 733 200 300", "0709 555 010", "+256 772 100 200")
NOTES = (
    "reported by mother", "reported by uncle", "left for a housework job in town",
    "promised school fees", "travelled with an agent", "found at the bus stage",
    "referred by police", "speaks little Swahili", "walked in to the shelter", "",
)  # fmt: skip
SEX_SPELLINGS = {"F": ("F", "F", "F", "f", "female", "Mwanamke", "girl"),
                 "M": ("M", "M", "M", "m", "male", "Mwanaume", "boy")}  # fmt: skip
ACCENTED = {"a": "á", "e": "é", "i": "ï", "o": "ö", "u": "ũ"}


# --- how messy each register is ---------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """How one register writes a person: each number is the probability of one messy case.

    A probability applies to the records where the case can happen (a given name can only be
    left out when there are two); ``Registers.messiness`` says which cases each record got.
    """

    # names
    variant: float = 0.25  # per name token that has known spelling variants
    typo: float = 0.05  # one edit in one name token
    swap: float = 0.04  # written family name first, split at the first space
    drop_given: float = 0.15  # one of several given names left out
    father_as_family: float = 0.03  # the father's given name written as family name
    nickname_as_given: float = 0.0  # a nickname instead of the given names
    alias: float = 0.05  # nicknames in other_names
    hyphen: float = 0.02  # two given names joined with a hyphen
    drop_apostrophe: float = 0.3  # Ng'ombeni -> Ngombeni
    accent: float = 0.01
    upper: float = 0.15
    lower: float = 0.03
    # birth: full date, year-month, year only, age on a date; the rest has nothing
    birth_full: float = 0.55
    birth_month: float = 0.12
    birth_year: float = 0.12
    birth_age: float = 0.13
    day_month_swap: float = 0.04  # of full dates whose day could be a month
    year_off: float = 0.05  # written birth year (or age) one off
    age_rounded: float = 0.2  # of ages over 20: rounded to a multiple of 5
    # places and other cells (probabilities that the cell is filled)
    sex: float = 0.95
    village: float = 0.8
    village_variant: float = 0.3  # of villages with known variants
    place_typo: float = 0.03
    district: float = 0.9
    country: float = 0.6
    mother: float = 0.6
    mother_first_only: float = 0.3
    father: float = 0.5
    phone: float = 0.7
    phone_family: float = 1.0  # of phones: the family's (else the person's own or the shelter's)
    phone_shelter: float = 0.0  # of phones that are not the family's: the shelter's number
    phone_digit_wrong: float = 0.03
    languages: float = 0.5
    notes: float = 0.1


MISSING_STYLE = Style()
FOUND_STYLE = Style(
    variant=0.35, typo=0.08, swap=0.08, drop_given=0.3, father_as_family=0.08,
    nickname_as_given=0.03, alias=0.08, hyphen=0.03, drop_apostrophe=0.5, accent=0.03,
    upper=0.2, lower=0.05,
    birth_full=0.25, birth_month=0.05, birth_year=0.15, birth_age=0.4,
    day_month_swap=0.06, year_off=0.08, age_rounded=0.3,
    sex=0.9, village=0.55, village_variant=0.4, place_typo=0.06, district=0.75, country=0.5,
    mother=0.3, mother_first_only=0.5, father=0.2,
    phone=0.35, phone_family=0.65, phone_shelter=0.4, phone_digit_wrong=0.1,
    languages=0.6, notes=0.2,
)  # fmt: skip


# --- people (the truth) -----------------------------------------------------------------------


class _Writer:
    """Writes people into one register in one style, noting which messy cases each record got."""

    def __init__(self, bank: NameBank, style: Style, kind: str, rng: random.Random):
        self.bank, self.style, self.kind, self.rng = bank, style, kind, rng

    def spell(self, word: str, labels: list[str], label: str = "variant") -> str:
        others = self.bank.variants.get(word)
        if others and self.rng.random() < self.style.variant:
            labels.append(label)
            return _choice(self.rng, others)
        return word

    def names(self, p: _Person, labels: list[str]) -> tuple[str, str, str | None]:
        rng, st = self.rng, self.style
        given = list(p.given)
        family = p.family
        other: list[str] = []
        nicks = self.bank.nicknames.get(given[0], ())
        if nicks and rng.random() < st.alias:
            other.extend(nicks[: 1 + _below(rng, len(nicks))])
            labels.append("alias")
        if len(given) > 1 and rng.random() < st.drop_given:
            del given[_below(rng, len(given))]
            labels.append("drop_given")
        if nicks and rng.random() < st.nickname_as_given:
            given = [_choice(rng, nicks)]
            labels.append("nickname_as_given")
        if not p.tradition.father_naming and rng.random() < st.father_as_family:
            family = p.father_given
            labels.append("father_as_family")
        given = [self.spell(g, labels) for g in given]
        family = self.spell(family, labels)
        if rng.random() < st.typo:
            if rng.random() < 0.5:
                j = _below(rng, len(given))
                given[j] = _typo(rng, given[j])
            else:
                family = _typo(rng, family)
            labels.append("typo")
        if len(given) > 1 and rng.random() < st.hyphen:
            given = ["-".join(given[:2]), *given[2:]]
            labels.append("hyphen")
        given_s, family_s = " ".join(given), family
        if rng.random() < st.swap:
            full = f"{family_s} {given_s}".split()
            given_s, family_s = " ".join(full[:-1]), full[-1]
            labels.append("swap")
        if rng.random() < st.accent:
            given_s = self.accent(given_s)
            labels.append("accent")
        return given_s, family_s, ";".join(other) or None

    def accent(self, text: str) -> str:
        spots = [i for i, ch in enumerate(text) if ch in ACCENTED]
        if not spots:
            return text
        i = _choice(self.rng, spots)
        return text[:i] + ACCENTED[text[i]] + text[i + 1 :]

    def case(self, values: list[str | None], labels: list[str]) -> list[str | None]:
        """Apostrophes dropped and upper or lower case, the same way for the whole record."""
        rng, st = self.rng, self.style
        if any(v and "'" in v for v in values) and rng.random() < st.drop_apostrophe:
            values = [v.replace("'", "") if v else v for v in values]
            labels.append("drop_apostrophe")
        r = rng.random()
        if r < st.upper:
            labels.append("upper")
            return [v.upper() if v else v for v in values]
        if r < st.upper + st.lower:
            labels.append("lower")
            return [v.lower() if v else v for v in values]
        return values

    def birth(self, p: _Person, on: date, labels: list[str]) -> tuple[str | None, ...]:
        """(birth_date, age, age_on)."""
        rng, st = self.rng, self.style
        b = p.birth
        if rng.random() < st.year_off:
            b = date(
                b.year + _choice(rng, (-1, 1)), b.month, min(b.day, 28 if b.month == 2 else 31)
            )
            labels.append("year_off")
        r = rng.random()
        if r < st.birth_full:
            month, day = b.month, b.day
            if day <= 12 and day != month and rng.random() < st.day_month_swap:
                month, day = day, month
                labels.append("day_month_swap")
            return f"{b.year:04d}-{month:02d}-{day:02d}", None, None
        r -= st.birth_full
        if r < st.birth_month:
            labels.append("birth_month")
            return f"{b.year:04d}-{b.month:02d}", None, None
        r -= st.birth_month
        if r < st.birth_year:
            labels.append("birth_year")
            return f"{b.year:04d}", None, None
        r -= st.birth_year
        if r < st.birth_age:
            labels.append("age")
            age = on.year - b.year - ((on.month, on.day) < (b.month, b.day))
            if age > 20 and rng.random() < st.age_rounded:
                age = 5 * round(age / 5)
                labels.append("age_rounded")
            return None, str(age), on.isoformat()
        labels.append("no_birth")
        return None, None, None

    def place(self, name: str, labels: list[str], label: str) -> str:
        rng = self.rng
        others = self.bank.variants.get(name)
        if others and rng.random() < self.style.village_variant:
            labels.append(f"{label}_variant")
            name = _choice(rng, others)
        if rng.random() < self.style.place_typo:
            labels.append(f"{label}_typo")
            name = _typo(rng, name)
        return name

    def phone(self, p: _Person, labels: list[str]) -> str | None:
        rng, st = self.rng, self.style
        if rng.random() >= st.phone:
            labels.append("no_phone")
            return None
        if rng.random() >= st.phone_family:
            if rng.random() < st.phone_shelter:
                labels.append("phone_shelter")
                return _choice(rng, SHELTER_PHONES)
            labels.append("phone_other")
            number = f"7{_below(rng, 90_000_000) + 10_000_000}"
        else:
            number = p.phone
        if rng.random() < st.phone_digit_wrong:
            i = 1 + _below(rng, len(number) - 1)
            number = number[:i] + str((int(number[i]) + 1 + _below(rng, 9)) % 10) + number[i + 1 :]
            labels.append("phone_digit_wrong")
        cc, n = p.tradition.phone_code, number
        style = _below(rng, 7)
        if style >= 3:
            labels.append("phone_international")
        return (
            f"0{n}", f"0{n[:3]} {n[3:6]} {n[6:]}", f"0{n[:3]}-{n[3:6]}-{n[6:]}",
            f"+{cc} {n[:3]} {n[3:6]} {n[6:]}", f"+{cc}{n}", f"{cc}{n}", f"+{cc}-{n[:3]}-{n[3:]}",
        )[style]  # fmt: skip

    def record(self, p: _Person, ref: str) -> tuple[dict[str, str | None], tuple[str, ...]]:
        rng, st = self.rng, self.style
        labels: list[str] = []
        if self.kind == "missing":
            seen_on = p.missing_since
            seen_at = p.village if rng.random() < 0.6 else p.district
        else:
            days_left = (REFERENCE_DATE - p.missing_since).days
            seen_on = p.missing_since + timedelta(days=_below(rng, min(1500, days_left) + 1))
            seen_at = _choice(rng, FOUND_PLACES)
        given, family, other = self.names(p, labels)
        mother = father = None
        if rng.random() < st.mother:
            first = self.spell(p.mother[0], labels, "parent_variant")
            mother = first if rng.random() < st.mother_first_only else f"{first} {p.mother[1]}"
        if rng.random() < st.father:
            father = f"{self.spell(p.father_given, labels, 'parent_variant')} {p.father_family}"
        cased = self.case([given, family, other, mother, father], labels)
        given_names, family_name, other_names, mother_name, father_name = cased
        birth_date, age, age_on = self.birth(p, seen_on, labels)
        village = self.place(p.village, labels, "village") if rng.random() < st.village else None
        district = (
            self.place(p.district, labels, "district") if rng.random() < st.district else None
        )
        if village is None:
            labels.append("no_village")
        if district is None:
            labels.append("no_district")
        record = {
            "ref": ref,
            "kind": self.kind,
            "given_names": given_names,
            "family_name": family_name,
            "other_names": other_names,
            "sex": _choice(rng, SEX_SPELLINGS[p.sex]) if rng.random() < st.sex else None,
            "birth_date": birth_date,
            "age": age,
            "age_on": age_on,
            "origin_place": village,
            "origin_district": district,
            "origin_country": p.tradition.country if rng.random() < st.country else None,
            "mother_name": mother_name,
            "father_name": father_name,
            "last_seen_date": seen_on.isoformat(),
            "last_seen_place": seen_at,
            "phone": self.phone(p, labels),
            "languages": p.languages if rng.random() < st.languages else None,
            "notes": (_choice(rng, NOTES) or None) if rng.random() < st.notes else None,
        }
        return record, tuple(labels)


# --- the public API ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Registers:
    """Two generated registers and the truth about them.

    ``true_pairs`` holds (missing ref, found ref) for every person on both lists; each person
    is on each list at most once. ``messiness`` maps every ref to the messy cases its record got
    (labels such as ``variant``, ``swap``, ``age``, ``phone_digit_wrong``), so a benchmark can say
    which kinds of error its misses have. ``hard_negatives`` maps found refs of namesakes and
    siblings to the missing ref they were made to resemble.
    """

    missing: list[dict[str, str | None]]
    found: list[dict[str, str | None]]
    true_pairs: frozenset[tuple[str, str]]
    messiness: dict[str, tuple[str, ...]]
    hard_negatives: dict[str, tuple[str, str]]  # found ref -> ("namesake"|"sibling", missing ref)


def generate(
    n_missing: int,
    n_found: int,
    overlap: float = 0.4,
    seed: int | random.Random = 0,
    *,
    namesakes: float = 0.15,
    siblings: float = 0.03,
    missing_style: Style = MISSING_STYLE,
    found_style: Style = FOUND_STYLE,
    bank: NameBank | None = None,
) -> Registers:
    """Generate a missing register and a found register with a known truth.

    ``overlap`` is the share of the smaller register whose people are on both lists;
    ``namesakes`` and ``siblings`` are the shares of the other found people made to resemble a
    missing person (the hard negatives). The same seed gives the same registers.
    """
    if n_missing < 0 or n_found < 0 or not 0 <= overlap <= 1:
        raise ValueError("register sizes must be >= 0 and overlap between 0 and 1")
    # Synthetic data wants a seeded, reproducible generator, not a cryptographic one.
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)  # noqa: S311
    bank = bank or load_bank()
    draw = _Draw(bank)
    missing_people: list[_Person] = []
    for _ in range(n_missing):
        if missing_people and rng.random() < siblings:
            missing_people.append(
                draw.sibling(rng, missing_people[_below(rng, len(missing_people))])
            )
        else:
            missing_people.append(draw.person(rng))
    n_pairs = round(overlap * min(n_missing, n_found))
    shared = rng.sample(range(n_missing), n_pairs)
    found_people: list[tuple[_Person, int | None, str | None, int | None]] = [
        (missing_people[i], i, None, None) for i in shared
    ]
    for _ in range(n_found - n_pairs):
        r = rng.random()
        if missing_people and r < namesakes + siblings:
            j = _below(rng, n_missing)
            kind = "namesake" if r < namesakes else "sibling"
            person = getattr(draw, kind)(rng, missing_people[j])
            found_people.append((person, None, kind, j))
        else:
            found_people.append((draw.person(rng), None, None, None))
    rng.shuffle(found_people)

    missing_refs = [f"MIS-{i + 1:06d}" for i in range(n_missing)]
    messiness: dict[str, tuple[str, ...]] = {}
    writer = _Writer(bank, missing_style, "missing", rng)
    missing = []
    for person, ref in zip(missing_people, missing_refs, strict=True):
        record, labels = writer.record(person, ref)
        missing.append(record)
        messiness[ref] = labels
    writer = _Writer(bank, found_style, "found", rng)
    found, pairs, hard = [], set(), {}
    for k, (person, same_as, resembles, like) in enumerate(found_people):
        ref = f"FND-{k + 1:06d}"
        record, labels = writer.record(person, ref)
        found.append(record)
        messiness[ref] = labels
        if same_as is not None:
            pairs.add((missing_refs[same_as], ref))
        if resembles is not None and like is not None:
            hard[ref] = (resembles, missing_refs[like])
    return Registers(missing, found, frozenset(pairs), messiness, hard)


def generate_registers(
    n_missing: int, n_found: int, overlap: float = 0.4, seed: int = 0
) -> tuple[list[dict[str, str | None]], list[dict[str, str | None]], set[tuple[str, str]]]:
    """(missing records, found records, true pairs) — ``generate`` without the extras."""
    regs = generate(n_missing, n_found, overlap, seed)
    return regs.missing, regs.found, set(regs.true_pairs)
