"""Exporting the canonical CSV: exact round trips and protection of spreadsheet users."""

from __future__ import annotations

import csv

import pytest

from node.canonical import FIELDS
from node.exporter import guard_cell


def read_rows(path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_round_trip_of_the_messy_sample_is_exact(run, tmp_path, node_home, sample_csv):
    """Import → export → import elsewhere → export gives the same file, field for field."""
    run("--home", node_home, "import", sample_csv)
    first = tmp_path / "first.csv"
    assert run("--home", node_home, "export", first).exit_code == 0

    other = tmp_path / "other"
    run("--home", other, "init", "--name", "Other")
    assert run("--home", other, "import", first).exit_code == 0
    second = tmp_path / "second.csv"
    run("--home", other, "export", second)
    assert first.read_bytes() == second.read_bytes()

    original = {r["ref"]: r for r in read_rows(sample_csv)}
    exported = {r["ref"]: r for r in read_rows(first)}
    assert exported.keys() == original.keys()
    for ref, row in original.items():
        for field in FIELDS:
            want = row[field]
            if field == "sex":
                want = {"male": "M", "female": "F", "mwanamke": "F", "mwanaume": "M"}.get(
                    want.lower(), want.upper()
                )
            got = exported[ref][field]
            assert got.removeprefix("'") == want, (ref, field)


def test_export_header_is_the_canonical_column_list(run, tmp_path, node_home, sample_csv):
    run("--home", node_home, "import", sample_csv)
    out = tmp_path / "out.csv"
    run("--home", node_home, "export", out)
    assert out.read_text(encoding="utf-8").splitlines()[0] == ",".join(FIELDS)


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("+254 712 345 678", "'+254 712 345 678"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Mwakio", "Mwakio"),
        ("", ""),
        (None, ""),
    ],
)
def test_cells_a_spreadsheet_would_run_are_guarded(value, written):
    assert guard_cell(value) == written


def test_guarded_phone_reimports_as_written(run, tmp_path, node_home, write_csv):
    path = write_csv([{"ref": "A-1", "kind": "found", "phone": "+254 712 345 678"}])
    run("--home", node_home, "import", path)
    out = tmp_path / "out.csv"
    run("--home", node_home, "export", out)
    assert read_rows(out)[0]["phone"] == "'+254 712 345 678"
    again = run("--home", node_home, "import", out)
    assert "unchanged 1" in again.output


def test_export_to_an_unwritable_place_is_a_clear_error(run, tmp_path, node_home):
    result = run("--home", node_home, "export", tmp_path / "no" / "such" / "dir" / "x.csv")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot write")
