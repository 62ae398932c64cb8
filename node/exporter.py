"""Writing the canonical CSV, safe to open in a spreadsheet.

A cell starting with = + - @ would be run as a formula by Excel or LibreOffice (CSV injection),
so such cells get a leading apostrophe; the importer removes it again, so a round trip is exact.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

from .canonical import FIELDS
from .errors import NodeError

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def guard_cell(value: str | None) -> str:
    if not value:
        return ""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_canonical_csv(records: Iterable[dict], target: Path) -> int:
    """Write records to target atomically (a half-written export never replaces a good one)."""
    tmp = target.with_name(f".{target.name}.tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(FIELDS)
            for record in records:
                writer.writerow([guard_cell(record.get(name)) for name in FIELDS])
                count += 1
        os.replace(tmp, target)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise NodeError(f"cannot write {target}: {err.strerror}") from err
    return count
