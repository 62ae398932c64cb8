"""Fixtures shared by the node's tests."""

from __future__ import annotations

import csv

import pytest

from node.canonical import FIELDS


@pytest.fixture
def sides(tmp_path, sample_csv):
    """The sample register split into missing.csv and found.csv."""
    with sample_csv.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    paths = []
    for kind in ("missing", "found"):
        path = tmp_path / f"{kind}.csv"
        with path.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(r for r in rows if r["kind"] == kind)
        paths.append(path)
    return paths
