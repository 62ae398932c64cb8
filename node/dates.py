"""Dates and ages as registers write them, read into ``YYYY[-MM[-DD]]`` and whole years.

Pure functions; ``canonical.py`` uses them to clean a record. ``15/03/2006``, ``2006/03/15``,
``01.02.2009``, ``March 2005``, ``15 Machi 2006`` and ``~16`` are read; a date that does not
exist or a two-digit year is refused (``DateRefused``), never guessed.
"""

from __future__ import annotations

import re
from datetime import date

# Day/month order of dates written with numbers only (15/03/2006 or 03/15/2006). "dmy" is the
# rule in East Africa and most of the world; a node follows its country ([node] country in
# config.toml) unless [import] date_order or --date-order says otherwise.
DATE_ORDERS = ("dmy", "mdy")
DEFAULT_DATE_ORDER = "dmy"
MDY_COUNTRIES = frozenset({"US", "PH", "FM", "MH", "PW", "BZ"})

MONTHS: dict[str, int] = {
    # English, full and short
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3, "april": 4,
    "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7, "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9, "october": 10, "oct": 10, "november": 11, "nov": 11,
    "december": 12, "dec": 12,
    # Swahili
    "januari": 1, "februari": 2, "machi": 3, "aprili": 4, "mei": 5, "juni": 6, "julai": 7,
    "agosti": 8, "septemba": 9, "oktoba": 10, "novemba": 11, "desemba": 12,
}  # fmt: skip

_YEAR_FIRST = re.compile(r"^(\d{4})(?:([-/.])(\d{1,2})(?:\2(\d{1,2}))?)?$")  # 2006-03-15, 2006/3
_YEAR_LAST = re.compile(r"^(\d{1,2})([-/.])(\d{1,2})\2(\d{4})$")  # 15/03/2006, 03/15/2006
_MONTH_YEAR = re.compile(r"^(\d{1,2})[-/.](\d{4})$")  # 03/2006
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?$")
_SHORT_YEAR = re.compile(r"^\d{1,2}([-/.])\d{1,2}\1\d{2}$")  # 15/03/06
_ORDINAL = re.compile(r"^(\d{1,2})(?:st|nd|rd|th)?$")
_AGE_WRITTEN = re.compile(
    r"^(?:~|ca\.?|c\.|about|approx\.?|around|takriban|karibu)?\s*(\d{1,3}(?:\.\d+)?)\s*"
    r"(?:y|yrs?|years?(?:\s+old)?|miaka)?\.?$",
    re.IGNORECASE,
)
AGE_MARK = re.compile(r"^(?:~|ca\.?|c\.|about|approx\.?|around|takriban|karibu)\s*\d", re.I)

_ISO_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def parse_partial_date(value: str) -> tuple[int, int | None, int | None] | None:
    """YYYY, YYYY-MM or YYYY-MM-DD (the stored form) as (year, month, day); None if it is not
    that form or not a real date. Registers' own forms are read by ``read_date``."""
    match = _ISO_PARTIAL.match(value)
    if not match:
        return None
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    try:  # month 0 or day 0 is no date: not "month unknown"
        date(year, 1 if month is None else month, 1 if day is None else day)
    except ValueError:
        return None
    return year, month, day


def date_order_for(country: str | None) -> str:
    """The usual day/month order of a country (ISO 3166 alpha-2); dmy when unknown."""
    return "mdy" if (country or "").strip().upper() in MDY_COUNTRIES else DEFAULT_DATE_ORDER


class DateRefused(ValueError):
    """A cell that is not a date a register could mean; the message is for the person."""


def read_date(value: str, order: str = DEFAULT_DATE_ORDER) -> str:
    """A date as a register writes it, as ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``.

    Raises DateRefused with what is wrong: a shape that is no date, or a date that does not
    exist (2009-02-30 is "not a real date").
    """
    text = " ".join(value.replace(",", " ").split())
    iso = _real_date(text, order)
    if iso is None:
        raise DateRefused(_not_real(text, order))
    return iso


def _real_date(text: str, order: str) -> str | None:
    """The ISO form of ``text``, or None when its shape is a date but the date does not exist."""
    year, month, day = _date_parts(text, order)
    if (month is not None and not 1 <= month <= 12) or (day is not None and not 1 <= day <= 31):
        return None
    try:
        date(year, month or 1, day or 1)
    except ValueError:
        return None
    return f"{year:04d}" + (f"-{month:02d}" if month else "") + (f"-{day:02d}" if day else "")


def _date_parts(text: str, order: str) -> tuple[int, int | None, int | None]:
    if match := _TIMESTAMP.match(text):  # 2006-03-15T00:00:00 from a database export
        text = match.group(1)
    if match := _YEAR_FIRST.match(text):
        year, _, month, day = match.groups()
        return int(year), int(month) if month else None, int(day) if day else None
    if match := _YEAR_LAST.match(text):
        first, _, second, year = match.groups()
        day, month = (first, second) if order == "dmy" else (second, first)
        return int(year), int(month), int(day)
    if match := _MONTH_YEAR.match(text):
        return int(match.group(2)), int(match.group(1)), None
    if _SHORT_YEAR.match(text):
        raise DateRefused("has a two-digit year; write the year in full (e.g. 15/03/2006)")
    words = re.sub(r"[-/.]", " ", text.lower()).split()  # 15-Mar-2006, as Excel writes it
    named = [w for w in words if w in MONTHS]
    numbers = [w for w in words if w not in MONTHS]
    if len(named) == 1 and 1 <= len(numbers) <= 2 and len(words) == len(numbers) + 1:
        years = [w for w in numbers if re.fullmatch(r"\d{4}", w)]
        days = [m.group(1) for w in numbers if (m := _ORDINAL.match(w))]
        if len(years) == 1 and len(days) == len(numbers) - 1:
            return int(years[0]), MONTHS[named[0]], int(days[0]) if days else None
        if not years and len(days) == len(numbers):
            raise DateRefused("has no four-digit year; write the year in full (e.g. 15 March 2006)")
    raise DateRefused(
        "is not a date; write it like 2006-03-15, 15/03/2006, 2006/03/15, March 2006 or 2006"
    )


def _not_real(text: str, order: str) -> str:
    other = "mdy" if order == "dmy" else "dmy"
    if _YEAR_LAST.match(text) and _real_date(text, other) is not None:
        written = "day/month/year" if order == "dmy" else "month/day/year"
        reading = "month/day/year" if order == "dmy" else "day/month/year"
        return (
            f"is not a real date when read as {written}; if the file writes "
            f"{'the month' if order == 'dmy' else 'the day'} first, read it as {reading} "
            f"(--date-order {other})"
        )
    return "is not a real date"


def read_age(value: str) -> str:
    """An age as registers write it (``16``, ``~16``, ``about 16``, ``16 yrs``) in whole or
    decimal years as digits; raises DateRefused."""
    match = _AGE_WRITTEN.match(value.strip())
    if not match or float(match.group(1)) > 120:
        raise DateRefused("is not an age in years (0–120)")
    return match.group(1)
