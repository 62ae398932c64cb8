"""Importing a register: read, map columns, validate every row, then write all at once.

Validation happens before any write, so a refused file leaves the store exactly as it was.
Upsert by ``ref``: the same file twice changes nothing; a changed row bumps the version.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from node.canonical import (
    DEFAULT_DATE_ORDER,
    FIELD_SET,
    FIELDS,
    clean_record,
    may_hand_over,
    may_match,
    salvage_record,
)
from node.errors import ImportRefused
from node.store.db import Store
from node.store.records import CONTENT_COLUMNS

from .exporter import guard_cell
from .tabular import Table, read_table


@dataclass
class ImportPlan:
    """What an import would do; computed without writing anything."""

    source: Path
    added: list[dict] = field(default_factory=list)
    updated: list[dict] = field(default_factory=list)
    unchanged: int = 0
    rejected: list[tuple[list[str], list[str]]] = field(default_factory=list)  # (cells, reasons)
    header: list[str] = field(default_factory=list)
    # (ref, what changed) for every record whose consent changes, for the audit log
    consent_changes: list[tuple[str, str]] = field(default_factory=list)
    not_matched: int = 0  # records of the file that may not be matched with peers
    # --skip-invalid: one line per bad value left out of an imported row (file, line, column)
    set_aside: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
        }


def parse_mapping(pairs: Iterable[str], label: str = "--map") -> dict[str, str]:
    """--map FIELD=COLUMN options (or the upload page's lines) as {field: column}, refusing
    unknown fields. ``label`` names where they were given, in messages."""
    mapping, problems = read_mapping(pairs, label)
    if problems:
        raise ImportRefused(problems)
    return mapping


def read_mapping(pairs: Iterable[str], label: str = "--map") -> tuple[dict[str, str], list[str]]:
    """The usable FIELD=COLUMN pairs, and a message for each unusable one (for plan_import to
    report together with the file's own problems)."""
    mapping: dict[str, str] = {}
    problems = []
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip().lower(), column.strip()
        if not sep or not name or not column:
            problems.append(f"{label} {pair!r}: write it as FIELD=COLUMN, e.g. given_names=Jina")
        elif name not in FIELD_SET:
            problems.append(
                f"{label} {pair!r}: {name!r} is not a canonical field ({', '.join(FIELDS)})"
            )
        elif name in mapping:
            problems.append(f"{label} {pair!r}: {name!r} is mapped twice")
        else:
            mapping[name] = column
    return mapping, problems


def column_index(table: Table, mapping: dict[str, str]) -> dict[str, int]:
    """Which cell holds which canonical field; every column must be accounted for."""
    index, problems = read_header(table, mapping)
    if problems:
        raise ImportRefused(problems)
    return index


def read_header(table: Table, mapping: dict[str, str]) -> tuple[dict[str, int], list[str]]:
    """Which cell holds which canonical field, and what is wrong with the header (unknown or
    unnamed columns, a missing ref); the index is usable for the known columns either way."""
    names = [cell.strip().lower() for cell in table.header]
    problems = []
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if not name:
            problems.append(f"{table.name} line 1: column {position + 1} has no name")
        elif name in seen:
            problems.append(f"{table.name} line 1: column {name!r} appears twice")
        else:
            seen[name] = position
    index: dict[str, int] = {}
    for field_name, column in mapping.items():
        found = seen.get(column.lower())
        if found is None:
            problems.append(f"--map {field_name}={column}: the file has no column {column!r}")
        else:
            index[field_name] = found
    mapped_columns = {table.header[i].strip().lower() for i in index.values()}
    for name, position in seen.items():
        if name in mapped_columns:
            continue
        if name in FIELD_SET and name not in index:
            index[name] = position
        elif name not in FIELD_SET:
            problems.append(
                f"{table.name} line 1: unknown column {table.header[position]!r}; "
                f"map it with --map FIELD={table.header[position].strip()} or remove it"
            )
    if "ref" not in index and not any("--map ref=" in p for p in problems):
        problems.append(
            f"{table.name} line 1: there is no 'ref' column; every record needs its case "
            "reference (map one with --map ref=COLUMN)"
        )
    return index, problems


def plan_import(
    path: Path,
    store: Store,
    mapping: dict[str, str] | None = None,
    default_kind: str | None = None,
    skip_invalid: bool = False,
    today: date | None = None,
    progress: Callable[[Iterable], Iterable] = lambda rows: rows,
    date_order: str = DEFAULT_DATE_ORDER,
    consent_defaults: dict[str, str] | None = None,
    mapping_problems: Iterable[str] = (),
    max_rows: int | None = None,
) -> ImportPlan:
    """Validate the whole file and compare it with the store; raises ImportRefused.

    Every problem of the file is found in one pass: the header's, and every cell of every row
    (a duplicate ref together with the row's bad values), so one fix-up of the spreadsheet is
    enough. ``date_order`` ("dmy" or "mdy") reads dates written with numbers only (03/04/2006).
    ``max_rows`` (web uploads) refuses a file with more rows without reading the rest, and a
    file whose header is wrong before any row is read: an upload is checked before it costs.
    """
    mapping_problems = list(mapping_problems)

    def refuse_bad_header(name: str, header: list[str]) -> None:
        problems = [*mapping_problems, *read_header(Table(name, header, []), mapping or {})[1]]
        if problems:
            raise ImportRefused(problems)

    table = read_table(
        path, max_rows=max_rows, check_header=refuse_bad_header if max_rows is not None else None
    )
    index, header_problems = read_header(table, mapping or {})
    header_problems = [*mapping_problems, *header_problems]  # from read_mapping
    if not table.rows:
        raise ImportRefused([*header_problems, f"{table.name} has a header but no records"])
    today = today or datetime.now(UTC).date()
    plan = ImportPlan(source=path, header=table.header)
    problems = list(header_problems)
    valid: list[dict] = []
    first_seen: dict[str, str] = {}
    width = len(table.header)
    for where, cells in progress(table.rows):
        reasons: list[str] = []
        if len(cells) > width:
            reasons.append(f"{where}: has {len(cells)} cells but the header has {width} columns")
        row = {name: cells[i] if i < len(cells) else "" for name, i in index.items()}
        record, row_problems = clean_record(row, default_kind, today, date_order, consent_defaults)
        if row_problems and skip_invalid and not header_problems:
            # Partial reading: keep the row with its bad values set aside, when it can be.
            salvaged, set_aside, fatal = salvage_record(
                row, default_kind, today, date_order=date_order, consent_defaults=consent_defaults
            )
            if salvaged is not None:
                record, row_problems = salvaged, []
                plan.set_aside.extend(p.describe(where) for p in set_aside)
            else:
                row_problems = fatal
        if "ref" not in index:  # said once for the header, not once per row
            row_problems = [p for p in row_problems if p.column != "ref"]
        reasons.extend(p.describe(where) for p in row_problems)
        ref = record.get("ref")
        if ref and ref in first_seen:
            reasons.append(f"{where}, ref: {ref!r} appears twice (first at {first_seen[ref]})")
        elif ref:
            first_seen[ref] = where
        if reasons:
            problems.extend(reasons)
            plan.rejected.append((cells, reasons))
        else:
            valid.append(record)
    # A header problem refuses the whole file even with --skip-invalid: every row is affected.
    if header_problems or (problems and not skip_invalid):
        raise ImportRefused(problems)

    existing = store.existing_content([r["ref"] for r in valid])
    for record in valid:
        stored = existing.get(record["ref"])
        plan.not_matched += not may_match(record)
        change = consent_change(stored, record)
        if change:
            plan.consent_changes.append((record["ref"], change))
        if stored is None:
            plan.added.append(record)
        elif stored["retracted"] or any(stored[c] != record.get(c) for c in CONTENT_COLUMNS):
            plan.updated.append(record)
        else:
            plan.unchanged += 1
    return plan


def consent_change(stored: dict | None, record: dict) -> str:
    """What changes in a record's consent, in words for the audit log ('' when nothing)."""
    changes = []
    for name, allowed in (("match with peers", may_match), ("hand over contact", may_hand_over)):
        before = allowed(stored) if stored is not None else None
        after_ = allowed(record)
        if before is None and not after_:
            changes.append(f"{name}: no")
        elif before is not None and before != after_:
            changes.append(f"{name}: {'yes' if before else 'no'} -> {'yes' if after_ else 'no'}")
    return "; ".join(changes)


def apply_import(plan: ImportPlan, store: Store, now: datetime | None = None) -> None:
    """Write the plan in one transaction, and the rejected rows beside the input."""
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    if plan.added or plan.updated:
        store.write_import(
            plan.added,
            plan.updated,
            plan.source.name,
            when,
            plan.counts,
            notes=[("record-consent", ref, change) for ref, change in plan.consent_changes],
        )
    if plan.rejected:
        write_rejected(plan)


def rejected_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}.rejected.csv")


def write_rejected(plan: ImportPlan) -> Path:
    """The rejected rows as they were, with a reasons column, for fixing and re-importing.

    Cells a spreadsheet would run as a formula (=, +, -, @ first) get a leading apostrophe, as
    in an export: the rejected file is opened in a spreadsheet to be fixed.
    """
    target = rejected_path(plan.source)
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([guard_cell(c) for c in (*plan.header, "rejected_because")])
        for cells, reasons in plan.rejected:
            writer.writerow([guard_cell(c) for c in (*cells, "; ".join(reasons))])
    return target


def summary_line(counts: dict[str, int], dry_run: bool = False) -> str:
    prefix = "dry run, nothing written: would have " if dry_run else ""
    return (
        f"{prefix}added {counts['added']}, updated {counts['updated']}, "
        f"unchanged {counts['unchanged']}, rejected {counts['rejected']}"
    )
