"""Importing registers: rows checked before writing, upserts by ref, refusals change nothing."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from node.store import Store


def store_snapshot(home: Path) -> list[tuple]:
    """Every record row, to prove a refused import left the store untouched."""
    conn = sqlite3.connect(home / "tafuta.db")
    try:
        return conn.execute("SELECT * FROM records ORDER BY ref").fetchall()
    finally:
        conn.close()


def record(home: Path, ref: str) -> dict:
    with Store.open(home / "tafuta.db") as store:
        return store.get_record(ref)


VALID = {"ref": "A-1", "kind": "missing", "given_names": "Zawadi", "family_name": "Kahindi"}


class TestImportSucceeds:
    def test_sample_register_imports_every_row(self, run, node_home, sample_csv):
        result = run("--home", node_home, "import", sample_csv)
        assert result.exit_code == 0, result.output
        assert "added 21, updated 0, unchanged 0, rejected 0" in result.output
        assert run("--home", node_home, "records", "count").output.strip() == "21"

    def test_reimporting_the_same_file_changes_nothing(self, run, node_home, sample_csv):
        run("--home", node_home, "import", sample_csv)
        before = store_snapshot(node_home)
        result = run("--home", node_home, "import", sample_csv)
        assert "added 0, updated 0, unchanged 21, rejected 0" in result.output
        assert store_snapshot(node_home) == before

    def test_changed_row_updates_record_and_bumps_version(self, run, node_home, write_csv):
        run("--home", node_home, "import", write_csv([VALID]))
        changed = write_csv([{**VALID, "family_name": "Kahindi Charo"}], name="v2.csv")
        result = run("--home", node_home, "import", changed)
        assert "added 0, updated 1, unchanged 0" in result.output
        stored = record(node_home, "A-1")
        assert stored["family_name"] == "Kahindi Charo"
        assert stored["version"] == 2
        assert stored["source_file"] == "v2.csv"

    @pytest.mark.parametrize(
        ("raw", "code"),
        [
            ("female", "F"),
            ("F", "F"),
            ("f", "F"),
            ("Mwanamke", "F"),
            ("male", "M"),
            ("m", "M"),
            ("MWANAUME", "M"),
            ("x", "X"),
            ("", None),
        ],
    )
    def test_sex_spellings_map_to_a_code_and_keep_the_raw_value(
        self, run, node_home, write_csv, raw, code
    ):
        run("--home", node_home, "import", write_csv([{**VALID, "sex": raw}]))
        stored = record(node_home, "A-1")
        assert stored["sex"] == code
        assert stored["sex_raw"] == (raw or None)

    @pytest.mark.parametrize(
        ("delimiter", "bom"), [(",", False), (",", True), (";", False), (";", True)]
    )
    def test_comma_or_semicolon_with_or_without_bom(
        self, run, node_home, write_csv, delimiter, bom
    ):
        path = write_csv([VALID, {**VALID, "ref": "A-2"}], delimiter=delimiter, bom=bom)
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 0, result.output
        assert record(node_home, "A-1")["given_names"] == "Zawadi"

    def test_map_reads_fields_from_other_column_names(self, run, node_home, tmp_path):
        path = tmp_path / "jina.csv"
        path.write_text("Nambari,Jina,Ukoo,kind\nA-1,Zawadi,Kahindi,found\n", encoding="utf-8")
        result = run(
            "--home", node_home, "import", path,
            "--map", "ref=Nambari", "--map", "given_names=Jina", "--map", "family_name=ukoo",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert record(node_home, "A-1")["family_name"] == "Kahindi"

    def test_header_names_match_case_insensitively_after_trimming(self, run, node_home, tmp_path):
        path = tmp_path / "caps.csv"
        path.write_text(" REF , Kind ,Given_Names\nA-1,missing,Zawadi\n", encoding="utf-8")
        assert run("--home", node_home, "import", path).exit_code == 0

    def test_kind_option_fills_empty_kind_cells(self, run, node_home, write_csv):
        path = write_csv([{"ref": "A-1", "given_names": "Zawadi"}])
        result = run("--home", node_home, "import", path, "--kind", "found")
        assert result.exit_code == 0, result.output
        assert record(node_home, "A-1")["kind"] == "found"

    def test_xlsx_register_imports(self, run, node_home, tmp_path):
        import datetime

        import openpyxl

        book = openpyxl.Workbook()
        sheet = book.active
        sheet.append(["ref", "kind", "given_names", "birth_date", "age"])
        sheet.append(["X-1", "missing", "Amina", datetime.date(2008, 3, 4), 15])
        path = tmp_path / "register.xlsx"
        book.save(path)
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 0, result.output
        stored = record(node_home, "X-1")
        assert (stored["birth_date"], stored["age"]) == ("2008-03-04", "15")

    def test_dry_run_counts_but_writes_nothing(self, run, node_home, sample_csv):
        result = run("--home", node_home, "import", sample_csv, "--dry-run")
        assert "would have added 21" in result.output
        assert store_snapshot(node_home) == []

    def test_skip_invalid_keeps_what_can_be_used_and_rejects_only_unusable_rows(
        self, run, node_home, write_csv
    ):
        path = write_csv(
            [
                VALID,
                {**VALID, "ref": "A-2", "birth_date": "2008-13-40"},
                {**VALID, "ref": "A-3", "kind": "lost"},
            ]
        )
        result = run("--home", node_home, "import", path, "--skip-invalid")
        assert result.exit_code == 0, result.output
        assert "added 2, updated 0, unchanged 0, rejected 1" in result.output
        assert record(node_home, "A-2")["birth_date"] == "2008"
        warnings = [line for line in result.stderr.splitlines() if "'2008-13-40'" in line]
        assert len(warnings) == 1 and "line 3, birth_date" in warnings[0]
        assert "kept 2008" in warnings[0]
        rejected = path.with_name("records.rejected.csv")
        with rejected.open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        assert [r["ref"] for r in rows] == ["A-3"]
        assert "kind: 'lost' is not missing or found" in rows[0]["rejected_because"]
        assert "Traceback" not in result.output + result.stderr

    def test_without_skip_invalid_a_bad_value_still_refuses_the_whole_file(
        self, run, node_home, write_csv
    ):
        path = write_csv([VALID, {**VALID, "ref": "A-2", "birth_date": "1938-11-31"}])
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 2
        assert "'1938-11-31' is not a date" in result.stderr
        assert "Traceback" not in result.output + result.stderr
        assert store_snapshot(node_home) == []

    def test_large_import_shows_progress(self, run, node_home, write_csv):
        rows = [{**VALID, "ref": f"A-{i}"} for i in range(2500)]
        result = run("--home", node_home, "import", write_csv(rows))
        assert result.exit_code == 0
        assert "checking rows" in result.stderr


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Each bad input and a fragment its message must contain."""
    header = "ref,kind,given_names,sex,birth_date\n"

    def text(name: str, body: str) -> Path:
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        return path

    def raw(name: str, body: bytes) -> Path:
        path = tmp_path / name
        path.write_bytes(body)
        return path

    return {
        "bad date": (
            text(
                "records.csv",
                header + "A-1,missing,Amina,F,2008-01-01\nA-2,missing,Amina,F,2008-13-40\n",
            ),
            "records.csv line 3, birth_date: '2008-13-40' is not a date "
            "(YYYY, YYYY-MM or YYYY-MM-DD)",
        ),
        "unknown sex": (
            text("sex.csv", header + "A-1,missing,Amina,banana,\n"),
            "sex.csv line 2, sex: 'banana' is not a known spelling of F, M or X",
        ),
        "missing ref value": (
            text("noref.csv", header + ",missing,Amina,F,\n"),
            "noref.csv line 2, ref: '' is empty",
        ),
        "missing ref column": (
            text("nocol.csv", "kind,given_names\nmissing,Amina\n"),
            "there is no 'ref' column",
        ),
        "duplicate ref": (
            text("dup.csv", header + "A-1,missing,Amina,F,\nA-1,missing,Zawadi,F,\n"),
            "dup.csv line 3, ref: 'A-1' appears twice (first at dup.csv line 2)",
        ),
        "non-UTF-8 bytes": (
            raw("latin.csv", header.encode() + "A-1,missing,Hélène,F,\n".encode("latin-1")),
            "latin.csv line 2: byte 0xe9 is not UTF-8",
        ),
        "empty file": (raw("empty.csv", b""), "empty.csv is empty"),
        "header only": (text("header.csv", header), "header.csv has a header but no records"),
        "unknown delimiter": (
            text("tabs.csv", "ref\tkind\nA-1\tmissing\n"),
            "cannot tell the delimiter",
        ),
        "a 10 MB cell": (
            text("huge.csv", header + "A-1,missing," + "x" * 10_000_000 + ",F,\n"),
            "huge.csv line 2, given_names: 'xxxxxxxx",
        ),
        "formula-looking cell": (
            text("formula.csv", header + 'A-1,missing,"=HYPERLINK(""http://x"")",F,\n'),
            "formula.csv line 2, given_names: '=HYPERLINK",
        ),
        "unknown kind": (
            text("kind.csv", header + "A-1,lost,Amina,F,\n"),
            "kind.csv line 2, kind: 'lost' is not missing or found",
        ),
        "unknown column": (
            text("extra.csv", "ref,kind,jina\nA-1,missing,Amina\n"),
            "unknown column 'jina'",
        ),
        "too many cells": (
            text("wide.csv", "ref,kind\nA-1,missing,extra\n"),
            "wide.csv line 2: has 3 cells but the header has 2 columns",
        ),
        "missing file": (tmp_path / "nowhere.csv", "nowhere.csv: no such file"),
    }


BAD_CASES = [
    "bad date", "unknown sex", "missing ref value", "missing ref column", "duplicate ref",
    "non-UTF-8 bytes", "empty file", "header only", "unknown delimiter", "a 10 MB cell",
    "formula-looking cell", "unknown kind", "unknown column", "too many cells", "missing file",
]  # fmt: skip


class TestBadInputIsRefused:
    @pytest.mark.parametrize("case", BAD_CASES)
    def test_bad_file_is_refused_whole_with_a_clear_message(
        self, run, node_home, sample_csv, tmp_path, case
    ):
        run("--home", node_home, "import", sample_csv)
        before = store_snapshot(node_home)
        path, expected = _bad_files(tmp_path)[case]
        result = run("--home", node_home, "import", path)
        assert result.exit_code == 2, result.output
        assert expected in result.stderr
        assert "Traceback" not in result.output + result.stderr
        assert "nothing was written" in result.stderr
        assert store_snapshot(node_home) == before

    def test_every_problem_is_reported_not_just_the_first(self, run, node_home, tmp_path):
        path = tmp_path / "many.csv"
        path.write_text(
            "ref,kind,birth_date,sex\nA-1,missing,2008-13-40,F\nA-2,missing,2008,zz\n",
            encoding="utf-8",
        )
        result = run("--home", node_home, "import", path)
        assert "line 2, birth_date" in result.stderr
        assert "line 3, sex" in result.stderr
        assert "refused: 2 problems" in result.stderr

    def test_a_file_with_one_bad_row_writes_none_of_the_good_ones(self, run, node_home, write_csv):
        path = write_csv([VALID, {**VALID, "ref": "A-2", "age": "two hundred"}])
        assert run("--home", node_home, "import", path).exit_code == 2
        assert store_snapshot(node_home) == []

    @pytest.mark.parametrize(
        ("mapping", "expected"),
        [
            ("given_names", "write it as FIELD=COLUMN"),
            ("jina=Name", "'jina' is not a canonical field"),
            ("given_names=Nope", "the file has no column 'Nope'"),
        ],
    )
    def test_bad_map_option_is_refused(self, run, node_home, write_csv, mapping, expected):
        result = run("--home", node_home, "import", write_csv([VALID]), "--map", mapping)
        assert result.exit_code == 2
        assert expected in result.stderr
        assert store_snapshot(node_home) == []

    def test_kind_in_file_contradicting_kind_option_is_refused(self, run, node_home, write_csv):
        result = run("--home", node_home, "import", write_csv([VALID]), "--kind", "found")
        assert result.exit_code == 2
        assert "contradicts --kind found" in result.stderr
