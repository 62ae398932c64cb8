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

from .canonical import FIELD_SET, FIELDS, clean_record, salvage_record
from .errors import ImportRefused
from .store import CONTENT_COLUMNS, Store
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


def parse_mapping(pairs: Iterable[str]) -> dict[str, str]:
    """--map FIELD=COLUMN options as {field: column}, refusing unknown fields."""
    mapping: dict[str, str] = {}
    problems = []
    for pair in pairs:
        name, sep, column = pair.partition("=")
        name, column = name.strip().lower(), column.strip()
        if not sep or not name or not column:
            problems.append(f"--map {pair!r}: write it as FIELD=COLUMN, e.g. given_names=Jina")
        elif name not in FIELD_SET:
            problems.append(
                f"--map {pair!r}: {name!r} is not a canonical field ({', '.join(FIELDS)})"
            )
        elif name in mapping:
            problems.append(f"--map {pair!r}: {name!r} is mapped twice")
        else:
            mapping[name] = column
    if problems:
        raise ImportRefused(problems)
    return mapping


def column_index(table: Table, mapping: dict[str, str]) -> dict[str, int]:
    """Which cell holds which canonical field; every column must be accounted for."""
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
        position = seen.get(column.lower())
        if position is None:
            problems.append(f"--map {field_name}={column}: the file has no column {column!r}")
        else:
            index[field_name] = position
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
    if "ref" not in index and not problems:
        problems.append(
            f"{table.name} line 1: there is no 'ref' column; every record needs its case "
            "reference (map one with --map ref=COLUMN)"
        )
    if problems:
        raise ImportRefused(problems)
    return index


def plan_import(
    path: Path,
    store: Store,
    mapping: dict[str, str] | None = None,
    default_kind: str | None = None,
    skip_invalid: bool = False,
    today: date | None = None,
    progress: Callable[[Iterable], Iterable] = lambda rows: rows,
) -> ImportPlan:
    """Validate the whole file and compare it with the store; raises ImportRefused."""
    table = read_table(path)
    index = column_index(table, mapping or {})
    if not table.rows:
        raise ImportRefused([f"{table.name} has a header but no records"])
    today = today or datetime.now(UTC).date()
    plan = ImportPlan(source=path, header=table.header)
    problems: list[str] = []
    valid: list[dict] = []
    first_seen: dict[str, str] = {}
    width = len(table.header)
    for where, cells in progress(table.rows):
        reasons: list[str] = []
        if len(cells) > width:
            reasons.append(f"{where}: has {len(cells)} cells but the header has {width} columns")
            row = {}
        else:
            row = {name: cells[i] if i < len(cells) else "" for name, i in index.items()}
            record, row_problems = clean_record(row, default_kind, today)
            if row_problems and skip_invalid:
                # Partial reading: keep the row with its bad values set aside, when it can be.
                salvaged, set_aside, fatal = salvage_record(row, default_kind, today)
                if salvaged is not None:
                    record, row_problems = salvaged, []
                    plan.set_aside.extend(p.describe(where) for p in set_aside)
                else:
                    row_problems = fatal
            reasons.extend(p.describe(where) for p in row_problems)
            ref = record.get("ref")
            if ref and not row_problems:
                if ref in first_seen:
                    reasons.append(
                        f"{where}, ref: {ref!r} appears twice (first at {first_seen[ref]})"
                    )
                else:
                    first_seen[ref] = where
        if reasons:
            problems.extend(reasons)
            plan.rejected.append((cells, reasons))
        else:
            valid.append(record)
    if problems and not skip_invalid:
        raise ImportRefused(problems)

    existing = store.existing_content([r["ref"] for r in valid])
    for record in valid:
        stored = existing.get(record["ref"])
        if stored is None:
            plan.added.append(record)
        elif stored["retracted"] or any(stored[c] != record.get(c) for c in CONTENT_COLUMNS):
            plan.updated.append(record)
        else:
            plan.unchanged += 1
    return plan


def apply_import(plan: ImportPlan, store: Store, now: datetime | None = None) -> None:
    """Write the plan in one transaction, and the rejected rows beside the input."""
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    if plan.added or plan.updated:
        store.write_import(plan.added, plan.updated, plan.source.name, when, plan.counts)
    if plan.rejected:
        write_rejected(plan)


def rejected_path(source: Path) -> Path:
    return source.with_name(f"{source.stem}.rejected.csv")


def write_rejected(plan: ImportPlan) -> Path:
    """The rejected rows as they were, with a reasons column, for fixing and re-importing."""
    target = rejected_path(plan.source)
    with target.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([*plan.header, "rejected_because"])
        for cells, reasons in plan.rejected:
            writer.writerow([*cells, "; ".join(reasons)])
    return target


def summary_line(counts: dict[str, int], dry_run: bool = False) -> str:
    prefix = "dry run, nothing written: would have " if dry_run else ""
    return (
        f"{prefix}added {counts['added']}, updated {counts['updated']}, "
        f"unchanged {counts['unchanged']}, rejected {counts['rejected']}"
    )
