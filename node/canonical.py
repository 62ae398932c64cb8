"""The canonical person record (docs/record-format.md): its fields and their checks.

Pure functions: a row of strings goes in, a cleaned record or a list of problems comes out.
Values are kept as written (trimmed), except two kinds that are normalised so the matcher can
compare them: ``sex`` is mapped to F/M/X (the raw value kept in ``sex_raw``), and dates and
ages as registers write them (``15/03/2006``, ``2006/03/15``, ``01.02.2009``, ``March 2005``,
``~16``) become ``YYYY[-MM[-DD]]`` and whole years, the values as written kept in
``raw_values`` (JSON) so nothing the register wrote is lost and an export gives them back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date

from .dates import (
    AGE_MARK,
    DEFAULT_DATE_ORDER,
    DateRefused,
    parse_partial_date,
    read_age,
    read_date,
)

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
    "consent_match",
    "consent_contact",
    "retain_until",
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

# Fields normalised from what the register wrote; what it wrote is kept in raw_values.
NORMALISED_FIELDS = (
    "birth_date",
    "age",
    "age_on",
    "last_seen_date",
    "consent_match",
    "consent_contact",
    "retain_until",
)
# Consent as registers write it; an empty cell takes the node's default ([consent] in
# config.toml), stored only when that default is "no" (empty means yes).
CONSENT_FIELDS = ("consent_match", "consent_contact")
CONSENT_SPELLINGS = {
    "yes": "yes", "y": "yes", "true": "yes", "1": "yes", "ndiyo": "yes", "ndio": "yes",
    "oui": "yes",
    "no": "no", "n": "no", "false": "no", "0": "no", "hapana": "no", "non": "no",
}  # fmt: skip
CONSENT_DEFAULTS = {"consent_match": "yes", "consent_contact": "yes"}

_COUNTRY = re.compile(r"^[A-Za-z]{2}$")
_PHONE_CHARS = re.compile(r"^\+?[\d\s\-().]+$")
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


def clean_record(
    row: dict[str, str],
    default_kind: str | None,
    today: date,
    date_order: str = DEFAULT_DATE_ORDER,
    consent_defaults: dict[str, str] | None = None,
) -> tuple[dict, list]:
    """Check one row against the canonical format.

    Returns (record, problems); the record is only meaningful when problems is empty.
    ``date_order`` ("dmy" or "mdy") reads dates written with numbers only, like 03/04/2006;
    ``consent_defaults`` ({field: "yes" or "no"}) fills empty consent cells.
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
    written = {f: record.get(f) for f in NORMALISED_FIELDS}
    _check_dates(record, today, date_order, problems)
    _check_age(record, problems)
    _check_consent(record, {**CONSENT_DEFAULTS, **(consent_defaults or {})}, problems)
    _check_retain_until(record, date_order, problems)
    as_written = {f: v for f, v in written.items() if f in record and record.get(f) != v}
    record["raw_values"] = (
        json.dumps(as_written, ensure_ascii=False, sort_keys=True) if as_written else None
    )
    _check_country(record, problems)
    _check_phone(record, problems)
    return record, problems


# Problems in these columns make a row unusable: without its ref a record cannot be linked,
# reviewed or updated. ``kind`` is added where the caller needs it (import).
_FATAL = frozenset({"ref"})


def salvage_record(
    row: dict[str, str],
    default_kind: str | None,
    today: date,
    *,
    need_kind: bool = True,
    date_order: str = DEFAULT_DATE_ORDER,
    consent_defaults: dict[str, str] | None = None,
) -> tuple[dict | None, list[Problem], list[Problem]]:
    """Check a row and keep what can be used: (record or None, values set aside, fatal problems).

    A bad value is set aside (its cell left empty) rather than refusing the row, except that a
    date keeps its longest valid prefix: 1938-11-31 keeps 1938-11, 2008-13-40 keeps 2008. Each
    value set aside is one Problem whose message says what was kept. The record is None when
    a fatal problem remains (an empty ref; a bad kind where ``need_kind``).
    """

    def check(cells: dict[str, str]) -> tuple[dict, list[Problem]]:
        record, problems = clean_record(cells, default_kind, today, date_order, consent_defaults)
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


def _check_dates(record: dict, today: date, order: str, problems: list[Problem]) -> None:
    for field in ("birth_date", "last_seen_date", "age_on"):
        value = record.get(field)
        if value is None:
            continue
        if field == "birth_date" and AGE_MARK.match(value):
            _birth_date_as_age(record, value, problems)
            continue
        try:
            parsed = read_date(value, order)
        except DateRefused as refused:
            problems.append(Problem(field, value, str(refused)))
            continue
        year = int(parsed[:4])
        if field == "age_on" and len(parsed) != 10:
            problems.append(Problem(field, value, "is not a full date (day, month and year)"))
        elif not 1900 <= year <= today.year:
            problems.append(Problem(field, value, f"is outside 1900–{today.year}"))
        else:
            record[field] = parsed


def _birth_date_as_age(record: dict, value: str, problems: list[Problem]) -> None:
    """``~16`` in the birth date column: an estimated age, not a date."""
    try:
        age = read_age(value)
    except DateRefused as refused:
        problems.append(Problem("birth_date", value, str(refused)))
        return
    given = record.get("age")
    if given is not None and given != value:
        try:
            given = read_age(given)
        except DateRefused:
            return  # the age column's own check reports it
        if given != age:
            problems.append(
                Problem("birth_date", value, f"is an age, but the age column says {given}")
            )
            return
    record["birth_date"] = None
    record["age"] = age


def _check_age(record: dict, problems: list[Problem]) -> None:
    value = record.get("age")
    if value is None:
        return
    try:
        record["age"] = read_age(value)
    except DateRefused as refused:
        problems.append(Problem("age", value, str(refused)))


def _check_consent(record: dict, defaults: dict[str, str], problems: list[Problem]) -> None:
    for field in CONSENT_FIELDS:
        value = record.get(field)
        if value is None:
            record[field] = "no" if defaults[field] == "no" else None
            continue
        answer = CONSENT_SPELLINGS.get(value.strip().lower())
        if answer is None:
            problems.append(Problem(field, value, "is not yes or no (empty: the node's default)"))
        else:
            record[field] = answer


def may_match(record: dict) -> bool:
    """May this record be matched with peers (leave the node in any form)? Empty means yes."""
    return record.get("consent_match") != "no"


def may_hand_over(record: dict) -> bool:
    """May the caseworker's contact be handed over after a confirmed match? Empty means yes."""
    return record.get("consent_contact") != "no"


def _check_retain_until(record: dict, order: str, problems: list[Problem]) -> None:
    value = record.get("retain_until")
    if value is None:
        return
    try:
        parsed = read_date(value, order)
    except DateRefused as refused:
        problems.append(Problem("retain_until", value, str(refused)))
        return
    if len(parsed) != 10:
        problems.append(Problem("retain_until", value, "is not a full date (day, month and year)"))
    else:
        record["retain_until"] = parsed


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
