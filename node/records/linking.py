"""Linking two registers in-process, the same way two nodes link over the network.

``link_records`` runs the full private path by default: each side computes its match keys,
blinds them with its own fresh secret scalar under fresh pseudonyms, the other side blinds them
again, and candidate pairs come from equal doubly blinded keys. The scorer sees only which key
types agree per pseudonym pair — exactly what a node sees of a peer — so the accuracy of
``tafuta link`` is the accuracy of the network. Only at the end are the peer's pseudonyms turned
back into refs, which in-process is allowed because both registers are ours; between nodes that
happens only after both caseworkers confirm.

``plain=True`` compares raw values instead (fuzzy similarities per field), as ``tafuta dedup``
does within the node's own register.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from matching import (
    DEDUP_THRESHOLD,
    DEFAULT_THRESHOLD,
    KEY_TYPES,
    KEYSET_VERSION,
    Lexicon,
    load_lexicon,
    match_keys,
    normalise,
    plain_links,
    score_key_candidates,
)
from node.canonical import clean_record, salvage_record
from node.errors import ImportRefused
from protocol import blinding

from .importer import column_index
from .tabular import read_table

# Registers at least this large are keyed in worker processes, in chunks of KEY_CHUNK records.
PARALLEL_RECORDS = 20_000
KEY_CHUNK = 5_000
# progress(done, total): called as work is done; total is the number of blinding operations.
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class LinkResult:
    """One likely pair: refs on both sides, score (0–1) and the evidence in words."""

    ref_a: str
    ref_b: str
    score: float
    evidence: str


def read_canonical_records(path: Path) -> list[dict]:
    """A canonical CSV or XLSX file's records, checked like an import; raises ImportRefused
    listing every problem (``tafuta link --strict``).

    ``kind`` may be empty here: linking does not need it.
    """
    records, problems = _read_records(Path(path), strict=True)
    if problems:
        raise ImportRefused(problems)
    return records


def read_records_leniently(path: Path) -> tuple[list[dict], list[str]]:
    """A canonical file's records keeping what can be used, and one warning line per value or
    row set aside (``tafuta link``'s default): a bad value is left out of its record (a date
    keeps its valid part: 1938-11-31 keeps 1938-11), a row without a ref or repeating one is
    left out, cells beyond the header are ignored. Raises ImportRefused only when the file
    cannot be read at all or holds no records."""
    return _read_records(Path(path), strict=False)


def _read_records(path: Path, *, strict: bool) -> tuple[list[dict], list[str]]:
    table = read_table(path)
    index = column_index(table, {})
    if not table.rows:
        raise ImportRefused([f"{table.name} has a header but no records"])
    today = datetime.now(UTC).date()
    problems: list[str] = []
    records: list[dict] = []
    first_seen: dict[str, str] = {}
    width = len(table.header)
    for where, cells in table.rows:
        if len(cells) > width:
            problems.append(
                f"{where}: has {len(cells)} cells but the header has {width} columns"
                + ("" if strict else "; the extra cells are set aside")
            )
            if strict:
                continue
            cells = cells[:width]
        row = {name: cells[i] if i < len(cells) else "" for name, i in index.items()}
        if strict:
            record, row_problems = clean_record(row, None, today)
            row_problems = [p for p in row_problems if not (p.column == "kind" and not p.value)]
            problems.extend(p.describe(where) for p in row_problems)
            usable = not row_problems
        else:
            salvaged, set_aside, fatal = salvage_record(row, None, today, need_kind=False)
            problems.extend(p.describe(where) for p in set_aside)
            problems.extend(p.describe(where) + "; the row is set aside" for p in fatal)
            record, usable = salvaged or {}, salvaged is not None
        ref = record.get("ref")
        if ref and ref in first_seen:
            problems.append(
                f"{where}, ref: {ref!r} appears twice (first at {first_seen[ref]})"
                + ("" if strict else "; the row is set aside")
            )
            usable = False
        elif ref:
            first_seen[ref] = where
        if usable:
            records.append(record)
    if not strict and not records:
        raise ImportRefused([*problems, f"{table.name} has no usable records"])
    return records, problems


def link_records(
    records_a: list[dict],
    records_b: list[dict],
    *,
    threshold: float | None = None,
    plain: bool = False,
    progress: Progress | None = None,
    lexicon: Lexicon | None = None,
    workers: int | None = None,
) -> list[LinkResult]:
    """Pairs (a, b) scoring at least ``threshold`` (default DEFAULT_THRESHOLD), best first."""
    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    lexicon = lexicon or load_lexicon()
    if plain:
        people_a = [normalise(r, lexicon) for r in records_a]
        people_b = [normalise(r, lexicon) for r in records_b]
        scored = plain_links(people_a, people_b)
        results = [LinkResult(s.ref_a, s.ref_b, s.score, s.evidence) for s in scored]
    else:
        keys_a = record_keys(records_a, lexicon, workers=workers)
        keys_b = record_keys(records_b, lexicon, workers=workers)
        results = private_link(
            keys_a, keys_b, progress=progress, workers=workers, min_score=threshold
        )
    return [r for r in results if r.score >= threshold]


def record_keys(
    records: Sequence[dict],
    lexicon: Lexicon,
    *,
    workers: int | None = None,
    parallel_from: int = PARALLEL_RECORDS,
) -> dict[str, list[tuple[str, str]]]:
    """Each record's match keys by ref. Registers of ``parallel_from`` records or more are
    normalised and keyed on all cores (Python-bound work: 100,000 records take ~10 s on one
    core)."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(records) < max(parallel_from, 1):
        return _keys_of(lexicon, records)
    chunks = [records[i : i + KEY_CHUNK] for i in range(0, len(records), KEY_CHUNK)]
    keys: dict[str, list[tuple[str, str]]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for part in pool.map(_keys_of, [lexicon] * len(chunks), chunks):
            keys.update(part)
    return keys


def _keys_of(lexicon: Lexicon, records: Sequence[dict]) -> dict[str, list[tuple[str, str]]]:
    keys = {}
    for record in records:
        person = normalise(record, lexicon)
        keys[person.ref] = match_keys(person)
    return keys


def private_link(
    keys_a: dict[str, list[tuple[str, str]]],
    keys_b: dict[str, list[tuple[str, str]]],
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    key_types: Sequence[str] = KEY_TYPES,
    min_score: float = 0.0,
) -> list[LinkResult]:
    """Both nodes' side of the blinded exchange, in one process, with two independent secrets.

    Pairs scoring below ``min_score`` are left out (they still count in the fit)."""
    scalar_a, scalar_b = blinding.new_scalar(), blinding.new_scalar()
    total = 2 * (_distinct(keys_a) + _distinct(keys_b))
    step = _counter(progress, total)
    # A -> B: A's keys blinded by A; B blinds them again and returns them (same pseudonyms).
    sent_a, refs_a = blinding.blind_own_keys(
        scalar_a, KEYSET_VERSION, keys_a, workers=workers, progress=step
    )
    sent_b, refs_b = blinding.blind_own_keys(
        scalar_b, KEYSET_VERSION, keys_b, workers=workers, progress=step
    )
    twice_a = blinding.blind_peer_keys(scalar_b, sent_a, workers=workers, progress=step)
    twice_b = blinding.blind_peer_keys(scalar_a, sent_b, workers=workers, progress=step)
    # A's view: its own records (by ref) against B's pseudonyms; B's view is the mirror image.
    own = {refs_a[r.pseudonym]: r.keys for r in twice_a}
    theirs = {r.pseudonym: r.keys for r in twice_b}
    del twice_a, twice_b, sent_a, sent_b
    scored = score_key_candidates(own, theirs, key_types, min_score=min_score)
    return [LinkResult(s.ref_a, refs_b[s.ref_b], s.score, s.evidence) for s in scored]


def dedup_records(
    records: Iterable[dict], *, threshold: float | None = None, lexicon: Lexicon | None = None
) -> list[LinkResult]:
    """Likely duplicates within one register (plain path, matching/dedup.py's own model),
    best first; from DEDUP_THRESHOLD unless told otherwise."""
    threshold = DEDUP_THRESHOLD if threshold is None else threshold
    lexicon = lexicon or load_lexicon()
    people = [normalise(r, lexicon) for r in records]
    return [
        LinkResult(s.ref_a, s.ref_b, s.score, s.evidence)
        for s in plain_links(people)
        if s.score >= threshold
    ]


def _distinct(keys: dict[str, list[tuple[str, str]]]) -> int:
    return len({key for record in keys.values() for key in record})


def _counter(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    if progress is None:
        return None
    done = 0

    def step(n: int) -> None:
        nonlocal done
        done += n
        progress(done, total)

    return step
