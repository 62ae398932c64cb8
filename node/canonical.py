"""The canonical person record (../shared/docs/record-format.md): its fields and their checks.

Pure functions: a row of strings goes in, a cleaned record or a list of problems comes out.
Values are kept as written (trimmed); only ``sex`` is mapped to F/M/X, with the raw value kept
in ``sex_raw`` so nothing the register wrote is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

FIELDS: tuple[str, ...] = (
    "ref",
    "kind",
    "given_names",
    "family_name",
    "other_names",
    "sex",
    "birth_date",
    "age",
    "age_on",
    "origin_place",
    "origin_district",
    "origin_country",
    "mother_name",
    "father_name",
    "last_seen_date",
    "last_seen_place",
    "phone",
    "languages",
    "notes",
)
FIELD_SET = frozenset(FIELDS)
KINDS = ("missing", "found")

# Longest value accepted per field; a register cell longer than this is a pasting accident.
MAX_LENGTH = {"notes": 10_000}
DEFAULT_MAX_LENGTH = 500

SEX_SPELLINGS: dict[str, str] = {
    # English
    "f": "F", "female": "F", "woman": "F", "girl": "F", "w": "F",
    "m": "M", "male": "M", "man": "M", "boy": "M",
    "x": "X", "other": "X", "intersex": "X", "non-binary": "X", "nonbinary": "X",
    # Swahili
    "mwanamke": "F", "msichana": "F", "ke": "F", "kike": "F",
    "mwanaume": "M", "mvulana": "M", "me": "M", "kiume": "M",
    # French (Great Lakes registers)
    "femme": "F", "fille": "F", "homme": "M", "garçon": "M", "garcon": "M",
}  # fmt: skip

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s\-().]+$")
_AGE = re.compile(r"^\d{1,3}(?:\.\d+)?$")
_FORMULA_START = ("=", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one cell, worded for the person who typed it."""

    column: str
    value: str
    message: str

    def describe(self, where: str) -> str:
        shown = self.value if len(self.value) <= 60 else self.value[:57] + "..."
        return f"{where}, {self.column}: {shown!r} {self.message}"


def parse_partial_date(value: str) -> tuple[int, int | None, int | None] | None:
    """YYYY, YYYY-MM or YYYY-MM-DD as (year, month, day); None if it is not a real date."""
    match = _PARTIAL_DATE.match(value)
    if not match:
        return None
    year = int(match.group(1))
    month = int(match.group(2)) if match.group(2) else None
    day = int(match.group(3)) if match.group(3) else None
    try:
        date(year, month or 1, day or 1)
    except ValueError:
        return None
    return year, month, day


def sex_code(raw: str) -> str | None:
    """Map a register's spelling of sex to F, M or X; None when unknown."""
    return SEX_SPELLINGS.get(raw.strip().lower().rstrip("."))


def unescape_spreadsheet(value: str) -> str:
    """Undo the export's formula guard: a leading apostrophe before = + - @ is ours."""
    if len(value) >= 2 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


def looks_like_formula(value: str) -> bool:
    """A cell a spreadsheet would execute. '+' and '-' are fine before digits (phones, dates)."""
    if not value:
        return False
    if value.startswith(_FORMULA_START):
        return True
    return value[0] in "+-" and len(value) > 1 and not (value[1].isdigit() or value[1] == " ")


def clean_record(row: dict[str, str], default_kind: str | None, today: date) -> tuple[dict, list]:
    """Check one row against the canonical format.

    Returns (record, problems); the record is only meaningful when problems is empty.
    """
    record: dict[str, str | None] = {}
    problems: list[Problem] = []
    for field in FIELDS:
        raw = row.get(field)
        value = unescape_spreadsheet(raw.strip()) if raw else ""
        limit = MAX_LENGTH.get(field, DEFAULT_MAX_LENGTH)
        if len(value) > limit:
            problems.append(
                Problem(field, value, f"is too long ({len(value)} characters; at most {limit})")
            )
            continue
        if _CONTROL.search(value):
            problems.append(Problem(field, value, "contains control characters"))
            continue
        if looks_like_formula(value):
            problems.append(
                Problem(field, value, "looks like a spreadsheet formula; remove the leading sign")
            )
            continue
        record[field] = value or None

    _check_ref(record, problems)
    _check_kind(record, default_kind, problems)
    _check_sex(record, problems)
    _check_dates(record, today, problems)
    _check_age(record, problems)
    _check_country(record, problems)
    _check_phone(record, problems)
    return record, problems


# Problems in these columns make a row unusable: without its ref a record cannot be linked,
# reviewed or updated. ``kind`` is added where the caller needs it (import).
_FATAL = frozenset({"ref"})


def salvage_record(
    row: dict[str, str], default_kind: str | None, today: date, *, need_kind: bool = True
) -> tuple[dict | None, list[Problem], list[Problem]]:
    """Check a row and keep what can be used: (record or None, values set aside, fatal problems).

    A bad value is set aside (its cell left empty) rather than refusing the row, except that a
    date keeps its longest valid prefix: 1938-11-31 keeps 1938-11, 2008-13-40 keeps 2008. Each
    value set aside is one Problem whose message says what was kept. The record is None when
    a fatal problem remains (an empty ref; a bad kind where ``need_kind``).
    """

    def check(cells: dict[str, str]) -> tuple[dict, list[Problem]]:
        record, problems = clean_record(cells, default_kind, today)
        if not need_kind:  # linking does not need a kind: an empty one is no problem
            problems = [p for p in problems if not (p.column == "kind" and not p.value)]
        return record, problems

    record, problems = check(row)
    if not problems:
        return record, [], []
    fatal_columns = _FATAL | ({"kind"} if need_kind else set())
    fatal = [p for p in problems if p.column in fatal_columns]
    if fatal:
        return None, [], fatal
    repaired = dict(row)
    set_aside: list[Problem] = []
    for problem in problems:
        kept = _date_prefix(problem.value, today) if problem.column in _DATES else None
        repaired[problem.column] = kept or ""
        note = f"; kept {kept}" if kept else "; set aside"
        set_aside.append(Problem(problem.column, problem.value, problem.message + note))
    record, left = check(repaired)
    if left:  # cannot happen for the checks above; refuse rather than guess
        return None, [], left
    return record, set_aside, []


_DATES = ("birth_date", "last_seen_date")


def _date_prefix(value: str, today: date) -> str | None:
    """The longest prefix of YYYY-MM-DD that is a real date within 1900–today, if any."""
    match = re.match(r"^\s*(\d{4})(?:-(\d{1,2}))?", value)
    if not match:
        return None
    year = match.group(1)
    candidates = [year]
    if match.group(2):
        candidates.insert(0, f"{year}-{int(match.group(2)):02d}")
    for candidate in candidates:
        parsed = parse_partial_date(candidate)
        if parsed and 1900 <= parsed[0] <= today.year and candidate != value:
            return candidate
    return None


def _check_ref(record: dict, problems: list[Problem]) -> None:
    if not record.get("ref"):
        problems.append(Problem("ref", "", "is empty; every record needs its case reference"))


def _check_kind(record: dict, default_kind: str | None, problems: list[Problem]) -> None:
    kind = (record.get("kind") or "").lower() or None
    if kind is None:
        if default_kind is None:
            problems.append(
                Problem("kind", "", "is empty; write missing or found, or import with --kind")
            )
            return
        kind = default_kind
    elif kind not in KINDS:
        problems.append(Problem("kind", record["kind"], "is not missing or found"))
        return
    elif default_kind and kind != default_kind:
        problems.append(Problem("kind", record["kind"], f"contradicts --kind {default_kind}"))
        return
    record["kind"] = kind


def _check_sex(record: dict, problems: list[Problem]) -> None:
    raw = record.get("sex")
    record["sex_raw"] = raw
    if raw is None:
        return
    code = sex_code(raw)
    if code is None:
        problems.append(Problem("sex", raw, "is not a known spelling of F, M or X"))
    record["sex"] = code


def _check_dates(record: dict, today: date, problems: list[Problem]) -> None:
    for field in ("birth_date", "last_seen_date"):
        value = record.get(field)
        if value is None:
            continue
        parsed = parse_partial_date(value)
        if parsed is None:
            problems.append(Problem(field, value, "is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"))
        elif parsed[0] < 1900 or parsed[0] > today.year:
            problems.append(Problem(field, value, f"is outside 1900–{today.year}"))
    value = record.get("age_on")
    if value is not None:
        parsed = parse_partial_date(value) if _FULL_DATE.match(value) else None
        if parsed is None:
            problems.append(Problem("age_on", value, "is not a full date (YYYY-MM-DD)"))
        elif not 1900 <= parsed[0] <= today.year:
            problems.append(Problem("age_on", value, f"is outside 1900–{today.year}"))


def _check_age(record: dict, problems: list[Problem]) -> None:
    value = record.get("age")
    if value is None:
        return
    if not _AGE.match(value) or float(value) > 120:
        problems.append(Problem("age", value, "is not an age in years (0–120)"))


def _check_country(record: dict, problems: list[Problem]) -> None:
    value = record.get("origin_country")
    if value is not None and not _COUNTRY.match(value):
        problems.append(
            Problem("origin_country", value, "is not a two-letter country code (ISO 3166)")
        )


def _check_phone(record: dict, problems: list[Problem]) -> None:
    value = record.get("phone")
    if value is None:
        return
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE_CHARS.match(value) or not 7 <= digits <= 15:
        problems.append(Problem("phone", value, "is not a phone number (7 to 15 digits)"))
