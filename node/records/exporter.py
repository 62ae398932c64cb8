"""Writing the canonical CSV, safe to open in a spreadsheet.

A cell starting with = + - @ would be run as a formula by Excel or LibreOffice (CSV injection),
so such cells get a leading apostrophe; the importer removes it again, so a round trip is exact.

Sex, dates and ages are written as the register wrote them (``sex_raw``, ``raw_values``), so
importing an export gives back the same record, raw values included (an export that wrote ``F``
for ``mwanamke`` updated the record on re-import, and sent the update to every peer). Only when
the node now reads dates in another day/month order than when they were imported (so the written
form would read differently) are the normalised values written instead.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from node.canonical import DEFAULT_DATE_ORDER, FIELDS, NORMALISED_FIELDS, clean_record, sex_code
from node.errors import NodeError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: str | None) -> str:
    if not value:
        return ""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def as_written(record: dict, date_order: str = DEFAULT_DATE_ORDER) -> dict:
    """The record's canonical fields with dates and ages as the register wrote them, when
    reading those again (in ``date_order``) gives the stored values; else the stored values."""
    row = {name: record.get(name) for name in FIELDS}
    sex_raw = record.get("sex_raw")
    if sex_raw and sex_code(sex_raw) == record.get("sex"):
        row["sex"] = sex_raw  # "mwanamke" as written, not "F": a re-import changes nothing
    raw = json.loads(record.get("raw_values") or "{}")
    if not raw:
        return row
    written = {**row, **{name: raw[name] for name in NORMALISED_FIELDS if name in raw}}
    today = datetime.now(UTC).date()
    again, problems = clean_record(
        {k: v or "" for k, v in written.items()}, None, today, date_order
    )
    if not problems and all(again.get(n) == record.get(n) for n in NORMALISED_FIELDS):
        return written
    return row


def write_canonical_csv(
    records: Iterable[dict], target: Path, date_order: str = DEFAULT_DATE_ORDER
) -> int:
    """Write records to target atomically (a half-written export never replaces a good one)."""
    tmp = target.with_name(f".{target.name}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(FIELDS)
            for record in records:
                row = as_written(record, date_order)
                writer.writerow([guard_cell(row[name]) for name in FIELDS])
                count += 1
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise NodeError(f"cannot write {target}: {err.strerror}") from err
    return count
