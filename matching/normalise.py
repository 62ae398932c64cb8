"""From a canonical record (strings as the register wrote them) to comparable values.

Every messy case of record-format.md is handled here, once, for both the private and the plain
path: accents, apostrophes, hyphens, case, honorifics, joined and split particles, spelling
variants, partial dates and estimated ages, place spellings and phone formats. Names become
*sets* of tokens, so their order (given and family swapped) no longer matters at this level.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from .lexicon import Lexicon
from .text import fold

DEFAULT_COUNTRY = "KE"
# Country calling codes of the region; a national number (0…) gets its country's code.
CALLING_CODES: Mapping[str, str] = {
    "KE": "254", "TZ": "255", "UG": "256", "RW": "250", "BI": "257", "SS": "211", "ET": "251",
    "SO": "252", "CD": "243", "DJ": "253", "ER": "291", "MZ": "258", "MW": "265", "ZM": "260",
    "SD": "249", "NG": "234", "GH": "233", "ZA": "27", "AE": "971", "SA": "966", "QA": "974",
    "OM": "968", "LB": "961", "IN": "91", "GB": "44", "US": "1",
}  # fmt: skip
_PARTIAL_DATE = re.compile(r"^\s*(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?\s*$")


@dataclass(frozen=True)
class Birth:
    """What is known of a birth date: a year interval, and month and day when written."""

    year_lo: int
    year_hi: int
    month: int | None = None
    day: int | None = None

    @property
    def exact_year(self) -> int | None:
        return self.year_lo if self.year_lo == self.year_hi else None

    def day_month(self) -> tuple[int, int] | None:
        """(smaller, larger) of day and month, so a day/month swap compares equal."""
        if self.month is None or self.day is None or self.exact_year is None:
            return None
        return (min(self.month, self.day), max(self.month, self.day))


@dataclass(frozen=True)
class Person:
    """A record's comparable values. Names are tuples of folded, variant-mapped tokens."""

    ref: str
    given: tuple[str, ...] = ()
    family: tuple[str, ...] = ()
    other: tuple[str, ...] = ()
    mother: tuple[str, ...] = ()
    father: tuple[str, ...] = ()
    sex: str | None = None
    birth: Birth | None = None
    place: str | None = None
    district: str | None = None
    country: str | None = None
    phone: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every token of the person's own names, without repeats, in a fixed order."""
        return tuple(dict.fromkeys(self.given + self.family + self.other))


def name_tokens(text: str | None, lexicon: Lexicon) -> tuple[str, ...]:
    """Folded name tokens: honorifics dropped, particles joined, variants mapped, initials gone."""
    if not text:
        return ()
    words = fold(text).split()
    kept = [w for w in words if w not in lexicon.name_stopwords] or words
    joined: list[str] = []
    carry = ""
    for word in kept:
        if word in lexicon.name_particles:
            carry += word
            continue
        joined.append(carry + word)
        carry = ""
    if carry:
        joined.append(carry)
    tokens = [lexicon.name(w) for w in joined if len(w) > 1 and not w.isdigit()]
    return tuple(
        dict.fromkeys(t for token in tokens for t in (token, *_short_form(token, lexicon)))
    )


def _short_form(token: str, lexicon: Lexicon) -> tuple[str, ...]:
    """The name after a long particle, which registers also write alone: Mwanaisha -> Isha."""
    for particle in sorted(lexicon.name_particles, key=lambda p: (-len(p), p)):  # longest first
        rest = token[len(particle) :]
        if len(particle) >= 3 and token.startswith(particle) and len(rest) >= 3:
            return (lexicon.name(rest),)
    return ()


def place_name(text: str | None, lexicon: Lexicon) -> str | None:
    """One joined spelling per place: Lunga Lunga, Lungalunga and Lunga-Lunga give "lungalunga"."""
    if not text:
        return None
    words = fold(text).split()
    for stop in lexicon.place_stopwords:
        words = _drop_phrase(words, stop)
    joined = "".join(words)
    return lexicon.place(joined) if joined else None


def _drop_phrase(words: list[str], phrase: tuple[str, ...]) -> list[str]:
    out: list[str] = []
    i, n = 0, len(phrase)
    while i < len(words):
        if tuple(words[i : i + n]) == phrase:
            i += n
        else:
            out.append(words[i])
            i += 1
    return out or words


def birth(birth_date: str | None, age: str | None, age_on: str | None) -> Birth | None:
    """A birth date (YYYY, YYYY-MM, YYYY-MM-DD) or an age on a date, as a Birth.

    An age A estimated on date D means a birth year of D.year - A - 1 or D.year - A.
    """
    if birth_date:
        match = _PARTIAL_DATE.match(birth_date)
        if match:
            year = int(match.group(1))
            month = int(match.group(2)) if match.group(2) else None
            day = int(match.group(3)) if match.group(3) else None
            if month is not None and not 1 <= month <= 12:
                month, day = (day, month) if day and 1 <= day <= 12 else (None, None)
            if day is not None and not 1 <= day <= 31:
                day = None
            return Birth(year, year, month, day)
    if age and age_on:
        match = _PARTIAL_DATE.match(age_on)
        try:
            years = int(float(age))
        except ValueError:
            return None
        if match and 0 <= years <= 120:
            on_year = int(match.group(1))
            return Birth(on_year - years - 1, on_year - years)
    return None


def phone_number(text: str | None, country: str | None) -> str | None:
    """E.164 digits ("+254712345678") from 07…, +254 7…, 00254…, with spaces, dashes, dots."""
    if not text:
        return None
    digits = re.sub(r"\D", "", text)
    if text.strip().startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    else:
        code = CALLING_CODES.get((country or DEFAULT_COUNTRY).upper(), "254")
        if digits.startswith(code) and len(digits) >= len(code) + 8:
            international = digits
        else:
            international = code + digits.removeprefix("0")
    if not 8 <= len(international) <= 15:
        return None
    return "+" + international


def person(record: Mapping[str, str | None], lexicon: Lexicon) -> Person:
    """Normalise one canonical record (a dict with the fields of record-format.md)."""

    def get(field: str) -> str | None:
        value = record.get(field)
        return value.strip() or None if isinstance(value, str) else None

    aliases = (get("other_names") or "").split(";")
    other = tuple(dict.fromkeys(t for part in aliases for t in name_tokens(part, lexicon)))
    country = (get("origin_country") or "").upper() or None
    sex = (get("sex") or "").upper()
    return Person(
        ref=get("ref") or "",
        given=name_tokens(get("given_names"), lexicon),
        family=name_tokens(get("family_name"), lexicon),
        other=other,
        mother=name_tokens(get("mother_name"), lexicon),
        father=name_tokens(get("father_name"), lexicon),
        sex=sex if sex in ("F", "M", "X") else None,
        birth=birth(get("birth_date"), get("age"), get("age_on")),
        place=place_name(get("origin_place"), lexicon),
        district=place_name(get("origin_district"), lexicon),
        country=country,
        phone=phone_number(get("phone"), country),
    )
